"""Metrics and shared rate limits through gunicorn with four workers."""
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from helpers import own_rate_limit_counts, patient_redis_url, redis_url
from live_server import GunicornServer

pytestmark = pytest.mark.slow
BASE = "/api/v1/ingest"


def metric(url, name, **labels):
    text = requests.get(url + "/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0


def send(url, key, count, path):
    """`count` GETs over 16 connections (so every worker gets some); their statuses."""
    def one(_):
        with requests.Session() as http:
            return http.get(url + BASE + path, headers={"X-API-Key": key}, timeout=30).status_code
    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, range(count)))


def test_metrics_add_up_over_four_workers(database_url, tenant, api_key):
    with GunicornServer(database_url, workers=4, threads=2) as server:
        route = BASE + "/accounts/<account_number>"
        statuses = send(server.url, api_key, 200, "/accounts/NONE")
        assert statuses == [404] * 200
        assert metric(server.url, "ar_ingest_http_requests_total", route=route, method="GET",
                      status="404") == 200
        assert metric(server.url, "ar_ingest_http_request_duration_seconds_count",
                      route=route, method="GET") == 200
        # the samples come from every worker, not whichever answered /metrics
        assert metric(server.url, "ar_ingest_http_requests_total", route="/metrics",
                      method="GET", status="200") == 2


@pytest.mark.skipif(redis_url() is None, reason="no Redis answers")
def test_a_shared_limit_lets_exactly_n_through_four_workers(database_url, tenant, api_key):
    # Windows are aligned to the clock, and the server's clock is the real one: an hourly
    # window could turn while the requests are under way (the longer they take, the
    # likelier) and let a fresh 25 through. One window from the epoch to at least a day
    # from now cannot turn during the test.
    window = (int(time.time()) // 86400 + 2) * 86400
    env = {"RATE_LIMIT": f"25 per {window} seconds",
           "RATE_LIMIT_STORAGE_URL": patient_redis_url()}
    with GunicornServer(database_url, workers=4, threads=2, env=env) as server, \
            own_rate_limit_counts(api_key):
        statuses = send(server.url, api_key, 60, "/accounts")
        assert metric(server.url, "ar_ingest_rate_limit_storage_errors_total") == 0
        assert statuses.count(200) == 25 and statuses.count(429) == 35
        assert metric(server.url, "ar_ingest_rate_limited_total") == 35
