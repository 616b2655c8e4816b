"""What a route declares about itself, read while a request is parsed.

Routes declare their policy where they are defined (app/api/__init__.py:
`blp.query`, `costs`, `body_limit`, `reads_only`); the request hooks read it
here instead of matching paths.
"""
from flask import current_app, request

API_PREFIX = "/api/v1/ingest"
PUBLIC_PATHS = frozenset({f"{API_PREFIX}/openapi.json"})


def is_api_request():
    """True for a request under the API prefix that needs a key (not the OpenAPI document)."""
    return request.path.startswith(API_PREFIX + "/") and request.path not in PUBLIC_PATHS


def route_policy(name, default):
    """What the matched route declares about itself (query parameters, rate-limit cost,
    body limit, read-only POST); `default` where it declares nothing."""
    view = current_app.view_functions.get(request.endpoint)
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        method = "get" if request.method == "HEAD" else request.method.lower()
        view = getattr(view_class, method, None)
    return getattr(view, name, default)


def declared_query_parameters():
    """The query parameters the matched route declares (IngestBlueprint.query)."""
    return route_policy("query_parameters", frozenset())
