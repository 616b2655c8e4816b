"""The log line format: one JSON object per line, built by python-json-logger.

Used by the app's loggers and by gunicorn's error log (gunicorn.conf.py).
Every record's `extra` fields become keys; a body or an API key is never
passed to a logger, so neither can appear.
"""
import datetime

from pythonjsonlogger.json import JsonFormatter


class JsonLineFormatter(JsonFormatter):
    """time (RFC 3339, UTC, Z), level, logger, message, then the record's extra fields."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        super().__init__("%(levelname)s %(name)s %(message)s", *args, **kwargs)

    def add_fields(self, log_record, record, message_dict):
        log_record["time"] = datetime.datetime.fromtimestamp(
            record.created, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        super().add_fields(log_record, record, message_dict)
        log_record["level"] = record.levelname.lower()
