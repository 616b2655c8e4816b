"""What a route declares about itself: one RoutePolicy per route, read by the request pipeline.

Routes declare their policy where they are defined (app/api/__init__.py:
`blp.query`, `costs`, `body_limit`, `bulk`, `reads_only`, `key_in_basic_auth`);
the pipeline's steps (app/pipeline.py) read it here instead of matching paths.
Idempotency is the route's own decorator (app/api/idempotency.py): it wraps
the view's work and its answer in one transaction.
"""
from dataclasses import dataclass, replace

from flask import current_app, request

API_PREFIX = "/api/v1/ingest"
PUBLIC_PATHS = frozenset({f"{API_PREFIX}/openapi.json"})


@dataclass(frozen=True)
class RoutePolicy:
    """A route's declared policy; a route that declares nothing has these defaults."""

    query_parameters: frozenset = frozenset()  # any other is refused with 422
    rate_limit_cost: int = 1                   # units of the key's quota one request spends
    body_limit: str = "MAX_BODY_BYTES"         # the setting that bounds its body
    bulk: bool = False                         # holds one of its tenant's bulk slots
    reads_only: bool = False                   # a POST a read key may call (a lookup)
    key_in_basic_auth: bool = False            # the key may come as Basic auth's password


DEFAULT_POLICY = RoutePolicy()


def declare(view, **policy):
    """Set parts of a view function's policy; returns the view."""
    view.route_policy = replace(getattr(view, "route_policy", DEFAULT_POLICY), **policy)
    return view


def bulk_rules(app):
    """The URL rules of `app`'s bulk routes, e.g. "/api/v1/ingest/contacts:batch" (the
    production deployment gives them workers of their own)."""
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        views = ([getattr(view_class, method.lower(), None) for method in rule.methods]
                 if view_class is not None else [view])
        if any(getattr(each, "route_policy", DEFAULT_POLICY).bulk for each in views):
            found.append(rule.rule)
    return sorted(found)


def is_api_request():
    """True for a request under the API prefix that needs a key (not the OpenAPI document)."""
    return request.path.startswith(API_PREFIX + "/") and request.path not in PUBLIC_PATHS


def route_policy():
    """The matched route's policy (the defaults without one), looked up once per request (kept
    in the request's environ: `g` outlives a request inside an app context of its own)."""
    policy = request.environ.get("ar_ingest.route_policy")
    if policy is None:
        view = current_app.view_functions.get(request.endpoint)
        view_class = getattr(view, "view_class", None)
        if view_class is not None:
            method = "get" if request.method == "HEAD" else request.method.lower()
            view = getattr(view_class, method, None)
        policy = getattr(view, "route_policy", DEFAULT_POLICY)
        request.environ["ar_ingest.route_policy"] = policy
    return policy
