"""Can key ids be probed by timing? (python bench/key_probe.py [--database URL] [-n COUNT])

In-process, through Flask's test client with the default settings (API_KEY_CACHE_SECONDS
5): the median time of a request under each kind of presented key, the kinds interleaved
request by request so that the machine's load falls on all of them alike, and the database
statements each kind costs per request.

- unknown, fresh: a random key id each time (what a prober sends)
- known id, fresh wrong secret: a real key id with a random secret each time
- unknown, repeated / known id, repeated wrong secret: one such key sent again and again
- malformed: not of the ark_<id>_<secret> form at all
- valid: the real key (a 404: the record does not exist), for reference

An unknown and a known key id must cost the same: in time, and in statements.

--database defaults to a fresh SQLite file; for PostgreSQL give a database of its own
(postgresql://postgres@127.0.0.1:5432/keyprobe: created when missing, and emptied).
"""
import argparse
import os
import random
import secrets
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

PATH = "/api/v1/ingest/accounts/PROBE"


def _create_postgresql_database(url):
    import psycopg
    base, name = url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (name,)).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def _prepare(url):
    from app import create_app
    from app.db import database, is_postgresql
    from app.migrations import upgrade
    from app.resources.registry import ALL_MODELS
    from app.services import tenants

    app = create_app({"DATABASE_URL": url, "LOG_LEVEL": "WARNING", "METRICS_ENABLED": False})
    with app.app_context():
        upgrade()
        if is_postgresql():
            database.execute_sql("TRUNCATE " + ", ".join(m._meta.table_name for m in ALL_MODELS)
                                 + " RESTART IDENTITY CASCADE")
        else:
            for model in reversed(ALL_MODELS):
                model.delete().execute()
        tenant = tenants.create_tenant("probe")
        row, key = tenants.create_api_key(tenant, name="probe")
    return app, row.key_id, key


def _random_secret():
    return secrets.token_urlsafe(32)


def _random_id():
    return secrets.token_hex(8)


class _StatementCounter:
    """Counts the statements the database runs (Peewee's execute_sql)."""

    def __init__(self):
        from app.db import database
        self.count = 0
        self._database = database.obj
        self._original = self._database.execute_sql

        def counting(*args, **kwargs):
            self.count += 1
            return self._original(*args, **kwargs)
        self._database.execute_sql = counting

    def close(self):
        self._database.execute_sql = self._original


def measure(url, count):
    app, key_id, valid = _prepare(url)
    unknown_repeated = f"ark_{_random_id()}_{_random_secret()}"
    known_repeated = f"ark_{key_id}_{_random_secret()}"
    cases = {
        "unknown id, fresh each time": lambda: f"ark_{_random_id()}_{_random_secret()}",
        "known id, fresh wrong secret": lambda: f"ark_{key_id}_{_random_secret()}",
        "unknown id, repeated": lambda: unknown_repeated,
        "known id, repeated wrong secret": lambda: known_repeated,
        "malformed": lambda: "ark_not-a-key",
        "valid key (404)": lambda: valid,
    }
    expected = {name: 401 for name in cases}
    expected["valid key (404)"] = 404
    client = app.test_client()
    timings = {name: [] for name in cases}
    statements = dict.fromkeys(cases, 0)
    counter = _StatementCounter()
    try:
        names = list(cases)
        for round_number in range(count + 50):
            random.shuffle(names)
            for name in names:
                headers = {"X-API-Key": cases[name]()}
                before = counter.count
                started = time.perf_counter()
                response = client.get(PATH, headers=headers)
                elapsed = time.perf_counter() - started
                assert response.status_code == expected[name], (name, response.status_code)
                if round_number >= 50:  # the first rounds warm the caches and connections
                    timings[name].append(elapsed)
                    statements[name] += counter.count - before
    finally:
        counter.close()
    return {name: (statistics.median(values) * 1e6, statements[name] / count)
            for name, values in timings.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=None)
    parser.add_argument("-n", "--count", type=int, default=3000, help="requests per kind")
    args = parser.parse_args()
    url = args.database
    if url is None:
        url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "key_probe.sqlite3")
    elif url.startswith("postgres"):
        _create_postgresql_database(url)
    results = measure(url, args.count)
    print(f"{url.split(':')[0]}, {args.count} requests of each kind, interleaved")
    print(f"{'presented key':36} {'median µs':>10} {'statements/request':>20}")
    for name, (median, per_request) in results.items():
        print(f"{name:36} {median:10.0f} {per_request:20.2f}")


if __name__ == "__main__":
    main()
