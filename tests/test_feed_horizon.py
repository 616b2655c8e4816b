"""PostgreSQL: writers of one tenant commit side by side; the feed waits for the open ones."""
import threading
from contextlib import contextmanager

import psycopg
import pytest

from app.db import database, is_postgresql
from app.resources.contacts import CONTACTS
from app.services.transactions import write_transaction
from app.services.writes import WriteItem, apply_writes

# Deadlines that only bound a broken run: the open write stays open until the test's block
# ends however long a busy machine takes to get there (it used to commit on its own after
# 30 s, and the block's assertions would then have watched a write that was no longer open).
HOLD_DEADLINE, START_DEADLINE = 600, 120


@pytest.fixture
def postgresql(app, database_url):
    if not is_postgresql():
        pytest.skip("SQLite has one writer at a time: nothing commits past an open write")
    # A write that waited for the open transaction would fail here instead of hanging.
    database.execute_sql("SET lock_timeout = '5s'")
    yield database_url
    database.execute_sql("RESET lock_timeout")


def _hold_open_write(tenant_id, key, started, release, failures):
    """PUT `key` in a write transaction that stays open until `release` is set."""
    try:
        with write_transaction(tenant_id) as txn:
            data = CONTACTS.schema.load({"name": key})
            outcome = apply_writes(CONTACTS, txn, [WriteItem(key, data, "put")])[0]
            if outcome.error is not None:
                failures.append(outcome.error)
            started.set()
            if not release.wait(HOLD_DEADLINE):
                failures.append("the block outlived the open write")
    except Exception as error:  # reported by the test, not lost in the thread
        failures.append(error)
        started.set()
    finally:
        database.close()


@contextmanager
def open_write(tenant_id, key):
    """Inside the block, a PUT of `key` has written and its transaction is still open."""
    started, release, failures = threading.Event(), threading.Event(), []
    slow = threading.Thread(target=_hold_open_write,
                            args=(tenant_id, key, started, release, failures))
    slow.start()
    try:
        assert started.wait(START_DEADLINE) and not failures
        yield
    finally:
        release.set()
        slow.join(START_DEADLINE)
    assert not slow.is_alive() and not failures


def _keys(page):
    return [(item["reference"], bool(item.get("deleted"))) for item in page["items"]]


def _lag(api):
    text = api.client.get("/metrics").get_data(as_text=True)
    line = next(line for line in text.splitlines()
                if line.startswith("ar_ingest_feed_horizon_lag_transactions "))
    return float(line.split()[1])


def test_feed_waits_behind_an_open_write_and_then_catches_up(api, tenant, postgresql):
    api.put("/contacts/FIRST", json={"name": "first"})
    first = api.get("/contacts").get_json()
    assert _keys(first) == [("FIRST", False)]
    cursor = first["next_cursor"]

    with open_write(tenant.id, "SLOW"):
        # Other writers of the same tenant neither wait for it nor are lost behind it.
        assert api.put("/contacts/LATER-1", json={"name": "later 1"}).status_code == 201
        batch = api.post("/contacts:batch", json={"items": [{"reference": "LATER-2",
                                                             "name": "later 2"}]})
        assert batch.status_code == 200 and batch.get_json()["created"] == 1
        assert api.delete("/contacts/FIRST").status_code == 204
        assert api.get("/contacts/LATER-1").status_code == 200

        waiting = api.get("/contacts", query_string={"cursor": cursor}).get_json()
        assert waiting["items"] == [] and waiting["has_more"] is False
        assert waiting["next_cursor"] == cursor
        assert _lag(api) >= 1

    caught_up = api.get("/contacts", query_string={"cursor": cursor}).get_json()
    # In the order the writes began: the slow one first, though it committed last.
    assert _keys(caught_up) == [("SLOW", False), ("LATER-1", False), ("LATER-2", False),
                                ("FIRST", True)]
    assert api.get("/contacts", query_string={"cursor": caught_up["next_cursor"]}
                   ).get_json()["items"] == []


def test_any_open_transaction_of_the_cluster_holds_the_horizon(api, postgresql):
    """The documented trade-off: the feed waits for a transaction it has nothing to do with."""
    cursor = api.get("/contacts").get_json()["next_cursor"]
    with psycopg.connect(postgresql) as other:
        other.execute("SELECT pg_current_xact_id()")  # takes an id, writes nothing
        assert api.put("/contacts/AFTER", json={"name": "after"}).status_code == 201
        assert api.get("/contacts", query_string={"cursor": cursor}).get_json()["items"] == []
        other.rollback()
    page = api.get("/contacts", query_string={"cursor": cursor}).get_json()
    assert _keys(page) == [("AFTER", False)]


def test_writers_of_one_key_still_go_one_at_a_time(api, tenant, postgresql):
    with open_write(tenant.id, "SAME"):
        # The key's lock is held to commit: this PUT waits, and lock_timeout refuses it.
        response = api.put("/contacts/SAME", json={"name": "other"})
        assert response.status_code == 503
    response = api.put("/contacts/SAME", json={"name": "other"})
    assert response.status_code == 200 and response.get_json()["version"] == 2


def test_a_sync_run_keeps_what_a_write_open_at_its_start_commits(api, tenant, postgresql):
    for key in ("OLD", "SENT"):
        api.put(f"/contacts/{key}", json={"name": key})
    with open_write(tenant.id, "INFLIGHT"):
        run = api.post("/contacts:sync-runs").get_json()["id"]
    sent = api.put("/contacts/SENT", json={"name": "SENT"}, headers={"Sync-Run": run})
    assert sent.status_code == 200
    finished = api.post(f"/contacts:sync-runs/{run}:finish", json={"max_removal_ratio": 1})
    assert finished.status_code == 200, finished.get_json()
    # OLD had committed before the run began and was not sent; INFLIGHT had not.
    assert finished.get_json()["result"]["deleted"] == 1
    assert api.get("/contacts/OLD").status_code == 404
    assert api.get("/contacts/INFLIGHT").status_code == 200


def test_email_events_wait_for_open_writes_of_the_people_they_reach(api, tenant, postgresql):
    """An event sets the status of every holder of its address: it takes the people
    collections for itself, so a person being written cannot miss it."""
    event = {"events": [{"email": "slow@customer.example", "type": "bounced",
                         "occurred_at": "2026-11-01T10:00:00Z"}]}
    with open_write(tenant.id, "OPEN"):
        assert api.post("/email-events", json=event).status_code == 503  # waited: lock_timeout
    answer = api.post("/email-events", json=event)
    assert answer.status_code == 200 and answer.get_json()["unmatched"] == 1
