"""What a body may cost to parse: values are counted before anything is built, and a worker
that grew too large is replaced."""
import gzip
import json
import os
import threading
import time

import pytest
import requests

from app.resources.contacts import Contact
from app.services.tenants import create_api_key, create_tenant
from live_server import GunicornServer

BATCH = "/contacts:batch"
# The attack of issue 21: one item whose field holds millions of `1.0`, just under 32 MiB.
MILLIONS_OF_NUMBERS = (b'{"items":[{"reference":"C-1","name":['
                       + b",".join([b"1.0"] * 8_000_000) + b"]}]}")


def _contacts(count, **fields):
    return {"items": [dict({"reference": f"C-{number}", "name": f"Contact {number}",
                            "account_number": None}, **fields) for number in range(count)]}


def test_a_body_of_too_many_values_is_413_and_nothing_is_stored(api, app):
    app.config["MAX_BODY_VALUES"] = 1000
    body = {"items": [{"reference": "C-1", "name": [1.0] * 1000}]}
    response = api.post(BATCH, json=body)
    assert response.status_code == 413, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.get_json()
    assert (problem["code"], problem["status"]) == ("payload-too-large", 413)
    assert "more than 1000 JSON values" in problem["detail"]
    assert Contact.select().count() == 0


def test_the_count_is_of_the_decoded_body(api, app):
    app.config["MAX_BODY_VALUES"] = 1000
    raw = gzip.compress(json.dumps({"items": [{"reference": "C-1",
                                               "name": [1] * 5000}]}).encode())
    response = api.post(BATCH, data=raw, headers={"Content-Encoding": "gzip",
                                                  "Content-Type": "application/json"})
    assert response.status_code == 413, response.text


def test_commas_and_brackets_inside_strings_are_not_values(api, app):
    app.config["MAX_BODY_VALUES"] = 200
    # 20 items of 4 fields: under 200 values, but thousands of commas and brackets in text.
    body = _contacts(20, notes=",[{" * 1000)
    response = api.post(BATCH, json=body)
    assert response.status_code == 200, response.text
    assert Contact.select().count() == 20
    # An escaped quote does not end a string early: its commas still do not count.
    body = _contacts(20, notes='\\",' * 1000)
    assert api.post(BATCH, json=body).status_code == 200


def test_a_full_batch_of_rich_items_is_within_the_default_budget(api, app):
    custom = {f"field_{number}": f"value {number}" for number in range(50)}
    body = _contacts(1000, email=None, phone="+44 20 7946 0000", custom_fields=custom)
    response = api.post(BATCH, json=body)
    assert response.status_code == 200, response.text
    assert Contact.select().count() == 1000


def _worker_pids(server):
    pids = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except (OSError, ValueError):
            continue
        if entry.isdigit() and int(fields[1]) == server.process.pid:
            pids.append(int(entry))
    return pids


def _peak_resident_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


@pytest.mark.slow
def test_three_costly_bodies_at_once_keep_every_worker_small(app, database_url, api_key):
    # Three tenants: one tenant's third bulk request at once would be refused (429) unread.
    keys = [api_key] + [create_api_key(create_tenant(f"t{number}", [f"t{number}.example"]))[1]
                        for number in range(2)]
    headers = {"X-API-Key": api_key, "Content-Type": "application/json"}
    with GunicornServer(database_url, workers=2, threads=2) as server:
        workers = _worker_pids(server)
        assert len(workers) == 2
        answers = []

        def send(key):
            answers.append(requests.post(server.url + "/api/v1/ingest" + BATCH,
                                         data=MILLIONS_OF_NUMBERS, timeout=120,
                                         headers=dict(headers, **{"X-API-Key": key})))

        threads = [threading.Thread(target=send, args=(key,)) for key in keys]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        peaks = {pid: _peak_resident_mb(pid) for pid in workers if os.path.exists(f"/proc/{pid}")}
        assert [answer.status_code for answer in answers] == [413] * 3, answers[0].text
        assert all(answer.json()["code"] == "payload-too-large" for answer in answers)
        # Before the count, one such body took a worker to 1.1 GB (SQLite), 2.0 GB (PostgreSQL).
        assert peaks and max(peaks.values()) < 300, peaks
        other = requests.get(server.url + "/api/v1/ingest/contacts", headers=headers, timeout=30)
        assert other.status_code == 200


@pytest.mark.slow
def test_a_worker_grown_past_its_ceiling_is_replaced_after_its_request(app, database_url,
                                                                        api_key):
    headers = {"X-API-Key": api_key}
    # A 1 MB ceiling: every worker is over it after its first request.
    with GunicornServer(database_url, workers=1, threads=1,
                        env={"GUNICORN_MAX_WORKER_HEAP_MB": "1"}) as server:
        first = _worker_pids(server)
        response = requests.put(server.url + "/api/v1/ingest/contacts/C-1", headers=headers,
                                json={"name": "Jane"}, timeout=30)
        assert response.status_code == 201, response.text
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (_worker_pids(server) in ([], first)):
            time.sleep(0.2)
        replacement = _worker_pids(server)
        assert replacement and replacement != first
        assert "replacing it" in server.log_tail(size=10 ** 6)
        # The replacement serves; the write of the replaced one is there.
        for _ in range(50):
            try:
                answer = requests.get(server.url + "/api/v1/ingest/contacts/C-1",
                                      headers=headers, timeout=30)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert answer.status_code == 200 and answer.json()["name"] == "Jane"


@pytest.mark.slow
def test_a_costly_body_is_refused_as_it_arrives_and_never_kept(app, database_url, api_key):
    """The values are counted as the body is read: 413 once its first megabyte holds too
    many, and the rest is read and dropped, never kept, so a proxy in front sees the answer."""
    with GunicornServer(database_url, workers=1, threads=1) as server:
        worker, = _worker_pids(server)
        requests.get(server.url + "/api/v1/ingest/contacts", headers={"X-API-Key": api_key},
                     timeout=30)  # the worker has loaded everything it needs
        at_rest = _peak_resident_mb(worker)
        for _ in range(3):
            response = requests.post(server.url + "/api/v1/ingest" + BATCH,
                                     data=MILLIONS_OF_NUMBERS, timeout=120,
                                     headers={"X-API-Key": api_key,
                                              "Content-Type": "application/json"})
            assert response.status_code == 413, response.text
            assert response.json()["code"] == "payload-too-large"
        # Not the 32 MB body, nor a copy of it: a few megabytes read at a time.
        assert _peak_resident_mb(worker) - at_rest < 20, (at_rest, _peak_resident_mb(worker))
