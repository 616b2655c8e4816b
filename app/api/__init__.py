"""The HTTP API: a flask-smorest Api whose errors are documented as problem+json."""
import http
from copy import deepcopy

from flask_smorest import Blueprint
from flask_smorest.utils import prepare_response

from app.api.idempotency import IDEMPOTENCY_HEADER
from app.api.openapi import (OPENAPI_SETTINGS, PATH_CONVERTERS, PATH_PARAMETER_SCHEMAS,
                             SchemaDeclarations, field_rules,
                             shared_components)
from app.api.parsing import SYNC_RUN_HEADER, BodyParser
from app.api.policy import API_PREFIX, declare
from app.errors import PROBLEM_MIMETYPE
from app.library_internals import StandardResponsesApi, add_doc_callback, extend_doc_info
from schemas.problem import ProblemSchema

__all__ = ["API_PREFIX", "OPENAPI_SETTINGS", "IngestApi", "IngestBlueprint", "api", "body_limit",
           "costs", "plural", "reads_only", "singular"]  # API_PREFIX lives in policy.py


# Headers many operations take: the document states each once, as a named parameter.
SHARED_HEADERS = {
    "IdempotencyKey": IDEMPOTENCY_HEADER,
    "SyncRun": SYNC_RUN_HEADER,
    "IfMatch": {"in": "header", "name": "If-Match", "required": False,
                "schema": {"type": "string"},
                "description": 'Only write when the record is at this version ("3"); else 412.'},
}
# The answer header of every single record, stated once.
ETAG = {"description": "The record's version, quoted", "schema": {"type": "string"}}


class IngestApi(StandardResponsesApi):
    """flask-smorest Api documenting problem+json errors and the X-API-Key scheme."""

    ERROR_SCHEMA = ProblemSchema
    DEFAULT_ERROR_RESPONSE_NAME = "Problem"

    def register_standard_responses(self):
        """Every HTTP status as a response component, errors as problem+json."""
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_MIMETYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Error (problem details)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_MIMETYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)

    def init_app(self, app, *args, **kwargs):
        # Before any blueprint: its rules are compiled with these converters.
        app.url_map.converters.update(PATH_CONVERTERS)
        super().init_app(app, *args, **kwargs)
        self.spec.components.security_scheme(
            "ApiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"})
        self.spec.components.security_scheme("WebhookBasic", {
            "type": "http", "scheme": "basic", "description": (
                "The API key as the password (any user name), for mail services that can "
                "only put credentials in a webhook's URL: https://hooks:KEY@host/...")})
        self.spec.options["security"] = [{"ApiKey": []}]
        for name, component in shared_components().items():
            self.spec.components.schema(name, component)
        for name, header in SHARED_HEADERS.items():
            self.spec.components.parameter(name, "header", header, lazy=True)
        self.spec.components.header("ETag", ETAG, lazy=True)
        self.ma_plugin.converter.add_attribute_function(field_rules(app.config))


class IngestBlueprint(Blueprint):
    """A resource's blueprint: strict JSON bodies, problem+json validation errors."""

    ARGUMENTS_PARSER = BodyParser()

    def __init__(self, name, import_name, **kwargs):
        kwargs.setdefault("url_prefix", API_PREFIX)
        super().__init__(name, import_name, **kwargs)
        add_doc_callback(self, self._prepare_header_doc)

    @staticmethod
    def headers(*parameters):
        """Declare the request headers a route reads (If-Match, Idempotency-Key...), listed
        in the document beside its path and query parameters."""
        def decorator(view):
            return extend_doc_info(view, "headers", parameters)
        return decorator

    @staticmethod
    def _prepare_header_doc(doc, doc_info, **kwargs):
        for header in doc_info.get("headers", ()):
            shared = next((name for name, known in SHARED_HEADERS.items() if known == header),
                          None)  # apispec turns a name into a $ref to the named parameter
            doc.setdefault("parameters", []).append(shared or deepcopy(header))
        return doc

    def query(self, schema):
        """Declare a route's query parameters; a route declares every one it takes.

        Any other parameter is refused with 422 before the view runs (app/pipeline.py),
        so a misspelt filter never returns the whole collection.
        """
        parse = self.arguments(schema, location="query", as_kwargs=True)
        names = frozenset(field.data_key or name for name, field in schema.load_fields.items())

        def decorator(view):
            return declare(parse(view), query_parameters=names)
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
        return declare(view, **policy)
    return decorator


def costs(units):
    """Declare how many rate-limit units one request to this route spends (default 1)."""
    return _declare(rate_limit_cost=units)


def body_limit(config_name):
    """Declare which setting bounds this route's request body (default MAX_BODY_BYTES)."""
    return _declare(body_limit=config_name)


def bulk(view):
    """Declare a bulk route: while it runs it holds one of its tenant's bulk slots."""
    return declare(view, bulk=True)


def key_in_basic_auth(view):
    """Declare a webhook route: the key may also come as HTTP Basic auth's password."""
    return declare(view, key_in_basic_auth=True)


def reads_only(view):
    """Declare a POST that only reads (a lookup): a read key may call it."""
    return declare(view, reads_only=True)


api = IngestApi(spec_kwargs={"extra_plugins": [SchemaDeclarations()]})
for _converter, _schema in PATH_PARAMETER_SCHEMAS.items():
    api.register_converter(_converter, _schema)

