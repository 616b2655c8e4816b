"""Representatives, their supervisor chain, links and the lists around records."""
import pytest

from app.models import RepresentativeAccount, RepresentativeDocument
from app.resources.representatives import Representative
from helpers import assert_problem, count_statements

INVOICE = {"account_number": "ACCT-1", "invoice_date": "2026-01-01", "due_date": "2026-01-31",
           "amount": "10"}


@pytest.fixture
def records(api):
    for number in ("ACCT-1", "ACCT-2", "ACCT-3"):
        api.put(f"/accounts/{number}", json={"name": number})
    for number in ("INV-1", "INV-2"):
        api.put(f"/documents/{number}", json=INVOICE)
    api.put("/representatives/REP-1", json={"name": "Jane Smith",
                                            "email": "jsmith@yourcompany.com"})


def test_seed_example(api):
    response = api.post("/representatives/REP-001", json={
        "name": "Jane Smith", "email": "jsmith@yourcompany.com", "title": "Account Manager",
        "department": "Sales"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["reference"] == "REP-001" and body["email_status"] == "valid"
    assert body["accounts"] == {"total": 0, "items": []}
    assert body["documents"] == {"total": 0, "items": []}
    for field in ("phone", "mobile_phone", "fax", "language", "representative_type",
                  "supervisor_representative_reference", "extra_info"):
        assert body[field] is None
    again = api.put("/representatives/REP-001", json=api.get("/representatives/REP-001").get_json())
    assert again.status_code == 200 and again.get_json()["version"] == 1


@pytest.mark.parametrize("body, pointers", [
    ({"language": "xx"}, ["#/language"]),
    ({"extra_info": "x" * 4001}, ["#/extra_info"]),
    ({"representative_type": "t" * 101}, ["#/representative_type"]),
    ({"supervisor_representative_reference": "NOBODY"}, ["#/supervisor_representative_reference"]),
    ({"supervisor_representative_reference": "R"}, ["#/supervisor_representative_reference"]),
    ({"accounts_typo": []}, ["#/accounts_typo"]),
])
def test_invalid_representatives(api, body, pointers):
    assert_problem(api.put("/representatives/R", json=body), 422, "validation-error", pointers)
    assert Representative.select().count() == 0


def test_supervisor_chain_refuses_cycles(api):
    api.put("/representatives/BOSS", json={"name": "boss"})
    api.put("/representatives/MID", json={"supervisor_representative_reference": "BOSS"})
    api.put("/representatives/JUNIOR", json={"supervisor_representative_reference": "MID"})
    body = assert_problem(
        api.patch("/representatives/BOSS", json={"supervisor_representative_reference": "JUNIOR"}),
        422, "validation-error", ["#/supervisor_representative_reference"])
    assert "cycle" in body["errors"][0]["detail"]
    assert_problem(api.patch("/representatives/MID",
                             json={"supervisor_representative_reference": "MID"}),
                   422, "validation-error", ["#/supervisor_representative_reference"])
    assert api.get("/representatives/BOSS").get_json()["supervisor_representative_reference"] is None


def test_delete_refused_while_supervising(api):
    api.put("/representatives/BOSS", json={"name": "boss"})
    api.put("/representatives/A", json={"supervisor_representative_reference": "BOSS"})
    api.put("/representatives/B", json={"supervisor_representative_reference": "BOSS"})
    body = assert_problem(api.delete("/representatives/BOSS"), 409, "conflict")
    assert "2 supervised representatives" in body["detail"]
    api.patch("/representatives/A", json={"supervisor_representative_reference": None})
    api.delete("/representatives/B")
    assert api.delete("/representatives/BOSS").status_code == 204


def test_link_is_idempotent(api, records):
    first = api.put("/representatives/REP-1/accounts/ACCT-1")
    assert first.status_code == 200
    assert first.get_json()["representative"] == "REP-1"
    assert first.get_json()["account_number"] == "ACCT-1"
    again = api.put("/representatives/REP-1/accounts/ACCT-1")
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert api.put("/representatives/REP-1/documents/INV-1").status_code == 200
    assert RepresentativeAccount.select().count() == 1
    assert RepresentativeDocument.select().count() == 1


def test_link_404_names_the_missing_side(api, records):
    body = assert_problem(api.put("/representatives/NOBODY/accounts/ACCT-1"), 404, "not-found")
    assert "representative" in body["detail"] and "account" not in body["detail"]
    assert body["missing"] == ["representative"]
    body = assert_problem(api.put("/representatives/REP-1/accounts/NONE"), 404, "not-found")
    assert body["missing"] == ["account"] and "NONE" in body["detail"]
    body = assert_problem(api.put("/representatives/NOBODY/documents/NONE"), 404, "not-found")
    assert body["missing"] == ["representative", "document"]
    assert RepresentativeAccount.select().count() == 0


def test_unlink(api, records):
    api.put("/representatives/REP-1/accounts/ACCT-1")
    assert api.delete("/representatives/REP-1/accounts/ACCT-1").status_code == 204
    assert_problem(api.delete("/representatives/REP-1/accounts/ACCT-1"), 404, "not-found")
    assert_problem(api.delete("/representatives/REP-1/documents/INV-1"), 404, "not-found")


def test_get_embeds_links_in_key_order(api, records):
    for number in ("ACCT-3", "ACCT-1", "ACCT-2"):
        api.put(f"/representatives/REP-1/accounts/{number}")
    api.put("/representatives/REP-1/documents/INV-2")
    body = api.get("/representatives/REP-1").get_json()
    assert body["accounts"] == {"total": 3, "items": ["ACCT-1", "ACCT-2", "ACCT-3"]}
    assert body["documents"] == {"total": 1, "items": ["INV-2"]}
    assert body["version"] == 1


def test_embedded_links_stop_at_100(api):
    api.put("/representatives/R", json={"name": "busy"})
    for n in range(105):
        api.put(f"/accounts/A{n:03d}", json={"name": "x"})
        api.put(f"/representatives/R/accounts/A{n:03d}")
    body = api.get("/representatives/R").get_json()
    assert body["accounts"]["total"] == 105
    assert body["accounts"]["items"] == [f"A{n:03d}" for n in range(100)]


def test_paginated_link_listing(api):
    api.put("/representatives/R", json={"name": "busy"})
    for n in range(25):
        api.put(f"/accounts/A{n:02d}", json={"name": "x"})
        api.put(f"/representatives/R/accounts/A{n:02d}")
    page = api.get("/representatives/R/accounts?page=3&limit=10").get_json()
    assert page == {"items": [f"A{n}" for n in range(20, 25)], "page": 3, "limit": 10,
                    "total": 25}
    default = api.get("/representatives/R/accounts").get_json()
    assert default["limit"] == 100 and default["page"] == 1 and len(default["items"]) == 25
    beyond = api.get("/representatives/R/accounts?page=9&limit=10").get_json()
    assert beyond["items"] == [] and beyond["total"] == 25
    assert api.get("/representatives/R/documents").get_json()["total"] == 0


# page=2279779126835456768 overflowed PostgreSQL's OFFSET (found by Schemathesis; regression)
@pytest.mark.parametrize("query", ["limit=0", "limit=101", "page=0", "page=-1", "limit=x",
                                   "page=1.5", "page=2279779126835456768", "page=1000000001"])
def test_bad_paging_is_422(api, records, query):
    body = assert_problem(api.get(f"/representatives/REP-1/accounts?{query}"),
                          422, "validation-error")
    assert body["errors"][0]["parameter"] in ("page", "limit")


def test_listing_unknown_representative_is_404(api):
    assert_problem(api.get("/representatives/NOBODY/accounts"), 404, "not-found")
    assert_problem(api.get("/representatives/NOBODY/documents"), 404, "not-found")


def test_reverse_views(api, records):
    api.put("/contacts/C2", json={"account_number": "ACCT-1", "name": "b"})
    api.put("/contacts/C1", json={"account_number": "ACCT-1", "name": "a"})
    api.put("/contacts/X", json={"account_number": "ACCT-2", "name": "x"})
    api.put("/representatives/REP-2", json={"name": "John"})
    for rep in ("REP-2", "REP-1"):
        api.put(f"/representatives/{rep}/accounts/ACCT-1")
    api.put("/representatives/REP-2/documents/INV-1")

    contacts = api.get("/accounts/ACCT-1/contacts").get_json()
    assert [c["reference"] for c in contacts["items"]] == ["C1", "C2"]
    assert contacts["total"] == 2 and contacts["items"][0]["full_name"] == "a"
    documents = api.get("/accounts/ACCT-1/documents?limit=1&page=2").get_json()
    assert [d["document_number"] for d in documents["items"]] == ["INV-2"]
    assert documents["total"] == 2
    reps = api.get("/accounts/ACCT-1/representatives").get_json()
    assert [r["reference"] for r in reps["items"]] == ["REP-1", "REP-2"]
    assert reps["items"][0]["name"] == "Jane Smith" and "accounts" not in reps["items"][0]
    on_doc = api.get("/documents/INV-1/representatives").get_json()
    assert [r["reference"] for r in on_doc["items"]] == ["REP-2"]
    assert api.get("/accounts/ACCT-3/contacts").get_json() == {
        "items": [], "page": 1, "limit": 100, "total": 0}
    for path in ("/accounts/NONE/contacts", "/accounts/NONE/documents",
                 "/accounts/NONE/representatives", "/documents/NONE/representatives"):
        assert_problem(api.get(path), 404, "not-found")


def test_deleting_a_record_removes_its_links(api, records):
    api.put("/representatives/REP-2", json={"name": "John"})
    for rep in ("REP-1", "REP-2"):
        api.put(f"/representatives/{rep}/accounts/ACCT-3")
        api.put(f"/representatives/{rep}/documents/INV-2")
    api.put("/representatives/REP-1/accounts/ACCT-2")
    assert api.delete("/accounts/ACCT-3").status_code == 204
    assert api.delete("/documents/INV-2").status_code == 204
    assert api.get("/representatives/REP-2").get_json()["accounts"]["total"] == 0
    assert api.delete("/representatives/REP-1").status_code == 204
    assert RepresentativeAccount.select().count() == 0
    assert RepresentativeDocument.select().count() == 0


def test_links_are_tenant_scoped(api, other_api, records):
    other_api.put("/accounts/ACCT-1", json={"name": "theirs"})
    other_api.put("/representatives/THEIRS", json={"name": "theirs"})
    assert_problem(api.put("/representatives/THEIRS/accounts/ACCT-1"), 404, "not-found")
    assert_problem(other_api.put("/representatives/REP-1/accounts/ACCT-1"), 404, "not-found")
    api.put("/representatives/REP-1/accounts/ACCT-1")
    for path in ("/representatives/REP-1/accounts", "/accounts/ACCT-2/representatives",
                 "/documents/INV-1/representatives", "/representatives/REP-1"):
        assert_problem(other_api.get(path), 404, "not-found")
    assert other_api.get("/accounts/ACCT-1/representatives").get_json()["total"] == 0
    assert_problem(other_api.delete("/representatives/REP-1/accounts/ACCT-1"), 404, "not-found")
    assert RepresentativeAccount.select().count() == 1


@pytest.mark.parametrize("path", [
    "/representatives/R", "/representatives/R/accounts", "/representatives/R/documents",
    "/accounts/A000/representatives", "/accounts/A000/contacts", "/accounts/A000/documents",
    "/documents/D000/representatives"])
def test_no_n_plus_one(api, path):
    api.put("/representatives/R", json={"name": "r"})

    def grow(count):
        start = 0 if count == 3 else 3
        for n in range(start, count):
            api.put(f"/accounts/A{n:03d}", json={"name": "x"})
            api.put(f"/documents/D{n:03d}", json=dict(INVOICE, account_number="A000"))
            api.put(f"/contacts/C{n:03d}", json={"account_number": "A000", "name": "c"})
            api.put(f"/representatives/R{n:03d}", json={"name": "r"})
            for rep in ("R", f"R{n:03d}"):
                api.put(f"/representatives/{rep}/accounts/A{n:03d}")
                api.put(f"/representatives/{rep}/accounts/A000")
                api.put(f"/representatives/{rep}/documents/D{n:03d}")
                api.put(f"/representatives/{rep}/documents/D000")

    grow(3)
    few = count_statements(lambda: api.get(path))
    grow(40)
    many = count_statements(lambda: api.get(path))
    assert few == many, (few, many)
    # API key (uncached in tests) + record + per link kind: the archived targets (a partial
    # index of the few archived records), the count and the page
    assert many <= 8


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_a_link_takes_no_body_but_an_empty_object(api, records, method):
    """Like archive: a body naming fields is refused (422 naming them), nothing linked."""
    path = "/representatives/REP-1/accounts/ACCT-1"
    if method == "DELETE":
        assert api.put(path).status_code == 200
    before = RepresentativeAccount.select().count()
    assert_problem(api.request(method, path, json={"colour": "red"}), 422, "validation-error",
                   ["#/colour"])
    assert RepresentativeAccount.select().count() == before
    assert api.request(method, path, json={}).status_code in (200, 204)
