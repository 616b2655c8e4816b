"""Every request under the API prefix: API key, scope and body size."""
from flask import current_app, g, request

from app.api.policy import is_api_request, route_policy
from app.errors import HttpForbidden, HttpUnauthorized, UriTooLong
from app.services.tenants import KeyAuthenticator

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _presented_key():
    presented = request.headers.get("X-API-Key")
    if presented is None and route_policy().key_in_basic_auth:
        credentials = request.authorization
        if credentials is not None and credentials.type == "basic":
            return credentials.password
    return presented


def authenticate_request():
    """Before the view (API routes): the URL's length, the key and its scope; the body limit
    the route declares."""
    if not is_api_request():
        return
    if len(request.full_path) > current_app.config["MAX_URL_LENGTH"]:
        raise UriTooLong(f"The URL is longer than {current_app.config['MAX_URL_LENGTH']} "
                         "characters.")
    authenticator = current_app.extensions["ar_ingest_keys"]
    principal = authenticator.authenticate(_presented_key())
    if principal is None:
        raise HttpUnauthorized("Send a valid, unrevoked API key in the X-API-Key header.",
                           headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'})
    g.tenant_id, g.key_id = principal.tenant_id, principal.key_id
    policy = route_policy()
    if request.method in WRITE_METHODS and not principal.can_write and not policy.reads_only:
        raise HttpForbidden("This API key may only read; writing needs a key with scope 'write'.")

    request.max_content_length = current_app.config[policy.body_limit]


def init_auth(app):
    """Install the key checker (authenticate_request is a step of app/pipeline.py)."""
    app.extensions["ar_ingest_keys"] = KeyAuthenticator(
        app.config["API_KEY_CACHE_SECONDS"], app.config["API_KEY_NEGATIVE_CACHE_SECONDS"])
