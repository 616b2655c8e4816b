"""Tenants and their API keys: creation, listing, revocation and authentication."""
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from app.db import database
from app.models import ApiKey, Tenant, utcnow

SCOPES = ("read", "write")
_KEY_FORMAT = re.compile(r"^ark_([0-9a-f]{16})_([A-Za-z0-9_-]{20,100})$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


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


def create_tenant(name, internal_domains=()):
    """Create a tenant; internal domains (lower-cased) route emails to representatives."""
    name = (name or "").strip()
    if not name:
        raise TenantError("A tenant needs a name.")
    domains = sorted({domain.strip().lower() for domain in internal_domains})
    for domain in domains:
        if not _DOMAIN.match(domain):
            raise TenantError(f"Not a valid domain: {domain!r}.")
    with database.atomic():
        if Tenant.select().where(Tenant.name == name).exists():
            raise TenantError(f"A tenant named {name!r} already exists.")
        return Tenant.create(name=name, internal_domains=domains)


def find_tenant(name_or_id):
    """A tenant by name, or by numeric id."""
    query = Tenant.select()
    tenant = query.where(Tenant.name == str(name_or_id)).first()
    if tenant is None and str(name_or_id).isdigit():
        tenant = query.where(Tenant.id == int(name_or_id)).first()
    if tenant is None:
        raise TenantError(f"No tenant {name_or_id!r}.")
    return tenant


def create_api_key(tenant, scope="write", name=None, expires_at=None):
    """Create a key; returns (ApiKey, plaintext). Only a hash of the secret is stored."""
    if scope not in SCOPES:
        raise TenantError(f"Scope must be one of {', '.join(SCOPES)}.")
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


class KeyAuthenticator:
    """Checks API keys, remembering each looked-up key for a few seconds per process."""

    def __init__(self, cache_seconds=5.0):
        self.cache_seconds = cache_seconds
        self._cache = {}

    def authenticate(self, presented):
        """The Principal for a presented key, or None when it is unknown, revoked or expired."""
        match = _KEY_FORMAT.match(presented or "")
        if not match:
            return None
        key_id, secret = match.groups()
        now = time.monotonic()
        cached = self._cache.get(key_id)
        if cached is None or cached[0] <= now:
            row = ApiKey.select().where(ApiKey.key_id == key_id).first()
            cached = (now + self.cache_seconds, row)
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[key_id] = cached
        row = cached[1]
        presented_hash = _hash_secret(secret)
        if row is None:
            hmac.compare_digest(presented_hash, presented_hash)  # same work either way
            return None
        if not hmac.compare_digest(presented_hash, row.secret_hash):
            return None
        if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= utcnow()):
            return None
        return Principal(tenant_id=row.tenant_id, key_id=row.key_id, scope=row.scope)
