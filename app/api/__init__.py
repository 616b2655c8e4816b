"""The HTTP API: a flask-smorest Api whose errors are documented as problem+json."""
import http

from flask_smorest import Api, Blueprint
from flask_smorest.utils import prepare_response

from app.api.body import BodyParser
from app.errors import PROBLEM_MIMETYPE
from schemas.problem import ProblemSchema

API_PREFIX = "/api/v1/ingest"


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


api = IngestApi()

OPENAPI_SETTINGS = {
    "API_TITLE": "ar-ingest",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.1.0",
    "OPENAPI_URL_PREFIX": API_PREFIX,
    "OPENAPI_JSON_PATH": "openapi.json",
    "API_SPEC_OPTIONS": {
        "info": {"description": "Multi-tenant ingest API for accounts-receivable data."},
        "servers": [{"url": "/"}],
    },
}
