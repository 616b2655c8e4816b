"""The OpenAPI document: what flask-smorest and apispec cannot derive by themselves.

Every input field is stated as the server reads it (schemas/common.py,
StrictSchema): keys by the rule validate_key checks, blanks and nulls where a
body takes them, ISO codes, amounts and custom fields by their own rules, and
the size of bulk lists from the deployment's settings. Path keys have their
own converter, so every key in a path is documented the same way.
"""
from apispec import BasePlugin
from marshmallow import fields, missing
from werkzeug.routing import BaseConverter

from app.api.description import API_DESCRIPTION
from schemas.common import NAMED_RULE_FIELDS, Key, QuerySchema, StrictSchema
from schemas.envelopes import BulkList, Typed
from schemas.patterns import END

BLANK = {"type": ["string", "null"], "pattern": r"^\s*" + END,
         "description": "Null, or an empty or all-whitespace string, the same as null (clears "
                        "the field, or gives it its default)."}
# Marks the served document resolves (app/api/document.py): a property's answer form, a
# record whose answers carry every field, and the cross-field rules of a request body.
ANSWER = "x-answer"
EVERY_FIELD = "x-answers-every-field"
INPUT_RULES = "x-input-rules"
READ_ONLY = {"readOnly": True}
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
    null = {"type": "null"} if in_body and optional else None
    if isinstance(field, Key):
        if field.allow_none:
            # Keys are never stripped: only "" is null (not `const`, which generators mishandle).
            alternatives.append({"type": ["string", "null"] if null else "string",
                                 "maxLength": 0})
            null = None
    elif in_body and optional and not _is_plain_string(value):
        alternatives.append(_ref("Blank"))  # null too
        null = None
    elif in_body and not optional and _is_plain_string(value):
        value["pattern"] = r"\S"  # blank is null, and null is refused
    if null:
        alternatives.append(null)
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
        if field.dump_only and isinstance(field.parent, StrictSchema):
            # A body's read-only field is ignored whatever its value (StrictSchema): the
            # request form says only that; the answer form is the field's.
            _nullable_enum(ret)
            answer = dict(ret)
            ret.clear()
            ret.update(getattr(field, "openapi_request", READ_ONLY), **{ANSWER: answer})
            return {}
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
