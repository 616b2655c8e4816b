"""One tenant's bulk load while another tenant reads: the processes and the figures, shared
by tests/test_fairness.py and bench/hostile.py.

The load runs in processes of its own, so its client work never holds the measuring
process's GIL.
"""
import json
import multiprocessing
import os
import statistics
import threading
import time

import requests

PREFIX = "/api/v1/ingest"


def latencies(url, headers, stop=None, count=None):
    """GET latencies in seconds, until `stop` is set or `count` are done."""
    found, session = [], requests.Session()
    while (stop is None or not stop.is_set()) and (count is None or len(found) < count):
        started = time.perf_counter()
        response = session.get(url, headers=headers, timeout=120)
        found.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    return found


def summary(values):
    """Count, p50 and p99 in ms of latencies in seconds."""
    return {"requests": len(values), "p50_ms": round(statistics.median(values) * 1000, 1),
            "p99_ms": round(statistics.quantiles(values, n=100)[98] * 1000, 1)}


def _post_until(stop, results, url, key, body):
    """One loading process: POST `body` back to back until `stop`; puts its status counts.

    Niced: tenant A's clients run on A's machines, not on the server's cores, so their own
    work must not count against the server's fairness here."""
    os.nice(10)
    session, statuses = requests.Session(), {}
    while not stop.is_set():
        response = session.post(url, data=body, timeout=600, headers={
            "X-API-Key": key, "Content-Type": "application/json"})
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code == 429:
            time.sleep(float(response.headers.get("Retry-After", "1")))
    results.put(statuses)


def load_while_reading(loads, probe, headers, seconds):
    """Run each load (url, key, body) in a process of its own while this one measures
    `probe` for `seconds`; the latencies and the loads' status counts."""
    stop, results = multiprocessing.Event(), multiprocessing.Queue()
    loaders = [multiprocessing.Process(target=_post_until, args=(stop, results, *load))
               for load in loads]
    for loader in loaders:
        loader.start()
    time.sleep(2)  # every loader is in its loop
    reading = threading.Event()
    threading.Timer(seconds, reading.set).start()
    found = latencies(probe, headers, reading)
    stop.set()
    statuses = {}
    for _ in loaders:
        for status, count in results.get(timeout=600).items():
            statuses[str(status)] = statuses.get(str(status), 0) + count
    for loader in loaders:
        loader.join()
    return found, statuses


def contact_batches(clients, size=1000):
    """One JSON body per loading client: `size` contacts of keys of its own."""
    return [json.dumps({"items": [{"reference": f"A{client}-C-{number}",
                                   "name": f"Contact {number}",
                                   "email": f"c{number}@customer.example"}
                                  for number in range(size)]}).encode()
            for client in range(clients)]


def noisy_neighbour(base_url, key_a, key_b, seconds, clients=3, warm_up=300, idle_samples=1000):
    """Tenant A's `clients` loop 1,000-contact batches of their own keys while tenant B reads
    one record; B's latency then against B alone, measured after a warm-up (every thread of
    the server has opened its database connection)."""
    headers_b = {"X-API-Key": key_b}
    answer = requests.put(f"{base_url}{PREFIX}/contacts/B-1", json={"name": "B"},
                          headers=headers_b, timeout=30)
    assert answer.status_code in (200, 201), answer.text
    probe = f"{base_url}{PREFIX}/contacts/B-1"
    latencies(probe, headers_b, count=warm_up)
    idle = latencies(probe, headers_b, count=idle_samples)
    under_load, statuses = load_while_reading(
        [(f"{base_url}{PREFIX}/contacts:batch", key_a, body) for body in contact_batches(clients)],
        probe, headers_b, seconds)
    return {"idle": summary(idle), "meanwhile": summary(under_load), "a_statuses": statuses}
