"""Shared by the matching tests: an account's contacts written and read back directly, and
random names with random edits of them."""
from app.resources.contacts import Contact

UPSERT = "/accounts/ACCT-1/contacts/upsert"


def contact(api, reference, **fields):
    """PUT a contact of ACCT-1 (language en) and return its reference."""
    body = {"account_number": "ACCT-1", "language": "en", **fields}
    assert api.put(f"/contacts/{reference}", json=body).status_code == 201
    return reference


def stored(reference):
    """The stored contact row."""
    return Contact.get(Contact.reference == reference)


NAME_ALPHABET = "abcdeé ñ"


def random_edit(rng, text, alphabet=NAME_ALPHABET):
    """`text` with 0 to 2 random insertions, substitutions or deletions (never empty)."""
    for _ in range(rng.randint(0, 2)):
        at = rng.randrange(len(text) + 1)
        kind = rng.choice("isd")
        text = (text[:at] + rng.choice(alphabet) + text[at + (kind == "s"):]
                if kind != "d" else text[:at] + text[at + 1:])
    return text or "a"
