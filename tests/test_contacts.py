"""Contacts: name forms, the primary contact, account references and email status."""
import pytest
from marshmallow import fields

from app.resources.contacts import Contact, ContactResource
from helpers import assert_problem
from schemas.contacts import ContactSchema


@pytest.fixture
def account(api):
    assert api.put("/accounts/ACCT-1", json={"name": "Acme"}).status_code == 201
    assert api.put("/accounts/ACCT-2", json={"name": "Globex"}).status_code == 201
    return "ACCT-1"


def test_seed_example_creates_contact(api, account):
    response = api.post("/contacts/CONTACT-001", json={
        "account_number": "ACCT-1", "first_name": "John", "last_name": "Doe",
        "email": "jdoe@acmecorp.com", "phone": "404-555-0100", "is_primary": True})
    assert response.status_code == 201
    body = response.get_json()
    assert body["reference"] == "CONTACT-001"
    assert body["full_name"] == "John Doe" and body["name"] is None
    assert body["is_primary"] is True
    assert body["email_status"] == "valid"
    for field in ("function", "fax", "title", "department", "contact_type", "language",
                  "address1", "address2", "city", "state", "zip", "country", "notes"):
        assert body[field] is None, field


def test_all_fields_round_trip(api, account):
    sent = {"account_number": "ACCT-1", "name": "Dr. Ann Smith", "function": "accountant",
            "email": "Ann@Acme.example", "phone": "1", "mobile_phone": "2", "fax": "3",
            "title": "CFO", "department": "Finance", "contact_type": "billing",
            "language": "DE", "address1": "Hauptstr. 1", "address2": "2. OG", "city": "Berlin",
            "state": "BE", "zip": "10115", "country": "de", "notes": "Prefers email",
            "is_primary": False, "custom_fields": {"crm_id": "C-9"}}
    body = api.put("/contacts/C", json=sent).get_json()
    assert body["language"] == "de" and body["country"] == "DE"
    assert body["full_name"] == "Dr. Ann Smith"
    again = api.put("/contacts/C", json=body)
    assert again.status_code == 200 and again.get_json()["version"] == 1


def test_name_forms_are_exclusive_in_one_body(api, account):
    assert_problem(api.put("/contacts/C", json={"name": "A", "first_name": "B"}),
                   422, "validation-error", ["#/name"])
    assert_problem(api.put("/contacts/C", json={"name": "A", "last_name": "B"}),
                   422, "validation-error", ["#/name"])
    assert Contact.select().count() == 0


def test_patch_setting_one_name_form_clears_the_other(api, account):
    api.put("/contacts/C", json={"first_name": "John", "last_name": "Doe"})
    body = api.patch("/contacts/C", json={"name": "Johnny D"}).get_json()
    assert (body["name"], body["first_name"], body["last_name"]) == ("Johnny D", None, None)
    body = api.patch("/contacts/C", json={"last_name": "Dough"}).get_json()
    assert (body["name"], body["first_name"], body["last_name"]) == (None, None, "Dough")
    assert body["full_name"] == "Dough"
    assert_problem(api.patch("/contacts/C", json={"name": "X", "first_name": "Y"}),
                   422, "validation-error", ["#/name"])


def test_account_must_exist_in_same_tenant(api, other_api, account):
    other_api.put("/accounts/THEIRS", json={"name": "theirs"})
    for number in ("NOPE", "THEIRS"):
        body = assert_problem(api.put("/contacts/C", json={"account_number": number}),
                              422, "validation-error", ["#/account_number"])
        assert number in body["errors"][0]["detail"]
    assert Contact.select().count() == 0


def test_contact_without_account_is_allowed(api):
    body = api.put("/contacts/LOOSE", json={"name": "Free agent"}).get_json()
    assert body["account_number"] is None


def test_primary_needs_an_account(api):
    assert_problem(api.put("/contacts/C", json={"name": "x", "is_primary": True}),
                   422, "validation-error", ["#/is_primary"])


@pytest.mark.parametrize("value", ["true", 1, 0, "yes"])
def test_is_primary_must_be_a_boolean(api, account, value):
    assert_problem(api.put("/contacts/C", json={"account_number": account, "is_primary": value}),
                   422, "validation-error", ["#/is_primary"])


def test_one_primary_per_account(api, account):
    api.put("/contacts/A", json={"account_number": "ACCT-1", "name": "A", "is_primary": True})
    api.put("/contacts/OTHER", json={"account_number": "ACCT-2", "name": "O", "is_primary": True})
    response = api.put("/contacts/B", json={"account_number": "ACCT-1", "name": "B",
                                            "is_primary": True})
    assert response.status_code == 201 and response.get_json()["is_primary"] is True
    previous = api.get("/contacts/A").get_json()
    assert previous["is_primary"] is False and previous["version"] == 2
    assert api.get("/contacts/OTHER").get_json()["is_primary"] is True
    primaries = Contact.select().where(Contact.account_number == "ACCT-1", Contact.is_primary)
    assert [c.reference for c in primaries] == ["B"]


def test_repeating_the_primary_changes_nothing(api, account):
    body = {"account_number": "ACCT-1", "name": "A", "is_primary": True}
    api.put("/contacts/A", json=body)
    again = api.put("/contacts/A", json=body)
    assert again.status_code == 200 and again.get_json()["version"] == 1


def test_patch_to_primary_and_moving_accounts(api, account):
    api.put("/contacts/A", json={"account_number": "ACCT-1", "name": "A", "is_primary": True})
    api.put("/contacts/B", json={"account_number": "ACCT-1", "name": "B"})
    api.put("/contacts/Z", json={"account_number": "ACCT-2", "name": "Z", "is_primary": True})
    assert api.patch("/contacts/B", json={"is_primary": True}).get_json()["is_primary"] is True
    assert api.get("/contacts/A").get_json()["is_primary"] is False
    moved = api.patch("/contacts/B", json={"account_number": "ACCT-2"}).get_json()
    assert moved["is_primary"] is True and moved["account_number"] == "ACCT-2"
    assert api.get("/contacts/Z").get_json()["is_primary"] is False


def test_email_status_follows_email(api, account):
    body = api.put("/contacts/C", json={"name": "x", "email": "a@b.example"}).get_json()
    assert body["email_status"] == "valid"
    Contact.update(email_status="bounced").execute()
    same = api.patch("/contacts/C", json={"email": "A@B.example"}).get_json()
    assert same["email_status"] == "bounced"
    changed = api.patch("/contacts/C", json={"email": "new@b.example"}).get_json()
    assert changed["email_status"] == "valid"
    cleared = api.patch("/contacts/C", json={"email": None}).get_json()
    assert cleared["email_status"] is None
    ignored = api.patch("/contacts/C", json={"email_status": "complained", "full_name": "x"})
    assert ignored.status_code == 200 and ignored.get_json()["email_status"] is None


@pytest.mark.parametrize("body, pointers", [
    ({"language": "english"}, ["#/language"]),
    ({"country": "UK"}, ["#/country"]),
    ({"email": "nope@"}, ["#/email"]),
    ({"title": "t" * 101}, ["#/title"]),
    ({"notes": "n" * 4001}, ["#/notes"]),
    ({"zip": "z" * 51}, ["#/zip"]),
    ({"first_name": 5}, ["#/first_name"]),
    ({"reference_typo": 1}, ["#/reference_typo"]),
])
def test_invalid_contact_fields(api, account, body, pointers):
    assert_problem(api.put("/contacts/C", json=body), 422, "validation-error", pointers)


def test_delete_contact(api, account):
    api.put("/contacts/C", json={"account_number": "ACCT-1", "name": "x"})
    assert api.delete("/accounts/ACCT-1").status_code == 409
    assert api.delete("/contacts/C").status_code == 204
    assert api.delete("/accounts/ACCT-1").status_code == 204


def test_a_schema_field_the_model_cannot_store_stops_the_start():
    """Such a field would be echoed on create, then lost: the resource refuses to exist."""
    class NicknameSchema(ContactSchema):
        nickname = fields.String(allow_none=True, load_default=None)

    class NicknameContacts(ContactResource):
        schema_class = NicknameSchema

    with pytest.raises(TypeError, match="nickname"):
        NicknameContacts()
