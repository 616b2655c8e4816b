"""The HTTP API: a flask-smorest Api whose errors are documented as problem+json."""
import http

from apispec import BasePlugin
from flask_smorest import Api, Blueprint
from flask_smorest.utils import prepare_response

from app.api.body import BodyParser
from app.api.policy import API_PREFIX, PUBLIC_PATHS
from app.errors import PROBLEM_MIMETYPE
from schemas.problem import ProblemSchema

__all__ = ["API_PREFIX", "IngestApi", "IngestBlueprint", "api", "body_limit", "costs",
           "plural", "reads_only", "singular"]  # API_PREFIX lives in policy.py, which body.py reads too


_EVERY_OPERATION = (401, 414, 422, 429, 431, 503)
_WRITES = (403, 409)
_BODIES = (400, 413, 415)


class StandardResponses(BasePlugin):
    """Documents on every operation the answers any route can give: the key (401, and 403
    for a read key on a write), limits (414, 431, 429), path keys and query parameters
    (422), a race (409 on writes), the database (503), and for a body 400, 413 and 415."""

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
            if "requestBody" in operation or any(
                    parameter.get("in") == "body" for parameter in operation.get("parameters", [])
                    if isinstance(parameter, dict)):
                statuses += _BODIES
            responses = operation.setdefault("responses", {})
            for status in statuses:
                if status not in responses and str(status) not in responses:
                    responses[status] = http.HTTPStatus(status).name


class IngestApi(Api):
    """flask-smorest Api documenting problem+json errors and the X-API-Key scheme."""

    ERROR_SCHEMA = ProblemSchema
    DEFAULT_ERROR_RESPONSE_NAME = "DEFAULT_ERROR"

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_MIMETYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Error (problem details)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_MIMETYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)

    def init_app(self, app, *args, **kwargs):
        super().init_app(app, *args, **kwargs)
        self.spec.components.security_scheme(
            "ApiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"})
        self.spec.options["security"] = [{"ApiKey": []}]


class IngestBlueprint(Blueprint):
    """A resource's blueprint: strict JSON bodies, problem+json validation errors."""

    ARGUMENTS_PARSER = BodyParser()

    def __init__(self, name, import_name, **kwargs):
        kwargs.setdefault("url_prefix", API_PREFIX)
        super().__init__(name, import_name, **kwargs)

    def query(self, schema):
        """Declare a route's query parameters; a route declares every one it takes.

        Any other parameter is refused with 422 before the view runs (auth.py),
        so a misspelt filter never returns the whole collection.
        """
        parse = self.arguments(schema, location="query", as_kwargs=True)
        names = frozenset(field.data_key or name for name, field in schema.load_fields.items())

        def decorator(view):
            wrapped = parse(view)
            wrapped.query_parameters = names
            return wrapped
        return decorator


BATCH_RATE_LIMIT_COST = 10


def singular(resource):
    """The resource as one word of an operationId: "Contact"."""
    return resource.label.title().replace(" ", "")


def plural(resource):
    """The collection as one word of an operationId: "Contacts"."""
    return resource.name.title().replace("-", "")


def _declare(**policy):
    def decorator(view):
        for name, value in policy.items():
            setattr(view, name, value)
        return view
    return decorator


def costs(units):
    """Declare how many rate-limit units one request to this route spends (default 1)."""
    return _declare(rate_limit_cost=units)


def body_limit(config_name):
    """Declare which setting bounds this route's request body (default MAX_BODY_BYTES)."""
    return _declare(body_limit=config_name)


def reads_only(view):
    """Declare a POST that only reads (a lookup): a read-only key may call it."""
    return _declare(reads_only=True)(view)


api = IngestApi(spec_kwargs={"extra_plugins": [StandardResponses()]})

API_DESCRIPTION = """Multi-tenant ingest API for accounts-receivable data: customer accounts,
their invoices and credit notes (documents), contacts, and the tenant's representatives with
their links to accounts and documents. Every record is keyed by the caller's own reference.

**Authentication.** Send an API key in the `X-API-Key` header. A key belongs to one tenant and
sees only that tenant's records. A key of scope `read` may call GET and the `:lookup` POSTs;
anything else is `403`. A missing, unknown, revoked or expired key is `401`.

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
    "OPENAPI_URL_PREFIX": API_PREFIX,
    "OPENAPI_JSON_PATH": "openapi.json",
    "API_SPEC_OPTIONS": {
        "info": {"description": API_DESCRIPTION},
        "servers": [{"url": "/"}],
    },
}
