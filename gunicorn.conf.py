"""Gunicorn settings for `gunicorn wsgi:app`; each can be overridden from the environment."""
import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
# gthread keeps idle keep-alive connections of ETL clients in a poller. The
# work is CPU-bound Python, so one thread per worker measured best on SQLite
# (bench/); raise GUNICORN_THREADS where the database is far away. Each thread
# has its own database connection, opened on its first query.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 20
# The app is built in each worker after the fork, so no database connection
# is ever shared between processes.
preload_app = False
accesslog = None  # the app writes its own JSON line per request
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "warning")
# No request-line limit in gunicorn, whose own 414 answer is HTML: the app
# refuses long URLs itself with problem+json (auth.py, MAX_URL_LENGTH).
limit_request_line = 0
