"""Several writer processes against gunicorn while a reader follows the change feed."""
import multiprocessing
import time

import pytest
import requests

from app.resources.contacts import Contact
from live_server import GunicornServer

pytestmark = pytest.mark.slow
BASE = "/api/v1/ingest"
WRITERS, ROUNDS, KEYS_PER_WRITER = 4, 25, 8
# At these rounds each writer waits until the reader has read the feed through while the
# writer still had writes to make, so the reader reads during the writes by construction,
# however the scheduler shares the cores out. The deadline only bounds a reader that broke.
PAUSE_AT, PAUSE_DEADLINE = (ROUNDS // 3, 2 * ROUNDS // 3), 300
TIMEOUT = 60  # per request: a hung server fails the test instead of hanging it


def _wait_for_passes(passes, target):
    deadline = time.monotonic() + PAUSE_DEADLINE
    while passes.value < target:
        assert time.monotonic() < deadline, "the reader stopped reading"
        time.sleep(0.005)


def _writer(url, api_key, writer, passes):
    """PUTs, batches and deletes of the writer's own keys, each a real change."""
    with requests.Session() as http:
        http.headers["X-API-Key"] = api_key
        for round_number in range(ROUNDS):
            if round_number in PAUSE_AT:
                # Two more passes: the second began after this writer got here.
                _wait_for_passes(passes, passes.value + 2)
            key = f"W{writer}-{round_number % KEYS_PER_WRITER}"
            body = {"account_number": "SHARED", "name": f"{key} round {round_number}"}
            if round_number % 3 == 0:
                items = [dict(body, reference=f"W{writer}-{n}") for n in range(KEYS_PER_WRITER)]
                assert http.post(f"{url}/contacts:batch", json={"items": items},
                                 timeout=TIMEOUT).status_code == 200
            else:
                assert http.put(f"{url}/contacts/{key}", json=body,
                                timeout=TIMEOUT).status_code in (200, 201)
            if round_number % 7 == 6:
                assert http.delete(f"{url}/contacts/{key}",
                                   timeout=TIMEOUT).status_code in (204, 404)


def _follow(url, api_key, cursor, seen, pages=None):
    """Read the feed from `cursor` to its end, recording each key's latest state."""
    while True:
        if pages is not None:
            pages.append(cursor)
        page = requests.get(f"{url}/contacts", params={"limit": 7, "cursor": cursor} if cursor
                            else {"limit": 7}, headers={"X-API-Key": api_key},
                            timeout=TIMEOUT).json()
        for item in page["items"]:
            key = item["reference"]
            previous = seen.get(key)
            if previous is not None and not previous[1] and not item.get("deleted"):
                # a live record only moves forward (after a delete it starts again at 1)
                assert item["version"] > previous[0], (key, previous, item)
            seen[key] = (item["version"], bool(item.get("deleted")))
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return cursor


def test_feed_misses_nothing_under_concurrent_writers(app, database_url, tenant, api_key):
    # Every writer's batches at once: the per-tenant bulk cap (429 past 2) is not under test.
    with GunicornServer(database_url, workers=4, threads=2,
                        env={"BULK_REQUESTS_PER_TENANT": str(WRITERS)}) as server:
        url = server.url + BASE
        requests.put(f"{url}/accounts/SHARED", json={"name": "shared"},
                     headers={"X-API-Key": api_key}, timeout=TIMEOUT)
        seen, cursor = {}, None
        context = multiprocessing.get_context("fork")
        passes = context.Value("i", 0)  # complete reads of the feed so far
        writers = [context.Process(target=_writer, args=(url, api_key, n, passes))
                   for n in range(WRITERS)]
        for process in writers:
            process.start()
        pages_during_writes, passes_during_writes = [], 0
        while any(process.is_alive() for process in writers):
            cursor = _follow(url, api_key, cursor, seen, pages_during_writes)
            passes_during_writes += 1
            passes.value += 1  # only this process writes it
            time.sleep(0.005)
        for process in writers:
            process.join()
            assert process.exitcode == 0
        cursor = _follow(url, api_key, cursor, seen)

    # The reader really read while the writers wrote: each writer waited twice for two
    # passes, so there were at least four.
    assert passes_during_writes >= 4 and len(pages_during_writes) >= 4
    stored = {c.reference: c.version for c in Contact.select()}
    live = {key: version for key, (version, deleted) in seen.items() if not deleted}
    assert live == stored
    assert all(deleted for key, (_, deleted) in seen.items() if key not in stored)
