"""Concurrent batches of one tenant on PostgreSQL: disjoint keys overlap, the same keys queue.

One batch is held inside its write transaction (after its rows are written, before its
commit); another batch runs meanwhile. SQLite has one writer by design, so this is
PostgreSQL's.
"""
import os
import threading

import pytest

from app.resources.contacts import Contact
from app.services import statements
from helpers import ApiClient

pytestmark = pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"),
                                reason="SQLite has one writer: batches queue by design")


def _items(prefix, note):
    return [{"reference": f"{prefix}{n}", "name": f"Pat {n}", "notes": note} for n in range(200)]


@pytest.fixture
def held_batch(app, api_key, monkeypatch):
    """Start a batch of keys H0...H199 in a thread and hold it just before its commit."""
    written, release = threading.Event(), threading.Event()
    holder = {}
    original = statements.insert_rows

    def insert_then_wait(model, rows):
        count = original(model, rows)
        if threading.current_thread() is holder.get("thread"):
            written.set()
            assert release.wait(30), "never released"
        return count
    monkeypatch.setattr(statements, "insert_rows", insert_then_wait)

    def run():
        client = ApiClient(app.test_client(), api_key)
        holder["answer"] = client.post("/contacts:batch", json={"items": _items("H", "held")})
    thread = holder["thread"] = threading.Thread(target=run)
    thread.start()
    assert written.wait(30), "the held batch never reached its write"
    yield holder, release
    release.set()
    thread.join(30)


def _in_thread(app, api_key, items):
    done, answer = threading.Event(), {}

    def run():
        answer["response"] = ApiClient(app.test_client(), api_key).post(
            "/contacts:batch", json={"items": items})
        done.set()
    threading.Thread(target=run, daemon=True).start()
    return done, answer


def test_a_batch_of_other_keys_commits_while_another_holds_its_transaction(app, api_key,
                                                                           held_batch):
    holder, release = held_batch
    done, answer = _in_thread(app, api_key, _items("D", "disjoint"))
    assert done.wait(20), "the disjoint batch waited for the held one"
    assert answer["response"].get_json()["created"] == 200
    assert "answer" not in holder  # the held batch is still open
    assert Contact.select().where(Contact.reference.startswith("D")).count() == 200
    assert Contact.select().where(Contact.reference.startswith("H")).count() == 0
    release.set()
    holder["thread"].join(30)
    assert holder["answer"].get_json()["created"] == 200


def test_a_batch_of_the_same_keys_waits_for_the_commit_and_then_sees_it(app, api_key,
                                                                        held_batch):
    holder, release = held_batch
    done, answer = _in_thread(app, api_key, _items("H", "second"))
    assert not done.wait(2), "the same keys were written past the held batch's locks"
    release.set()
    holder["thread"].join(30)
    assert done.wait(20)
    assert holder["answer"].get_json()["created"] == 200
    second = answer["response"].get_json()
    assert (second["created"], second["replaced"]) == (0, 200)  # it saw the first one's rows
    assert {c.notes for c in Contact.select()} == {"second"}
    assert {c.version for c in Contact.select()} == {2}
