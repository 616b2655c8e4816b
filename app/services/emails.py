"""How addresses compare: one normal form for matching, email events and internal domains."""
import idna


def email_domain(email):
    """The address's domain in its ASCII (IDNA) form, lower-cased; None when it has none."""
    if not email or "@" not in email:
        return None
    domain = email.rpartition("@")[2].strip().rstrip(".").lower()
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return domain


def email_key(email):
    """The address as matching compares it: local part casefolded, domain in IDNA form.

    Anna@BÜCHER.de, anna@bücher.de and anna@xn--bcher-kva.de are one address.
    """
    if not email:
        return None
    local = email.strip().rpartition("@")[0]
    return f"{local.casefold()}@{email_domain(email)}"
