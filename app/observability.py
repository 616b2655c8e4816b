"""Request ids, one JSON log line per request, and the logging set-up."""
import logging
import re
import sys
import time
import uuid

from flask import g, request

from app.logs import JsonLineFormatter

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
access_log = logging.getLogger("ar_ingest.access")


def configure_logging(app):
    """Send the app's logs to stderr as JSON lines (or text with LOG_FORMAT=text)."""
    logger = logging.getLogger("ar_ingest")
    logger.setLevel(app.config["LOG_LEVEL"].upper())
    logger.propagate = False
    for handler in list(logger.handlers):
        if getattr(handler, "_ar_ingest", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._ar_ingest = True
    if app.config["LOG_FORMAT"] == "json":
        handler.setFormatter(JsonLineFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger.addHandler(handler)


def start_request():
    """First of all: the start time and the request id (the caller's when sane)."""
    g.started = time.perf_counter()
    offered = request.headers.get("X-Request-Id", "")
    g.request_id = offered if _SANE_REQUEST_ID.match(offered) else uuid.uuid4().hex


def finish_request(response):
    """Last of all: the X-Request-Id header and the access log line."""
    response.headers["X-Request-Id"] = g.get("request_id", "")
    if access_log.isEnabledFor(logging.INFO):
        rule = request.url_rule.rule if request.url_rule is not None else None
        access_log.info("request", extra={
            "request_id": g.get("request_id"),
            "tenant": g.get("tenant_id"),
            "key_id": g.get("key_id"),
            "method": request.method,
            "route": rule,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 3),
        })
    return response


def init_observability(app):
    """Install logging (start_request and finish_request are steps of app/pipeline.py)."""
    configure_logging(app)
