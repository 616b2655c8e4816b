"""Rate limits per API key on every authenticated request, and the RateLimit header fields."""
from flask import current_app, g

from app import metrics
from app.api.policy import route_policy
from app.errors import ApiError
from app.services.ratelimit import RateLimiter


class RateLimited(ApiError):
    status, code = 429, "rate-limited"


def _spend():
    limiter = current_app.extensions.get("ar_ingest_rate_limiter")
    if limiter is None or g.get("key_id") is None:
        return  # unauthenticated paths (health, metrics, docs) are never limited
    decision = limiter.hit(g.key_id, route_policy("rate_limit_cost", 1))
    g.rate_limit = decision
    if decision.unknown:
        metrics.count(metrics.RATE_LIMIT_STORAGE_ERRORS)
    elif not decision.allowed:
        metrics.count(metrics.RATE_LIMITED)
        raise RateLimited(f"This API key has used its quota ({limiter.policy_header}); "
                          f"retry in {decision.retry_after} s.",
                          headers={"Retry-After": str(decision.retry_after)})


def _headers(response):
    limiter = current_app.extensions.get("ar_ingest_rate_limiter")
    decision = g.get("rate_limit")
    if limiter is not None and decision is not None:
        response.headers["RateLimit-Policy"] = limiter.policy_header
        if decision.states:
            response.headers["RateLimit"] = limiter.state_header(decision)
    return response


def init_rate_limits(app):
    """Install the limiter when RATE_LIMIT is set (call after init_auth: it needs the key)."""
    policy = (app.config["RATE_LIMIT"] or "").strip()
    if not policy:
        return
    app.extensions["ar_ingest_rate_limiter"] = RateLimiter(
        policy, app.config["RATE_LIMIT_STORAGE_URL"],
        lease_divisor=app.config["RATE_LIMIT_LEASE_DIVISOR"])
    app.before_request(_spend)
    app.after_request(_headers)

