"""Gunicorn settings for `gunicorn wsgi:app`; each can be overridden from the environment."""
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile

bind = os.environ.get("BIND", "127.0.0.1:8000")
# Production runs with a rate limit per API key unless RATE_LIMIT says otherwise ("" turns
# it off): 6,000 units a minute is 100 single-record requests a second, or 10 batches (a
# batch costs 10), far above a nightly sync's need and far below what takes the server. Each
# worker counts alone unless RATE_LIMIT_STORAGE_URL names a shared Redis.
os.environ.setdefault("RATE_LIMIT", "6000/minute")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
# gthread keeps idle keep-alive connections of ETL clients in a poller. A connection stays
# with the worker that accepted it, so with one thread a quick read waits behind whatever
# batch that worker took next: one tenant's three looping batch clients moved another
# tenant's GET from p99 13 ms to 477 ms. Four threads let it run beside the batch (p99 28 ms
# against 11 ms idle, bench/hostile.py). Each thread has its own database connection, opened
# on its first query.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# A thread beside a batch holds the GIL for up to the switch interval (5 ms by default) each
# time a quick read comes back from the database and asks for it: a GET of four statements
# waited up to 20 ms (the convoy effect). A 1 ms interval bounds that at a few ms; the batch
# pays a handoff a millisecond.
GIL_SWITCH_INTERVAL_S = float(os.environ.get("GUNICORN_GIL_SWITCH_MS", "1")) / 1000
# The production deployment (deploy/serve.py) runs bulk routes in a pool of their own whose
# workers are niced (GUNICORN_NICE=10): while batches fill every core, the kernel still
# runs a quick read's worker first.
WORKER_NICE = int(os.environ.get("GUNICORN_NICE", "0"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 20
# The app is built in each worker after the fork, so no database connection
# is ever shared between processes.
preload_app = False
accesslog = None  # the app writes its own JSON line per request
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "warning")
# gunicorn's own error log in the app's format: one JSON object per line
# (python-json-logger), unless LOG_FORMAT=text.
if os.environ.get("LOG_FORMAT", "json") == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "app.logs.JsonLineFormatter"}},
        # gunicorn merges this over its defaults one level deep: its root logger uses
        # "console", so both handlers are declared here.
        "handlers": {name: {"class": "logging.StreamHandler", "formatter": "json",
                            "stream": stream}
                     for name, stream in (("console", "ext://sys.stdout"),
                                          ("error_console", "ext://sys.stderr"))},
        "loggers": {"gunicorn.error": {"level": loglevel.upper(), "handlers": ["error_console"],
                                       "propagate": False}},
    }

# Prometheus metrics from every worker: each writes its samples to this directory
# (prometheus_client's multiprocess mode), emptied when the server starts; a worker that
# exits is marked dead so its live-only samples stop counting.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR",
                      os.path.join(tempfile.gettempdir(), f"ar-ingest-metrics-{os.getpid()}"))
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


def on_starting(server):
    """Start from an empty metrics directory: samples of an earlier run must not count (unless
    the launcher emptied it for several pools that share it: METRICS_DIR_SHARED=1)."""
    if os.environ.get("METRICS_DIR_SHARED") == "1":
        return
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.remove(path)


def child_exit(server, worker):
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)
# No request-line limit in gunicorn, whose own 414 answer says less than the app's: the app
# refuses long URLs itself with problem+json (auth.py, MAX_URL_LENGTH).
limit_request_line = 0
# A body the app refuses unread (413) is not drained by gunicorn past 64 KiB, and a chunked
# one cannot be bounded in advance: close such connections after the answer, and say so
# in its Connection header, instead of announcing keep-alive and then hanging up.
_SMALLEST_BODY_LIMIT = int(os.environ.get("MAX_BODY_BYTES", 1024 * 1024))


def pre_request(worker, req):
    length = next((int(value) for name, value in req.headers
                   if name == "CONTENT-LENGTH" and value.isdigit()), None)
    chunked = any(name == "TRANSFER-ENCODING" and "chunked" in value.lower()
                  for name, value in req.headers)
    if chunked or (length is not None and length > _SMALLEST_BODY_LIMIT):
        req.must_close = True


# Header fields: the app answers too many or too long ones itself with problem+json (431);
# only past these far larger bounds does gunicorn answer itself (problem+json too: post_fork).
limit_request_fields = 1000
limit_request_field_size = 65536

# A worker whose heap grew past this after a request (a large batch leaves its pages to
# the allocator, and a process seldom gives them back) finishes its requests and is
# replaced, so heavy bodies cannot leave workers bloated for good. 0 disables.
max_worker_heap_bytes = int(os.environ.get("GUNICORN_MAX_WORKER_HEAP_MB", "250")) * 1024 * 1024


def _heap_bytes():
    """Anonymous resident memory: the heap, without pages of the SQLite file mapped by mmap,
    which come and go with the data read."""
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("RssAnon:"))
        return int(line.split()[1]) * 1024
    except (OSError, StopIteration, ValueError):  # not Linux: no recycling on memory
        return 0


def post_request(worker, req, environ, resp):
    if max_worker_heap_bytes and _heap_bytes() > max_worker_heap_bytes:
        worker.log.warning("Worker %s holds more than %s MB after a request: replacing it.",
                           os.getpid(), max_worker_heap_bytes // (1024 * 1024))
        # SIGTERM to itself is gunicorn's graceful stop: requests in progress finish first,
        # and the arbiter starts a fresh worker.
        os.kill(os.getpid(), signal.SIGTERM)


def post_fork(server, worker):
    """Each worker: the GIL switch interval and the niceness above, and gunicorn's own answers
    to requests it cannot parse in problem+json, like every other error."""
    from app.errors import server_refusal_answer
    from app.library_internals import answer_gunicorn_refusals_with

    answer_gunicorn_refusals_with(server_refusal_answer)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    if WORKER_NICE:
        os.nice(WORKER_NICE)
