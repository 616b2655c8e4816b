"""Rate limits per API key on every authenticated request, the RateLimit header fields, and
the cap on each tenant's concurrent bulk requests."""
from flask import current_app, g

from app import metrics
from app.api.policy import route_policy
from app.errors import Problem
from app.services.bulk_slots import BulkSlots
from app.services.ratelimit import RateLimiter


class HttpTooManyRequests(Problem):
    status, code = 429, "rate-limited"


def spend_quota():
    """Before the view: the request's units of its key's quota, or 429."""
    limiter = current_app.extensions.get("ar_ingest_rate_limiter")
    if limiter is None or g.get("key_id") is None:
        return  # unauthenticated paths (health, metrics, docs) are never limited
    decision = limiter.hit(g.key_id, route_policy().rate_limit_cost)
    g.rate_limit = decision
    if decision.unknown:
        metrics.count(metrics.RATE_LIMIT_STORAGE_ERRORS)
    elif not decision.allowed:
        metrics.count(metrics.RATE_LIMITED)
        raise HttpTooManyRequests(f"This API key has used its quota ({limiter.policy_header}); "
                          f"retry in {decision.retry_after} s.",
                          headers={"Retry-After": str(decision.retry_after)})


def rate_limit_headers(response):
    """After the view: the RateLimit-Policy and RateLimit fields."""
    limiter = current_app.extensions.get("ar_ingest_rate_limiter")
    decision = g.get("rate_limit")
    if limiter is not None and decision is not None:
        response.headers["RateLimit-Policy"] = limiter.policy_header
        if decision.states:
            response.headers["RateLimit"] = limiter.state_header(decision)
    return response


def init_rate_limits(app):
    """Install the limiter when RATE_LIMIT is set."""
    policy = (app.config["RATE_LIMIT"] or "").strip()
    if not policy:
        return
    app.extensions["ar_ingest_rate_limiter"] = RateLimiter(
        policy, app.config["RATE_LIMIT_STORAGE_URL"],
        lease_divisor=app.config["RATE_LIMIT_LEASE_DIVISOR"])



# A bulk request takes about a second at most: a slot is likely free again by then.
BULK_RETRY_AFTER_SECONDS = 1


def take_bulk_slot():
    """Before a bulk route's view: one of its tenant's bulk slots, or 429."""
    slots = current_app.extensions.get("ar_ingest_bulk_slots")
    if slots is None or g.get("tenant_id") is None or not route_policy().bulk:
        return
    slot = slots.acquire(g.tenant_id)
    if slot is None:
        metrics.count(metrics.RATE_LIMITED)
        raise HttpTooManyRequests(
            f"This tenant already has {slots.limit} bulk requests in progress, as many as it "
            f"may run at once; retry in {BULK_RETRY_AFTER_SECONDS} s.",
            headers={"Retry-After": str(BULK_RETRY_AFTER_SECONDS)})
    g.bulk_slot = slot


def give_back_bulk_slot(_error=None):
    """When the request ends, however: the slot it held."""
    slot = g.pop("bulk_slot", None)
    if slot is not None:
        current_app.extensions["ar_ingest_bulk_slots"].release(slot)


def init_bulk_slots(app):
    """Cap each tenant's concurrent bulk requests at BULK_REQUESTS_PER_TENANT (0: no cap), so
    one tenant's full sync cannot take every worker."""
    limit = app.config["BULK_REQUESTS_PER_TENANT"]
    if limit <= 0:
        return
    app.extensions["ar_ingest_bulk_slots"] = BulkSlots(limit)
