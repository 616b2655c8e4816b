"""Configuration: defaults, then the environment, then the caller's mapping."""
import os

DEFAULTS = {
    "DATABASE_URL": None,  # None: an SQLite file under the instance folder
    "MAX_BATCH_ITEMS": 1000,
    "MAX_BODY_BYTES": 1024 * 1024,
    "MAX_BATCH_BODY_BYTES": 32 * 1024 * 1024,
    "MAX_URL_LENGTH": 8192,
    # Parsing costs memory per value (about 100 bytes for a number): 1,000 items of 30 fields
    # and 50 custom fields each hold about 82,000; 250,000 cost at most about 30 MB.
    "MAX_BODY_VALUES": 250_000,
    "RATE_LIMIT": "",
    # Bulk requests (batches, links, email events) one tenant may run at once; 0: no cap.
    "BULK_REQUESTS_PER_TENANT": 2,
    "RATE_LIMIT_STORAGE_URL": "memory://",
    # Workers lease 1/N of each window's quota at a time from the shared count; a huge N
    # makes every request meet the storage (exact counting at any quota).
    "RATE_LIMIT_LEASE_DIVISOR": 1000,
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "json",
    "API_KEY_CACHE_SECONDS": 5.0,
    # A key that failed (unknown id, wrong secret) is refused this long without a lookup;
    # at most API_KEY_CACHE_SECONDS.
    "API_KEY_NEGATIVE_CACHE_SECONDS": 2.0,
    # Empty: cursors are encrypted with the random secret migration 12 stored in the
    # database (services/cursors.py); else at least 32 characters, the same everywhere.
    "CURSOR_SECRET": "",
    "SQLITE_BUSY_TIMEOUT_SECONDS": 30,
    "ENABLE_NOOP_ROUTE": True,
    "METRICS_ENABLED": True,
}

_INTEGER_SETTINGS = {"BULK_REQUESTS_PER_TENANT", "MAX_BODY_VALUES", "RATE_LIMIT_LEASE_DIVISOR", "MAX_BATCH_ITEMS", "MAX_BODY_BYTES", "MAX_BATCH_BODY_BYTES", "MAX_URL_LENGTH",
                     "SQLITE_BUSY_TIMEOUT_SECONDS"}
_FLOAT_SETTINGS = {"API_KEY_CACHE_SECONDS", "API_KEY_NEGATIVE_CACHE_SECONDS"}
_BOOLEAN_SETTINGS = {"ENABLE_NOOP_ROUTE", "METRICS_ENABLED"}


def from_environment(environ=None):
    """Return the settings the environment overrides, converted to their types."""
    environ = os.environ if environ is None else environ
    settings = {}
    for name in DEFAULTS:
        if name not in environ:
            continue
        raw = environ[name]
        if name in _INTEGER_SETTINGS:
            settings[name] = int(raw)
        elif name in _FLOAT_SETTINGS:
            settings[name] = float(raw)
        elif name in _BOOLEAN_SETTINGS:
            settings[name] = raw.strip().lower() in ("1", "true", "yes", "on")
        else:
            settings[name] = raw
    return settings


def default_database_url(instance_path):
    """The embedded SQLite database used when DATABASE_URL is not set."""
    return "sqlite:///" + os.path.join(instance_path, "ar-ingest.sqlite3")
