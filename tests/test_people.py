"""Matching upserts, party routing and email events (SPEC 5; seeds 000 and 002)."""
import pytest

from app.models import RepresentativeAccount
from app.resources.contacts import Contact
from app.resources.representatives import Representative
from helpers import assert_problem
from people_helpers import random_edit

UPSERT = "/accounts/ACCT-1/contacts/upsert"


@pytest.fixture
def account(api):
    assert api.put("/accounts/ACCT-1", json={"name": "Acme"}).status_code == 201
    api.put("/accounts/ACCT-2", json={"name": "Other"})
    return api


def contact(api, reference, account="ACCT-1", **fields):
    body = {"account_number": account, "language": "en", **fields}
    assert api.put(f"/contacts/{reference}", json=body).status_code == 201
    return reference


# -- seed 002: the matching rule ------------------------------------------------------------

@pytest.mark.parametrize("name, matches, distance", [
    ("john smith", True, 0), ("John Smth", True, 1), ("Jon Smith", True, 1),
    ("JOHN  SMITH", True, 0),  # whitespace runs count as one space
    ("Jonathan Smith", False, None), ("J. Smith", False, None),
])
def test_seed_002_name_examples(account, name, matches, distance):
    contact(account, "C1", name="John Smith")
    response = account.put(UPSERT, json={"name": name, "title": "Billing Manager",
                                         "language": "en"})
    body = response.get_json()
    if matches:
        assert response.status_code == 200, body
        assert (body["reference"], body["matched_by"], body["distance"]) == ("C1", "name",
                                                                             distance)
        assert body["title"] == "Billing Manager" and body["version"] == 2
        assert response.headers["ETag"] == '"2"'
    else:
        assert response.status_code == 201 and body["matched_by"] is None
        assert body["reference"] != "C1" and Contact.select().count() == 2


@pytest.mark.parametrize("stored, sent, matches", [
    ("Abcdefghij", "Abcdefghxx", True),     # 10 characters: 2 edits allowed (20% = 2)
    ("Abcdefghij", "Abcdefgxxx", False),    # 3 edits: over 2
    ("Abcdefghi", "Abcdefgxx", False),      # 9 characters: 20% is 1.8, so 2 edits are too many
    ("Abcdefghi", "Abcdefghx", True),       # 1 edit
    ("Abcde", "Abcdx", True),               # 5 characters: 20% is exactly 1
    ("Abcde", "Abcxx", False),
    ("Abcd", "Abcx", False),                # under 5 characters: 20% < 1, so exact names only
    ("Abcd", "ABCD", True),                 # case does not count
    ("Ann Lee", "Ann Lee Jr", False),       # lengths 7 and 10: 3 inserts
    ("Zoë Müller", "Zoe Muller", True),     # Unicode letters are single characters
    ("Łukasz Żak", "lukasz zak", True),
    ("Ærøskøbing", "aeroskobing", False),
])
def test_boundary_distances(account, stored, sent, matches):
    contact(account, "C1", name=stored)
    response = account.put(UPSERT, json={"name": sent, "language": "en"})
    assert response.status_code == (200 if matches else 201), response.get_json()


def test_first_and_last_name_make_the_full_name(account):
    contact(account, "C1", first_name="John", last_name="Smith")
    body = account.put(UPSERT, json={"first_name": "Jon", "last_name": "Smith"}).get_json()
    assert body["reference"] == "C1" and body["matched_by"] == "name"
    assert (body["first_name"], body["last_name"], body["name_kept"]) == ("John", "Smith", True)


def test_email_is_matched_first_and_beats_a_name(account):
    contact(account, "BY-EMAIL", name="Someone Else", email="john@acme.example")
    contact(account, "BY-NAME", name="John Smith")
    body = account.put(UPSERT, json={"name": "John Smith", "email": "John@ACME.example"}).get_json()
    assert (body["reference"], body["matched_by"], body["distance"]) == ("BY-EMAIL", "email", None)
    assert body["name"] == "John Smith" and body["email"] == "John@ACME.example"


def test_internationalised_addresses_match_in_any_form(account):
    contact(account, "C1", name="Anna", email="anna@bücher.de")
    for sent in ("Anna@BÜCHER.de", "anna@xn--bcher-kva.de"):
        body = account.put(UPSERT, json={"email": sent}).get_json()
        assert body["reference"] == "C1" and body["matched_by"] == "email"


def test_an_email_that_matches_nobody_falls_back_to_the_name(account):
    contact(account, "C1", name="John Smith", email="old@acme.example")
    body = account.put(UPSERT, json={"name": "John Smith", "email": "new@acme.example"}).get_json()
    assert body["matched_by"] == "name" and body["email"] == "new@acme.example"
    assert body["email_status"] == "valid"


def test_ties_are_409_and_change_nothing(account):
    contact(account, "C1", name="Jon Smith")
    contact(account, "C2", name="John Smyth")
    problem = assert_problem(account.put(UPSERT, json={"name": "John Smith", "title": "x"}),
                             409, "conflict")
    assert problem["candidates"] == ["C1", "C2"] and problem["matched_by"] == "name"
    assert [c.version for c in Contact.select()] == [1, 1]


def test_two_email_matches_are_409(account):
    contact(account, "C1", name="A", email="shared@acme.example")
    contact(account, "C2", name="B", email="SHARED@acme.example")
    problem = assert_problem(account.put(UPSERT, json={"email": "shared@acme.example"}), 409,
                             "conflict")
    assert problem["candidates"] == ["C1", "C2"] and problem["matched_by"] == "email"


def test_creating_needs_a_name_and_a_language(account):
    problem = assert_problem(account.put(UPSERT, json={"email": "new@acme.example"}), 422,
                             "validation-error", ["#/language", "#/name"])
    details = {error["pointer"]: error["detail"] for error in problem["errors"]}
    assert "first_name" in details["#/name"] and "language" in details["#/language"]
    created = account.put(UPSERT, json={"name": "New Person", "language": "fr",
                                        "email": "new@acme.example"})
    body = created.get_json()
    assert created.status_code == 201 and body["matched_by"] is None
    assert created.headers["Location"] == f"/api/v1/ingest/contacts/{body['reference']}"
    assert body["account_number"] == "ACCT-1" and body["language"] == "fr"
    assert account.get(f"/contacts/{body['reference']}").get_json()["version"] == 1


def test_only_the_accounts_contacts_match(account, other_api):
    contact(account, "ELSEWHERE", account="ACCT-2", name="John Smith")
    other_api.put("/accounts/ACCT-1", json={"name": "theirs"})
    other_api.put("/contacts/THEIRS", json={"name": "John Smith", "account_number": "ACCT-1",
                                            "email": "john@acme.example"})
    body = account.put(UPSERT, json={"name": "John Smith", "language": "en",
                                     "email": "john@acme.example"}).get_json()
    assert body["matched_by"] is None and body["reference"] not in ("ELSEWHERE", "THEIRS")
    assert_problem(account.put("/accounts/NOPE/contacts/upsert", json={"name": "x"}), 404,
                   "not-found")
    assert_problem(account.put(UPSERT, json={"name": "x", "account_number": "ACCT-2"}), 422,
                   "validation-error", ["#/account_number"])


def test_a_match_can_become_the_primary_contact(account):
    contact(account, "C1", name="Ann Lee", is_primary=True)
    contact(account, "C2", name="John Smith")
    body = account.put(UPSERT, json={"name": "john smith", "is_primary": True}).get_json()
    assert body["reference"] == "C2" and body["is_primary"] is True
    old = account.get("/contacts/C1").get_json()
    assert old["is_primary"] is False and old["version"] == 2


def test_an_unchanged_match_keeps_its_version(account):
    contact(account, "C1", name="John Smith", title="CFO")
    body = account.put(UPSERT, json={"name": "John Smith", "title": "CFO"}).get_json()
    assert body["version"] == 1 and body["matched_by"] == "name"


@pytest.mark.parametrize("body, would, matched_by", [
    ({"name": "John Smth"}, "update", "name"),
    ({"name": "Brand New", "language": "en"}, "create", None),
])
def test_dry_run_changes_nothing(account, body, would, matched_by):
    contact(account, "C1", name="John Smith")
    answer = account.put(UPSERT + "?dry_run=true", json=body)
    result = answer.get_json()
    assert answer.status_code == 200 and result["dry_run"] is True
    assert (result["would"], result["matched_by"]) == (would, matched_by)
    assert (result["record"] or {}).get("reference") == ("C1" if matched_by else None)
    assert [(c.reference, c.version) for c in Contact.select()] == [("C1", 1)]


def test_dry_run_reports_ties_and_missing_fields(account):
    contact(account, "C1", name="Jon Smith")
    contact(account, "C2", name="John Smyth")
    assert assert_problem(account.put(UPSERT + "?dry_run=true", json={"name": "John Smith"}),
                          409, "conflict")["candidates"] == ["C1", "C2"]
    assert_problem(account.put(UPSERT + "?dry_run=true", json={"name": "Nobody Here"}), 422,
                   "validation-error", ["#/language"])


# -- representatives and party ------------------------------------------------------------

def test_representative_upsert_matches_tenant_wide_and_links(account):
    account.put("/representatives/R1", json={"name": "Sarah Johnson",
                                             "email": "sarah@yourcompany.example"})
    first = account.put("/accounts/ACCT-1/representatives/upsert", json={
        "email": "Sarah@YourCompany.example", "title": "Account Manager"})
    body = first.get_json()
    assert first.status_code == 200 and body["reference"] == "R1"
    assert body["matched_by"] == "email" and body["accounts"]["items"] == ["ACCT-1"]
    again = account.put("/accounts/ACCT-2/representatives/upsert", json={"name": "sarah johnson"})
    assert again.get_json()["accounts"]["items"] == ["ACCT-1", "ACCT-2"]
    account.put("/accounts/ACCT-2/representatives/upsert", json={"name": "Sarah Johnson"})
    assert RepresentativeAccount.select().count() == 2  # linking twice links once
    created = account.put("/accounts/ACCT-1/representatives/upsert", json={
        "name": "Alex Brown", "language": "en"})
    assert created.status_code == 201 and created.get_json()["accounts"]["total"] == 1


@pytest.mark.parametrize("email, party_type", [
    ("alex@acme.example", "representative"),     # the tenant's internal domain (conftest)
    ("john@customerdomain.example", "contact"),
    (None, "contact"),
])
def test_party_upsert_routes_by_email_domain(account, email, party_type):
    body = {"name": "Alex Brown", "language": "en", "notes": "met at fair", "is_primary": True}
    if email:
        body["email"] = email
    answer = account.put("/accounts/ACCT-1/party/upsert", json=body)
    result = answer.get_json()
    assert answer.status_code == 201 and result["party_type"] == party_type
    assert result["matched_by"] is None
    record = result["record"]
    if party_type == "representative":
        assert record["extra_info"] == "met at fair" and "is_primary" not in record
        assert record["accounts"]["items"] == ["ACCT-1"]
        assert Representative.select().count() == 1 and Contact.select().count() == 0
    else:
        assert record["notes"] == "met at fair" and record["is_primary"] is True
        assert Contact.select().count() == 1
    again = account.put("/accounts/ACCT-1/party/upsert?dry_run=true", json=body).get_json()
    assert again["would"] == "update" and again["party_type"] == party_type


def test_party_upsert_of_an_internationalised_internal_domain(account, tenant):
    tenant.internal_domains = ["xn--bcher-kva.de"]
    tenant.save()
    result = account.put("/accounts/ACCT-1/party/upsert", json={
        "name": "Anna", "language": "de", "email": "anna@Bücher.de"}).get_json()
    assert result["party_type"] == "representative"


# -- email events -------------------------------------------------------------------------

def event(email, kind, at):
    return {"email": email, "type": kind, "occurred_at": at}


def test_email_events_update_every_record_with_the_address(account):
    contact(account, "C1", name="Ann", email="ann@customer.example")
    contact(account, "C2", account="ACCT-2", name="Ann again", email="ANN@customer.example")
    account.put("/representatives/R1", json={"name": "Ann", "email": "ann@customer.example"})
    cursor = account.get("/contacts").get_json()["next_cursor"]
    answer = account.post("/email-events", json={"events": [
        event("Ann@Customer.example", "bounced", "2026-03-01T10:00:00Z"),
        event("nobody@customer.example", "bounced", "2026-03-01T10:00:00Z")]})
    result = answer.get_json()
    assert answer.status_code == 200
    assert (result["applied"], result["stale"], result["unmatched"], result["failed"]) == \
        (1, 0, 1, 0)
    assert [r["outcome"] for r in result["results"]] == ["applied", "unmatched"]
    for path in ("/contacts/C1", "/contacts/C2", "/representatives/R1"):
        record = account.get(path).get_json()
        assert record["email_status"] == "bounced" and record["version"] == 2
    changed = account.get(f"/contacts?cursor={cursor}").get_json()["items"]
    assert sorted(item["reference"] for item in changed) == ["C1", "C2"]


def test_an_older_event_never_overrides_a_newer_one(account):
    contact(account, "C1", name="Ann", email="ann@customer.example")
    account.post("/email-events", json={"events": [
        event("ann@customer.example", "bounced", "2026-03-02T00:00:00Z")]})
    late = account.post("/email-events", json={"events": [
        event("ann@customer.example", "delivered", "2026-03-01T00:00:00+00:00")]}).get_json()
    assert late["stale"] == 1 and late["results"][0]["outcome"] == "stale"
    assert account.get("/contacts/C1").get_json()["email_status"] == "bounced"
    # within one request too, whatever their order in the list
    result = account.post("/email-events", json={"events": [
        event("ann@customer.example", "complained", "2026-03-04T00:00:00Z"),
        event("ann@customer.example", "delivered", "2026-03-03T00:00:00Z")]}).get_json()
    assert [r["outcome"] for r in result["results"]] == ["applied", "applied"]
    record = account.get("/contacts/C1").get_json()
    assert record["email_status"] == "complained" and record["version"] == 3


def test_a_new_address_is_valid_again(account):
    contact(account, "C1", name="Ann", email="ann@customer.example")
    account.post("/email-events", json={"events": [
        event("ann@customer.example", "bounced", "2026-03-01T00:00:00Z")]})
    assert account.patch("/contacts/C1", json={"email": "ANN@customer.example"}).get_json()[
        "email_status"] == "bounced"  # the same address in another case
    body = account.patch("/contacts/C1", json={"email": "ann.new@customer.example"}).get_json()
    assert body["email_status"] == "valid"


def test_bad_events_fail_alone(account):
    contact(account, "C1", name="Ann", email="ann@customer.example")
    result = account.post("/email-events", json={"events": [
        event("ann@customer.example", "bounced", "2026-03-01T00:00:00Z"),
        event("ann@customer.example", "opened", "2026-03-01T00:00:00Z"),
        {"email": "not an address", "type": "bounced"}, None]}).get_json()
    assert [r["status"] for r in result["results"]] == [200, 422, 422, 422]
    assert result["results"][1]["errors"] == [{"pointer": "#/events/1/type",
                                               "detail": result["results"][1]["errors"][0][
                                                   "detail"]}]
    assert sorted(e["pointer"] for e in result["results"][2]["errors"]) == [
        "#/events/2/email", "#/events/2/occurred_at"]
    assert result["failed"] == 3 and result["applied"] == 1
    assert_problem(account.post("/email-events", json={"events": []}), 422, "validation-error",
                   ["#/events"])


def test_email_events_are_per_tenant(account, other_api):
    contact(account, "C1", name="Ann", email="ann@customer.example")
    result = other_api.post("/email-events", json={"events": [
        event("ann@customer.example", "bounced", "2026-03-01T00:00:00Z")]}).get_json()
    assert result["unmatched"] == 1
    assert account.get("/contacts/C1").get_json()["email_status"] == "valid"


def test_the_candidate_filter_never_loses_a_match(api, tenant):
    """find_match against brute force over random names and random edits of them."""
    import random

    from rapidfuzz.distance import Levenshtein

    from app.resources.representatives import Representative as Rep
    from app.services.matching import allowed_distance, find_match, name_key
    from app.resources.representatives import REPRESENTATIVES

    rng = random.Random(7)
    alphabet = "abcdeé ñ"
    names = ["".join(rng.choice(alphabet) for _ in range(rng.randint(3, 14)))
             for _ in range(400)]
    names = list(dict.fromkeys(name.strip() for name in names if name.strip()))
    api.post("/representatives:batch", json={"items": [
        {"reference": f"R{n}", "name": name} for n, name in enumerate(names)]})
    stored = {row.reference: row.name_key for row in Rep.select()}

    def edit(text):
        return random_edit(rng, text, alphabet)

    for _ in range(600):
        query = name_key(edit(rng.choice(names))) or "a"
        close = {ref: Levenshtein.distance(query, key) for ref, key in stored.items()
                 if Levenshtein.distance(query, key) <= allowed_distance(query, key)}
        try:
            match = find_match(REPRESENTATIVES, tenant.id, None, query)
        except Exception as conflict:  # a tie: every tied candidate is among the closest
            best = min(close.values())
            assert sorted(conflict.extra["candidates"]) == sorted(
                ref for ref, d in close.items() if d == best)
            continue
        if not close:
            assert match is None, (query, match)
        else:
            best = min(close.values())
            assert match is not None and close[match.key] == best, (query, match, close)
