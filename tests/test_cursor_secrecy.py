"""Cursors reveal nothing (issue 21, point 7): opaque, authenticated, bound to their tenant and
listing; the secret is shared through the database; readable cursors handed out before
migration 12 still work up to where they could have been handed out."""
import base64
import json
import logging
import re

import pytest

from app import create_app
from app.db import database
from app.migrations import MIGRATIONS
from app.models import Tenant
from app.resources.accounts import Account
from app.resources.registry import RECORD_MODELS
from app.services import cursors
from app.services.cursors import CursorSecret, LegacyCursorMark
from helpers import assert_problem

OPAQUE = re.compile(r"^[A-Za-z0-9_-]+$")


def readable(*position):
    """A cursor as the server handed them out before migration 12."""
    raw = json.dumps(["v1", *position], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def raw_bytes(cursor):
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))


def page(api, path, cursor=None, limit=100):
    query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
    response = api.get(f"{path}{'&' if '?' in path else '?'}{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def refusal(response):
    """A 422 for the cursor, without what differs between any two answers (the request id)."""
    body = assert_problem(response, 422, "validation-error")
    assert [error["parameter"] for error in body["errors"]] == ["cursor"]
    body.pop("request_id")
    return body


def refused_like_nonsense(client, path, cursor):
    """The cursor gets the very answer a string that is not a cursor gets, on that path."""
    nonsense = refusal(client.get(f"{path}?cursor=bm9uc2Vuc2U"))
    assert refusal(client.get(f"{path}?cursor={cursor}")) == nonsense, (path, cursor)
    return True


@pytest.fixture
def marks():
    """Legacy cursor marks a test writes are removed after it (empty_database keeps them)."""
    yield
    LegacyCursorMark.delete().execute()


def write_accounts(api, *numbers):
    for number in numbers:
        assert api.put(f"/accounts/{number}", json={"name": number}).status_code == 201


def test_a_feed_cursor_holds_none_of_its_numbers(api, other_api):
    write_accounts(api, "A")
    write_accounts(other_api, "X", "Y")  # another tenant's writes advance the numbers
    write_accounts(api, "B")
    cursor = page(api, "/accounts")["next_cursor"]
    row = Account.get(Account.account_number == "B")
    raw = raw_bytes(cursor)
    assert OPAQUE.match(cursor) and not cursor.startswith("WyJ")
    assert raw[0] == 2 and len(raw) == 1 + 16 + 3 * 8  # a version, the SIV tag, the sealed text
    for number in (row.change_seq, row.id):
        assert number.to_bytes(8, "big", signed=True) not in raw
    with api.client.application.app_context():  # and yet it is that position
        assert cursors.decode_cursor(cursor, (int, int, int), row.tenant_id,
                                     "accounts:feed") == (row.change_seq, 0, row.id)


def test_cursors_stay_url_safe_and_short(api):
    write_accounts(api, "A")
    key = "K" * 128  # the longest key
    assert api.put(f"/accounts/{key}", json={"name": "long"}).status_code == 201
    feed = page(api, "/accounts")["next_cursor"]
    versions = page(api, "/accounts:versions")["next_cursor"]
    assert OPAQUE.match(feed) and len(feed) <= 60
    assert OPAQUE.match(versions) and len(versions) <= 200


def test_a_caught_up_follower_gets_its_cursor_back(api):
    write_accounts(api, "A")
    cursor = page(api, "/accounts")["next_cursor"]
    again = page(api, "/accounts", cursor)
    assert again["items"] == [] and again["next_cursor"] == cursor


def test_following_the_feed_and_versions_by_opaque_cursors(api, other_api):
    items, cursor, seen = [], None, set()
    write_accounts(api, "A", "B", "C")
    while True:
        answer = page(api, "/accounts", cursor, limit=2)
        items += [item["account_number"] for item in answer["items"]]
        cursor = answer["next_cursor"]
        seen.add(cursor)
        write_accounts(other_api, f"O-{len(seen)}")
        if not answer["has_more"]:
            break
    assert items == ["A", "B", "C"]
    write_accounts(api, "D")
    assert [i["account_number"] for i in page(api, "/accounts", cursor)["items"]] == ["D"]
    first = page(api, "/accounts:versions", limit=2)
    rest = page(api, "/accounts:versions", first["next_cursor"], limit=2)
    assert [i["account_number"] for i in first["items"] + rest["items"]] == ["A", "B", "C", "D"]
    assert rest["has_more"] is False


def test_a_cursor_of_another_tenant_is_refused_like_any_bad_one(api, other_api):
    write_accounts(api, "A", "B")
    write_accounts(other_api, "A", "B")
    feed = page(api, "/accounts", limit=1)["next_cursor"]
    versions = page(api, "/accounts:versions", limit=1)["next_cursor"]
    assert refused_like_nonsense(other_api, "/accounts", feed)
    assert refused_like_nonsense(other_api, "/accounts:versions", versions)


def test_a_cursor_of_another_listing_is_refused_like_any_bad_one(api):
    write_accounts(api, "A", "B")
    assert api.put("/contacts/C", json={"name": "c", "account_number": "A"}).status_code == 201
    feed = page(api, "/accounts", limit=1)["next_cursor"]
    versions = page(api, "/accounts:versions", limit=1)["next_cursor"]
    contacts = page(api, "/contacts")["next_cursor"]
    for path, cursor in (("/contacts", feed), ("/accounts", contacts),
                         ("/accounts", versions), ("/accounts:versions", feed),
                         ("/contacts:versions", versions)):
        assert refused_like_nonsense(api, path, cursor)


def test_an_altered_or_cut_cursor_is_refused_like_any_bad_one(api):
    write_accounts(api, "A", "B")
    cursor = page(api, "/accounts", limit=1)["next_cursor"]
    raw = raw_bytes(cursor)
    for changed in (raw[:-1], raw[:1], raw + b"\0", bytes([raw[0], raw[1] ^ 1]) + raw[2:],
                    raw[:-1] + bytes([raw[-1] ^ 0x80]), b"\x03" + raw[1:]):
        text = base64.urlsafe_b64encode(changed).decode().rstrip("=")
        assert refused_like_nonsense(api, "/accounts", text)


def test_a_cursor_sealed_with_another_secret_is_refused(app, api, database_url):
    write_accounts(api, "A", "B")
    cursor = page(api, "/accounts", limit=1)["next_cursor"]
    other = create_app({"DATABASE_URL": database_url, "TESTING": True,
                        "API_KEY_CACHE_SECONDS": 0, "CURSOR_SECRET": "s" * 64})
    from helpers import ApiClient
    elsewhere = ApiClient(other.test_client(), api.key)
    assert refused_like_nonsense(elsewhere, "/accounts", cursor)
    own = page(elsewhere, "/accounts", limit=1)["next_cursor"]
    assert own != cursor and page(elsewhere, "/accounts", own)["items"][0]["account_number"] == "B"


def test_every_worker_on_the_database_shares_the_secret_and_reads_it_once(app, api,
                                                                          database_url):
    write_accounts(api, "A", "B")
    cursor = page(api, "/accounts", limit=1)["next_cursor"]
    worker = create_app({"DATABASE_URL": database_url, "TESTING": True,
                         "API_KEY_CACHE_SECONDS": 0})
    from helpers import ApiClient
    other_worker = ApiClient(worker.test_client(), api.key)
    statements = []

    class Recorder(logging.Handler):
        def emit(self, record):
            statements.append(str(record.msg))

    logger, recorder = logging.getLogger("peewee"), Recorder(logging.DEBUG)
    logger.addHandler(recorder)
    level, logger.level = logger.level, logging.DEBUG
    try:
        for _ in range(3):
            assert page(other_worker, "/accounts", cursor)["items"][0]["account_number"] == "B"
    finally:
        logger.removeHandler(recorder)
        logger.setLevel(level)
    assert sum("cursor_secret" in sql for sql in statements) == 1


def test_migration_12_stores_one_secret_and_keeps_it(app):
    stored = CursorSecret.get_by_id(1).secret
    assert re.fullmatch(r"[0-9a-f]{64}", stored)
    apply = next(step for version, _, step in MIGRATIONS if version == 12)
    with database.atomic():
        apply()  # a second run (two deploys at once) changes nothing
    assert CursorSecret.select().count() == 1 and CursorSecret.get_by_id(1).secret == stored


def test_a_short_cursor_secret_is_refused_plainly(app, database_url):
    weak = create_app({"DATABASE_URL": database_url, "TESTING": True, "CURSOR_SECRET": "short"})
    with weak.app_context(), pytest.raises(RuntimeError, match="CURSOR_SECRET"):
        cursors.encode_cursor(1, "accounts:feed", 0, 1, 0)


# -- readable cursors handed out before migration 12 -------------------------------------------

def test_a_readable_feed_cursor_handed_out_before_the_change_still_works(api, marks):
    write_accounts(api, "A", "B", "C")
    second = Account.get(Account.account_number == "B")
    handed_out = readable(second.change_seq, 0, second.id)  # after a page of A, B
    cursors.mark_legacy_cursors(RECORD_MODELS)  # the deploy
    answer = page(api, "/accounts", handed_out)
    assert [item["account_number"] for item in answer["items"]] == ["C"]
    assert not answer["next_cursor"].startswith("WyJ")  # what it hands out is opaque
    write_accounts(api, "D")
    assert [i["account_number"] for i in page(api, "/accounts", answer["next_cursor"])[
        "items"]] == ["D"]
    start = readable(0, 1, 0)  # what an empty feed handed out
    assert len(page(api, "/accounts", start)["items"]) == 4


def test_a_readable_feed_cursor_past_the_change_is_refused(api, other_api, marks):
    write_accounts(api, "A")
    cursors.mark_legacy_cursors(RECORD_MODELS)
    write_accounts(api, "B", "C")
    later = Account.get(Account.account_number == "B")  # could never have been handed out
    body = refusal(api.get(f"/accounts?cursor={readable(later.change_seq, 0, later.id)}"))
    assert "start again" in body["errors"][0]["detail"]
    newcomer = Tenant.get(Tenant.name == "globex")  # as if created after the change: no mark
    LegacyCursorMark.delete().where(LegacyCursorMark.tenant_id == newcomer.id).execute()
    refusal(other_api.get(f"/accounts?cursor={readable(0, 1, 0)}"))


def test_a_readable_versions_cursor_still_works(api):
    write_accounts(api, "A", "B", "C")
    answer = page(api, "/accounts:versions", readable("A"))
    assert [item["account_number"] for item in answer["items"]] == ["B", "C"]
    assert not answer["next_cursor"].startswith("WyJ")


def test_migration_12_marks_each_tenant_where_its_cursors_could_reach(api, other_api, marks):
    write_accounts(api, "A", "B")
    write_accounts(other_api, "X")
    cursors.mark_legacy_cursors(RECORD_MODELS)
    for tenant in Tenant.select():
        mark = LegacyCursorMark.get_by_id(tenant.id).change_seq
        highest = max(row.change_seq for row in Account.select().where(
            Account.tenant == tenant))
        assert mark >= highest
    cursors.mark_legacy_cursors(RECORD_MODELS)  # once per tenant, whatever runs it again
    assert LegacyCursorMark.select().count() == Tenant.select().count() == 2
