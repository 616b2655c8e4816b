"""Metrics, rate limits and the log format, in one process (gunicorn: test_operations_live.py)."""
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from app.services import tenants as tenant_service
from app.services.ratelimit import RateLimiter
from helpers import ApiClient, assert_problem, own_rate_limit_counts, patient_redis_url, redis_url

POLICY_FIELD = re.compile(r'^"(\w+)";q=(\d+);w=(\d+)(, "(\w+)";q=(\d+);w=(\d+))*$')
STATE_FIELD = re.compile(r'^"(\w+)";r=(\d+);t=(\d+)(, "(\w+)";r=(\d+);t=(\d+))*$')
# The limited apps' clock: 30.5 s into a second, a minute and an hour. Windows are aligned
# to the clock, so on the real one a test's few requests can straddle the turn of a minute
# (more likely the slower the machine) and find a fresh quota half way.
MID_WINDOW = 500 * 3600 + 30.5


def samples(client):
    """{(name, labels as a sorted tuple): value} read from /metrics."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name, **labels):
    return found.get((name, tuple(sorted(labels.items()))), 0)


def test_metrics_count_requests_by_route_template(api, app):
    client = app.test_client()
    before = samples(client)
    for number in range(3):
        api.put(f"/accounts/SECRET-{number}", json={"name": "x"})
    api.get("/accounts/NOPE")
    after = samples(client)
    route = "/api/v1/ingest/accounts/<account_number>"
    assert value(after, "ar_ingest_http_requests_total", route=route, method="PUT",
                 status="201") - value(before, "ar_ingest_http_requests_total", route=route,
                                       method="PUT", status="201") == 3
    assert value(after, "ar_ingest_http_requests_total", route=route, method="GET",
                 status="404") - value(before, "ar_ingest_http_requests_total", route=route,
                                       method="GET", status="404") == 1
    text = client.get("/metrics").get_data(as_text=True)
    assert "SECRET-" not in text  # never a raw path
    buckets = [key for key in after if key[0] == "ar_ingest_http_request_duration_seconds_bucket"]
    assert {dict(labels)["le"] for _, labels in buckets} >= {"0.0005", "0.005", "1.0", "10.0"}


def test_metric_labels_take_a_bounded_set_of_values(api, app):
    """Random method names and paths, without a key, never add label values."""
    client = app.test_client()
    for number in range(50):
        client.open(f"/api/v1/ingest/accounts/A{number}", method=f"BREW{number}")
        client.open(f"/random/{number}", method=f"X{number}")
    found = samples(client)
    methods = {dict(labels).get("method") for name, labels in found
               if name == "ar_ingest_http_requests_total"}
    routes = {dict(labels).get("route") for name, labels in found
              if name == "ar_ingest_http_requests_total"}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert "other" in methods
    assert not any("A1" in route or "random" in route for route in routes)


def test_metrics_count_batches_feeds_and_replays(api, app):
    client = app.test_client()
    before = samples(client)
    items = [{"account_number": "A", "name": "a"}, {"account_number": "B"}]
    api.post("/accounts:batch", json={"items": items}, headers={"Idempotency-Key": "k1"})
    api.post("/accounts:batch", json={"items": items}, headers={"Idempotency-Key": "k1"})
    api.get("/accounts")
    after = samples(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("ar_ingest_batch_items_total", collection="accounts", outcome="created") == 1
    assert delta("ar_ingest_batch_items_total", collection="accounts", outcome="failed") == 1
    assert delta("ar_ingest_idempotent_replays_total") == 1
    assert delta("ar_ingest_feed_pages_total", collection="accounts") == 1


def test_metrics_can_be_switched_off(database_url, _schema):
    quiet = create_app({"DATABASE_URL": database_url, "METRICS_ENABLED": False})
    assert quiet.test_client().get("/metrics").status_code == 404


@pytest.fixture
def limited(database_url, _schema, tenant):
    """An app limited to 3 units a minute per key, counted in memory."""
    def build(policy="3/minute", storage="memory://"):
        app = create_app({"DATABASE_URL": database_url, "RATE_LIMIT": policy,
                          "RATE_LIMIT_STORAGE_URL": storage, "API_KEY_CACHE_SECONDS": 0,
                          "LOG_LEVEL": "ERROR"})
        app.extensions["ar_ingest_rate_limiter"].clock = FakeClock(MID_WINDOW)
        key = tenant_service.create_api_key(tenant)[1]
        return app, ApiClient(app.test_client(), key)
    return build


def test_rate_limit_per_key_with_headers(limited):
    app, client = limited()
    answers = [client.get("/accounts") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    for answer, remaining in zip(answers, (2, 1, 0, 0)):
        assert answer.headers["RateLimit-Policy"] == '"minute";q=3;w=60'
        match = STATE_FIELD.match(answer.headers["RateLimit"])
        assert match and match.group(1) == "minute" and int(match.group(2)) == remaining
        assert 1 <= int(match.group(3)) <= 60
    problem = assert_problem(answers[3], 429, "rate-limited")
    assert 1 <= int(answers[3].headers["Retry-After"]) <= 60
    assert "quota" in problem["detail"]
    other = ApiClient(app.test_client(),
                      tenant_service.create_api_key(tenant_service.find_tenant("acme"))[1])
    assert other.get("/accounts").status_code == 200  # another key has its own quota


def test_several_windows(limited):
    _, client = limited("2/second;100/minute")
    answer = client.get("/accounts")
    assert answer.headers["RateLimit-Policy"] == '"second";q=2;w=1, "minute";q=100;w=60'
    assert POLICY_FIELD.match(answer.headers["RateLimit-Policy"])
    assert re.match(r'^"second";r=1;t=1, "minute";r=99;t=\d+$', answer.headers["RateLimit"])


def test_a_batch_costs_ten_units(limited):
    _, client = limited("12/minute")
    batch = client.post("/accounts:batch", json={"items": [{"account_number": "A",
                                                            "name": "a"}]})
    assert batch.status_code == 200 and '"minute";r=2;' in batch.headers["RateLimit"]
    assert client.post("/representatives:link", json={"links": [
        {"representative": "R", "account_number": "A"}]}).status_code == 429


def test_a_cost_above_the_quota_is_the_quota_so_it_can_be_paid(limited):
    _, client = limited("5/minute")
    batch = {"items": [{"account_number": "A", "name": "a"}]}
    first = client.post("/accounts:batch", json=batch)
    assert first.status_code == 200 and '"minute";r=0;' in first.headers["RateLimit"]
    assert client.post("/accounts:batch", json=batch).status_code == 429
    clock = RateLimiter("5/second;20/minute", "memory://", clock=FakeClock())
    assert clock.largest_cost == 5
    assert [clock.hit("k", cost=10).allowed for _ in range(2)] == [True, False]
    clock.clock.now += 1  # the next second: the batch fits again, every time its window turns
    assert clock.hit("k", cost=10).allowed


def test_health_metrics_and_docs_are_never_limited(limited):
    app, client = limited("1/minute")
    client.get("/accounts")
    plain = app.test_client()
    for path in ("/livez", "/readyz", "/metrics", "/api/v1/ingest/openapi.json", "/docs/"):
        for _ in range(3):
            response = plain.get(path)
            assert response.status_code == 200, path
            assert "RateLimit" not in response.headers


def test_unreachable_storage_fails_open(limited, caplog):
    app, client = limited("1/minute", "redis://127.0.0.1:1/0")
    client_before = samples(app.test_client())
    answers = [client.get("/accounts") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].headers["RateLimit-Policy"] == '"minute";q=1;w=60'
    assert "RateLimit" not in answers[0].headers  # the state is unknown
    after = samples(app.test_client())
    assert value(after, "ar_ingest_rate_limit_storage_errors_total") - value(
        client_before, "ar_ingest_rate_limit_storage_errors_total") >= 1


@pytest.mark.skipif(redis_url() is None, reason="no Redis answers")
def test_redis_storage_counts_across_apps(limited):
    first, client = limited("2/minute", patient_redis_url())
    second = create_app({"DATABASE_URL": first.config["DATABASE_URL"], "RATE_LIMIT": "2/minute",
                         "RATE_LIMIT_STORAGE_URL": patient_redis_url(),
                         "API_KEY_CACHE_SECONDS": 0})
    second.extensions["ar_ingest_rate_limiter"].clock = FakeClock(MID_WINDOW)
    other_worker = ApiClient(second.test_client(), client.key)
    with own_rate_limit_counts(client.key):
        assert client.get("/accounts").status_code == 200
        assert other_worker.get("/accounts").status_code == 200
        assert client.get("/accounts").status_code == 429
        assert other_worker.get("/accounts").status_code == 429


class FakeClock:
    def __init__(self, now=1_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def test_leases_never_admit_more_than_the_quota():
    clock = FakeClock()
    first = RateLimiter("40/hour", "memory://", lease_divisor=4, clock=clock)  # leases of 10
    second = RateLimiter("40/hour", "memory://", lease_divisor=4, clock=clock)
    second.storage = first.storage  # two workers, one shared count
    passed = sum(limiter.hit("k").allowed for _ in range(50) for limiter in (first, second))
    assert passed == 40  # both kept asking, so every leased unit was spent
    hour_start = int(clock.now // 3600 * 3600)
    assert first.storage.get(f"ar-ingest:k:3600:{hour_start}") >= 40
    lonely = RateLimiter("40/hour", "memory://", lease_divisor=4, clock=clock)
    lonely.storage = first.storage
    assert not lonely.hit("k").allowed  # nothing left to lease
    clock.now += 3600  # the next window starts afresh
    assert first.hit("k").allowed


def test_small_quotas_are_counted_exactly_per_request():
    clock = FakeClock()
    first = RateLimiter("7/minute", "memory://", clock=clock)
    second = RateLimiter("7/minute", "memory://", clock=clock)
    second.storage = first.storage
    assert first.lease_sizes == (1,)
    results = [limiter.hit("k").allowed for limiter in (first, second, second, first) * 3]
    assert results.count(True) == 7 and results[:7] == [True] * 7


def test_remaining_and_reset_follow_the_window():
    clock = FakeClock(60 * 16_667 + 30.0)  # 30 s into a minute
    limiter = RateLimiter("5/minute;1000/hour", "memory://", clock=clock)
    decision = limiter.hit("k", cost=2)
    minute, hour = decision.states
    assert (minute.remaining, minute.reset) == (3, 30)
    assert hour.remaining == 998 and hour.reset == 3600 - int(clock.now) % 3600
    refused = limiter.hit("k", cost=4)
    assert not refused.allowed and refused.retry_after == 30
    assert limiter.hit("k", cost=3).allowed
