"""Issue 20, points 6 and 7: how addresses and names compare (SPEC 5, matching rules in detail).

Email local parts compare case-insensitively, one character for one character,
after NFC: no fold turns one address into another (ß is not ss). Names and
emails compare in NFC wherever matching, email events or `q` compare them,
while the stored text keeps what the caller sent.
"""
import unicodedata
from urllib.parse import quote

import pytest

from app.resources.contacts import Contact
from app.resources.representatives import Representative
from app.services.emails import email_key
from people_helpers import UPSERT, contact, stored

NFD_ZOE, NFC_ZOE = "Zoe\u0308 Li", "Zo\u00eb Li"


@pytest.fixture
def account(api):
    assert api.put("/accounts/ACCT-1", json={"name": "Acme"}).status_code == 201
    return api


# -- point 6: case-insensitive, never folded -------------------------------------------------

@pytest.mark.parametrize("stored_email, sent, same", [
    ("strasse@beispiel.de", "straße@beispiel.de", False),    # ß is not ss
    ("straße@beispiel.de", "STRAẞE@beispiel.de", True),      # ẞ is the capital of ß
    ("sam@beispiel.de", "\u017fam@beispiel.de", False),      # long s is not s
    ("office@beispiel.de", "o\ufb03ce@beispiel.de", False),  # the ffi ligature is not ffi
    ("theta@beispiel.de", "\u03f4heta@beispiel.de", False),  # theta symbol: not a case pair
    ("dzung@beispiel.de", "\u01c5ung@beispiel.de", False),   # a titlecase digraph is not dz
    ("jose@beispiel.de", "JOSE@BEISPIEL.DE", True),
    ("josé@beispiel.de", "JOSÉ@beispiel.de", True),
    ("σοφία@beispiel.gr", "ΣΟΦΊΑ@beispiel.gr", True),         # Greek capitals and small letters
    ("kai@beispiel.de", "\u212aai@beispiel.de", True),       # NFC makes the Kelvin sign K
])
def test_local_parts_compare_case_insensitively_without_folding(account, stored_email, sent,
                                                                same):
    contact(account, "C1", name="First Person", email=stored_email)
    answer = account.put(UPSERT, json={"name": "Second Human", "email": sent, "language": "de"})
    body = answer.get_json()
    if same:
        assert answer.status_code == 200, body
        assert (body["reference"], body["matched_by"]) == ("C1", "email")
        assert body["email"] == sent  # an email match applies every field sent
    else:
        assert answer.status_code == 201, body
        assert body["reference"] != "C1" and body["matched_by"] is None
        assert body["email"] == sent
        assert stored("C1").email == stored_email and stored("C1").version == 1
    assert Contact.select().count() == (1 if same else 2)


def test_the_key_is_one_character_per_character():
    """Every letter keeps its length: the key never merges more than a case pair."""
    for local in ("straße", "STRAẞE", "ǅ", "İstanbul", "ﬃ", "ſ"):
        assert len(email_key(f"{local}@x.example").partition("@")[0]) == len(
            unicodedata.normalize("NFC", local))
    assert email_key("Straße@Beispiel.DE") == email_key("STRAẞE@beispiel.de") == \
        "straße@beispiel.de"
    assert email_key("İ@x.example") != email_key("i@x.example")


def test_email_events_use_the_same_rule(account):
    contact(account, "SS", name="Ann", email="strasse@beispiel.de")
    contact(account, "SZ", name="Bea", email="straße@beispiel.de")
    contact(account, "NFC", name="José", email="josé@beispiel.de")
    result = account.post("/email-events", json={"events": [
        {"email": "STRAẞE@beispiel.de", "type": "bounced", "occurred_at": "2026-03-01T00:00:00Z"},
        {"email": "jose\u0301@beispiel.de", "type": "complained",
         "occurred_at": "2026-03-01T00:00:00Z"}]})
    body = result.get_json()
    assert result.status_code == 200 and (body["applied"], body["unmatched"]) == (2, 0), body
    assert account.get("/contacts/SZ").get_json()["email_status"] == "bounced"
    assert account.get("/contacts/NFC").get_json()["email_status"] == "complained"
    untouched = account.get("/contacts/SS").get_json()
    assert (untouched["email_status"], untouched["version"]) == ("valid", 1)


def test_party_routing_and_its_match_use_the_same_rule(account, tenant):
    tenant.internal_domains = ["acme.example", "xn--bcher-kva.de"]
    tenant.save()
    account.put("/representatives/R1", json={"name": "Rita Strasse",
                                             "email": "strasse@acme.example"})
    answer = account.put("/accounts/ACCT-1/party/upsert", json={
        "name": "Rüdiger Neu", "email": "straße@acme.example", "language": "de"})
    body = answer.get_json()
    assert answer.status_code == 201 and body["party_type"] == "representative", body
    assert body["record"]["reference"] != "R1" and body["matched_by"] is None
    assert Representative.get(Representative.reference == "R1").email == "strasse@acme.example"
    # an internal domain written in NFD is still the tenant's own
    routed = account.put("/accounts/ACCT-1/party/upsert", json={
        "name": "Anna", "email": "anna@bu\u0308cher.de", "language": "de"}).get_json()
    assert routed["party_type"] == "representative"
    assert routed["record"]["email"] == "anna@bu\u0308cher.de"  # stored as sent


# -- point 7: NFC everywhere matching compares, stored text as sent --------------------------

def test_an_nfd_name_matches_its_nfc_form(account):
    contact(account, "C1", name=NFC_ZOE)
    answer = account.put(UPSERT, json={"name": NFD_ZOE, "title": "CFO"})
    body = answer.get_json()
    assert answer.status_code == 200, body
    assert (body["reference"], body["matched_by"], body["distance"]) == ("C1", "name", 0)
    assert body["title"] == "CFO" and body["name"] == NFC_ZOE
    assert Contact.select().count() == 1


def test_an_nfd_accent_is_not_two_edits(account):
    contact(account, "C1", name="José Ramos")
    body = account.put(UPSERT, json={"name": "Jose\u0301 Ramo"}).get_json()
    assert (body["reference"], body["matched_by"], body["distance"]) == ("C1", "name", 1)


def test_an_nfd_email_matches_its_nfc_form(account):
    contact(account, "C1", name="José", email="josé@beispiel.de")
    answer = account.put(UPSERT, json={"email": "JOSE\u0301@beispiel.de", "title": "CFO"})
    body = answer.get_json()
    assert answer.status_code == 200, body
    assert (body["reference"], body["matched_by"]) == ("C1", "email")
    assert body["email"] == "JOSE\u0301@beispiel.de" and stored("C1").title == "CFO"
    assert body["email_status"] == "valid"


def test_an_nfc_name_matches_a_name_stored_in_nfd(account):
    contact(account, "C1", name=NFD_ZOE)
    assert stored("C1").name == NFD_ZOE  # the stored text keeps what the caller sent
    body = account.put(UPSERT, json={"name": NFC_ZOE, "title": "CFO"}).get_json()
    assert (body["reference"], body["matched_by"], body["distance"]) == ("C1", "name", 0)


def test_q_finds_either_form(account):
    contact(account, "NFC", name=NFC_ZOE)
    contact(account, "NFD", name="Zoe\u0308 Ng")
    for q in ("zoë", "ZOE\u0308"):
        found = account.get(f"/contacts?q={quote(q)}").get_json()["items"]
        assert sorted(item["reference"] for item in found) == ["NFC", "NFD"], q
    assert account.get("/contacts/NFD").get_json()["name"] == "Zoe\u0308 Ng"
