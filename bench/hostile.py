"""Hostile and heavy traffic, measured against the real server (python bench/hostile.py).

- costly: three tenants each send 32 MiB batch bodies of 8,000,000 numbers back to back;
  each worker's peak memory (VmHWM) and another client's GET latency meanwhile, against the
  same GET idle.
- noisy: tenant A's three clients loop 1,000-contact batches while tenant B reads one
  record; B's latency against B alone.

The load runs in processes of its own (tests/tenant_load.py, which tests/test_fairness.py
shares). Production settings (gunicorn.conf.py as it is; --deployment nginx for make
serve's nginx in front) and, for the figures before the change, the limits off (--before).
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

from live_server import GunicornServer, ServedDeployment  # noqa: E402
from load import worker_memory  # noqa: E402
from tenant_load import latencies, load_while_reading, noisy_neighbour, summary  # noqa: E402

from tenant_load import PREFIX  # noqa: E402

COSTLY_BODY = (b'{"items":[{"reference":"C-1","name":['
               + b",".join([b"1.0"] * 8_000_000) + b"]}]}")


def _peaks_mb(root_pid):
    """Peak resident MB of the gunicorn workers under `root_pid` (the master, or the launcher
    of the nginx deployment): the processes of its tree without children of their own."""
    tree, leaves = [root_pid], {}
    while tree:
        pid = tree.pop()
        children = list(worker_memory(pid))
        tree.extend(children)
        if not children and pid != root_pid:
            with open(f"/proc/{pid}/status") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
            if "nginx" not in fields["Name"]:
                leaves[pid] = round(int(fields["VmHWM"].split()[0]) / 1024, 1)
    return leaves


def costly(server, keys, seconds):
    """Three tenants' costly bodies (one tenant's third at once would be refused, 429)."""
    headers = {"X-API-Key": keys[0]}
    probe = f"{server.url}{PREFIX}/contacts"
    idle = latencies(probe, headers, count=300)
    under_load, answers = load_while_reading(
        [(f"{server.url}{PREFIX}/contacts:batch", key, COSTLY_BODY) for key in keys],
        probe, headers, seconds)
    return {"answers": answers, "worker_peak_mb": _peaks_mb(server.process.pid),
            "idle": summary(idle), "meanwhile": summary(under_load)}


def noisy(server, key_a, key_b, seconds, clients=3):
    """Tenant A's clients loop 1,000-contact batches of their own keys; B reads one record."""
    return noisy_neighbour(server.url, key_a, key_b, seconds, clients)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--scenario", choices=("costly", "noisy", "all"), default="all")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--deployment", choices=("gunicorn", "nginx"), default="gunicorn",
                        help="gunicorn alone, or make serve's nginx in front of it")
    parser.add_argument("--bulk-workers", type=int, default=None,
                        help="nginx deployment: the bulk pool's workers (0: none, every route "
                             "in one pool); else serve.py's default")
    parser.add_argument("--worker-class", default=None, help="else gunicorn.conf.py's")
    parser.add_argument("--threads", type=int, default=None, help="else gunicorn.conf.py's")
    parser.add_argument("--before", action="store_true",
                        help="with MAX_BODY_VALUES, worker recycling, the bulk cap and the "
                             "rate limit turned off")
    args = parser.parse_args()
    from app import create_app
    from app.migrations import upgrade
    from app.services.tenants import create_api_key, create_tenant

    env = {"RATE_LIMIT": None}  # gunicorn.conf.py's own
    if args.before:
        env = {"RATE_LIMIT": "", "MAX_BODY_VALUES": str(10 ** 9),
               "GUNICORN_MAX_WORKER_HEAP_MB": "0", "BULK_REQUESTS_PER_TENANT": "0"}
    results = {"before": args.before, "deployment": args.deployment}
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database if args.database != "sqlite" else f"sqlite:///{scratch}/h.sqlite3"
        create_app({"DATABASE_URL": url})
        upgrade()
        stamp = time.time()
        key_a, key_b, key_c = (create_api_key(create_tenant(f"{name}-{stamp}",
                                                            [f"{name}.example"]))[1]
                               for name in "abc")
        # Workers and threads as gunicorn.conf.py gives them (WEB_CONCURRENCY, GUNICORN_THREADS).
        if args.deployment == "nginx":
            if args.worker_class:
                env["GUNICORN_WORKER_CLASS"] = args.worker_class
            server = ServedDeployment(url, workers=None, threads=args.threads, env=env,
                                      bulk_workers=args.bulk_workers)
        else:
            server = GunicornServer(url, workers=None, threads=args.threads, env=env,
                                    worker_class=args.worker_class)
        with server:
            if args.scenario in ("costly", "all"):
                results["costly"] = costly(server, [key_a, key_b, key_c], args.seconds)
            if args.scenario in ("noisy", "all"):
                results["noisy"] = noisy(server, key_a, key_b, args.seconds)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
