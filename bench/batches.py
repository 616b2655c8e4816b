"""Batch upserts against the store's own ceiling, measured in the same run (issue 23).

Shapes: 1,000-contact batches of new records, of real replaces (one field changed) and of
unchanged re-sends, over 1 and over 4 connections, each connection with keys of its own (as
parallel workers split a full sync). Each is a ratio to what the database takes for the same
rows without the service: on PostgreSQL pgbench running one 1,000-row
`INSERT ... ON CONFLICT DO UPDATE` per transaction at the same concurrency; on SQLite the same
upsert as one raw executemany per 1,000 rows, one connection (SQLite has one writer). Then a
full sync re-run: N contacts sent in a sync run over 4 connections and the run finished,
then all of them again, unchanged, in a new run: its seconds. `make bench` runs it inside bench/run.py; alone:

    python bench/batches.py --database sqlite --database postgresql://... --full-sync 1000000
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests"), HERE]

import requests  # noqa: E402
from load import run_load  # noqa: E402
from scenarios import API, BATCH_SIZE, contact_body  # noqa: E402

RECORDS_PER_SHAPE = 20_000
# Issue 23's targets, as ratios to the ceiling of the same run (PostgreSQL) and in seconds.
TARGETS_POSTGRESQL = {"replace": 0.25, "unchanged": 0.5}
TARGET_FULL_SYNC_SECONDS = 60

_COLUMNS = ("tenant_id, reference, custom_fields, version, created_at, updated_at, change_seq, "
            "search_text, account_number, first_name, last_name, email, email_status, phone, "
            "language, country, notes, is_primary, email_key, name_key, name_length")
_UPSERT_TAIL = ("ON CONFLICT (tenant_id, reference) DO UPDATE SET "
                "custom_fields = EXCLUDED.custom_fields, version = contacts.version + 1, "
                "updated_at = EXCLUDED.updated_at, change_seq = EXCLUDED.change_seq, "
                "notes = EXCLUDED.notes")


def _plans(connections, round_number, note):
    """Each connection's 1,000-contact batches, keys its own, RECORDS_PER_SHAPE in all."""
    per_connection = RECORDS_PER_SHAPE // BATCH_SIZE // connections
    return [[("POST", f"{API}/contacts:batch", {"items": [
        dict(contact_body(0, i, note), reference=f"BX{round_number}-{c}-{b}-{i}")
        for i in range(BATCH_SIZE)]}) for b in range(per_connection)]
        for c in range(connections)]


def pgbench_batch_upsert(url, tenant_id, clients, seconds=10):
    """Rows/s of pgbench sending the 1,000-row upsert (every column, ON CONFLICT DO UPDATE),
    one statement and transaction at a time per client, keys of its own per client."""
    script = os.path.join(tempfile.mkdtemp(prefix="pgbench-"), "batch.sql")
    with open(script, "w") as out:
        out.write(
            f"INSERT INTO contacts ({_COLUMNS}) SELECT :tenant, 'PGBB-' || :client_id || '-' || g, "
            "'{\"crm_id\":\"0-1\",\"score\":1}', 1, now(), now(), "
            "pg_current_xact_id()::text::bigint, 'pgb', 'ACCT-0', 'Pat', 'Bench ' || g, "
            "'pat.' || g || '@customer.example', 'valid', '+1 404 555 0100', 'en', 'US', "
            "'pgbench ' || random(), false, 'pat.' || g || '@customer.example', "
            f"'pat bench ' || g, 12 FROM generate_series(1, {BATCH_SIZE}) AS g {_UPSERT_TAIL};\n")
    command = ["pgbench", "-n", "-c", str(clients), "-j", str(min(clients, os.cpu_count() or 1)),
               "-T", str(seconds), "-f", script, "-D", f"tenant={tenant_id}", url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    tps = next(line for line in output.splitlines() if line.startswith("tps = "))
    return round(float(tps.split()[2]) * BATCH_SIZE, 1)


def sqlite_executemany_upsert(url, tenant_id, batches=20):
    """Rows/s of the same upsert as one raw executemany per 1,000 rows, a commit each."""
    import sqlite3

    connection = sqlite3.connect(url[len("sqlite:///"):], isolation_level=None, timeout=30)
    placeholders = ", ".join(["?"] * len(_COLUMNS.split(",")))
    sql = f"INSERT INTO contacts ({_COLUMNS}) VALUES ({placeholders}) {_UPSERT_TAIL}"
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    started = time.perf_counter()
    for batch in range(batches):
        rows = [(tenant_id, f"RAWB-{i}", '{"crm_id":"0-1","score":1}', 1, now, now, batch,
                 "pgb", "ACCT-0", "Pat", f"Bench {i}", f"pat.{i}@customer.example", "valid",
                 "+1 404 555 0100", "en", "US", f"raw {batch}", 0,
                 f"pat.{i}@customer.example", f"pat bench {i}", 12) for i in range(BATCH_SIZE)]
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(sql, rows)
        connection.execute("COMMIT")
    seconds = time.perf_counter() - started
    connection.close()
    return round(batches * BATCH_SIZE / seconds, 1)


def _checked(figures, expected):
    wrong = {status: count for status, count in figures["statuses"].items() if status != "200"}
    assert not wrong, f"{expected}: {figures['statuses']}"
    return figures


def batch_shapes(url, base_url, api_key, tenant_id):
    """{connections: {shape: figures}}: records/s of each shape and its ratio to the ceiling."""
    results = {}
    for connections in (1, 4):
        if url.startswith("postgresql"):
            ceiling = pgbench_batch_upsert(url, tenant_id, connections)
        else:
            ceiling = sqlite_executemany_upsert(url, tenant_id)
        shapes = {}
        for shape, note in (("new", "first"), ("replace", "second"), ("unchanged", "second")):
            plans = _plans(connections, connections, note)
            figures = _checked(run_load(base_url, api_key, plans, BATCH_SIZE), shape)
            shapes[shape] = {"records_per_s": figures["records_per_s"],
                             "p50_ms": figures["p50_ms"],
                             "ratio_to_ceiling": round(figures["records_per_s"] / ceiling, 3)}
        shapes["ceiling_records_per_s"] = ceiling
        shapes["unchanged_over_replace"] = round(
            shapes["unchanged"]["records_per_s"] / shapes["replace"]["records_per_s"], 2)
        results[connections] = shapes
    return results


def full_sync_rerun(url, base_url, count):
    """Seconds of a nightly full sync run again: `count` contacts sent in a sync run over 4
    connections, the run finished; then the same contacts, unchanged, in a new run (timed
    both, the second is the figure). A tenant of its own: the run's scope is all of it."""
    from setup_data import prepare_database

    api_key = prepare_database(url, 1, 1)[0]
    outcomes = {}
    for attempt in ("first", "re-run"):
        run_id = requests.post(f"{base_url}{API}/contacts:sync-runs", json={},
                               headers={"X-API-Key": api_key}).json()["id"]
        plans = [[("POST", f"{API}/contacts:batch", {"items": [
            {"reference": f"F{n:07d}", "account_number": "ACCT-0", "name": f"Stored {n}",
             "email": f"f{n}@example.com"}
            for n in range(start, min(count, start + BATCH_SIZE))]}, {"Sync-Run": run_id})
            for start in range(c * BATCH_SIZE, count, 4 * BATCH_SIZE)] for c in range(4)]
        started = time.perf_counter()
        figures = _checked(run_load(base_url, api_key, plans, BATCH_SIZE), "full sync")
        finish = requests.post(f"{base_url}{API}/contacts:sync-runs/{run_id}:finish",
                               headers={"X-API-Key": api_key}, json={}, timeout=600)
        assert finish.status_code == 200, finish.text
        outcomes[attempt] = {"seconds": round(time.perf_counter() - started, 1),
                             "batches_records_per_s": figures["records_per_s"],
                             "finish": finish.json()["result"]}
    return {"contacts": count, **outcomes}


def print_batch_shapes(database, figures):
    """The lines bench/run.py prints."""
    ceiling_name = "pgbench 1,000-row upsert" if database != "sqlite" else "raw executemany"
    for connections, shapes in figures["shapes"].items():
        print(f"batches over {connections} connection(s), {ceiling_name} "
              f"{shapes['ceiling_records_per_s']:.0f} rows/s: " + ", ".join(
                  f"{shape} {shapes[shape]['records_per_s']:.0f}/s "
                  f"({shapes[shape]['ratio_to_ceiling']:.3f})"
                  for shape in ("new", "replace", "unchanged"))
              + f"; unchanged/replace {shapes['unchanged_over_replace']:.1f}x (target 3x)")
    sync = figures.get("full_sync")
    if sync:
        print(f"full sync re-run of {sync['contacts']:,} unchanged contacts: "
              f"{sync['re-run']['seconds']:.1f} s (target {TARGET_FULL_SYNC_SECONDS} s; "
              f"the first run, which created them, {sync['first']['seconds']:.1f} s)")


def main():
    from setup_data import standalone_runs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", action="append")
    parser.add_argument("--full-sync", type=int, default=0, metavar="CONTACTS",
                        help="also time a full sync re-run of this many stored contacts")
    args = parser.parse_args()
    for database in args.database or ["sqlite"]:
        # The engine is measured, not the policy: no rate limit, no cap on concurrent batches.
        for _scratch, server, key in standalone_runs([database], env={
                "RATE_LIMIT": "", "BULK_REQUESTS_PER_TENANT": "1000"}):
            tenant_id = server.tenant_id
            figures = {"shapes": batch_shapes(server.database_url, server.url, key, tenant_id)}
            if args.full_sync:
                figures["full_sync"] = full_sync_rerun(server.database_url, server.url,
                                                       args.full_sync)
            print_batch_shapes(database, figures)


if __name__ == "__main__":
    main()
