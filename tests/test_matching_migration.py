"""Migration 11: stored matching keys and search texts re-derived under the NFC, unfolded rules."""
import datetime

from app.migrations import MIGRATIONS
from app.models import EmailStatus
from app.resources.contacts import Contact

UPSERT = "/accounts/ACCT-1/contacts/upsert"


def _migration_11():
    return next(apply for version, _, apply in MIGRATIONS if version == 11)


def _as_before(reference, email_key, name_key, search_text):
    """Put back the keys the old rules (casefold, no NFC) stored."""
    Contact.update(email_key=email_key, name_key=name_key, name_length=len(name_key),
                   search_text=search_text).where(Contact.reference == reference).execute()


def test_migration_11_rederives_the_keys_of_existing_rows(api, tenant):
    api.put("/accounts/ACCT-1", json={"name": "Acme"})
    api.put("/contacts/SZ", json={"account_number": "ACCT-1", "name": "Zoe\u0308 Stra\u00dfe",
                                  "email": "stra\u00dfe@beispiel.de", "language": "de"})
    _as_before("SZ", "strasse@beispiel.de", "zoe\u0308 strasse", "sz\x1fzoe\u0308 strasse")
    EmailStatus.create(tenant=tenant.id, email_key="jose\u0301@beispiel.de", status="bounced",
                       occurred_at=datetime.datetime(2026, 3, 2))
    EmailStatus.create(tenant=tenant.id, email_key="jos\u00e9@beispiel.de", status="valid",
                       occurred_at=datetime.datetime(2026, 3, 1))
    # Before the migration the old keys answer: strasse is taken for straße.
    assert api.put(UPSERT + "?dry_run=true", json={"email": "strasse@beispiel.de"}).get_json()[
        "would"] == "update"

    _migration_11()()
    _migration_11()()  # safe to run twice

    row = Contact.get(Contact.reference == "SZ")
    assert (row.email_key, row.name_key, row.name_length) == (
        "stra\u00dfe@beispiel.de", "zo\u00eb strasse", 11)
    assert row.name == "Zoe\u0308 Stra\u00dfe" and row.version == 1  # stored text as sent
    assert api.put(UPSERT + "?dry_run=true", json={"email": "strasse@beispiel.de",
                                                   "name": "Someone Else", "language": "de"}
                   ).get_json()["would"] == "create"
    by_name = api.put(UPSERT + "?dry_run=true", json={"name": "Zo\u00eb Strasse"}).get_json()
    assert (by_name["would"], by_name["distance"]) == ("update", 0)
    found = api.get("/contacts?q=zo%C3%AB").get_json()["items"]
    assert [item["reference"] for item in found] == ["SZ"]
    # The NFD status and the older NFC one are one address now: the newer one is kept.
    assert [(s.email_key, s.status) for s in EmailStatus.select()] == [
        ("jos\u00e9@beispiel.de", "bounced")]
    late = api.post("/email-events", json={"events": [
        {"email": "jos\u00e9@beispiel.de", "type": "delivered",
         "occurred_at": "2026-03-01T12:00:00Z"}]}).get_json()
    assert late["stale"] == 1
