"""target-ar-ingest against `ar-ingest import` on the same rows (issue 25).

The same contacts once as an NDJSON file given to `ar-ingest import contacts`, once as a
tap's output (SCHEMA, then RECORD and a STATE every 1,000 records) given to
`target-ar-ingest`, each as its command, fresh records every round. A replayed tap output,
not a live tap, so that the figure is the target's, not a tap's. `make bench` runs it inside
bench/run.py; alone:

    python bench/singer.py --database sqlite --database postgresql://...
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests"), HERE]

from scenarios import contact_body  # noqa: E402

BIN = os.path.dirname(sys.executable)
TARGET_RATIO = 0.8  # target rows/s over the importer's


def _rows(count, prefix):
    for index in range(count):
        yield {"reference": f"{prefix}{index:07d}", **contact_body(0, index, "singer")}


def _timed(command, env, **kwargs):
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-2000:] + done.stderr[-2000:])
    return time.perf_counter() - started


def singer_against_importer(base_url, api_key, scratch, rows=20_000, rounds=3):
    """Median rows/s of the target and of the importer, and their ratio."""
    env = dict(os.environ, AR_INGEST_API_KEY=api_key)
    config = os.path.join(scratch, "target.json")
    with open(config, "w") as handle:
        json.dump({"url": base_url}, handle)
    target_rates, import_rates = [], []
    for round_number in range(rounds):
        ndjson = os.path.join(scratch, f"singer-import-{round_number}.ndjson")
        with open(ndjson, "w") as handle:
            for row in _rows(rows, f"SI{round_number}-"):
                handle.write(json.dumps(row) + "\n")
        messages = os.path.join(scratch, f"singer-tap-{round_number}.jsonl")
        with open(messages, "w") as handle:
            handle.write(json.dumps({"type": "SCHEMA", "stream": "contacts",
                                     "key_properties": ["reference"],
                                     "schema": {"type": "object", "properties": {}}}) + "\n")
            for index, row in enumerate(_rows(rows, f"ST{round_number}-")):
                handle.write(json.dumps({"type": "RECORD", "stream": "contacts",
                                         "record": row}) + "\n")
                if index % 1000 == 999:
                    handle.write(json.dumps({"type": "STATE", "value": {"n": index}}) + "\n")
        import_rates.append(rows / _timed([os.path.join(BIN, "ar-ingest"), "import",
                                           "contacts", ndjson, "--url", base_url], env))
        target_rates.append(rows / _timed([os.path.join(BIN, "target-ar-ingest"), "--config",
                                           config, "--input", messages], env))
    target, importer = statistics.median(target_rates), statistics.median(import_rates)
    return {"rows": rows, "target_rows_per_s": round(target, 1),
            "importer_rows_per_s": round(importer, 1), "ratio": round(target / importer, 3)}


def print_singer(figures):
    """The line bench/run.py prints."""
    mark = "ok" if figures["ratio"] >= TARGET_RATIO else "MISSED"
    print(f"target-ar-ingest: {figures['target_rows_per_s']:.0f} rows/s against the importer's "
          f"{figures['importer_rows_per_s']:.0f} on {figures['rows']:,} contacts: "
          f"{figures['ratio']:.2f} ({mark}, target {TARGET_RATIO})")


def main():
    from setup_data import standalone_runs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", action="append")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for scratch, server, key in standalone_runs(args.database):
        print_singer(singer_against_importer(server.url, key, scratch, args.rows, args.rounds))


if __name__ == "__main__":
    main()
