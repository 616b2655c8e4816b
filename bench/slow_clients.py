"""Slow clients against gunicorn alone and behind nginx (python bench/slow_clients.py).

50 sockets send a request line and then one header line every 5 s, 10 more send nothing
(each reopened once the server closes it), while two ETL clients loop a GET and a small PUT
with a 5 s timeout, one on a kept-alive connection, one on a new connection per request.
Printed per deployment: the clients' answers and latencies, and how long the server kept
the slow sockets. gunicorn alone is what `make serve` ran before
deploy/serve.py; tests/test_slow_clients.py asserts the nginx side.
"""
import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests"), HERE]

from live_server import GunicornServer, ServedDeployment  # noqa: E402
from load import percentile  # noqa: E402
from slow_sockets import SlowSockets, normal_traffic, prepare_normal_records  # noqa: E402


def _summary(results):
    latencies = sorted(latency for _, _, latency, _ in results)
    return {
        "requests": len(results),
        "answered_as_expected": sum(ok for *_, ok in results),
        "outcomes": dict(Counter(f"{method} {status}" for method, status, _, _ in results)),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1),
    }


def attack(server, key, args):
    prepare_normal_records(server.url, key)
    sockets = SlowSockets("127.0.0.1", server.port, slow=args.slow, silent=args.silent,
                          interval=args.interval).start()
    time.sleep(1)  # every socket is open
    with ThreadPoolExecutor(2) as pool:
        kept, new = [pool.submit(normal_traffic, server.url, key, args.seconds, keep_alive)
                     for keep_alive in (True, False)]
        kept, new = kept.result(), new.result()
    attempts = sockets.stop()
    lifetimes = sorted(a.lifetime for a in attempts if a.lifetime is not None)
    return {
        "kept_alive_client": _summary(kept), "new_connection_client": _summary(new),
        "slow_sockets_opened": len(attempts),
        "closed_by_server": len(lifetimes),
        "held_s_median": round(percentile(lifetimes, 0.5), 1) if lifetimes else None,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--deployment", choices=("gunicorn", "nginx", "both"), default="both")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--slow", type=int, default=50)
    parser.add_argument("--silent", type=int, default=10)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=None, help="else gunicorn.conf.py's")
    parser.add_argument("--threads", type=int, default=None, help="else gunicorn.conf.py's")
    args = parser.parse_args()
    from app import create_app
    from app.migrations import upgrade
    from app.services.tenants import create_api_key, create_tenant

    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database if args.database != "sqlite" else f"sqlite:///{scratch}/s.sqlite3"
        create_app({"DATABASE_URL": url})
        upgrade()
        key = create_api_key(create_tenant(f"slow-{time.time()}"))[1]
        deployments = {"gunicorn": lambda: GunicornServer(url, workers=args.workers,
                                                          threads=args.threads),
                       "nginx": lambda: ServedDeployment(url, workers=args.workers,
                                                         threads=args.threads)}
        for name in (("gunicorn", "nginx") if args.deployment == "both" else (args.deployment,)):
            with deployments[name]() as server:
                results[name] = attack(server, key, args)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
