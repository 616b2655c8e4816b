"""Filtered change feeds: followers end with exactly what matches now; q; filters for "none"."""
import random

import pytest

from app.models import FeedExit
from app.resources.accounts import Account, ACCOUNTS as ACCOUNTS_RESOURCE
from app.resources.contacts import Contact
from app.services.search import backfill_search_text

ACCOUNTS = ("A", "B", "C")
FIRST_NAMES = ("Ann", "Anna", "Bob", "Åsa", "Straße", "Zoë")


class Follower:
    """A client that follows one filtered feed from the start and applies every page."""

    def __init__(self, api, query):
        self.api, self.query, self.cursor, self.have = api, query, None, {}

    def follow(self):
        while True:
            path = "/contacts?limit=7" + (f"&{self.query}" if self.query else "")
            if self.cursor:
                path += f"&cursor={self.cursor}"
            page = self.api.get(path).get_json()
            for item in page["items"]:
                if item.get("deleted") or item.get("matches_filter") is False:
                    self.have.pop(item["reference"], None)
                else:
                    self.have[item["reference"]] = item["version"]
            self.cursor = page["next_cursor"]
            if not page["has_more"]:
                return


def matching_now(query):
    """The ground truth, computed from the stored rows without the feed's machinery."""
    rows = list(Contact.select())
    if query == "account_number=A&is_primary=true":
        return {c.reference: c.version for c in rows if c.account_number == "A" and c.is_primary}
    if query.startswith("account_number="):
        wanted = query.split("=", 1)[1] or None
        return {c.reference: c.version for c in rows if c.account_number == wanted}
    if query == "is_primary=true":
        return {c.reference: c.version for c in rows if c.is_primary}
    if query.startswith("q="):
        needle = query[2:].casefold()
        return {c.reference: c.version for c in rows
                if any(needle in (value or "").casefold() for value in (
                    c.reference, c.name, c.first_name, c.last_name, c.email, c.phone,
                    c.mobile_phone))}
    return {c.reference: c.version for c in rows}


QUERIES = ["account_number=A", "account_number=B", "account_number=", "is_primary=true",
           "q=ann", "q=STRASSE", "account_number=A&is_primary=true", ""]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_followers_of_filtered_feeds_end_with_exactly_what_matches(api, seed):
    rng = random.Random(seed)
    for number in ACCOUNTS:
        api.put(f"/accounts/{number}", json={"name": number})
    followers = [Follower(api, query) for query in QUERIES]
    late = []  # followers that start halfway, from the beginning of the feed
    references = []
    for step in range(160):
        action = rng.random()
        if action < 0.3 or len(references) < 3:
            reference = f"C{step}"
            body = {"first_name": rng.choice(FIRST_NAMES), "last_name": f"L{step}",
                    "account_number": rng.choice(ACCOUNTS + (None,))}
            if body["account_number"] and rng.random() < 0.3:
                body["is_primary"] = True
            assert api.put(f"/contacts/{reference}", json=body).status_code == 201
            references.append(reference)
        elif action < 0.55:  # move, to another account or to none
            api.patch(f"/contacts/{rng.choice(references)}",
                      json={"account_number": rng.choice(ACCOUNTS + (None,)),
                            "is_primary": False})
        elif action < 0.7:  # a change that may enter or leave a q view
            api.patch(f"/contacts/{rng.choice(references)}",
                      json={"first_name": rng.choice(FIRST_NAMES)})
        elif action < 0.82:  # becoming primary takes the flag from another contact
            reference = rng.choice(references)
            if api.get(f"/contacts/{reference}").get_json()["account_number"]:
                api.patch(f"/contacts/{reference}", json={"is_primary": True})
        elif action < 0.92:
            reference = references.pop(rng.randrange(len(references)))
            assert api.delete(f"/contacts/{reference}").status_code == 204
        else:  # a batch that moves several at once
            items = [{"reference": ref, "first_name": "Batch",
                      "account_number": rng.choice(ACCOUNTS)}
                     for ref in rng.sample(references, min(3, len(references)))]
            api.post("/contacts:batch", json={"items": items})
        if step % 17 == 0:
            rng.choice(followers).follow()
        if step == 80:
            late = [Follower(api, query) for query in QUERIES]
    for follower in followers + late:
        follower.follow()
        assert follower.have == matching_now(follower.query), follower.query


def test_a_moved_contact_is_reported_to_the_account_it_left(api):
    for number in ("A", "B"):
        api.put(f"/accounts/{number}", json={"name": number})
    api.put("/contacts/C1", json={"name": "Ann", "account_number": "A"})
    cursor = api.get("/contacts?account_number=A").get_json()["next_cursor"]
    api.patch("/contacts/C1", json={"account_number": "B"})
    page = api.get(f"/contacts?account_number=A&cursor={cursor}").get_json()
    assert page["items"] == [{"reference": "C1", "deleted": False, "matches_filter": False,
                              "version": 2, "updated_at": page["items"][0]["updated_at"]}]
    assert [i["reference"] for i in api.get("/contacts?account_number=B").get_json()[
        "items"]] == ["C1"]
    api.delete("/contacts/C1")
    deleted = api.get("/contacts?account_number=B&cursor=" + api.get(
        f"/contacts?account_number=B&cursor={cursor}").get_json()["next_cursor"]).get_json()
    assert deleted["items"] == []  # already past it
    tombstones = api.get("/contacts?account_number=B").get_json()["items"]
    assert tombstones[-1]["deleted"] is True and tombstones[-1]["reference"] == "C1"
    # the unfiltered feed shows deletions only, never "left a filter" entries
    assert [i.get("matches_filter") for i in api.get("/contacts").get_json()["items"]] == [None]


def test_renames_leave_no_exit_rows_and_q_followers_still_see_a_record_leave(api):
    """A rename writes only the record (a nightly sync renames thousands); a q follower past
    the rename is told the record no longer matches, from the record's own row."""
    api.put("/accounts/A", json={"name": "A"})
    api.put("/accounts/B", json={"name": "B"})
    api.post("/contacts:batch", json={"items": [
        {"reference": f"C{n}", "name": f"Ann {n}", "account_number": "A"} for n in range(3)]})
    cursor = api.get("/contacts?q=ann").get_json()["next_cursor"]
    api.post("/contacts:batch", json={"items": [
        {"reference": f"C{n}", "name": f"Bob {n}", "account_number": "A"} for n in range(2)]})
    assert FeedExit.select().count() == 0
    page = api.get(f"/contacts?q=ann&cursor={cursor}").get_json()
    assert [(i["reference"], i.get("matches_filter"), i["version"]) for i in page["items"]] == [
        ("C0", False, 2), ("C1", False, 2)]
    api.put("/contacts/C9", json={"name": "Zed"})  # new after the cursor: nothing to leave
    assert api.get("/contacts?q=ann&cursor=" + page["next_cursor"]).get_json()["items"] == []
    assert [i["reference"] for i in api.get("/contacts?q=ann").get_json()["items"]] == ["C2"]
    # A move changes a field a filter reads: that leaves one exit row, for followers of A.
    api.patch("/contacts/C2", json={"account_number": "B"})
    assert [(t.key, t.deleted, t.before, t.after) for t in FeedExit.select()] == [
        ("C2", False, {"account_number": "A", "email": None, "is_primary": False},
         {"account_number": "B", "email": None, "is_primary": False})]


@pytest.mark.parametrize("query, stored", [
    ("STRASSE", "Hauptstraße 1"), ("straße", "HAUPTSTRASSE 1"), ("İSTANBUL", "İstanbul"),
    ("ÅSA", "åsa"), ("zoë", "ZOË"), ("ΣΟΦΊΑ", "σοφία"),
])
def test_q_is_unicode_case_insensitive(api, query, stored):
    api.put("/accounts/X", json={"name": stored})
    api.put("/accounts/Y", json={"name": "unrelated"})
    items = api.get(f"/accounts?q={query}").get_json()["items"]
    assert [item["account_number"] for item in items] == ["X"]


def test_q_takes_wildcards_literally_and_never_spans_fields(api):
    api.put("/contacts/C1", json={"first_name": "Ann", "last_name": "Lee", "phone": "100%"})
    api.put("/contacts/C2", json={"first_name": "Bob", "phone": "1000"})
    assert [i["reference"] for i in api.get("/contacts?q=100%25").get_json()["items"]] == ["C1"]
    assert [i["reference"] for i in api.get("/contacts?q=_").get_json()["items"]] == []
    assert api.get("/contacts?q=annlee").get_json()["items"] == []


def test_search_text_is_backfilled_for_stored_records(api):
    api.put("/accounts/X", json={"name": "Straße"})
    Account.update(search_text=None).execute()
    assert api.get("/accounts?q=strasse").get_json()["items"] == []
    backfill_search_text(ACCOUNTS_RESOURCE)
    assert [i["account_number"] for i in api.get("/accounts?q=strasse").get_json()["items"]] \
        == ["X"]


def test_filters_can_ask_for_none(api):
    api.put("/accounts/TOP", json={"name": "top"})
    api.put("/accounts/CHILD", json={"name": "child", "parent_account_number": "TOP"})
    top = api.get("/accounts?parent_account_number=").get_json()["items"]
    assert [a["account_number"] for a in top] == ["TOP"]
    children = api.get("/accounts?parent_account_number=TOP").get_json()["items"]
    assert [a["account_number"] for a in children] == ["CHILD"]
    api.put("/contacts/NOACC", json={"name": "n"})
    api.put("/contacts/WITH", json={"name": "w", "account_number": "TOP",
                                    "email": "w@x.example"})
    assert [c["reference"] for c in api.get("/contacts?account_number=").get_json()[
        "items"]] == ["NOACC"]
    assert [c["reference"] for c in api.get("/contacts?email=").get_json()["items"]] == ["NOACC"]
    assert api.get("/accounts?parent_account_number=%20x").status_code == 422
