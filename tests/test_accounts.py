"""Accounts: the five verbs, field rules, hierarchy and conditional requests."""
import pytest

from app.resources.accounts import Account
from helpers import assert_problem

FULL = {
    "name": "  Acme Corp  ",
    "display_reference": "ACME",
    "currency": "usd",
    "language": "EN",
    "email": "billing@acme.example",
    "phone": "+1 404 555 0100",
    "mobile_phone": "+1 404 555 0101",
    "fax": "+1 404 555 0102",
    "billing_address": {"address1": "1 Main St", "city": "Atlanta", "state": "GA",
                        "zip": "30301", "country": "us"},
    "payment_terms": "NET30",
    "credit_limit": "1234567890123.1234",
    "account_group": "key-accounts",
    "description": "Our biggest customer",
    "vat": "US123",
    "company_registration_number": "REG-1",
    "custom_fields": {"segment": "enterprise", "score": 7, "ratio": 0.25, "vip": True, "x": None},
}


def test_put_creates_with_normalised_fields(api):
    response = api.put("/accounts/ACCT-1", json=FULL)
    assert response.status_code == 201
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == "/api/v1/ingest/accounts/ACCT-1"
    body = response.get_json()
    assert body["account_number"] == "ACCT-1"
    assert body["name"] == "Acme Corp"
    assert body["currency"] == "USD"
    assert body["language"] == "en"
    assert body["billing_address"] == {"address1": "1 Main St", "address2": None,
                                       "city": "Atlanta", "state": "GA", "zip": "30301",
                                       "country": "US"}
    assert body["credit_limit"] == "1234567890123.1234"
    # null means "no such key" in custom_fields, in PUT as in PATCH
    assert body["custom_fields"] == {"segment": "enterprise", "score": 7, "ratio": 0.25,
                                     "vip": True}
    assert body["parent_account_number"] is None
    assert body["version"] == 1
    assert body["created_at"] == body["updated_at"]
    assert body["created_at"].endswith("Z")
    stored = Account.get(Account.account_number == "ACCT-1")
    assert str(stored.credit_limit) == "1234567890123.1234"


def test_every_field_is_returned_null_when_unset(api):
    body = api.put("/accounts/A", json={"name": "Bare"}).get_json()
    for field in ("display_reference", "currency", "language", "email", "phone", "mobile_phone",
                  "fax", "billing_address", "payment_terms", "credit_limit", "account_group",
                  "parent_account_number", "description", "vat", "company_registration_number"):
        assert field in body and body[field] is None, field
    assert body["custom_fields"] == {}


def test_identical_put_changes_nothing(api):
    first = api.put("/accounts/A", json=FULL).get_json()
    again = api.put("/accounts/A", json=FULL)
    assert again.status_code == 200
    assert again.get_json() == first
    assert again.headers["ETag"] == '"1"'


def test_get_body_can_be_put_back_unchanged(api):
    api.put("/accounts/A", json=FULL)
    fetched = api.get("/accounts/A")
    assert fetched.status_code == 200 and fetched.headers["ETag"] == '"1"'
    again = api.put("/accounts/A", json=fetched.get_json())
    assert again.status_code == 200
    assert again.get_json() == fetched.get_json()


def test_put_replaces_and_absent_fields_become_null(api):
    api.put("/accounts/A", json=FULL)
    response = api.put("/accounts/A", json={"name": "Renamed"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["version"] == 2 and response.headers["ETag"] == '"2"'
    assert body["name"] == "Renamed"
    assert body["currency"] is None and body["billing_address"] is None
    assert body["custom_fields"] == {}
    assert body["updated_at"] > body["created_at"]


def test_post_creates_then_conflicts(api):
    response = api.post("/accounts/A", json={"name": "Acme"})
    assert response.status_code == 201
    assert response.get_json()["version"] == 1
    body = assert_problem(api.post("/accounts/A", json={"name": "Other"}), 409, "conflict")
    assert "PUT" in body["detail"] and "PATCH" in body["detail"]
    assert api.get("/accounts/A").get_json()["name"] == "Acme"


def test_get_missing_is_404(api):
    assert_problem(api.get("/accounts/nope"), 404, "not-found")


def test_keys_are_case_sensitive_and_unicode(api):
    assert api.put("/accounts/a-1", json={"name": "lower"}).status_code == 201
    assert api.put("/accounts/A-1", json={"name": "upper"}).status_code == 201
    assert api.put("/accounts/Kunde Ölmühle №7", json={"name": "unicode"}).status_code == 201
    assert api.get("/accounts/a-1").get_json()["name"] == "lower"
    assert api.get("/accounts/Kunde%20%C3%96lm%C3%BChle%20%E2%84%967").get_json()["name"] == "unicode"


# %C3%28 is invalid UTF-8, which Werkzeug decodes to U+FFFD: the bytes sent decide
# (regression). U+FFFD itself, sent as UTF-8, is a key like any other.
@pytest.mark.parametrize("key", ["%20lead", "trail%20", "x" * 129, "bad%01ctrl", "..", "tab%09",
                                 "%C3%28", "%E2%80%8Bzwsp", "nbsp%C2%A0", "%E2%80%AEbidi"])
def test_bad_path_keys_are_422(api, key):
    body = assert_problem(api.put(f"/accounts/{key}", json={"name": "x"}), 422, "validation-error")
    assert body["errors"][0]["parameter"] == "account_number"
    assert Account.select().count() == 0


def test_keys_take_any_character_the_rule_does_not_exclude(api):
    """Unassigned and private-use code points, U+FFFD and inner non-breaking spaces are
    keys (the excluded set is fixed, not the interpreter's Unicode tables)."""
    for key in ["\ufffd", "a\u00a0b", "\U000e0100x", "\ue000", "\U0010fffd", "\u0378"]:
        assert api.put(f"/accounts/{key}", json={"name": "x"}).status_code == 201, repr(key)
        assert api.get(f"/accounts/{key}").get_json()["account_number"] == key


def test_longest_key_is_accepted(api):
    assert api.put("/accounts/" + "k" * 128, json={"name": "x"}).status_code == 201


def test_patch_changes_only_fields_present(api):
    api.put("/accounts/A", json=FULL)
    response = api.patch("/accounts/A", json={"phone": "123", "description": None})
    assert response.status_code == 200
    body = response.get_json()
    assert body["phone"] == "123" and body["description"] is None
    assert body["email"] == FULL["email"] and body["version"] == 2


def test_patch_merges_objects_key_by_key(api):
    api.put("/accounts/A", json=FULL)
    body = api.patch("/accounts/A", json={
        "billing_address": {"city": "Savannah", "state": None},
        "custom_fields": {"segment": None, "new": "yes"}}).get_json()
    assert body["billing_address"]["city"] == "Savannah"
    assert body["billing_address"]["state"] is None
    assert body["billing_address"]["address1"] == "1 Main St"
    assert body["custom_fields"] == {"score": 7, "ratio": 0.25, "vip": True, "new": "yes"}


def test_patch_empty_string_clears_and_null_object_clears(api):
    api.put("/accounts/A", json=FULL)
    body = api.patch("/accounts/A", json={"email": "  ", "billing_address": None,
                                          "custom_fields": None}).get_json()
    assert body["email"] is None and body["billing_address"] is None
    assert body["custom_fields"] == {}


def test_patch_that_changes_nothing_keeps_version(api):
    first = api.put("/accounts/A", json=FULL).get_json()
    response = api.patch("/accounts/A", json={"name": "Acme Corp", "currency": "USD"})
    assert response.status_code == 200
    assert response.get_json()["version"] == 1
    assert response.get_json()["updated_at"] == first["updated_at"]


def test_patch_cannot_clear_a_required_field(api):
    api.put("/accounts/A", json={"name": "Acme"})
    assert_problem(api.patch("/accounts/A", json={"name": None}), 422, "validation-error",
                   ["#/name"])
    assert_problem(api.patch("/accounts/A", json={"name": ""}), 422, "validation-error",
                   ["#/name"])
    assert api.get("/accounts/A").get_json()["name"] == "Acme"


def test_patch_missing_is_404(api):
    assert_problem(api.patch("/accounts/none", json={"name": "x"}), 404, "not-found")


def test_read_only_fields_are_ignored_on_input(api):
    response = api.put("/accounts/A", json={
        "name": "Acme", "account_number": "OTHER", "version": 99,
        "created_at": "2000-01-01T00:00:00Z", "updated_at": "x"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["account_number"] == "A" and body["version"] == 1


@pytest.mark.parametrize("body, pointers", [
    ({}, ["#/name"]),
    ({"name": ""}, ["#/name"]),
    ({"name": None}, ["#/name"]),
    ({"name": "x" * 256}, ["#/name"]),
    ({"name": "x", "unknown": 1, "other": 2}, ["#/unknown", "#/other"]),
    ({"name": "x", "language": "xx"}, ["#/language"]),
    ({"name": "x", "language": "eng"}, ["#/language"]),
    ({"name": "x", "currency": "ABC"}, ["#/currency"]),
    ({"name": "x", "currency": 840}, ["#/currency"]),
    ({"name": "x", "email": "not-an-email"}, ["#/email"]),
    ({"name": "x", "email": "a" * 250 + "@b.com"}, ["#/email"]),
    ({"name": "x", "phone": "1" * 51}, ["#/phone"]),
    ({"name": "x", "payment_terms": "p" * 101}, ["#/payment_terms"]),
    ({"name": "x", "description": "d" * 4001}, ["#/description"]),
    ({"name": "x", "credit_limit": -1}, ["#/credit_limit"]),
    ({"name": "x", "credit_limit": "12345678901234"}, ["#/credit_limit"]),
    ({"name": "x", "credit_limit": "1.23456"}, ["#/credit_limit"]),
    # regression: 40 digits made decimal.quantize raise (500) before the digit check
    ({"name": "x", "credit_limit": "1" * 40}, ["#/credit_limit"]),
    ({"name": "x", "credit_limit": "abc"}, ["#/credit_limit"]),
    ({"name": "x", "credit_limit": "1e5"}, ["#/credit_limit"]),
    ({"name": "x", "credit_limit": True}, ["#/credit_limit"]),
    ({"name": "x", "billing_address": {"country": "XX", "planet": "Mars"}},
     ["#/billing_address/country", "#/billing_address/planet"]),
    ({"name": "x", "billing_address": "Main St"}, ["#/billing_address"]),
    ({"name": "x", "custom_fields": {"bad key": 1}}, ["#/custom_fields/bad key"]),
    ({"name": "x", "custom_fields": {"nested": {"a": 1}}}, ["#/custom_fields/nested"]),
    ({"name": "x", "custom_fields": {"list": [1]}}, ["#/custom_fields/list"]),
    ({"name": "x", "custom_fields": {"s": "v" * 1001}}, ["#/custom_fields/s"]),
    ({"name": "x", "custom_fields": {f"k{i}": i for i in range(51)}}, ["#/custom_fields"]),
    ({"name": "x", "custom_fields": []}, ["#/custom_fields"]),
    ({"name": "x", "parent_account_number": "x" * 129}, ["#/parent_account_number"]),
])
def test_invalid_bodies_name_each_field(api, body, pointers):
    assert_problem(api.put("/accounts/A", json=body), 422, "validation-error", pointers)
    assert Account.select().count() == 0


def test_amounts_accept_numbers_and_strings_exactly(api):
    for sent, returned in [(12, "12.00"), ("0.1", "0.10"), ("-0", "0.00"), (" 7.5 ", "7.50"),
                           ("9999999999999.9999", "9999999999999.9999")]:
        body = api.put("/accounts/A", json={"name": "x", "credit_limit": sent}).get_json()
        assert body["credit_limit"] == returned, sent
    raw = api.put("/accounts/B", data='{"name": "x", "credit_limit": 1234567890123.1234}',
                  headers={"Content-Type": "application/json"})
    assert raw.get_json()["credit_limit"] == "1234567890123.1234"


def test_parent_must_exist_in_same_tenant(api, other_api):
    other_api.put("/accounts/THEIRS", json={"name": "Other tenant"})
    assert_problem(api.put("/accounts/A", json={"name": "x", "parent_account_number": "THEIRS"}),
                   422, "validation-error", ["#/parent_account_number"])
    assert_problem(api.put("/accounts/A", json={"name": "x", "parent_account_number": "A"}),
                   422, "validation-error", ["#/parent_account_number"])


def test_parent_cycles_are_refused(api):
    api.put("/accounts/ROOT", json={"name": "root"})
    api.put("/accounts/MID", json={"name": "mid", "parent_account_number": "ROOT"})
    api.put("/accounts/LEAF", json={"name": "leaf", "parent_account_number": "MID"})
    body = assert_problem(api.patch("/accounts/ROOT", json={"parent_account_number": "LEAF"}),
                          422, "validation-error", ["#/parent_account_number"])
    assert "cycle" in body["errors"][0]["detail"]
    assert api.get("/accounts/ROOT").get_json()["parent_account_number"] is None
    other = api.put("/accounts/OTHER", json={"name": "o"})
    assert other.status_code == 201
    assert api.patch("/accounts/ROOT", json={"parent_account_number": "OTHER"}).status_code == 200


def test_delete_then_gone(api):
    api.put("/accounts/A", json={"name": "x"})
    response = api.delete("/accounts/A")
    assert response.status_code == 204 and response.get_data() == b""
    assert_problem(api.get("/accounts/A"), 404, "not-found")
    assert_problem(api.delete("/accounts/A"), 404, "not-found")


def test_delete_refused_while_depended_on(api):
    api.put("/accounts/P", json={"name": "parent"})
    api.put("/accounts/C1", json={"name": "child", "parent_account_number": "P"})
    api.put("/contacts/K1", json={"account_number": "P", "name": "Kim"})
    api.put("/contacts/K2", json={"account_number": "P", "name": "Lee"})
    body = assert_problem(api.delete("/accounts/P"), 409, "conflict")
    assert "2 contacts" in body["detail"] and "1 child account" in body["detail"]
    assert body["dependents"] == {"contacts": 2, "child accounts": 1}
    assert api.get("/accounts/P").status_code == 200


def test_if_match(api):
    api.put("/accounts/A", json={"name": "v1"})
    api.put("/accounts/A", json={"name": "v2"})
    stale = assert_problem(api.put("/accounts/A", json={"name": "v3"},
                                   headers={"If-Match": '"1"'}), 412, "precondition-failed")
    assert stale["status"] == 412
    response = api.put("/accounts/A", json={"name": "v3"}, headers={"If-Match": '"1"'})
    assert response.headers["ETag"] == '"2"'
    ok = api.put("/accounts/A", json={"name": "v3"}, headers={"If-Match": '"2"'})
    assert ok.status_code == 200 and ok.headers["ETag"] == '"3"'
    assert_problem(api.patch("/accounts/A", json={"name": "v4"}, headers={"If-Match": '"2"'}),
                   412, "precondition-failed")
    assert api.patch("/accounts/A", json={"name": "v4"},
                     headers={"If-Match": 'W/"3"'}).status_code == 200
    assert_problem(api.delete("/accounts/A", headers={"If-Match": '"3"'}),
                   412, "precondition-failed")
    assert api.delete("/accounts/A", headers={"If-Match": '"4"'}).status_code == 204


def test_if_match_on_missing_record_put(api):
    assert_problem(api.put("/accounts/NEW", json={"name": "x"}, headers={"If-Match": '"1"'}),
                   412, "precondition-failed")
    assert Account.select().count() == 0


def test_if_none_match_star(api):
    created = api.put("/accounts/A", json={"name": "x"}, headers={"If-None-Match": "*"})
    assert created.status_code == 201
    response = api.put("/accounts/A", json={"name": "y"}, headers={"If-None-Match": "*"})
    assert_problem(response, 412, "precondition-failed")
    assert response.headers["ETag"] == '"1"'
    assert api.get("/accounts/A").get_json()["name"] == "x"


def test_if_none_match_with_versions(api):
    api.put("/accounts/A", json={"name": "x"})
    assert_problem(api.put("/accounts/A", json={"name": "y"}, headers={"If-None-Match": '"1"'}),
                   412, "precondition-failed")
    assert api.put("/accounts/A", json={"name": "y"},
                   headers={"If-None-Match": '"7", W/"8"'}).status_code == 200
    assert api.put("/accounts/B", json={"name": "y"},
                   headers={"If-None-Match": "garbage"}).status_code == 201


@pytest.mark.parametrize("header", ['""', 'W/"", W/"x"', '"abc"'])
def test_empty_or_odd_entity_tags_match_no_version(api, header):
    # regression: Werkzeug parses "" as None, which made the parser raise (500)
    api.put("/accounts/A", json={"name": "x"})
    assert_problem(api.patch("/accounts/A", json={"name": "y"}, headers={"If-Match": header}),
                   412, "precondition-failed")
    assert api.put("/accounts/A", json={"name": "y"},
                   headers={"If-None-Match": header}).status_code == 200
