"""Batch matching upserts: POST /contacts:upsert, /representatives:upsert, /parties:upsert."""
import pytest

from app.models import RepresentativeAccount, SyncRunSeen
from app.resources.contacts import Contact
from app.resources.representatives import Representative
from helpers import assert_problem
from people_helpers import random_edit


@pytest.fixture
def accounts(api):
    for number in ("A1", "A2"):
        assert api.put(f"/accounts/{number}", json={"name": number}).status_code == 201
    return api


def upsert(api, collection, items, query="", **kwargs):
    response = api.post(f"/{collection}:upsert{query}", json={"items": items}, **kwargs)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def contact(api, reference, account="A1", **fields):
    body = {"account_number": account, "language": "en", **fields}
    assert api.put(f"/contacts/{reference}", json=body).status_code == 201


def test_each_item_is_its_single_upsert(accounts):
    contact(accounts, "C1", name="John Smith", email="john@customer.example")
    contact(accounts, "C2", name="Mary Major")
    contact(accounts, "C3", name="Ann Lee")
    contact(accounts, "C4", name="Ann Lea")
    result = upsert(accounts, "contacts", [
        {"account_number": "A1", "email": "JOHN@customer.example", "title": "CFO"},
        {"account_number": "A1", "name": "Mary Majr", "phone": "+1 555"},
        {"account_number": "A1", "name": "New Person", "language": "fr"},
        {"account_number": "A1", "name": "Ann Le"},                   # a tie: 409 alone
        {"account_number": "A1", "name": "Nobody"},                   # no language: 422
        {"account_number": "NOPE", "name": "Zed", "language": "en"},  # no account: 404
        {"account_number": "A1", "email": "JOHN@customer.example", "title": "CFO"},
    ])
    statuses = [r["status"] for r in result["results"]]
    assert statuses == [200, 200, 201, 409, 422, 404, 200]
    first, second, created, tie, unnamed, no_account, again = result["results"]
    assert (first["reference"], first["matched_by"], first["version"]) == ("C1", "email", 2)
    assert (second["reference"], second["matched_by"], second["distance"]) == ("C2", "name", 1)
    assert second["name_kept"] is True
    assert created["matched_by"] is None and created["reference"] not in ("C1", "C2")
    assert tie["candidates"] == ["C3", "C4"] and tie["matched_by"] == "name"
    assert tie["errors"][0]["pointer"] == "#/items/3" and tie["reference"] is None
    assert [e["pointer"] for e in unnamed["errors"]] == ["#/items/4/language"]
    assert no_account["errors"][0]["pointer"] == "#/items/5"
    assert (again["reference"], again["version"]) == ("C1", 2)  # unchanged: no new version
    assert (result["created"], result["updated"], result["unchanged"], result["failed"]) == \
        (1, 2, 1, 3)
    assert Contact.get(Contact.reference == "C1").title == "CFO"
    stored = Contact.get(Contact.reference == created["reference"])
    assert (stored.name, stored.language, stored.account_number) == ("New Person", "fr", "A1")
    assert Contact.get(Contact.reference == "C2").phone == "+1 555"


def test_items_naming_one_new_person_create_it_once(accounts):
    result = upsert(accounts, "contacts", [
        {"account_number": "A1", "name": "Grace Hopper", "language": "en",
         "email": "grace@navy.example"},
        {"account_number": "A1", "email": "GRACE@navy.example", "title": "Rear Admiral"},
        {"account_number": "A1", "name": "Grace Hoper", "phone": "+1 202"},
        {"account_number": "A2", "name": "Grace Hopper", "language": "en"},  # another account
    ])
    first, by_email, by_name, elsewhere = result["results"]
    assert first["status"] == 201 and first["same_as_item"] is None
    assert (by_email["status"], by_email["reference"], by_email["same_as_item"],
            by_email["matched_by"]) == (200, first["reference"], 0, "email")
    assert (by_name["reference"], by_name["same_as_item"], by_name["distance"]) == \
        (first["reference"], 0, 1)
    assert elsewhere["status"] == 201 and elsewhere["reference"] != first["reference"]
    assert Contact.select().count() == 2
    grace = Contact.get(Contact.reference == first["reference"])
    assert (grace.name, grace.email, grace.title, grace.phone, grace.version) == \
        ("Grace Hopper", "GRACE@navy.example", "Rear Admiral", "+1 202", 3)


def test_representatives_match_tenant_wide_and_link_each_account(accounts):
    accounts.put("/representatives/R1", json={"name": "Alex Brown", "email": "alex@acme.example"})
    result = upsert(accounts, "representatives", [
        {"account_number": "A1", "email": "alex@acme.example"},
        {"account_number": "A2", "name": "Alex Browne"},
        {"name": "Dana White", "language": "en"},  # no account: nothing linked
    ])
    assert [(r["status"], r["reference"]) for r in result["results"][:2]] == [(200, "R1")] * 2
    assert result["results"][2]["status"] == 201
    links = sorted((link.representative, link.account_number)
                   for link in RepresentativeAccount.select())
    assert links == [("R1", "A1"), ("R1", "A2")]
    assert Representative.select().count() == 2


def test_parties_route_each_item_by_its_domain(accounts):
    result = upsert(accounts, "parties", [
        {"account_number": "A1", "name": "Pat Staff", "email": "pat@acme.example",
         "language": "en", "notes": "Team lead", "is_primary": True},
        {"account_number": "A1", "name": "Cleo Customer", "email": "cleo@customer.example",
         "language": "en", "is_primary": True},
        {"name": "No Account"},
    ])
    staff, customer, bad = result["results"]
    assert (staff["party_type"], staff["status"]) == ("representative", 201)
    assert (customer["party_type"], customer["status"]) == ("contact", 201)
    assert bad["party_type"] is None and bad["errors"][0]["pointer"] == "#/items/2/account_number"
    assert Representative.get().extra_info == "Team lead"
    assert Contact.get().is_primary is True


def test_bad_items_fail_alone_and_bodies_are_checked(accounts):
    result = upsert(accounts, "contacts", [
        None, {"account_number": "A1", "name": "Ok", "language": "en", "shoe_size": 9},
        {"account_number": "A1", "name": "Fine", "language": "en"}])
    assert [r["status"] for r in result["results"]] == [422, 422, 201]
    assert result["results"][1]["errors"][0]["pointer"] == "#/items/1/shoe_size"
    assert_problem(accounts.post("/contacts:upsert", json={"items": []}), 422,
                   "validation-error", ["#/items"])
    assert_problem(accounts.post("/contacts:upsert?update=1", json={"items": [{}]}), 422,
                   "validation-error")


def test_atomic_stores_nothing_when_one_item_fails(accounts):
    response = accounts.post("/contacts:upsert?atomic=true", json={"items": [
        {"account_number": "A1", "name": "Good One", "language": "en"},
        {"account_number": "A1", "name": "No Language"}]})
    assert_problem(response, 422, "validation-error", ["#/items/1/language"])
    assert Contact.select().count() == 0


def test_a_dry_run_answers_every_item_and_stores_nothing(accounts):
    contact(accounts, "C1", name="John Smith", email="john@customer.example")
    result = upsert(accounts, "contacts", [
        {"account_number": "A1", "email": "john@customer.example", "title": "CFO"},
        {"account_number": "A1", "name": "New Person", "language": "en"},
        {"account_number": "A1", "name": "New Persn"}], query="?dry_run=true")
    assert result["dry_run"] is True
    assert [(r["status"], r["reference"], r["same_as_item"]) for r in result["results"]] == [
        (200, "C1", None), (201, None, None), (200, None, 1)]
    assert (result["created"], result["updated"], result["unchanged"]) == (1, 1, 1)
    assert Contact.select().count() == 1
    assert accounts.get("/contacts/C1").get_json()["version"] == 1


def test_sync_run_marks_every_record_written(accounts):
    run = accounts.post("/contacts:sync-runs", json={}).get_json()["id"]
    result = upsert(accounts, "contacts", [
        {"account_number": "A1", "name": "Ann", "language": "en"},
        {"account_number": "A1", "name": "Bob", "language": "en"}],
        headers={"Sync-Run": run})
    assert SyncRunSeen.select().count() == 2 and result["created"] == 2
    # parties: an item that goes to another collection than the run's fails alone
    result = upsert(accounts, "parties", [
        {"account_number": "A1", "name": "Cy", "language": "en", "email": "cy@x.example"},
        {"account_number": "A1", "name": "Pat", "language": "en", "email": "pat@acme.example"}],
        headers={"Sync-Run": run})
    assert [r["status"] for r in result["results"]] == [201, 422]
    assert "Sync-Run" in result["results"][1]["errors"][0]["detail"]
    assert Representative.select().count() == 0
    finished = accounts.post(f"/contacts:sync-runs/{run}:finish", json={})
    assert finished.status_code == 200 and Contact.select().count() == 3
    response = accounts.post("/contacts:upsert", json={"items": [
        {"account_number": "A1", "name": "Dee", "language": "en"}]}, headers={"Sync-Run": run})
    assert_problem(response, 422, "validation-error")
    assert Contact.select().count() == 3


def test_the_batch_s_index_matches_exactly_as_the_queries_do(api, tenant):
    """PeopleIndex against find_match's queries over random names (some archived, some
    sharing an address), random edits of them and records the index is told of."""
    import random

    from app.errors import HttpConflict
    from app.resources.representatives import Representative as Rep
    from app.services.matching import PeopleIndex, find_match
    from app.resources.representatives import REPRESENTATIVES

    rng = random.Random(11)
    alphabet = "abcdeé ñ"
    names = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14)))
             for _ in range(500)]
    names = list(dict.fromkeys(name.strip() for name in names if name.strip()))
    api.post("/representatives:batch", json={"items": [
        {"reference": f"R{n}", "name": name, "email": f"p{n % 97}@x.example"}
        for n, name in enumerate(names)]})
    for n in range(0, len(names), 9):
        assert api.post(f"/representatives/R{n}/archive").status_code == 200
    index = PeopleIndex(REPRESENTATIVES, tenant.id)
    # the index is told of rows changed after it was read, as a batch tells it of its writes
    for n in range(1, len(names), 13):
        api.patch(f"/representatives/R{n}", json={"name": names[n][::-1], "email": None})
        index.record(Rep.get(Rep.reference == f"R{n}"))

    def edit(text):
        return random_edit(rng, text, alphabet)

    def both_ends(text):  # the case only the middle anchor finds (names of 10 and more)
        return rng.choice(alphabet) + text[1:-1] + rng.choice(alphabet)

    def outcome(people, email, name):
        try:
            return find_match(REPRESENTATIVES, tenant.id, email, name, people=people)
        except HttpConflict as conflict:
            return ("409", sorted(conflict.extra["candidates"]), conflict.extra["matched_by"])

    compared = 0
    for _ in range(800):
        email = rng.choice([None, None, f"p{rng.randrange(120)}@x.example"])
        picked = rng.choice(names)
        name = both_ends(picked) if len(picked) >= 10 and rng.random() < 0.3 else edit(picked)
        expected = outcome(None, email, name)
        assert outcome(index, email, name) == expected, (email, name)
        compared += expected is not None
    assert compared > 300  # most queries found someone: the comparison is not vacuous
