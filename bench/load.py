"""A small closed-loop HTTP load generator: N processes, one keep-alive connection each."""
import http.client
import json
import multiprocessing
import os
import time
from urllib.parse import quote, urlsplit


def _worker(args):
    base_url, api_key, requests_list = args
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    headers = {"X-API-Key": api_key, "Content-Type": "application/json"}
    latencies, statuses = [], {}
    for method, path, body, *extra in requests_list:
        payload = None if body is None else json.dumps(body)
        sent = dict(headers, **extra[0]) if extra else headers
        started = time.perf_counter()
        for attempt in range(3):
            try:
                connection.request(method, quote(path, safe="/?&=:"), body=payload, headers=sent)
                response = connection.getresponse()
                response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        else:
            raise RuntimeError(f"{method} {path}: no answer after 3 attempts")
        latencies.append(time.perf_counter() - started)
        statuses[response.status] = statuses.get(response.status, 0) + 1
    connection.close()
    return latencies, statuses


def percentile(sorted_values, fraction):
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, int(round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def run_load(base_url, api_key, requests_per_client, items_per_request=1):
    """Send each client's list of (method, path, body) in its own process; return the figures."""
    with multiprocessing.get_context("fork").Pool(len(requests_per_client)) as pool:
        started = time.perf_counter()
        results = pool.map(_worker, [(base_url, api_key, reqs) for reqs in requests_per_client])
        elapsed = time.perf_counter() - started
    latencies = sorted(latency for result in results for latency in result[0])
    statuses = {}
    for _, counts in results:
        for status, count in counts.items():
            statuses[status] = statuses.get(status, 0) + count
    total = len(latencies)
    return {
        "requests": total,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(total / elapsed, 1),
        "records_per_s": round(total * items_per_request / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def worker_memory(master_pid):
    """{pid: (anonymous KiB, resident KiB)} of the gunicorn master's workers.

    Anonymous memory is the heap: what a leak grows. Resident memory also
    counts pages of the SQLite file mapped by mmap_size, which come and go
    with the data read, so it is reported but not judged.
    """
    workers = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as handle:
                status = dict(line.split(":", 1) for line in handle if ":" in line)
            if int(status.get("PPid", "0").strip()) != master_pid:
                continue
            with open(f"/proc/{entry}/smaps_rollup") as handle:
                rollup = dict(line.split(":", 1) for line in handle if ":" in line)
        except OSError:
            continue
        workers[int(entry)] = (int(rollup["Anonymous"].split()[0]),
                               int(status["VmRSS"].split()[0]))
    return workers


def _children(master_pid):
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master_pid:
            pids.append(int(entry))
    return pids


def process_ids(name):
    """Pids of processes whose command name is `name` (redis-server, say)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as handle:
                    if handle.read().strip() == name:
                        found.append(int(entry))
            except OSError:
                continue
    return found


def cpu_seconds(master_pid, extra_pids=()):
    """User + system CPU seconds used so far by the master's workers and `extra_pids`."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in _children(master_pid) + list(extra_pids):
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks
