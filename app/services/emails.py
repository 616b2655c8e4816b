"""How addresses compare: one normal form for matching, email events and internal domains.

An address compares in Unicode NFC. Its domain compares as DNS does: in its
IDNA (UTS 46) ASCII form, so `BÜCHER.de`, `bücher.de` and `xn--bcher-kva.de`
are one domain. Its local part compares case-insensitively, but never folded:
each character is replaced by its lower case only when that is one character
and the pair is a true case pair (its upper case is the character again, or
has no one-character upper case at all, as for ß). So `Straße` and `STRAẞE`
are one local part, while `straße` and `strasse`, `ſam` and `sam`, `ﬃ` and
`ffi`, `ǅ` and `ǆ`, `İ` and `i` stay apart: the key has exactly as many
characters as the NFC local part, and no two local parts share a key unless
they differ in the case of some letters. (The KELVIN SIGN is, by Unicode's own
definition, canonically equivalent to `K`: NFC makes it `K`, so it compares
like `K` and `k`.)
"""
import functools
import unicodedata

import idna


def nfc(text):
    """The text in Unicode Normalization Form C (None stays None)."""
    return unicodedata.normalize("NFC", text) if text else text


@functools.lru_cache(maxsize=4096)
def _lower_case_pair(char):
    lower = char.lower()
    if len(lower) == 1 and (lower.upper() == char or len(lower.upper()) > 1):
        return lower
    return char


def local_part_key(local):
    """A local part as addresses compare it: NFC, each letter of a case pair in lower case."""
    if local.isascii():
        return local.lower()
    return nfc("".join(map(_lower_case_pair, nfc(local))))


def email_domain(email):
    """The address's domain in its ASCII (IDNA) form, lower-cased; None when it has none."""
    if not email or "@" not in email:
        return None
    domain = nfc(email.rpartition("@")[2].strip().rstrip("."))
    if domain.isascii():
        return domain.lower()
    try:  # UTS 46 maps case itself (and keeps ß: the non-transitional mapping)
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return domain.lower()


def email_key(email):
    """The address as matching, email events and routing compare it (see the module's rule)."""
    if not email:
        return None
    local = email.strip().rpartition("@")[0]
    return f"{local_part_key(local)}@{email_domain(email)}"
