"""The change feed, versions and lookup."""
import datetime

import pytest

from app.models import FeedExit, utcnow
from helpers import assert_problem


def keys(page, field="account_number"):
    return [item[field] for item in page["items"]]


def read_all(api, path, cursor=None, limit=2):
    """Follow next_cursor until has_more is false; returns (items, final cursor)."""
    items = []
    while True:
        query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(f"{path}{'&' if '?' in path else '?'}{query}").get_json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return items, cursor


def test_feed_is_in_commit_order_and_a_change_moves_a_record_to_the_end(api):
    for number in ("C", "A", "B"):
        api.put(f"/accounts/{number}", json={"name": number})
    api.patch("/accounts/C", json={"phone": "1"})
    page = api.get("/accounts").get_json()
    assert keys(page) == ["A", "B", "C"] and page["has_more"] is False
    assert page["items"][2]["version"] == 2 and page["next_cursor"]
    assert api.get("/accounts").get_json() == page


def test_stored_cursor_returns_exactly_what_changed_since(api):
    for number in ("A", "B", "C"):
        api.put(f"/accounts/{number}", json={"name": number})
    items, cursor = read_all(api, "/accounts", limit=2)
    assert [i["account_number"] for i in items] == ["A", "B", "C"]
    empty = api.get(f"/accounts?cursor={cursor}").get_json()
    assert empty == {"items": [], "next_cursor": cursor, "has_more": False}
    api.put("/accounts/B", json={"name": "B2"})
    api.put("/accounts/B", json={"name": "B2"})  # unchanged: not a change
    api.put("/accounts/D", json={"name": "D"})
    later = api.get(f"/accounts?cursor={cursor}").get_json()
    assert keys(later) == ["B", "D"] and later["items"][0]["name"] == "B2"
    assert api.get(f"/accounts?cursor={later['next_cursor']}").get_json()["items"] == []


def test_paging_through_one_transaction_of_many_records(api):
    api.post("/accounts:batch", json={"items": [{"account_number": f"A{n:02d}", "name": "x"}
                                                for n in range(25)]})
    items, _ = read_all(api, "/accounts", limit=7)
    assert [i["account_number"] for i in items] == [f"A{n:02d}" for n in range(25)]


def test_tombstones(api):
    api.put("/accounts/A", json={"name": "a"})
    api.put("/accounts/A", json={"name": "a2"})
    _, cursor = read_all(api, "/accounts")
    assert api.delete("/accounts/A").status_code == 204
    page = api.get(f"/accounts?cursor={cursor}").get_json()
    assert len(page["items"]) == 1
    tombstone = page["items"][0]
    assert tombstone["account_number"] == "A" and tombstone["deleted"] is True
    assert tombstone["version"] == 3 and tombstone["updated_at"].endswith("Z")
    assert set(tombstone) == {"account_number", "deleted", "version", "updated_at"}
    api.put("/accounts/A", json={"name": "again"})
    # Written again after its deletion, the key appears once, as it is now: a follower that
    # keeps the highest version per key would otherwise keep the tombstone (version 3) over
    # the new record (version 1).
    items, _ = read_all(api, "/accounts")
    assert [(i["account_number"], i.get("deleted", False), i["version"]) for i in items] == [
        ("A", False, 1)]
    since = api.get(f"/accounts?cursor={cursor}").get_json()["items"]
    assert [(i["account_number"], i.get("deleted", False)) for i in since] == [("A", False)]
    assert api.get("/accounts?account_group=x").get_json()["items"] == []


def test_a_record_that_left_a_filtered_view_and_came_back_appears_once(api):
    for account in ("F1", "F2"):
        api.put(f"/accounts/{account}", json={"name": account})
    api.put("/contacts/C", json={"account_number": "F1", "name": "Ada Lovelace"})
    _, cursor = read_all(api, "/contacts?account_number=F1")
    api.patch("/contacts/C", json={"account_number": "F2"})
    api.patch("/contacts/C", json={"account_number": "F1"})
    page = api.get(f"/contacts?account_number=F1&cursor={cursor}").get_json()
    assert [(i["reference"], i.get("matches_filter", True), i["version"])
            for i in page["items"]] == [("C", True, 3)]


def test_tombstones_expire_after_30_days(api):
    api.put("/accounts/OLD", json={"name": "x"})
    api.delete("/accounts/OLD")
    FeedExit.update(left_at=utcnow() - datetime.timedelta(days=31)).execute()
    assert api.get("/accounts").get_json()["items"] == []
    api.put("/accounts/NEW", json={"name": "x"})
    api.delete("/accounts/NEW")
    assert [t.key for t in FeedExit.select()] == ["NEW"]  # the next delete purged the old one


def test_filters(api):
    api.post("/accounts:batch", json={"items": [
        {"account_number": "P", "name": "Parent Co", "account_group": "key"},
        {"account_number": "K1", "name": "Kid One", "parent_account_number": "P"},
        {"account_number": "K2", "name": "kid two", "parent_account_number": "P",
         "email": "Billing@Kid.example", "phone": "+1 555 100%"}]})
    api.post("/contacts:batch", json={"items": [
        {"reference": "C1", "account_number": "K1", "name": "Ann", "email": "Ann@X.example",
         "is_primary": True},
        {"reference": "C2", "account_number": "K1", "name": "Bob"},
        {"reference": "C3", "account_number": "K2", "first_name": "Cy", "last_name": "Lo"}]})
    api.post("/documents:batch", json={"items": [
        {"document_number": "I1", "account_number": "K1", "invoice_date": "2026-01-01",
         "due_date": "2026-02-01", "amount": "5"},
        {"document_number": "I2", "account_number": "K1", "invoice_date": "2026-01-01",
         "due_date": "2026-02-01", "amount": "5", "open_amount": "0"},
        {"document_number": "X1", "account_number": "K2", "invoice_date": "2026-01-01",
         "due_date": "2026-02-01", "document_type": "other"}]})
    api.post("/representatives:batch", json={"items": [
        {"reference": "BOSS", "name": "Boss"},
        {"reference": "R1", "supervisor_representative_reference": "BOSS"}]})

    assert keys(api.get("/accounts?parent_account_number=P").get_json()) == ["K1", "K2"]
    assert keys(api.get("/accounts?account_group=key").get_json()) == ["P"]
    assert keys(api.get("/accounts?q=KID").get_json()) == ["K1", "K2"]
    assert keys(api.get("/accounts?q=billing@kid").get_json()) == ["K2"]
    assert keys(api.get("/accounts?q=100%25").get_json()) == ["K2"]
    assert keys(api.get("/accounts?q=%25").get_json()) == ["K2"]
    assert keys(api.get("/contacts?account_number=K1").get_json(), "reference") == ["C1", "C2"]
    assert keys(api.get("/contacts?email=ann@x.EXAMPLE").get_json(), "reference") == ["C1"]
    assert keys(api.get("/contacts?is_primary=true").get_json(), "reference") == ["C1"]
    assert keys(api.get("/contacts?is_primary=false").get_json(), "reference") == ["C2", "C3"]
    assert keys(api.get("/contacts?q=lo").get_json(), "reference") == ["C3"]
    docs = "document_number"
    assert keys(api.get("/documents?status=open").get_json(), docs) == ["I1"]
    assert keys(api.get("/documents?status=closed&account_number=K1").get_json(), docs) == ["I2"]
    assert keys(api.get("/documents?document_type=other").get_json(), docs) == ["X1"]
    assert keys(api.get("/representatives?supervisor_representative_reference=BOSS").get_json(),
                "reference") == ["R1"]
    assert "accounts" not in api.get("/representatives").get_json()["items"][0]


def test_updated_after(api):
    api.put("/accounts/OLD", json={"name": "x"})
    moment = api.get("/accounts/OLD").get_json()["updated_at"]
    api.put("/accounts/NEW", json={"name": "y"})
    assert keys(api.get(f"/accounts?updated_after={moment}").get_json()) == ["NEW"]
    assert keys(api.get("/accounts?updated_after=2000-01-01T00:00:00%2B02:00").get_json()) == [
        "OLD", "NEW"]


@pytest.mark.parametrize("query, parameter", [
    ("limit=0", "limit"), ("limit=1001", "limit"), ("cursor=nonsense", "cursor"),
    ("cursor=WyJ2MSIsIkEiXQ", "cursor"), ("updated_after=yesterday", "updated_after"),
    ("updated_after=2026-01-01T00:00:00", "updated_after"), ("is_primary=maybe", "is_primary"),
])
def test_bad_feed_queries(api, query, parameter):
    body = assert_problem(api.get(f"/contacts?{query}"), 422, "validation-error")
    assert body["errors"][0]["parameter"] == parameter


def test_feed_is_tenant_scoped(api, other_api, read_key):
    api.put("/accounts/A", json={"name": "mine"})
    api.delete("/accounts/A")
    api.put("/accounts/B", json={"name": "mine"})
    assert other_api.get("/accounts").get_json()["items"] == []
    assert other_api.get("/accounts:versions").get_json()["items"] == []
    assert keys(api.get("/accounts", key=read_key).get_json()) == ["A", "B"]


def test_versions(api):
    api.post("/accounts:batch", json={"items": [{"account_number": n, "name": n}
                                                for n in ("C", "A", "B", "D")]})
    api.patch("/accounts/B", json={"phone": "1"})
    api.delete("/accounts/D")
    first = api.get("/accounts:versions?limit=2").get_json()
    assert [(i["account_number"], i["version"]) for i in first["items"]] == [("A", 1), ("B", 2)]
    assert set(first["items"][0]) == {"account_number", "version", "updated_at"}
    assert first["has_more"] is True
    rest = api.get(f"/accounts:versions?limit=2&cursor={first['next_cursor']}").get_json()
    assert [i["account_number"] for i in rest["items"]] == ["C"] and rest["has_more"] is False
    assert_problem(api.get("/accounts:versions?limit=10001"), 422, "validation-error")
    assert api.get("/accounts:versions?limit=10000").status_code == 200


def test_lookup(api, read_key):
    api.post("/accounts:batch", json={"items": [{"account_number": n, "name": n}
                                                for n in ("A", "B")]})
    body = api.post("/accounts:lookup", json={"keys": ["B", "X", "A", "B"]}, key=read_key)
    assert body.status_code == 200
    assert keys(body.get_json()) == ["B", "A"] and body.get_json()["missing"] == ["X"]
    assert_problem(api.post("/accounts:lookup", json={"keys": []}), 422, "validation-error",
                   ["#/keys"])
    assert_problem(api.post("/accounts:lookup", json={"keys": [str(n) for n in range(101)]}),
                   422, "validation-error", ["#/keys"])
    assert_problem(api.post("/accounts:lookup", json={"keys": ["ok", " bad"]}), 422,
                   "validation-error", ["#/keys/1"])


@pytest.mark.parametrize("query", ["account_number=%00x", "q=a%00b", "email=%0A",
                                   "account_number=%20lead"])
def test_filters_refuse_unstorable_text(api, query):
    # found by Schemathesis: a NUL in a filter reached PostgreSQL (500)
    body = assert_problem(api.get(f"/contacts?{query}"), 422, "validation-error")
    assert body["errors"][0]["parameter"] in ("account_number", "q", "email")
