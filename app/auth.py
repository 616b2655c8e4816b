"""Every request under the API prefix: API key, scope, path keys and body size."""
from flask import current_app, g, request
from marshmallow import ValidationError

from app.api import API_PREFIX
from app.errors import Forbidden, Unauthorized, UriTooLong, ValidationFailed, parameter_error
from app.services.tenants import KeyAuthenticator
from schemas.common import validate_key

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC_PATHS = frozenset({f"{API_PREFIX}/openapi.json"})


def _authenticate_request():
    if not request.path.startswith(API_PREFIX + "/") or request.path in PUBLIC_PATHS:
        return
    if len(request.full_path) > current_app.config["MAX_URL_LENGTH"]:
        raise UriTooLong(f"The URL is longer than {current_app.config['MAX_URL_LENGTH']} "
                         "characters.")
    authenticator = current_app.extensions["ar_ingest_keys"]
    principal = authenticator.authenticate(request.headers.get("X-API-Key"))
    if principal is None:
        raise Unauthorized("Send a valid, unrevoked API key in the X-API-Key header.",
                           headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'})
    g.tenant_id, g.key_id = principal.tenant_id, principal.key_id
    if request.method in WRITE_METHODS and not principal.can_write and \
            not route_policy("reads_only", False):
        raise Forbidden("This API key may only read; writing needs a key with scope 'write'.")

    request.max_content_length = current_app.config[route_policy("body_limit",
                                                                 "MAX_BODY_BYTES")]

    if request.routing_exception is not None:
        return  # 404 / 405 from routing: there is no route whose parameters to check
    unknown = sorted(set(request.args) - declared_query_parameters())
    errors = [parameter_error(name, "Unknown query parameter.") for name in unknown]
    for name, value in (request.view_args or {}).items():
        try:
            validate_key(value)
        except ValidationError as error:
            errors.extend(parameter_error(name, message) for message in error.messages)
    if errors:
        raise ValidationFailed(errors, detail="The query string or a key in the path is not "
                               "valid." if unknown else "A key in the path is not valid.")


def route_policy(name, default):
    """What the matched route declares about itself (api/__init__.py: query parameters,
    rate-limit cost, body limit, read-only POST); `default` where it declares nothing."""
    view = current_app.view_functions.get(request.endpoint)
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        method = "get" if request.method == "HEAD" else request.method.lower()
        view = getattr(view_class, method, None)
    return getattr(view, name, default)


def declared_query_parameters():
    """The query parameters the matched route declares (IngestBlueprint.query)."""
    return route_policy("query_parameters", frozenset())


def init_auth(app):
    """Install the key checker and its before-request hook."""
    app.extensions["ar_ingest_keys"] = KeyAuthenticator(app.config["API_KEY_CACHE_SECONDS"])
    app.before_request(_authenticate_request)
