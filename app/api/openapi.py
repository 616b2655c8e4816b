"""The OpenAPI document: what flask-smorest and apispec cannot derive by themselves.

Every input field is stated as the server reads it (schemas/common.py,
StrictSchema): keys by the rule validate_key checks, blanks and nulls where a
body takes them, ISO codes, amounts and custom fields by their own rules, and
the size of bulk lists from the deployment's settings. Path keys have their
own converter, so every key in a path is documented the same way.
"""
import http

from apispec import BasePlugin
from marshmallow import fields, missing
from werkzeug.routing import BaseConverter

from app.api.policy import API_PREFIX, PUBLIC_PATHS
from schemas.common import NAMED_RULE_FIELDS, Key, QuerySchema, StrictSchema
from schemas.envelopes import BulkList, Typed
from schemas.patterns import END

BLANK = {"type": "string", "pattern": r"^\s*" + END,
         "description": "An empty or all-whitespace string: the same as null (clears the field, "
                        "or gives it its default)."}
# Marks the served document resolves (app/api/document.py): a property's answer form, a
# record whose answers carry every field, and the cross-field rules of a request body.
ANSWER = "x-answer"
EVERY_FIELD = "x-answers-every-field"
INPUT_RULES = "x-input-rules"
_ANNOTATIONS = ("description", "default", "title", "example", "examples", "deprecated")
_CONSTRAINTS = ("pattern", "enum", "const", "format", "minLength")


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def shared_components():
    """The named schemas of rules many fields share: keys, ISO codes, printable text, blanks."""
    components = {field.openapi_component: field.openapi_schema() for field in NAMED_RULE_FIELDS}
    components["Blank"] = BLANK
    return components


class KeyConverter(BaseConverter):
    """A caller's key in the path, up to the next '/'. Its rules are checked before the
    view (api/parsing.py), so that a bad key is 422 naming it, not 404."""


class RunIdConverter(BaseConverter):
    """A sync run's id: 32 lowercase hex digits."""

    regex = "[0-9a-f]{32}"


# The default converter (`<name>`) reads a key; `<run_id:name>` a sync run's id.
PATH_CONVERTERS = {"default": KeyConverter, "run_id": RunIdConverter}
PATH_PARAMETER_SCHEMAS = {
    KeyConverter: lambda converter: _ref(Key.openapi_component),
    RunIdConverter: lambda converter: {"type": "string",
                                       "pattern": f"^{RunIdConverter.regex}{END}"},
}


def _without_null(generated):
    """A generated property schema without apispec's null alternative."""
    value = dict(generated)
    kinds = value.get("type")
    if isinstance(kinds, list) and "null" in kinds:
        kinds = [kind for kind in kinds if kind != "null"]
        value["type"] = kinds[0] if len(kinds) == 1 else kinds
    if "anyOf" in value:
        options = [option for option in value.pop("anyOf") if option != {"type": "null"}]
        if len(options) == 1:
            value.update(options[0])
        else:
            value["anyOf"] = options
    return value


def _value_schema(field, generated):
    """The schema of one non-null, non-blank value of the field."""
    value = {name: item for name, item in _without_null(generated).items()
             if name not in _ANNOTATIONS}
    component = getattr(field, "openapi_component", None)
    if component is not None:
        lengths = {name: value[name] for name in ("minLength", "maxLength") if name in value}
        return {"allOf": [_ref(component)], **lengths} if lengths else _ref(component)
    describe = getattr(field, "openapi_schema", None)
    return describe() if describe is not None else value


def _nullable_enum(ret):
    """State an enum that admits null as "one of these, or null" (what generators read well)."""
    if None not in ret.get("enum", ()):
        return {}
    value = _without_null({name: ret.pop(name) for name in ("type", "enum")})
    value["enum"] = [item for item in value["enum"] if item is not None]
    ret["anyOf"] = [value, {"type": "null"}]
    return {}


def _is_plain_string(value):
    return value.get("type") == "string" and not any(name in value for name in _CONSTRAINTS)


def _input_schema(field, generated):
    """A field of a body or query string, as StrictSchema reads it: a body's strings are
    stripped, and a blank or null gives the field's default or null where it has one."""
    in_body = not isinstance(field.parent, QuerySchema)
    optional = field.allow_none or field.load_default is not missing
    value = _value_schema(field, generated)
    alternatives = value["anyOf"] if list(value) == ["anyOf"] else [value]
    if isinstance(field, Key):
        if field.allow_none:
            # Keys are never stripped: only "" is null (not `const`, which generators mishandle).
            alternatives.append({"type": "string", "maxLength": 0})
    elif in_body and optional and not _is_plain_string(value):
        alternatives.append(_ref("Blank"))
    elif in_body and not optional and _is_plain_string(value):
        value["pattern"] = r"\S"  # blank is null, and null is refused
    if in_body and optional:
        alternatives.append({"type": "null"})
    annotations = {name: generated[name] for name in _ANNOTATIONS if name in generated}
    if annotations.get("default", 0) is None:
        # A query parameter is absent, never null; a body's optional field left out is null
        # (the description says so once): `default: null` would only make generators
        # (openapi-typescript) require the field.
        del annotations["default"]
    if len(alternatives) == 1:
        exact = value
    elif alternatives[1:] == [{"type": "null"}] and isinstance(value.get("type"), str):
        exact = dict(value, type=[value["type"], "null"])
    else:
        exact = {"anyOf": alternatives}
    return {**exact, **annotations}


def _or_null(value):
    """`value`, or null."""
    if isinstance(value.get("type"), str) and not {"$ref", "allOf", "anyOf"} & set(value):
        return dict(value, type=[value["type"], "null"])
    if list(value) == ["anyOf"]:
        return {"anyOf": [*value["anyOf"], {"type": "null"}]}
    return {"anyOf": [value, {"type": "null"}]}


def _answer_schema(field, generated):
    """A field as the server's answers carry it: its real type (a field may state its own,
    `openapi_answer`), null only where it can be null, no blank strings."""
    describe = getattr(field, "openapi_answer", None)
    value = describe() if describe is not None else _value_schema(field, generated)
    if field.allow_none and getattr(field, "answers_null", True):
        value = _or_null(value)
    annotations = {name: generated[name] for name in _ANNOTATIONS
                   if name in generated and name != "default"}
    return {**value, **annotations}


def field_rules(config):
    """An apispec attribute function stating each field exactly as the server treats it;
    `config` gives the deployment's limits (MAX_BATCH_ITEMS)."""

    def field2exact_properties(self, field, ret, **kwargs):
        if isinstance(field, Typed):
            choices = [self.resolve_nested_schema(choice) for choice in field.choices]
            choices += [{"type": "null"}] if field.allow_none else []
            return choices[0] if len(choices) == 1 else {"oneOf": choices}
        if isinstance(field, BulkList):
            return {"minItems": 1, "maxItems": config[field.max_items_setting]}
        if field.dump_only or None in ret.get("enum", ()):
            return _nullable_enum(ret)
        if isinstance(field.parent, StrictSchema):
            exact = _input_schema(field, ret)
            if not isinstance(field.parent, QuerySchema):
                exact[ANSWER] = _answer_schema(field, ret)  # see app/api/document.py
        elif isinstance(field.parent, fields.List) and getattr(field, "openapi_component", None):
            exact = _value_schema(field, ret)  # a list's item (lookup keys): taken as sent
        else:
            return {}
        # apispec merges what this returns into `ret`; an exact statement replaces it.
        ret.clear()
        ret.update(exact)
        return {}

    return field2exact_properties


class SchemaDeclarations(BasePlugin):
    """What a schema class declares beside its fields: EXAMPLE (shown as `examples`) and
    CROSS_FIELD_RULES (JSON Schema for what its validates_schema checks, a request's rule);
    a record schema (StrictSchema) answers with every field (app/api/document.py)."""

    def schema_helper(self, name, definition, **kwargs):
        """A schema's EXAMPLE and CROSS_FIELD_RULES, added to its JSON Schema."""
        schema = kwargs.get("schema")
        declared = {}
        if getattr(schema, "CROSS_FIELD_RULES", None):
            declared[INPUT_RULES] = dict(schema.CROSS_FIELD_RULES)
        schema_class = schema if isinstance(schema, type) else type(schema)
        if issubclass(schema_class, StrictSchema) and not issubclass(schema_class, QuerySchema):
            declared[EVERY_FIELD] = True
        example = getattr(schema, "EXAMPLE", None)
        if example is not None:
            declared["examples"] = [example]
        return declared


# 414, 429, 431 and 503 can answer any operation too: each operation's `default` answer
# (problem+json) covers them, and the description says when they come.
_EVERY_OPERATION = (401, 422)
_WRITES = (403, 409)
_BODIES = (400, 413, 415)


class StandardResponses(BasePlugin):
    """Documents on every operation the answers any route can give: the key (401, and 403
    for a read key on a write), path keys and query parameters (422), a race (409 on
    writes), and for a body 400, 413 and 415."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        """Add the statuses an operation does not declare itself, as problem+json."""
        if not path.startswith(API_PREFIX + "/") or path in PUBLIC_PATHS:
            return
        for method, operation in operations.items():
            if method not in ("get", "put", "post", "patch", "delete"):
                continue
            statuses = list(_EVERY_OPERATION)
            # A lookup is a POST that only reads (reads_only): a read key may call it.
            if method != "get" and not operation.get("operationId", "").startswith("lookup"):
                statuses += _WRITES
            if "requestBody" in operation:
                statuses += _BODIES
            responses = operation.setdefault("responses", {})
            for status in statuses:
                if status not in responses and str(status) not in responses:
                    responses[status] = http.HTTPStatus(status).name


API_DESCRIPTION = """Multi-tenant ingest API for accounts-receivable data: customer accounts,
their invoices and credit notes (documents), contacts, and the tenant's representatives with
their links to accounts and documents. Every record is keyed by the caller's own reference.

**Authentication.** Send an API key in the `X-API-Key` header. A key belongs to one tenant and
sees only that tenant's records. A key of scope `read` may call GET and the `:lookup` POSTs;
anything else is `403`. A missing, unknown, revoked or expired key is `401`.

**Field values.** Bodies are JSON objects; unknown fields are `422`, read-only fields (the
key, `version`, timestamps, computed fields) are ignored, so a record fetched with GET can be
sent back unchanged. Strings are stripped; a blank string means null for every optional
field, whatever its type (the schemas list it as `Blank`), and gives a field with a default
its default. In a PUT or a create, an optional field left out is null (or its default); in
a PATCH it is left as it is. Request bodies use the `...Input` schemas where answers differ.
Keys (`Key`) are never stripped or changed. Amounts are a JSON number or a
numeric string on input and a string on output. The schemas state every rule the server
checks; where a rule depends on other records (a reference that must exist, a cycle of
parents) the answer is `422` naming the field.

Any operation may also answer `414` (a URL over 8 KiB), `431` (headers too large), `429`
(rate limited) or `503` (the database does not answer): its `default` answer.

**Errors** are `application/problem+json` (RFC 9457) with `type`, `title`, `status`,
`detail`, `instance`, `request_id` (also the `X-Request-Id` header) and a stable `code`:
`malformed-json` (400), `unauthorized` (401), `forbidden` (403), `not-found` (404),
`method-not-allowed` (405), `conflict` (409: a key taken, a record still referred to, a
concurrent change; retry), `idempotency-key-in-use` (409), `precondition-failed` (412),
`payload-too-large` (413, 414, 431), `unsupported-media-type` (415), `validation-error`
(422), `idempotency-key-reused` (422), `rate-limited` (429), `internal-error` (500, 503).
Validation errors list every problem in `errors`, each with a JSON Pointer into the body
(`#/items/3/email`) or, for a query, path or header parameter, `parameter`.

**Idempotency.** PUT, PATCH and DELETE are idempotent by nature. A POST sent with an
`Idempotency-Key` header (1-255 printable characters) is run once; a retry with the same key
and the same request gets the first answer again, with `Idempotent-Replayed: true`, for 24
hours. The same key with another request is `422`; while the first request still runs, `409`.

**Conditional requests.** Every record has a `version` and an `ETag` (`"3"`). `If-Match`
makes a PUT, PATCH, DELETE or archive fail with `412` unless the record is at that version;
`If-None-Match: *` makes a PUT create only. A GET with a matching `If-None-Match` is `304`.

**Change feed and cursors.** `GET /{collection}` returns every record in the order of its
latest committed change, with tombstones (`deleted: true`) for deletions, kept 30 days.
Store `next_cursor` and ask again with `cursor=`: a follower never misses a change, even one
committed late by a slow writer; `has_more: false` means caught up for now. Cursors are
opaque. Filters and `q` narrow the feed, and a filtered feed also reports records that
left it (`matches_filter: false`). Lists under a record (`/accounts/{a}/contacts`) are read
by `page` and `limit`.

**Batches.** `:batch`, `:link`, `:unlink` and `/email-events` take up to 1,000 items and
answer `200` with a result per item, in input order: an invalid item fails alone (its errors
point into the body) while the others are stored, all in one transaction. On `:batch`,
`atomic=true` stores nothing unless every item is valid (`422`).

**Rate limits.** When the server has a limit, every answer carries `RateLimit-Policy` and
`RateLimit` headers; past it the answer is `429` with `Retry-After`. A batch costs 10 units.
"""

OPENAPI_SETTINGS = {
    "API_TITLE": "ar-ingest",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.1.0",
    # Served by app/api/document.py, which states each schema once per direction.
    "OPENAPI_URL_PREFIX": None,
    "API_SPEC_OPTIONS": {
        "info": {"description": API_DESCRIPTION,
                 "license": {"name": "Proprietary", "identifier": "LicenseRef-Proprietary"}},
        "servers": [{"url": "/"}],
    },
}
