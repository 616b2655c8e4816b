"""`make bench`: throughput and latency of the real server, as ratios to baselines of the same run.

Starts gunicorn with gunicorn.conf.py on a fresh database, drives it from
several client processes over keep-alive connections, and prints each
scenario's requests/s, p50/p99 latency and its ratio to the no-op JSON route
served by the same app and settings. Figures also go to a JSON file.
"""
import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests"), HERE]

from load import run_load  # noqa: E402
from live_server import GunicornServer  # noqa: E402

TARGETS = {"put_new": 0.5, "put_replace": 0.5, "get": 0.7, "link_put": None, "link_list": None}
LINKS_PER_REPRESENTATIVE = 10_000


def contact_body(client, index, note):
    return {"account_number": f"ACCT-{client}", "first_name": "Pat", "last_name": f"Bench {index}",
            "email": f"pat.{client}.{index}@customer.example", "phone": "+1 404 555 0100",
            "language": "en", "country": "us", "notes": note,
            "custom_fields": {"crm_id": f"{client}-{index}", "score": index}}


def prepare_database(url, clients, per_client):
    """Schema, tenant, key; one representative per client already linked to 10,000 accounts.

    Written with bulk inserts: setting up is not what is measured.
    """
    from app import create_app
    from app.db import database
    from app.migrations import upgrade
    from app.models import Account, Representative, RepresentativeAccount
    from app.services.tenants import create_api_key, create_tenant

    create_app({"DATABASE_URL": url})
    upgrade()
    tenant = create_tenant(f"bench-{int(time.time() * 1000)}")
    key = create_api_key(tenant, name="bench")[1]
    accounts = LINKS_PER_REPRESENTATIVE + clients * per_client
    with database.atomic():
        for start in range(0, accounts, 500):
            Account.insert_many([{"tenant": tenant.id, "account_number": f"L{n:06d}",
                                  "name": f"Linked {n}"}
                                 for n in range(start, min(accounts, start + 500))]).execute()
        Representative.insert_many([{"tenant": tenant.id, "reference": f"REP-{c}"}
                                    for c in range(clients)]).execute()
        for c in range(clients):
            for start in range(0, LINKS_PER_REPRESENTATIVE, 500):
                RepresentativeAccount.insert_many([
                    {"tenant": tenant.id, "representative": f"REP-{c}",
                     "account_number": f"L{n:06d}"}
                    for n in range(start, start + 500)]).execute()
    database.close()
    return key


def scenarios(clients, per_client):
    """(name, requests per client) in the order they run; later ones read what earlier wrote."""
    def each(make):
        return [[make(c, i) for i in range(per_client)] for c in range(clients)]

    return [
        ("setup_accounts", [[("PUT", f"/api/v1/ingest/accounts/ACCT-{c}", {"name": f"A{c}"})]
                            for c in range(clients)]),
        ("noop", each(lambda c, i: ("GET", "/_noop", None))),
        ("put_new", each(lambda c, i: ("PUT", f"/api/v1/ingest/contacts/B-{c}-{i}",
                                       contact_body(c, i, "first")))),
        ("put_replace", each(lambda c, i: ("PUT", f"/api/v1/ingest/contacts/B-{c}-{i}",
                                           contact_body(c, i, "second")))),
        ("get", each(lambda c, i: ("GET", f"/api/v1/ingest/contacts/B-{c}-{i}", None))),
        ("link_put", each(lambda c, i: (
            "PUT", f"/api/v1/ingest/representatives/REP-{c}/accounts/"
                   f"L{LINKS_PER_REPRESENTATIVE + c * per_client + i:06d}", None))),
        ("link_list", each(lambda c, i: (
            "GET", f"/api/v1/ingest/representatives/REP-{c}/accounts"
                   f"?limit=100&page={1 + (i * 37) % (LINKS_PER_REPRESENTATIVE // 100)}", None))),
        ("noop_again", each(lambda c, i: ("GET", "/_noop", None))),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE_URL", "sqlite"),
                        help="'sqlite' (a fresh temporary file) or a PostgreSQL URL")
    parser.add_argument("--requests", type=int, default=6000, help="requests per scenario")
    parser.add_argument("--clients", type=int, default=4, help="concurrent connections")
    parser.add_argument("--output", default=os.path.join(HERE, "results.json"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        url = (f"sqlite:///{scratch}/bench.sqlite3" if args.database == "sqlite"
               else args.database)
        per_client = max(1, args.requests // args.clients)
        key = prepare_database(url, args.clients, per_client)
        results = {}
        with GunicornServer(url, workers=None, threads=None, worker_class=None) as server:
            for name, plan in scenarios(args.clients, per_client):
                results[name] = run_load(server.url, key, plan)
        baseline = max(results["noop"]["requests_per_s"], results["noop_again"]["requests_per_s"])
        for name in TARGETS:
            results[name]["ratio_to_noop"] = round(results[name]["requests_per_s"] / baseline, 3)

    print(f"\nar-ingest bench: {args.database.split('@')[-1]}, {args.clients} connections, "
          f"{per_client * args.clients} requests per scenario\n")
    print(f"{'scenario':<14}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'ratio':>8}{'target':>8}"
          "  statuses")
    for name, figures in results.items():
        if name == "setup_accounts":
            continue
        ratio = figures.get("ratio_to_noop")
        target = TARGETS.get(name)
        print(f"{name:<14}{figures['requests_per_s']:>10.1f}{figures['p50_ms']:>10.2f}"
              f"{figures['p99_ms']:>10.2f}{'' if ratio is None else f'{ratio:.3f}':>8}"
              f"{'' if target is None else f'>={target}':>8}  {figures['statuses']}")
    with open(args.output, "w") as handle:
        json.dump({"database": args.database.split("@")[-1], "clients": args.clients,
                   "results": results}, handle, indent=2)
    print(f"\nwritten to {args.output}")
    failed = {name: figures["statuses"] for name, figures in results.items()
              if any(not status.startswith("2") for status in figures["statuses"])}
    if failed:
        sys.exit(f"unexpected statuses (the figures above are not valid): {failed}")


if __name__ == "__main__":
    main()
