"""Hostile and heavy traffic, measured against the real server (python bench/hostile.py).

- costly: three 32 MiB batch bodies of 8,000,000 numbers at once; each worker's peak
  memory (VmHWM) and another client's GET latency meanwhile, against the same GET idle.
- noisy: tenant A's clients loop 1,000-contact batches while tenant B reads one record;
  B's latency against B alone.

Each runs with the production settings (gunicorn.conf.py as it is) and, for the figures
before the change, with the limits turned off (--before).
"""
import argparse
import json
import os
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests"), HERE]

import requests  # noqa: E402
from live_server import GunicornServer  # noqa: E402
from load import percentile, worker_memory  # noqa: E402

PREFIX = "/api/v1/ingest"
COSTLY_BODY = (b'{"items":[{"reference":"C-1","name":['
               + b",".join([b"1.0"] * 8_000_000) + b"]}]}")


def _latencies(url, headers, stop=None, count=None):
    """GET latencies in seconds, until `stop` is set or `count` are done."""
    found, session = [], requests.Session()
    while (stop is None or not stop.is_set()) and (count is None or len(found) < count):
        started = time.perf_counter()
        response = session.get(url, headers=headers, timeout=120)
        found.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    return found


def _summary(latencies):
    ordered = sorted(latencies)
    return {"requests": len(ordered), "p50_ms": round(percentile(ordered, 0.5) * 1000, 1),
            "p99_ms": round(percentile(ordered, 0.99) * 1000, 1)}


def _peaks_mb(master_pid):
    peaks = {}
    for pid in worker_memory(master_pid):
        with open(f"/proc/{pid}/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
        peaks[pid] = round(int(line.split()[1]) / 1024, 1)
    return peaks


def costly(server, keys):
    """Three tenants' costly bodies at once (a tenant's third at once would be refused)."""
    headers = {"X-API-Key": keys[0]}
    probe = f"{server.url}{PREFIX}/contacts"
    idle = _latencies(probe, headers, count=200)
    stop, under_load, answers = threading.Event(), [], []
    reader = threading.Thread(target=lambda: under_load.extend(_latencies(probe, headers, stop)))
    reader.start()

    def send(key):
        answers.append(requests.post(f"{server.url}{PREFIX}/contacts:batch", data=COSTLY_BODY,
                                     headers={"X-API-Key": key, "Content-Type": "application/json"},
                                     timeout=600).status_code)
    senders = [threading.Thread(target=send, args=(key,)) for key in keys]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    stop.set()
    reader.join()
    return {"answers": answers, "worker_peak_mb": _peaks_mb(server.process.pid),
            "idle": _summary(idle), "meanwhile": _summary(under_load)}


def noisy(server, key_a, key_b, seconds, clients=3):
    body = {"items": [{"reference": f"C-{number}", "name": f"Contact {number}",
                       "email": f"c{number}@customer.example"} for number in range(1000)]}
    headers_b = {"X-API-Key": key_b}
    assert requests.put(f"{server.url}{PREFIX}/contacts/B-1", json={"name": "B"},
                        headers=headers_b, timeout=30).status_code in (200, 201)
    probe = f"{server.url}{PREFIX}/contacts/B-1"
    idle = _latencies(probe, headers_b, count=300)
    stop, statuses = threading.Event(), {}

    def loop(number):
        session = requests.Session()
        items = {"items": [dict(item, reference=f"A{number}-{item['reference']}")
                           for item in body["items"]]}
        while not stop.is_set():
            response = session.post(f"{server.url}{PREFIX}/contacts:batch", json=items,
                                    headers={"X-API-Key": key_a}, timeout=120)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code == 429:
                time.sleep(float(response.headers.get("Retry-After", "1")))
    loaders = [threading.Thread(target=loop, args=(number,)) for number in range(clients)]
    for loader in loaders:
        loader.start()
    time.sleep(2)  # every loader is in its loop
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    under_load = _latencies(probe, headers_b, stop)
    for loader in loaders:
        loader.join()
    return {"idle": _summary(idle), "meanwhile": _summary(under_load),
            "a_statuses": {str(status): count for status, count in sorted(statuses.items())}}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--scenario", choices=("costly", "noisy", "all"), default="all")
    parser.add_argument("--seconds", type=int, default=20)
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
    results = {"before": args.before}
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database if args.database != "sqlite" else f"sqlite:///{scratch}/h.sqlite3"
        create_app({"DATABASE_URL": url})
        upgrade()
        stamp = time.time()
        key_a = create_api_key(create_tenant(f"a-{stamp}", ["a.example"]))[1]
        key_b = create_api_key(create_tenant(f"b-{stamp}", ["b.example"]))[1]
        key_c = create_api_key(create_tenant(f"c-{stamp}", ["c.example"]))[1]
        # workers and threads as gunicorn.conf.py gives them (WEB_CONCURRENCY, GUNICORN_THREADS).
        with GunicornServer(url, workers=None, threads=args.threads, env=env,
                            worker_class=args.worker_class) as server:
            if args.scenario in ("costly", "all"):
                results["costly"] = costly(server, [key_a, key_b, key_c])
            if args.scenario in ("noisy", "all"):
                results["noisy"] = noisy(server, key_a, key_b, args.seconds)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
