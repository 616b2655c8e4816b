"""Batches of real replaces on SQLite: this service against Datasette 1.0's JSON write API on
the same rows, from outside, in one run (issue 23's SQLite target: at least 2x).

Both get the same 1,000-contact batches of 20,000 stored contacts, each changing one field,
over 1 and over 4 connections with keys of their own: this service's `POST
/contacts:batch` (gunicorn.conf.py, no rate limit or bulk cap) and Datasette's
`POST /<db>/<table>/-/upsert` (`datasette serve --root`, a table of the same columns keyed
by the reference, custom fields as JSON text, `max_insert_rows` raised to 1,000).
Datasette lives in a virtualenv of its own:

    python -m venv /tmp/ds && /tmp/ds/bin/pip install --pre 'datasette>=1.0a0'
    python bench/datasette.py --datasette /tmp/ds/bin/datasette
"""
import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests"), HERE]

import requests  # noqa: E402
from batches import RECORDS_PER_SHAPE, _plans  # noqa: E402
from live_server import free_port  # noqa: E402
from load import run_load  # noqa: E402
from scenarios import BATCH_SIZE  # noqa: E402
from setup_data import standalone_runs  # noqa: E402

TARGET = 2.0  # this service's replace rate over Datasette's
_SECRET = "bench-datasette-secret"
_COLUMNS = ("reference", "account_number", "first_name", "last_name", "email", "phone",
            "language", "country", "notes", "custom_fields")


def _datasette_plans(plans, token, rows):
    """The same batches as Datasette upserts of `rows` rows each: {"rows": [...]} with its
    bearer token."""
    return [[("POST", "/contacts/contacts/-/upsert", {"rows": body["items"][start:start + rows]},
              {"Authorization": f"Bearer {token}"})
             for _method, _path, body in batches for start in range(0, BATCH_SIZE, rows)]
            for batches in plans]


def datasette_replaces(datasette, scratch, connections, rows=BATCH_SIZE):
    """Records/s of Datasette upserting the replace batches (after the same first batches),
    `rows` rows a request (its own default limit is 100)."""
    path = os.path.join(scratch, "contacts.db")
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("DROP TABLE IF EXISTS contacts")
        db.execute(f"CREATE TABLE contacts ({_COLUMNS[0]} TEXT PRIMARY KEY, "
                   + ", ".join(f"{name} TEXT" for name in _COLUMNS[1:]) + ")")
    token = subprocess.run([datasette, "create-token", "root", "--secret", _SECRET],
                           check=True, capture_output=True, text=True).stdout.strip()
    port = free_port()
    server = subprocess.Popen([datasette, "serve", path, "--port", str(port), "--secret",
                               _SECRET, "--root", "--setting", "max_insert_rows", str(rows)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{base_url}/-/versions.json", timeout=2).raise_for_status()
                break
            except requests.RequestException:
                assert server.poll() is None and time.monotonic() < deadline, "no Datasette"
                time.sleep(0.2)
        run_load(base_url, "", _datasette_plans(_plans(connections, connections, "first"),
                                                token, rows), rows)
        figures = run_load(base_url, "", _datasette_plans(
            _plans(connections, connections, "second"), token, rows), rows)
        assert set(figures["statuses"]) == {"200"}, figures["statuses"]
        with sqlite3.connect(path) as db:
            stored = db.execute("SELECT count(*) FROM contacts WHERE notes = 'second'").fetchone()
        assert stored[0] == RECORDS_PER_SHAPE, stored
        return figures["records_per_s"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def service_replaces(server, key, connections):
    """Records/s of this service replacing the same batches (after the first ones)."""
    run_load(server.url, key, _plans(connections, connections, "first"), BATCH_SIZE)
    figures = run_load(server.url, key, _plans(connections, connections, "second"), BATCH_SIZE)
    assert set(figures["statuses"]) == {"200"}, figures["statuses"]
    return figures["records_per_s"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasette", default=os.environ.get("DATASETTE", "datasette"),
                        help="Datasette 1.0's executable (DATASETTE)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--datasette-rows", type=int, default=BATCH_SIZE,
                        help="rows per Datasette request (its default limit is 100)")
    args = parser.parse_args()
    for _scratch, server, key in standalone_runs(["sqlite"], env={
            "RATE_LIMIT": "", "BULK_REQUESTS_PER_TENANT": "1000"}):
        for connections in (1, 4):
            for round_number in range(args.rounds):
                with tempfile.TemporaryDirectory() as scratch:
                    theirs = datasette_replaces(args.datasette, scratch, connections,
                                                args.datasette_rows)
                ours = service_replaces(server, key, connections)
                # Keys of the next round are new again: each run starts from the same state.
                key = _fresh_tenant_key(server.database_url)
                print(f"replaces over {connections} connection(s), round {round_number + 1}: "
                      f"this service {ours:.0f} rec/s, Datasette {theirs:.0f} rec/s: "
                      f"{ours / theirs:.2f}x (target {TARGET}x; Datasette "
                      f"{args.datasette_rows} rows a request)", flush=True)


def _fresh_tenant_key(url):
    from setup_data import prepare_database

    return prepare_database(url, 1, 1)[0]


if __name__ == "__main__":
    main()
