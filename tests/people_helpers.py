"""Shared by the matching tests: an account's contacts written and read back directly."""
from app.models import Contact

UPSERT = "/accounts/ACCT-1/contacts/upsert"


def contact(api, reference, **fields):
    """PUT a contact of ACCT-1 (language en) and return its reference."""
    body = {"account_number": "ACCT-1", "language": "en", **fields}
    assert api.put(f"/contacts/{reference}", json=body).status_code == 201
    return reference


def stored(reference):
    """The stored contact row."""
    return Contact.get(Contact.reference == reference)
