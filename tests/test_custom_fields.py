"""Custom fields as ETL data fills them: the key limit holds on the merged record, and a number
is stored only when it comes back as the number sent."""
import json

import pytest

from app.resources.accounts import Account
from helpers import assert_problem

JSON = {"Content-Type": "application/json"}
FIFTY = {f"k{n}": n for n in range(50)}


def test_a_patch_cannot_take_custom_fields_past_fifty_keys(api):
    assert api.put("/accounts/CF-1", json={"name": "x", "custom_fields": FIFTY}).status_code == 201
    body = assert_problem(api.patch("/accounts/CF-1", json={"custom_fields": {"extra": 1}}), 422,
                          "validation-error", ["#/custom_fields"])
    assert "makes 51" in body["errors"][0]["detail"]
    assert len(Account.get(Account.account_number == "CF-1").custom_fields) == 50
    # Replacing a key or removing one is fine at the limit.
    assert api.patch("/accounts/CF-1", json={"custom_fields": {"k0": "new", "k1": None,
                                                               "extra": 1}}).status_code == 200
    answer = api.get("/accounts/CF-1").get_json()
    assert len(answer["custom_fields"]) == 50 and answer["custom_fields"]["k0"] == "new"
    # What GET gave back can be sent back.
    assert api.put("/accounts/CF-1", json=answer).status_code == 200


def test_a_patch_in_a_batch_or_a_matching_upsert_keeps_the_limit(api):
    assert api.put("/accounts/CF-2", json={"name": "x"}).status_code == 201
    assert api.put("/contacts/P-1", json={"account_number": "CF-2", "name": "Ada Lovelace",
                                          "email": "ada@example.com",
                                          "custom_fields": FIFTY}).status_code == 201
    matched = api.put("/accounts/CF-2/contacts/upsert",
                      json={"email": "ada@example.com", "custom_fields": {"extra": 1}})
    assert_problem(matched, 422, "validation-error", ["#/custom_fields"])
    batch = api.post("/contacts:upsert", json={"items": [
        {"account_number": "CF-2", "email": "ada@example.com", "custom_fields": {"more": 2}}]})
    assert batch.status_code == 200
    assert [r["status"] for r in batch.get_json()["results"]] == [422]
    assert len(api.get("/contacts/P-1").get_json()["custom_fields"]) == 50


@pytest.mark.parametrize("literal", [b"1000000000000000000000000000000", b"9223372036854775808",
                                     b"-9223372036854775809"])
def test_an_integer_beyond_64_bits_is_refused_not_turned_into_a_float(api, literal):
    body = b'{"name": "x", "custom_fields": {"big": ' + literal + b"}}"
    response = api.put("/accounts/CF-3", data=body, headers=JSON)
    problem = assert_problem(response, 422, "validation-error", ["#/custom_fields/big"])
    assert "string" in problem["errors"][0]["detail"]


def test_numbers_that_are_stored_come_back_as_sent(api):
    body = b'{"name": "x", "custom_fields": {"a": 9223372036854775807, "b": 1e30, "c": 0.1}}'
    assert api.put("/accounts/CF-4", data=body, headers=JSON).status_code == 201
    stored = json.loads(api.get("/accounts/CF-4").get_data())["custom_fields"]
    assert stored == {"a": 9223372036854775807, "b": 1e30, "c": 0.1}
    assert isinstance(stored["a"], int) and isinstance(stored["b"], float)
