"""Batch matching upserts against single matching upserts, one connection each (issue 24).

1,000 people found by a misspelt name among an account's 1,000 contacts, and
among a tenant's 100,000 representatives (then linked to an account): once
as 1,000 single `PUT .../upsert` requests over one keep-alive connection,
once as one `POST /{contacts,representatives}:upsert` of 1,000 items. Each
round changes every matched record (a new title), so both do the same work.
`make bench` runs it inside bench/run.py; alone:

    python bench/people_batch.py --database sqlite --database postgresql://...
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests"), HERE]

from load import run_load  # noqa: E402
from scenarios import (API, MATCH_ACCOUNT, MATCH_CONTACTS, MATCH_REPRESENTATIVES,  # noqa: E402
                       person_name, with_typo)

PEOPLE = 1000
TARGET_BATCH_MATCHING = 5.0  # batch records/s over single upserts' over one connection


def _people(among, round_number, account_field=None):
    picks = [(i * 7919 + round_number * 104729) % among for i in range(PEOPLE)]
    return [dict({"name": with_typo(person_name(n)), "title": f"batch-{round_number}-{i}"},
                 **({"account_number": account_field} if account_field else {}))
            for i, n in enumerate(picks)]


def plans(round_number):
    """{shape: (single plan, batch plan)} for one round; one client each."""
    contacts_single = [("PUT", f"{API}/accounts/{MATCH_ACCOUNT}/contacts/upsert", body)
                       for body in _people(MATCH_CONTACTS, 2 * round_number)]
    contacts_batch = [("POST", f"{API}/contacts:upsert", {"items": _people(
        MATCH_CONTACTS, 2 * round_number + 1, MATCH_ACCOUNT)})]
    reps_single = [("PUT", f"{API}/accounts/ACCT-0/representatives/upsert", body)
                   for body in _people(MATCH_REPRESENTATIVES, 2 * round_number)]
    reps_batch = [("POST", f"{API}/representatives:upsert", {"items": _people(
        MATCH_REPRESENTATIVES, 2 * round_number + 1, "ACCT-0")})]
    return {"contacts among 1,000": ([contacts_single], [contacts_batch]),
            "representatives among 100,000": ([reps_single], [reps_batch])}


def batch_matching(base_url, api_key, rounds):
    """{shape: figures}: records/s of each way, medians over `rounds`, and their ratio."""
    runs = {}
    for round_number in range(rounds):
        for shape, (single, batch) in plans(100 + round_number).items():
            runs.setdefault(shape, {"single": [], "batch": []})
            runs[shape]["single"].append(run_load(base_url, api_key, single))
            runs[shape]["batch"].append(run_load(base_url, api_key, batch,
                                                 items_per_request=PEOPLE))
    figures = {}
    for shape, both in runs.items():
        single = sorted(run["records_per_s"] for run in both["single"])[len(both["single"]) // 2]
        batch = sorted(run["records_per_s"] for run in both["batch"])[len(both["batch"]) // 2]
        statuses = {}
        for run in both["single"] + both["batch"]:
            for status, count in run["statuses"].items():
                statuses[status] = statuses.get(status, 0) + count
        figures[shape] = {"single_records_per_s": single, "batch_records_per_s": batch,
                          "ratio": round(batch / single, 2), "statuses": statuses}
    return figures


def print_batch_matching(figures):
    """The lines bench/run.py prints."""
    for shape, row in figures.items():
        mark = "ok" if row["ratio"] >= TARGET_BATCH_MATCHING else "MISSED"
        print(f"batch matching upsert, {shape}: {row['batch_records_per_s']:.0f} records/s "
              f"against {row['single_records_per_s']:.0f} as single upserts over one "
              f"connection: {row['ratio']:.1f}x ({mark}, target {TARGET_BATCH_MATCHING:.0f}x); "
              f"statuses {row['statuses']}")


def main():
    from setup_data import fill_people, standalone_runs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", action="append")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for _, server, key in standalone_runs(args.database, fill=fill_people):
        print_batch_matching(batch_matching(server.url, key, args.rounds))


if __name__ == "__main__":
    main()
