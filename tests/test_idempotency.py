"""Idempotency-Key on POST: replay, reuse, in-flight, expiry, and one transaction with the work."""
import datetime
import os
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from app.db import _process_identity, database, holder, holder_alive, is_postgresql
from app.models import IdempotencyKey, utcnow
from app.resources.accounts import Account
from app.services import idempotency
from helpers import ApiClient, assert_problem

KEY = {"Idempotency-Key": "retry-me-42"}


def test_replay_returns_the_first_answer(api):
    first = api.post("/accounts/A", json={"name": "x"}, headers=KEY)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = api.post("/accounts/A", json={"name": "x"}, headers=KEY)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["X-Request-Id"] != first.headers["X-Request-Id"]
    assert Account.select().count() == 1


def test_quoted_and_bare_keys_are_the_same_key(api):
    api.post("/accounts/A", json={"name": "x"}, headers={"Idempotency-Key": "k1"})
    again = api.post("/accounts/A", json={"name": "x"}, headers={"Idempotency-Key": '"k1"'})
    assert again.headers["Idempotent-Replayed"] == "true"


def test_batch_replay_does_not_apply_twice(api):
    body = {"items": [{"account_number": "A", "name": "x"}]}
    first = api.post("/accounts:batch", json=body, headers=KEY).get_json()
    api.patch("/accounts/A", json={"name": "changed since"})
    again = api.post("/accounts:batch", json=body, headers=KEY)
    assert again.get_json() == first and again.headers["Idempotent-Replayed"] == "true"
    assert Account.get().name == "changed since"


def test_a_different_request_under_the_same_key_is_refused(api):
    api.post("/accounts/A", json={"name": "x"}, headers=KEY)
    for path, body in (("/accounts/A", {"name": "y"}), ("/accounts/B", {"name": "x"}),
                       ("/accounts:batch", {"items": [{"account_number": "A", "name": "x"}]})):
        assert_problem(api.post(path, json=body, headers=KEY), 422, "idempotency-key-reused")
    assert Account.select().count() == 1


def test_errors_are_kept_too(api):
    first = api.post("/accounts/A", json={"name": ""}, headers=KEY)
    assert first.status_code == 422
    again = api.post("/accounts/A", json={"name": ""}, headers=KEY)
    assert again.status_code == 422 and again.headers["Idempotent-Replayed"] == "true"
    assert again.mimetype == "application/problem+json"
    assert again.get_json()["errors"] == first.get_json()["errors"]


def test_conflicts_are_not_kept(api):
    api.post("/accounts/A", json={"name": "x"})
    assert api.post("/accounts/A", json={"name": "x"}, headers=KEY).status_code == 409
    api.delete("/accounts/A")
    retry = api.post("/accounts/A", json={"name": "x"}, headers=KEY)
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers


def test_request_still_running_is_409(api, tenant):
    fingerprint = idempotency.fingerprint("POST", "/api/v1/ingest/accounts/A?", b'{"name": "x"}')
    IdempotencyKey.create(tenant=tenant, key="busy", fingerprint=fingerprint,
                          expires_at=utcnow() + datetime.timedelta(hours=24))
    response = api.post("/accounts/A", data=b'{"name": "x"}', headers={
        "Idempotency-Key": "busy", "Content-Type": "application/json"})
    assert_problem(response, 409, "idempotency-key-in-use")
    assert response.headers["Retry-After"] == "1"
    assert Account.select().count() == 0


def test_abandoned_claim_is_taken_over(api, tenant):
    fingerprint = idempotency.fingerprint("POST", "/api/v1/ingest/accounts/A?", b'{"name": "x"}')
    IdempotencyKey.create(tenant=tenant, key="dead", fingerprint=fingerprint,
                          claimed_at=utcnow() - datetime.timedelta(hours=1),
                          expires_at=utcnow() + datetime.timedelta(hours=23))
    response = api.post("/accounts/A", data=b'{"name": "x"}', headers={
        "Idempotency-Key": "dead", "Content-Type": "application/json"})
    assert response.status_code == 201


def test_expired_keys_are_purged_and_reusable(api, tenant):
    api.post("/accounts/A", json={"name": "x"}, headers=KEY)
    IdempotencyKey.update(expires_at=utcnow() - datetime.timedelta(seconds=1)).execute()
    response = api.post("/accounts/B", json={"name": "y"}, headers=KEY)
    assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
    assert IdempotencyKey.select().count() == 1


def test_keys_are_per_tenant(api, other_api):
    api.post("/accounts/A", json={"name": "x"}, headers=KEY)
    theirs = other_api.post("/accounts/A", json={"name": "x"}, headers=KEY)
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers


@pytest.mark.parametrize("header", ["", '""', "k" * 256, "bad\x01key"])
def test_invalid_keys(api, header):
    body = assert_problem(api.post("/accounts/A", json={"name": "x"},
                                   headers={"Idempotency-Key": header}), 422, "validation-error")
    assert body["errors"][0]["parameter"] == "Idempotency-Key"


def test_answer_is_stored_in_the_same_transaction_as_the_work(api, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(idempotency, "complete", fail)
    assert_problem(api.post("/accounts/A", json={"name": "x"}, headers=KEY), 500,
                   "internal-error")
    assert Account.select().count() == 0          # the work rolled back with it
    assert IdempotencyKey.select().count() == 0   # and the claim was released
    monkeypatch.undo()
    assert api.post("/accounts/A", json={"name": "x"}, headers=KEY).status_code == 201


def test_lookup_with_a_read_key_and_an_idempotency_key(api, read_key):
    api.put("/accounts/A", json={"name": "x"})
    first = api.post("/accounts:lookup", json={"keys": ["A"]}, headers=KEY, key=read_key)
    again = api.post("/accounts:lookup", json={"keys": ["A"]}, headers=KEY, key=read_key)
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"


def _stalled_batch(app, api, monkeypatch, body, headers):
    """POST the batch from a thread whose work stops inside its transaction, before commit.

    Returns (entered, release, thread, answer): `entered` is set once the work is
    done and waiting; setting `release` lets it commit; answer["response"] follows.
    """
    from app.services import batch as batch_service

    entered, release, answer = threading.Event(), threading.Event(), {}
    real_upsert = batch_service.batch_upsert

    def stalled_upsert(*args, **kwargs):
        result = real_upsert(*args, **kwargs)
        entered.set()
        assert release.wait(30)
        return result

    monkeypatch.setattr(batch_service, "batch_upsert", stalled_upsert)
    worker = threading.Thread(target=lambda: answer.update(
        response=ApiClient(app.test_client(), api.key).post("/accounts:batch", json=body,
                                                            headers=headers)))
    worker.start()
    return entered, release, worker, answer


def test_a_retry_during_the_first_request_is_409_at_once(app, api, monkeypatch):
    """The first request holds its write transaction open; the retry must not wait for it."""
    body = {"items": [{"account_number": "A", "name": "a"}]}
    headers = {"Idempotency-Key": "slow-1"}
    entered, release, worker, first = _stalled_batch(app, api, monkeypatch, body, headers)
    try:
        assert entered.wait(30)
        started = time.monotonic()
        retry = api.post("/accounts:batch", json=body, headers=headers)
        waited = time.monotonic() - started
    finally:
        release.set()
        worker.join(30)
    assert_problem(retry, 409, "idempotency-key-in-use")
    assert retry.headers["Retry-After"] == "1"
    assert waited < 5  # answered while the first still held its transaction open
    assert first["response"].status_code == 200
    replay = api.post("/accounts:batch", json=body, headers=headers)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == first["response"].get_json()


def _claim(tenant, key, body, holder):
    fingerprint = idempotency.fingerprint("POST", "/api/v1/ingest/accounts/A?", body)
    IdempotencyKey.create(tenant=tenant, key=key, fingerprint=fingerprint, holder=holder,
                          expires_at=utcnow() + datetime.timedelta(hours=24))


def test_a_claim_whose_holder_is_gone_is_taken_over_at_once(api, tenant):
    """A worker that died (SQLite) or a connection that was dropped (PostgreSQL) blocks nothing."""
    if is_postgresql():
        other = psycopg.connect(os.environ["TEST_DATABASE_URL"], autocommit=True)
        holder = other.execute("SELECT pid::text || '@' || backend_start::text "
                               "FROM pg_stat_activity WHERE pid = pg_backend_pid()").fetchone()[0]
        other.close()
        for _ in range(50):  # the backend ends just after its client closes
            if not holder_alive(holder):
                break
            time.sleep(0.1)
    else:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        holder = _process_identity(child.pid)
        child.kill()
        child.wait()
    assert holder and not holder_alive(holder)
    _claim(tenant, "orphan", b'{"name": "x"}', holder)
    response = api.post("/accounts/A", data=b'{"name": "x"}', headers={
        "Idempotency-Key": "orphan", "Content-Type": "application/json"})
    assert response.status_code == 201
    replay = api.post("/accounts/A", data=b'{"name": "x"}', headers={
        "Idempotency-Key": "orphan", "Content-Type": "application/json"})
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert Account.select().count() == 1


def test_a_claim_whose_holder_lives_is_still_in_use(api, tenant):
    _claim(tenant, "alive", b'{"name": "x"}', holder() if not is_postgresql() else None)
    if is_postgresql():  # this test's own connection is alive: it holds the claim
        own = database.execute_sql("SELECT pid::text || '@' || backend_start::text "
                                   "FROM pg_stat_activity WHERE pid = pg_backend_pid()")
        IdempotencyKey.update(holder=own.fetchone()[0]).execute()
    response = api.post("/accounts/A", data=b'{"name": "x"}', headers={
        "Idempotency-Key": "alive", "Content-Type": "application/json"})
    assert_problem(response, 409, "idempotency-key-in-use")
    assert Account.select().count() == 0


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="PostgreSQL only")
def test_a_retry_after_the_request_backend_was_terminated_runs_at_once(app, api, monkeypatch):
    """pg_terminate_backend mid-batch: the first try is 503 and stores nothing, a retry runs."""
    body = {"items": [{"account_number": "A", "name": "a"}, {"account_number": "B", "name": "b"}]}
    headers = {"Idempotency-Key": "terminated-1"}
    entered, release, worker, first = _stalled_batch(app, api, monkeypatch, body, headers)
    try:
        assert entered.wait(30)
        claim = IdempotencyKey.get(IdempotencyKey.key == "terminated-1")
        pid = int(claim.holder.partition("@")[0])
        with psycopg.connect(os.environ["TEST_DATABASE_URL"], autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
    finally:
        release.set()
        worker.join(30)
    assert_problem(first["response"], 503, "internal-error")
    assert Account.select().count() == 0
    monkeypatch.undo()
    retry = api.post("/accounts:batch", json=body, headers=headers)
    assert retry.status_code == 200, retry.get_json()
    assert [r["status"] for r in retry.get_json()["results"]] == [201, 201]
    assert Account.select().count() == 2
