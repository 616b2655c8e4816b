"""Prometheus metrics (prometheus_client), correct across gunicorn workers.

Under gunicorn, gunicorn.conf.py points PROMETHEUS_MULTIPROC_DIR at a
directory it empties on start and tells prometheus_client when a worker
exits; every worker writes its samples there and /metrics adds them up.
Without it (the development server, tests) the process's own registry is read.
Labels are route templates, never raw paths, so keys cannot blow up cardinality.
"""
import logging
import os
import time

from flask import Response, current_app, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter,
                               Histogram, generate_latest)
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily

from app.db import release_broken_connection

log = logging.getLogger("ar_ingest.metrics")

# Sub-millisecond no-ops to multi-second batches.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                   5.0, 10.0)

REQUESTS = Counter("ar_ingest_http_requests_total", "HTTP requests answered",
                   ["route", "method", "status"])
LATENCY = Histogram("ar_ingest_http_request_duration_seconds",
                    "Time from the first hook to the answer", ["route", "method"],
                    buckets=LATENCY_BUCKETS)
BATCH_ITEMS = Counter("ar_ingest_batch_items_total", "Items of batch requests, by outcome",
                      ["collection", "outcome"])
FEED_PAGES = Counter("ar_ingest_feed_pages_total", "Change-feed pages served", ["collection"])
IDEMPOTENT_REPLAYS = Counter("ar_ingest_idempotent_replays_total",
                             "POSTs answered from a stored Idempotency-Key answer")
RATE_LIMITED = Counter("ar_ingest_rate_limited_total", "Requests refused with 429")
RATE_LIMIT_STORAGE_ERRORS = Counter("ar_ingest_rate_limit_storage_errors_total",
                                    "Requests let through because the limit storage failed")
DATABASE_ERRORS = Counter("ar_ingest_database_errors_total",
                          "Requests that met a database error", ["kind"])


def _enabled():
    return current_app.config["METRICS_ENABLED"]


def count_batch(collection, counts):
    """Count a batch's items by outcome (created, replaced, unchanged, failed, linked...)."""
    if _enabled():
        for outcome, number in counts.items():
            if number:
                BATCH_ITEMS.labels(collection, outcome).inc(number)


def count(counter, *labels):
    """Add one to a counter (labels in order), when metrics are on."""
    if _enabled():
        (counter.labels(*labels) if labels else counter).inc()


_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method):
    """The request method as a label: one of HTTP's usual methods, every other one "other"."""
    return method if method in _KNOWN_METHODS else "other"


def observe(response):
    """After the view: the answer counted, its latency observed (when metrics are on)."""
    if not _enabled():
        return response
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    started = g.get("started")
    method = method_label(request.method)
    REQUESTS.labels(route, method, str(response.status_code)).inc()
    if started is not None:
        LATENCY.labels(route, method).observe(time.perf_counter() - started)
    return response


class FeedLagCollector:
    """How far the change feed's horizon trails the newest transaction, read at scrape time
    from `feed_lag()`: (transactions, seconds or None)."""

    def __init__(self, feed_lag):
        self.feed_lag = feed_lag

    def collect(self):
        """The two gauges (none when the database does not answer)."""
        try:
            transactions, seconds = self.feed_lag()
        except Exception as error:  # a scrape never fails for want of the database
            log.warning("feed lag unavailable", extra={"error": type(error).__name__})
            release_broken_connection()
            return
        yield GaugeMetricFamily(
            "ar_ingest_feed_horizon_lag_transactions",
            "Transactions between the feed's horizon and the newest one (0: nothing waits)",
            value=transactions)
        if seconds is not None:
            yield GaugeMetricFamily(
                "ar_ingest_feed_horizon_lag_seconds",
                "Age of the oldest open transaction holding the feed's horizon back",
                value=seconds)


def metrics_view():
    """GET /metrics: the Prometheus text format, summed over every worker."""
    feed_lag = current_app.extensions["feed_lag"]
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    live = CollectorRegistry()
    live.register(FeedLagCollector(feed_lag))
    return Response(generate_latest(registry) + generate_latest(live),
                    mimetype=CONTENT_TYPE_LATEST)


def init_metrics(app, feed_lag):
    """Count every answer and serve /metrics (unauthenticated), unless METRICS_ENABLED is off;
    `feed_lag` gives the feed horizon's gauges (the metrics know nothing of the services)."""
    if not app.config["METRICS_ENABLED"]:
        return
    app.extensions["feed_lag"] = feed_lag
    app.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])
