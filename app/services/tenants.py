"""Tenants and their API keys: creation, listing, revocation and authentication."""
import datetime
import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass

import idna
from cachetools import TTLCache

from app.db import compiled_sql, database
from app.models import ApiKey, Tenant, utcnow
from app.services.emails import email_domain

SCOPES = ("read", "write")
_KEY_FORMAT = re.compile(r"^ark_([0-9a-f]{16})_([A-Za-z0-9_-]{20,100})$")
_ASCII_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+"
                           r"([a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
_DURATION = re.compile(r"^(\d{1,6})([mhdw])$")
_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class TenantError(ValueError):
    """A tenant or key command that cannot be carried out (unknown name, bad value...)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant and key an API key stands for."""

    tenant_id: int
    key_id: str
    scope: str

    @property
    def can_write(self):
        return self.scope == "write"


def _hash_secret(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def check_label(text, what):
    """A name or label for people to read: printable, one line, at most 255 characters."""
    text = (text or "").strip()
    if not text:
        raise TenantError(f"{what} must not be empty.")
    if not text.isprintable():
        raise TenantError(f"{what} must not contain control characters (newlines, tabs...).")
    if len(text) > 255:
        raise TenantError(f"{what} must be at most 255 characters.")
    return text


def ascii_domain(domain):
    """A domain in its ASCII (IDNA) form, lower-cased: how internal domains are kept."""
    text = domain.strip().rstrip(".").lower()
    try:
        encoded = idna.encode(text, uts46=True).decode("ascii")
    except idna.IDNAError:
        raise TenantError(f"Not a valid domain: {domain!r}.") from None
    if not _ASCII_DOMAIN.match(encoded):
        raise TenantError(f"Not a valid domain: {domain!r}.")
    return encoded


def display_domain(domain):
    """An internal domain as people write it (bücher.de for xn--bcher-kva.de)."""
    try:
        return idna.decode(domain)
    except idna.IDNAError:
        return domain


def is_internal_email(tenant, email):
    """True when the address's domain is one of the tenant's internal domains."""
    return email_domain(email) in set(tenant.internal_domains or ())


def create_tenant(name, internal_domains=()):
    """Create a tenant; internal domains (IDNA, lower-cased) route emails to representatives."""
    name = check_label(name, "A tenant name")
    domains = sorted({ascii_domain(domain) for domain in internal_domains})
    with database.atomic():
        # Names are unique whatever their case; the index on LOWER(name) backs this up
        # against two concurrent commands (migration 5).
        taken = [other for (other,) in Tenant.select(Tenant.name).tuples()
                 if other.casefold() == name.casefold()]
        if taken:
            raise TenantError(f"A tenant named {taken[0]!r} already exists.")
        return Tenant.create(name=name, internal_domains=domains)


def list_tenants():
    """Every tenant, oldest first."""
    return list(Tenant.select().order_by(Tenant.id))


def change_internal_domains(tenant, add=(), remove=()):
    """Add and remove internal domains of a tenant; returns the new list."""
    domains = set(tenant.internal_domains or ())
    domains |= {ascii_domain(domain) for domain in add}
    domains -= {ascii_domain(domain) for domain in remove}
    tenant.internal_domains = sorted(domains)
    tenant.save(only=[Tenant.internal_domains])
    return tenant.internal_domains


def expiry_from(expires_in=None, expires_at=None, now=None):
    """The expiry of a new key from `--expires-in 90d` or `--expires-at 2027-01-31`, or None."""
    now = now or utcnow()
    if expires_in and expires_at:
        raise TenantError("Give --expires-in or --expires-at, not both.")
    if expires_in:
        match = _DURATION.match(expires_in.strip().lower())
        if not match or int(match.group(1)) == 0:
            raise TenantError("--expires-in takes a number and a unit: 30m, 12h, 90d or 8w.")
        return now + datetime.timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})
    if expires_at:
        try:
            moment = datetime.datetime.fromisoformat(expires_at.strip().replace("Z", "+00:00"))
        except ValueError:
            raise TenantError("--expires-at takes a date (2027-01-31) or an ISO 8601 time.") \
                from None
        if moment.tzinfo is not None:
            try:
                moment = moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)
            except OverflowError:
                raise TenantError("--expires-at falls outside the years 1 to 9999 in UTC.") \
                    from None
        if moment <= now:
            raise TenantError("--expires-at must be in the future.")
        return moment
    return None


def key_status(key, now=None):
    """'active', 'revoked' or 'expired'."""
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= (now or utcnow()):
        return "expired"
    return "active"


def find_tenant(name_or_id):
    """A tenant by name, or by numeric id."""
    query = Tenant.select()
    tenant = query.where(Tenant.name == str(name_or_id)).first()
    if tenant is None:
        tenant = next((t for t in query if t.name.casefold() == str(name_or_id).casefold()),
                      None)
    if tenant is None and str(name_or_id).isdigit():
        tenant = query.where(Tenant.id == int(name_or_id)).first()
    if tenant is None:
        raise TenantError(f"No tenant {name_or_id!r}.")
    return tenant


def create_api_key(tenant, scope="write", name=None, expires_at=None):
    """Create a key; returns (ApiKey, plaintext). Only a hash of the secret is stored."""
    if scope not in SCOPES:
        raise TenantError(f"Scope must be one of {', '.join(SCOPES)}.")
    if name is not None:
        name = check_label(name, "A key name")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    row = ApiKey.create(key_id=key_id, tenant=tenant, name=name, scope=scope,
                        secret_hash=_hash_secret(secret), expires_at=expires_at)
    return row, f"ark_{key_id}_{secret}"


def list_api_keys(tenant=None):
    """Keys (never their secrets), optionally of one tenant, oldest first."""
    query = ApiKey.select(ApiKey, Tenant).join(Tenant).order_by(ApiKey.id)
    if tenant is not None:
        query = query.where(ApiKey.tenant == tenant)
    return list(query)


def revoke_api_key(key_id):
    """Revoke a key by its id; every worker refuses it once its cache entry expires."""
    updated = (ApiKey.update(revoked_at=utcnow())
               .where(ApiKey.key_id == key_id, ApiKey.revoked_at.is_null()).execute())
    if not updated and not ApiKey.select().where(ApiKey.key_id == key_id).exists():
        raise TenantError(f"No API key {key_id!r}.")


# The digest an unknown key id's secret is compared with: that of a secret nobody holds, so
# that an unknown id runs the same comparison as a known id with a wrong secret.
_UNKNOWN_KEY_HASH = _hash_secret(secrets.token_urlsafe(32))
_NOT_CACHED = object()


def _key_lookup_sql():
    """One row whether the key id exists or not: the key's, else a stand-in with the digest
    nobody's secret has (`missing` 1). Both take the same path, from the database on."""
    return compiled_sql("api_key_lookup", lambda: (
        "SELECT tenant_id, key_id, scope, secret_hash, expires_at, revoked_at, 0 AS missing "
        f"FROM api_keys WHERE key_id = {database.param} "
        f"UNION ALL SELECT 0, '', '', {database.param}, NULL, NULL, 1 "
        "ORDER BY missing LIMIT 1"))


class KeyAuthenticator:
    """Checks API keys, remembering each lookup, found or not, for a few seconds per process.

    An unknown key id and a known id with a wrong secret cost the same. Lookups are
    remembered by the whole presented key (its id and the digest of its secret), so a caller
    without the secret never meets an entry that the key's real users put in the cache:
    every presented key not seen lately costs one database lookup, whether its id exists or
    not, which answers one row of the same shape either way (`_key_lookup_sql`), and every
    key is checked by the same comparison of digests. A key that passed is trusted
    `cache_seconds` (a revoked key is refused within that time); one that failed is refused
    for `negative_seconds` (at most `cache_seconds`) without asking the database again, so a
    key created meanwhile works after that time. Both caches are bounded, and apart: keys
    that fail cannot push out the keys in use.
    """

    def __init__(self, cache_seconds=5.0, negative_seconds=2.0, max_entries=10_000,
                 timer=time.monotonic):
        negative_seconds = min(negative_seconds, cache_seconds)
        self._passed = (TTLCache(max_entries, cache_seconds, timer=timer)
                        if cache_seconds > 0 else None)
        self._failed = (TTLCache(max_entries, negative_seconds, timer=timer)
                        if negative_seconds > 0 else None)
        self._lock = threading.Lock()  # TTLCache is not thread-safe; gthread workers are

    def authenticate(self, presented):
        """The Principal for a presented key, or None when it is unknown, revoked or expired."""
        match = _KEY_FORMAT.match(presented or "")
        if not match:
            return None
        key_id, secret = match.groups()
        presented_hash = _hash_secret(secret)
        entry = (key_id, presented_hash)
        row = self._remembered(entry)
        if row is _NOT_CACHED:
            row = self.look_up(key_id)
        tenant_id, _, scope, secret_hash, expires_at, revoked_at, missing = row
        passed = hmac.compare_digest(presented_hash, secret_hash) and not missing
        self._remember(entry, row, passed)
        if not passed or revoked_at is not None:
            return None
        expires_at = ApiKey.expires_at.python_value(expires_at)  # text on SQLite
        if expires_at is not None and expires_at <= utcnow():
            return None
        return Principal(tenant_id=tenant_id, key_id=key_id, scope=scope)

    @staticmethod
    def look_up(key_id):
        """The key's row (tenant_id, key_id, scope, secret_hash, expires_at, revoked_at,
        missing): one statement, whether the key exists or not."""
        return database.execute_sql(_key_lookup_sql(), (key_id, _UNKNOWN_KEY_HASH)).fetchone()

    def _remembered(self, entry):
        with self._lock:
            for cache in (self._passed, self._failed):
                if cache is not None:
                    row = cache.get(entry, _NOT_CACHED)
                    if row is not _NOT_CACHED:
                        return row
        return _NOT_CACHED

    def _remember(self, entry, row, passed):
        cache = self._passed if passed else self._failed
        if cache is None:
            return
        with self._lock:
            if entry not in cache:  # an entry's time runs from its lookup, not its last use
                cache[entry] = row
