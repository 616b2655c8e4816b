"""The request pipeline: the one ordered pair of hooks every request passes through.

Before the view, in this order (a step that raises ends the request with its
problem+json; the after steps still run):

1. `start_request`: the start time and the request id.
2. `drop_dead_connection`: a PostgreSQL connection the server dropped is
   replaced, not answered with a 503.
3. `check_header_limits`: 431 before anything reads the headers.
4. `authenticate_request` (API routes): URL length, API key, its scope, and the
   body limit the route declares.
5. `check_route_parameters`: 422 for an undeclared query parameter or a bad key
   in the path, only for callers the key let in.
6. `spend_quota`: the key's rate-limit units (with RATE_LIMIT set).
7. `take_bulk_slot`: a bulk route's slot of its tenant (with a cap), given back
   when the request ends, however it ends.

After the view, in this order: `observe` (metrics), `rate_limit_headers`,
`drain_unread_body`, `empty_answers`, `finish_request` (X-Request-Id, the
access log line).

Each step reads the matched route's declared policy (app/api/policy.py),
never its path.
"""
from app.api.parsing import check_route_parameters, drain_unread_body
from app.auth import authenticate_request
from app.db import drop_dead_connection
from app.http import check_header_limits, empty_answers
from app.metrics import observe
from app.observability import finish_request, start_request
from app.ratelimit import give_back_bulk_slot, rate_limit_headers, spend_quota, take_bulk_slot

BEFORE = (start_request, drop_dead_connection, check_header_limits, authenticate_request,
          check_route_parameters, spend_quota, take_bulk_slot)
AFTER = (observe, rate_limit_headers, drain_unread_body, empty_answers, finish_request)


def _before():
    for step in BEFORE:
        step()


def _after(response):
    for step in AFTER:
        response = step(response)
    return response


def init_pipeline(app):
    """Install the pipeline's hooks: the only request hooks the app has."""
    app.before_request(_before)
    app.after_request(_after)
    app.teardown_request(give_back_bulk_slot)
