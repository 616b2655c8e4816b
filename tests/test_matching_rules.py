"""Issue 20, points 8, 9, 10 and 13: what a match writes, archived records, conflicts, headers."""
import pytest

from app.resources.contacts import Contact
from app.resources.representatives import Representative
from helpers import assert_problem, operation_parameters
from people_helpers import UPSERT, contact, stored

PREFIX = "/api/v1/ingest"
UPSERT_PATHS = ("/accounts/{account_number}/contacts/upsert",
                "/accounts/{account_number}/representatives/upsert",
                "/accounts/{account_number}/party/upsert")


@pytest.fixture
def account(api):
    assert api.put("/accounts/ACCT-1", json={"name": "Acme"}).status_code == 201
    return api


# -- point 8: the name that found a record is not new data ----------------------------------

def test_a_name_match_keeps_the_stored_name(account):
    contact(account, "C1", first_name="John", last_name="Doe")
    answer = account.put(UPSERT, json={"name": "Jon Doe", "title": "Billing Manager"})
    body = answer.get_json()
    assert answer.status_code == 200, body
    assert (body["matched_by"], body["distance"], body["name_kept"]) == ("name", 1, True)
    assert (body["name"], body["first_name"], body["last_name"]) == (None, "John", "Doe")
    assert body["title"] == "Billing Manager" and body["version"] == 2
    row = stored("C1")
    assert (row.name, row.first_name, row.last_name, row.version) == (None, "John", "Doe", 2)
    again = account.put(UPSERT, json={"name": "Jon Doe", "title": "Billing Manager"}).get_json()
    assert again["version"] == 2 and again["first_name"] == "John"  # no drift, run after run


def test_a_name_differing_only_in_case_changes_nothing(account):
    contact(account, "C1", name="John Smith", title="CFO")
    body = account.put(UPSERT, json={"name": "JOHN SMITH", "title": "CFO"}).get_json()
    assert (body["version"], body["name"], body["name_kept"]) == (1, "John Smith", True)


def test_update_name_applies_the_name_that_matched(account):
    contact(account, "C1", first_name="John", last_name="Doe")
    answer = account.put(UPSERT + "?update_name=TRUE", json={"name": "Jon Doe"})
    body = answer.get_json()
    assert answer.status_code == 200, body
    assert (body["matched_by"], body["name_kept"]) == ("name", False)
    assert (body["name"], body["first_name"], body["last_name"]) == ("Jon Doe", None, None)
    assert stored("C1").name == "Jon Doe"
    assert_problem(account.put(UPSERT + "?update_name=maybe", json={"name": "Jon Doe"}), 422,
                   "validation-error")


def test_an_email_match_updates_the_name_like_any_field(account):
    contact(account, "C1", first_name="John", last_name="Doe", email="jd@customer.example")
    body = account.put(UPSERT, json={"name": "Johnny Doe-Smith",
                                     "email": "JD@customer.example"}).get_json()
    assert (body["matched_by"], body["name_kept"]) == ("email", False)
    assert (body["name"], body["first_name"]) == ("Johnny Doe-Smith", None)


def test_dry_run_says_the_name_would_be_kept(account):
    contact(account, "C1", name="John Smith")
    body = account.put(UPSERT + "?dry_run=true", json={"name": "Jon Smith"}).get_json()
    assert (body["would"], body["name_kept"], body["reactivated"]) == ("update", True, False)


def test_party_and_representative_answers_say_the_name_was_kept(account):
    account.put("/representatives/R1", json={"name": "Sarah Johnson"})
    body = account.put("/accounts/ACCT-1/party/upsert", json={"name": "Sara Johnson",
                                                             "language": "en"}).get_json()
    assert (body["party_type"], body["name_kept"], body["record"]["name"]) == (
        "contact", False, "Sara Johnson")  # no email: a contact, created
    rep = account.put("/accounts/ACCT-1/representatives/upsert",
                      json={"name": "Sara Johnson"}).get_json()
    assert (rep["reference"], rep["name_kept"], rep["name"]) == ("R1", True, "Sarah Johnson")
    assert Representative.get().name == "Sarah Johnson"


# -- point 9: active records first, archived ones reactivated and said so -------------------

def test_an_active_record_beats_an_archived_one(account):
    contact(account, "OLD", name="Tina Tie")
    account.post("/contacts/OLD/archive")
    contact(account, "NEW", name="Tina Tie")
    for _ in range(2):  # every later upsert too: never a 409
        answer = account.put(UPSERT, json={"name": "Tina Tie", "title": "AP"})
        body = answer.get_json()
        assert answer.status_code == 200, body
        assert (body["reference"], body["reactivated"]) == ("NEW", False)
    old = stored("OLD")
    assert old.archived_at is not None and old.version == 2


def test_an_active_name_match_beats_an_archived_email_match(account):
    contact(account, "OLD", name="Ann Archived", email="ann@customer.example")
    account.post("/contacts/OLD/archive")
    contact(account, "NEW", name="Ann Lee")
    body = account.put(UPSERT, json={"name": "Ann Lee", "email": "ann@customer.example"}).get_json()
    assert (body["reference"], body["matched_by"], body["reactivated"]) == ("NEW", "name", False)
    assert stored("OLD").archived_at is not None


@pytest.mark.parametrize("sent, matched_by", [({"name": "Tina Tye"}, "name"),
                                              ({"email": "TINA@customer.example"}, "email")])
def test_an_archived_record_matches_when_no_active_one_does(account, sent, matched_by):
    contact(account, "OLD", name="Tina Tie", email="tina@customer.example")
    account.post("/contacts/OLD/archive")
    contact(account, "OTHER", name="Someone Else")
    dry = account.put(UPSERT + "?dry_run=true", json=sent).get_json()
    assert (dry["would"], dry["reactivated"], dry["record"]["reference"]) == ("update", True, "OLD")
    assert stored("OLD").archived_at is not None and stored("OLD").version == 2
    answer = account.put(UPSERT, json=sent)
    body = answer.get_json()
    assert answer.status_code == 200, body
    assert (body["reference"], body["matched_by"], body["reactivated"]) == ("OLD", matched_by,
                                                                            True)
    assert body["archived_at"] is None and body["version"] == 3
    assert stored("OLD").archived_at is None
    again = account.put(UPSERT, json=sent).get_json()
    assert (again["reactivated"], again["version"]) == (False, 3)


def test_archived_ties_are_409_and_say_they_are_archived(account):
    contact(account, "A1", name="Jon Smith")
    contact(account, "A2", name="John Smyth")
    account.post("/contacts/A1/archive")
    account.post("/contacts/A2/archive")
    problem = assert_problem(account.put(UPSERT, json={"name": "John Smith"}), 409, "conflict")
    assert problem["candidates"] == ["A1", "A2"] and problem["archived"] is True
    assert "archived" in problem["detail"]


# -- point 10: conflicts say what was ambiguous and how to resolve it -----------------------

def test_a_shared_email_conflict_says_how_to_resolve_it(account):
    contact(account, "C1", name="Ann Lee", email="shared@customer.example")
    contact(account, "C2", name="Bob Roe", email="SHARED@customer.example")
    problem = assert_problem(account.put(UPSERT, json={"email": "shared@customer.example",
                                                       "title": "x"}), 409, "conflict")
    assert (problem["candidates"], problem["matched_by"]) == (["C1", "C2"], "email")
    detail = problem["detail"]
    assert "give the email" not in detail.lower()
    assert "shared@customer.example" in detail and "C1 (Ann Lee)" in detail
    assert "C2 (Bob Roe)" in detail and "/contacts/{reference}" in detail
    assert [c.version for c in Contact.select()] == [1, 1]


def test_a_name_tie_asks_for_the_email_or_the_exact_name(account):
    contact(account, "C1", name="Jon Smith")
    contact(account, "C2", name="John Smyth")
    problem = assert_problem(account.put(UPSERT, json={"name": "John Smith"}), 409, "conflict")
    assert (problem["matched_by"], problem["distance"], problem["archived"]) == ("name", 1, False)
    detail = problem["detail"]
    assert "'John Smith'" in detail and "distance 1" in detail
    assert "C1 (Jon Smith)" in detail and "C2 (John Smyth)" in detail
    assert "email address" in detail and "exact" in detail and "/contacts/{reference}" in detail


def test_a_name_tie_after_an_unmatched_email_does_not_ask_for_the_email(account):
    contact(account, "C1", name="Pat Doe")
    contact(account, "C2", name="Pat Doe")
    problem = assert_problem(account.put(UPSERT, json={"name": "Pat Doe",
                                                       "email": "pat@customer.example"}),
                             409, "conflict")
    detail = problem["detail"]
    assert "pat@customer.example" in detail and "matched none" in detail
    assert "exact" not in detail  # both have exactly this name: the name cannot help
    assert problem["candidates"] == ["C1", "C2"] and problem["distance"] == 0


# -- point 13: the headers the upserts honour are declared, If-Match is applied --------------

def test_the_document_declares_the_upsert_headers_and_flags(app):
    spec = app.test_client().get(PREFIX + "/openapi.json").get_json()
    for path in UPSERT_PATHS:
        operation = spec["paths"][PREFIX + path]["put"]
        parameters = operation_parameters(spec, operation)
        headers = {p["name"] for p in parameters if p["in"] == "header"}
        assert {"Sync-Run", "If-Match", "If-None-Match"} <= headers, path
        query = {p["name"] for p in parameters if p["in"] == "query"}
        assert {"dry_run", "update_name"} <= query, path
        # 412 is the conditional headers' answer: each says when it comes.
        assert all("412" in p["description"] for p in parameters
                   if p["name"] in ("If-Match", "If-None-Match")), path
        answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert answer, path


def test_a_stale_if_match_on_the_matched_record_is_412(account):
    contact(account, "C1", name="John Smith")
    account.patch("/contacts/C1", json={"title": "CFO"})
    stale = account.put(UPSERT, json={"name": "John Smith", "title": "CEO"},
                        headers={"If-Match": '"1"'})
    assert_problem(stale, 412, "precondition-failed")
    assert stale.headers["ETag"] == '"2"'
    assert (stored("C1").title, stored("C1").version) == ("CFO", 2)
    dry = account.put(UPSERT + "?dry_run=true", json={"name": "John Smith"},
                      headers={"If-Match": '"1"'})
    assert_problem(dry, 412, "precondition-failed")
    fresh = account.put(UPSERT, json={"name": "John Smith", "title": "CEO"},
                        headers={"If-Match": '"2"'})
    assert fresh.status_code == 200 and fresh.get_json()["title"] == "CEO"
    assert fresh.headers["ETag"] == '"3"'


def test_if_match_without_a_match_creates_nothing(account):
    answer = account.put(UPSERT, json={"name": "Brand New", "language": "en"},
                         headers={"If-Match": "*"})
    problem = assert_problem(answer, 412, "precondition-failed")
    assert "matched" in problem["detail"]
    assert Contact.select().count() == 0


def test_if_none_match_star_only_creates(account):
    contact(account, "C1", name="John Smith")
    taken = account.put(UPSERT, json={"name": "John Smith", "title": "x"},
                        headers={"If-None-Match": "*"})
    assert_problem(taken, 412, "precondition-failed")
    assert taken.headers["ETag"] == '"1"' and stored("C1").title is None
    created = account.put(UPSERT, json={"name": "Mary Major", "language": "en"},
                          headers={"If-None-Match": "*"})
    assert created.status_code == 201


def test_sync_run_marks_a_matched_representative_seen(account):
    account.put("/representatives/R1", json={"name": "Sarah Johnson"})
    run = account.post("/representatives:sync-runs").get_json()["id"]
    answer = account.put("/accounts/ACCT-1/representatives/upsert",
                         json={"name": "sarah johnson"}, headers={"Sync-Run": run})
    assert answer.status_code == 200 and answer.get_json()["version"] == 1
    assert account.get(f"/representatives:sync-runs/{run}").get_json()["seen"] == 1
    assert_problem(account.put("/accounts/ACCT-1/representatives/upsert",
                               json={"name": "sarah johnson"}, headers={"Sync-Run": "nope"}),
                   422, "validation-error")
