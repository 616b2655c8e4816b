"""The Python client against the real server under gunicorn (and a flaky proxy in front)."""
import subprocess
import sys
import time

import pytest

from app.client import (COLLECTIONS, Conflict, IngestClient, NotFound, RateLimited, ServerError,
                        ValidationError, chunked)
from app.resources.accounts import Account
from app.resources.contacts import Contact
from app.resources.registry import RESOURCES
from flaky_proxy import FlakyProxy
from live_server import GunicornServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(database_url, _schema):
    with GunicornServer(database_url, workers=2, threads=2) as running:
        yield running


@pytest.fixture
def proxy(server):
    with FlakyProxy(server.url) as running:
        yield running


@pytest.fixture
def client(server, api_key):
    with IngestClient(server.url, api_key, backoff_factor=0.05) as made:
        yield made


def test_importing_the_client_builds_no_app():
    code = ("import sys, app.client; "
            "print(sorted(m for m in ('flask', 'peewee', 'marshmallow', 'app.models') "
            "if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"


def test_the_client_knows_every_collection_and_key_the_server_has(client):
    key_fields = {name: resource.key_field for name, resource in RESOURCES.items()}
    assert client.key_fields() == key_fields  # read from the server's document
    assert {name: client.collection(name).key_field for name in COLLECTIONS} == key_fields


def test_one_method_per_endpoint(client):
    assert client.accounts.put("A-1", {"name": "Acme"})["version"] == 1
    assert client.accounts.get("A-1")["name"] == "Acme"
    assert client.accounts.get("NOPE") is None  # 404 on GET reads as None
    assert client.accounts.patch("A-1", {"payment_terms": "NET30"}, if_match=1)["version"] == 2
    with pytest.raises(Conflict):
        client.accounts.create("A-1", {"name": "again"})
    with pytest.raises(ValidationError) as invalid:
        client.contacts.put("C-1", {"account_number": "NOPE", "language": "xx"})
    assert {e["pointer"] for e in invalid.value.errors} == {"#/language"}
    assert invalid.value.status == 422 and invalid.value.request_id
    client.contacts.put("C-1", {"name": "Annabel", "account_number": "A-1"})
    client.documents.put("D-1", {"account_number": "A-1", "invoice_date": "2026-01-01",
                                 "due_date": "2026-01-31", "amount": "10"})
    client.representatives.put("R-1", {"name": "Rep"})
    client.link("R-1", account_number="A-1")
    client.link("R-1", document_number="D-1")
    assert list(client.linked("R-1", "accounts")) == ["A-1"]
    assert [c["reference"] for c in client.accounts.related("A-1", "contacts")] == ["C-1"]
    assert [d["document_number"] for d in client.accounts.related("A-1", "documents")] == ["D-1"]
    assert [r["reference"] for r in client.documents.related("D-1", "representatives")] == ["R-1"]
    results = list(client.link_many([{"representative": "R-1", "account_number": "A-1"}],
                                    unlink=True))
    assert results[0]["status"] == 204
    client.unlink("R-1", document_number="D-1")
    with pytest.raises(NotFound):
        client.unlink("R-1", document_number="D-1")
    assert client.contacts.lookup(["C-1", "C-2"]) == {
        "items": [client.contacts.get("C-1")], "missing": ["C-2"]}
    assert [v["reference"] for v in client.contacts.versions()] == ["C-1"]
    matched = client.upsert_contact("A-1", {"name": "Anabel"})
    assert matched["reference"] == "C-1" and matched["matched_by"] == "name"
    assert client.upsert_party("A-1", {"name": "Bob", "language": "en"},
                               dry_run=True)["would"] == "create"
    assert client.upsert_representative("A-1", {"name": "Rep"})["reference"] == "R-1"
    events = client.email_events([{"email": "x@y.example", "type": "bounced",
                                   "occurred_at": "2026-01-01T00:00:00Z"}])
    assert events["unmatched"] == 1
    client.contacts.delete("C-1")
    with pytest.raises(Conflict):
        client.accounts.delete("A-1")  # a document still refers to it


def test_batch_upsert_streams_any_iterable_in_chunks(client, proxy, api_key):
    consumed = []

    def rows():
        for number in range(10_000):
            consumed.append(number)
            yield {"account_number": f"BULK-{number:05d}", "name": f"Customer {number}"}

    with IngestClient(proxy.url, api_key) as through_proxy:
        results = through_proxy.accounts.batch_upsert(rows(), chunk_size=1000)
        first = next(results)
        assert first["status"] == 201 and len(consumed) == 1000  # read lazily, one chunk
        statuses = [first["status"]] + [result["status"] for result in results]
    assert statuses == [201] * 10_000
    assert Account.select().where(Account.account_number.startswith("BULK-")).count() == 10_000
    posts = [seen for seen in proxy.seen if seen[0] == "POST"]
    assert len(posts) == 10 and all(key for _, _, key in posts)  # each with an Idempotency-Key


@pytest.mark.parametrize("status, retry_after", [(503, None), (502, None), (429, 1)])
def test_retries_transient_answers(proxy, api_key, status, retry_after):
    with IngestClient(proxy.url, api_key, backoff_factor=0.05) as flaky:
        proxy.fail_next(3, status, retry_after)
        started = time.monotonic()
        assert flaky.accounts.put("RETRY", {"name": "retried"})["version"] == 1
        waited = time.monotonic() - started
    assert [seen[0] for seen in proxy.seen] == ["PUT"] * 4
    if retry_after:
        assert waited >= 3 * retry_after - 0.1  # Retry-After was honoured each time


def test_gives_up_with_a_typed_error(proxy, api_key):
    with IngestClient(proxy.url, api_key, retries=2, backoff_factor=0.01) as flaky:
        proxy.fail_next(10, 503)
        with pytest.raises(ServerError) as failed:
            flaky.accounts.get("X")
        assert failed.value.status == 503
        proxy.fail_next(10, 429, retry_after=0)
        with pytest.raises(RateLimited):
            flaky.accounts.get("X")


def test_a_post_without_idempotency_key_is_not_retried(proxy, api_key):
    with IngestClient(proxy.url, api_key, idempotency_keys=False, backoff_factor=0.01) as raw:
        proxy.fail_next(1, 503)
        with pytest.raises(ServerError):
            raw.accounts.batch([{"account_number": "ONCE", "name": "x"}])
    assert [seen[0] for seen in proxy.seen] == ["POST"]


def test_a_connection_lost_mid_batch_is_retried_without_a_duplicate(proxy, api_key):
    items = [{"reference": f"LOST-{n}", "name": f"Contact {n}", "language": "en"}
             for n in range(50)]
    with IngestClient(proxy.url, api_key, backoff_factor=0.05) as flaky:
        proxy.fail_next(1, hang_up=True)  # the server applies the batch, the answer is lost
        answer = flaky.contacts.batch(items)
    assert answer["created"] == 50  # the replayed first answer
    keys = [key for method, _, key in proxy.seen if method == "POST"]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert Contact.select().where(Contact.reference.startswith("LOST-")).count() == 50


def test_follow_the_feed_to_the_end_and_resume(client):
    for number in range(25):
        client.accounts.put(f"F-{number:02d}", {"name": f"n{number}"})
    feed = client.accounts.feed(limit=10)
    seen = [item["account_number"] for item in feed]
    assert seen == [f"F-{n:02d}" for n in range(25)]
    stored = feed.cursor  # what a job keeps between runs
    assert list(client.accounts.feed(stored)) == []
    client.accounts.patch("F-03", {"name": "changed"})
    client.accounts.delete("F-04")
    later = list(client.accounts.feed(stored, limit=10))
    assert [item["account_number"] for item in later] == ["F-03", "F-04"]
    assert later[1]["deleted"] is True
    filtered = list(client.accounts.feed(parent_account_number=""))
    assert len(filtered) == 25  # filters pass through: every account is top-level here


def test_chunked_is_lazy():
    source = iter(range(5))
    chunks = chunked(source, 2)
    assert next(chunks) == [0, 1] and next(source) == 2


def test_a_full_sync_removes_what_it_did_not_send(client):
    for number in range(10):
        client.accounts.put(f"FS-{number}", {"name": f"n{number}"})
    client.contacts.put("C-9", {"name": "depends on FS-9", "account_number": "FS-9"})
    with client.accounts.full_sync(max_removal_ratio=0.5) as sync:
        results = list(sync.batch_upsert({"account_number": f"FS-{n}", "name": f"n{n}"}
                                         for n in range(7)))
    assert [r["status"] for r in results] == [200] * 7
    assert sync.result == {"in_scope": 10, "seen": 7, "deleted": 2, "archived": 1, "kept": 7}
    assert client.accounts.get("FS-7") is None and client.accounts.get("FS-9")["archived_at"]
    assert client.accounts.sync_run(sync.run_id)["status"] == "finished"
    with pytest.raises(RuntimeError):
        with client.accounts.full_sync() as failed:
            list(failed.batch_upsert([{"account_number": "FS-0", "name": "n0"}]))
            raise RuntimeError("the export broke half way")
    assert client.accounts.sync_run(failed.run_id)["status"] == "aborted"
    assert client.accounts.get("FS-1") is not None  # nothing removed
    assert client.accounts.unarchive("FS-9")["archived_at"] is None


def test_batch_errors_point_at_the_callers_own_index_across_chunks(client):
    records = [{"account_number": f"PT-{n}", "name": f"n{n}"} for n in range(10)]
    records[7] = {"account_number": "PT-7", "name": "bad", "currency": "zzz"}
    results = list(client.accounts.batch_upsert(records, chunk_size=3))
    assert [r["status"] for r in results] == [201] * 7 + [422] + [201] * 2
    assert [e["pointer"] for e in results[7]["errors"]] == ["#/items/7/currency"]
    with pytest.raises(ValidationError) as refused:
        list(client.accounts.batch_upsert(records, chunk_size=3, atomic=True))
    assert [e["pointer"] for e in refused.value.errors] == ["#/items/7/currency"]


def test_decimals_are_sent_digit_for_digit(client):
    from decimal import Decimal

    stored = client.accounts.put("DEC-1", {"name": "exact",
                                           "credit_limit": Decimal("1234567890123.4567")})
    assert stored["credit_limit"] == "1234567890123.4567"
    results = list(client.accounts.batch_upsert([{"account_number": "DEC-2", "name": "max",
                                                  "credit_limit": Decimal("9999999999999.9999")}]))
    assert results[0]["status"] == 201
    assert client.accounts.get("DEC-2")["credit_limit"] == "9999999999999.9999"
