"""Single-record PUTs of one tenant against pgbench's single-row upsert at the same
concurrency (issue 23, point 5; `make bench` measures the same inside bench/run.py):

    python bench/puts.py --database postgresql://... --clients 16
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests"), HERE]

from load import run_load  # noqa: E402
from scenarios import API, contact_body  # noqa: E402


def _accounts_for_pgbench(clients):
    """pgbench's upsert names account ACCT-<client id>: one per client."""
    def fill(url, tenant_id):
        from app import create_app
        from app.resources.accounts import Account
        create_app({"DATABASE_URL": url})
        Account.insert_many([{"tenant": tenant_id, "account_number": f"ACCT-{c}",
                              "name": f"pgbench {c}"} for c in range(1, clients)]).execute()
    return fill


def main():
    from setup_data import pgbench_upsert, standalone_runs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", action="append")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=300, help="per client and shape")
    args = parser.parse_args()
    for _scratch, server, key in standalone_runs(args.database,
                                                  fill=_accounts_for_pgbench(args.clients), env={
            "RATE_LIMIT": "", "BULK_REQUESTS_PER_TENANT": "1000"}):
        ceiling = (pgbench_upsert(server.database_url, server.tenant_id, args.clients)
                   if server.database_url.startswith("postgres") else None)
        for shape, note in (("new", "first"), ("replace", "second")):
            plans = [[("PUT", f"{API}/contacts/P-{c}-{i}", contact_body(0, i, note))
                      for i in range(args.requests)] for c in range(args.clients)]
            figures = run_load(server.url, key, plans)
            ratio = f", {figures['requests_per_s'] / ceiling:.3f} of pgbench's {ceiling:.0f} tps" \
                if ceiling else ""
            print(f"PUT {shape}: {figures['requests_per_s']:.0f} req/s "
                  f"(p50 {figures['p50_ms']:.1f} ms){ratio}; {figures['statuses']}")


if __name__ == "__main__":
    main()
