"""Cursors: opaque positions in a listing (the feed, versions), bound to a tenant and listing.

A position holds numbers that every tenant's writes advance (change numbers, row ids), so a
cursor a tenant could read would let it count the others' writes. A cursor is therefore
encrypted and authenticated with a server secret: `_OPAQUE` and AES-SIV over the position,
with the tenant and the listing (`contacts:feed`, `accounts:versions`...) as associated
data, in unpadded base64url. It reveals nothing of the position, cannot be forged or
altered, and a cursor of another tenant or another listing fails to decrypt: the same 422
as any string that is not a cursor. AES-SIV is deterministic and needs no nonce (none to
repeat however many cursors are handed out): the same position in the same listing is the
same cursor.

The secret is 32 random bytes that migration 12 stored in the database (`cursor_secret`),
so every worker and every server on that database share it with no configuration; the
`CURSOR_SECRET` setting replaces it for operators who keep secrets elsewhere. Each process
reads it once (`_cipher`). Changing it invalidates every cursor handed out.

Cursors handed out before migration 12 were readable, `["v1", ...position]` in base64url
JSON, and still work so that a follower mid-feed carries on: a feed cursor of that kind is
taken only up to the change number its tenant had reached at the migration
(`legacy_cursor_marks`), since one forged for a later position would give away what the
opaque ones hide. No cursor of that kind is handed out any more.
"""
import base64
import binascii
import json
import secrets
import struct
import threading
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from peewee import BigIntegerField, DateTimeField, IntegerField, TextField

from app.errors import ValidationFailed, parameter_error
from app.models import BaseModel, utcnow

# Positions are 64-bit columns; a forged larger number is a bad cursor, not a driver error.
_INT64_MIN, _INT64_MAX = -2 ** 63, 2 ** 63 - 1
_INT64 = struct.Struct(">q")
_OPAQUE = b"\x02"         # the first byte of an opaque cursor (a readable one starts with "[")
_ASSOCIATED = b"ar-ingest cursor"
_MIN_SECRET_CHARACTERS = 32


class CursorSecret(BaseModel):
    """The one row (id 1) holding the cursor secret, 64 hex digits."""

    id = IntegerField(primary_key=True)
    secret = TextField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "cursor_secret"


class LegacyCursorMark(BaseModel):
    """Per tenant, the change number at migration 12: no readable feed cursor handed out
    before it points past it (a tenant created since has no row and no such cursor)."""

    tenant_id = BigIntegerField(primary_key=True)
    change_seq = BigIntegerField()

    class Meta:
        table_name = "legacy_cursor_marks"


@dataclass(frozen=True)
class CursorPage:
    """A page read by cursor."""

    items: list         # model rows, tombstone dicts, or version dicts
    next_cursor: str
    has_more: bool


def new_secret():
    """A fresh cursor secret as stored: 32 random bytes in hex."""
    return secrets.token_hex(32)


def _bad_cursor(message="Not a cursor this collection handed out."):
    return ValidationFailed([parameter_error("cursor", message)],
                            detail="The query string is invalid.")


def _key_from(secret):
    """The AES-SIV key (AES-256: two 256-bit halves) derived from the secret's bytes."""
    return HKDF(algorithm=hashes.SHA256(), length=64, salt=None,
                info=b"ar-ingest cursors: AES-SIV").derive(secret)


def _configured_secret(setting):
    if len(setting) < _MIN_SECRET_CHARACTERS:
        raise RuntimeError(f"CURSOR_SECRET must be at least {_MIN_SECRET_CHARACTERS} "
                           "characters (for instance 64 hex digits: openssl rand -hex 32).")
    return setting.encode()


def _stored_secret():
    row = CursorSecret.get_or_none(CursorSecret.id == 1)
    if row is None:
        raise RuntimeError("The database holds no cursor secret: run `ar-ingest db upgrade`.")
    return bytes.fromhex(row.secret)


_cipher_lock = threading.Lock()


def _cipher():
    """This app's AES-SIV, built on first use from CURSOR_SECRET or the stored secret."""
    extensions = current_app.extensions
    cipher = extensions.get("ar_ingest_cursors")
    if cipher is None:
        with _cipher_lock:
            cipher = extensions.get("ar_ingest_cursors")
            if cipher is None:
                setting = current_app.config.get("CURSOR_SECRET") or ""
                secret = _configured_secret(setting) if setting else _stored_secret()
                cipher = extensions["ar_ingest_cursors"] = AESSIV(_key_from(secret))
    return cipher


def _associated_data(tenant_id, listing):
    return [_ASSOCIATED, str(int(tenant_id)).encode(), listing.encode()]


def _pack(position):
    """Integers as 8 bytes each; a string (only last) as the rest, in UTF-8."""
    parts = []
    for index, part in enumerate(position):
        if isinstance(part, str):
            if index != len(position) - 1:
                raise ValueError("only the last part of a position may be a string")
            parts.append(part.encode("utf-8", "surrogatepass"))
        else:
            parts.append(_INT64.pack(part))
    return b"".join(parts)


def _unpack(raw, shape):
    position = []
    for index, part_type in enumerate(shape):
        if part_type is str:
            if index != len(shape) - 1:
                raise ValueError("only the last part of a position may be a string")
            position.append(raw.decode("utf-8", "surrogatepass"))
            raw = b""
        else:
            if len(raw) < _INT64.size:
                raise ValueError("too short")
            position.append(_INT64.unpack(raw[:_INT64.size])[0])
            raw = raw[_INT64.size:]
    if raw:
        raise ValueError("too long")
    return tuple(position)


def encode_cursor(tenant_id, listing, *position):
    """The opaque cursor of a position in one tenant's listing (e.g. 'contacts:feed')."""
    sealed = _cipher().encrypt(_pack(position), _associated_data(tenant_id, listing))
    return base64.urlsafe_b64encode(_OPAQUE + sealed).decode().rstrip("=")


def decode_cursor(text, shape, tenant_id, listing, legacy_allowed=None):
    """The position in a cursor this tenant's listing handed out; `shape` lists the types.

    Anything else is a 422 (the same whatever is wrong with it). A readable cursor from
    before migration 12 is decoded as it always was, and then taken only when
    `legacy_allowed(tenant_id, position)` says so (None: always).
    """
    try:
        raw = base64.b64decode((text + "=" * (-len(text) % 4)).encode(), altchars=b"-_",
                               validate=True)
    except (ValueError, binascii.Error):
        raise _bad_cursor() from None
    if raw.startswith(b"["):
        position = _decode_readable(raw, shape)
        if legacy_allowed is not None and not legacy_allowed(tenant_id, position):
            raise _bad_cursor("A cursor of the readable kind handed out before cursors became "
                              "opaque can no longer be resumed here: start again without one.")
        return position
    if not raw.startswith(_OPAQUE):
        raise _bad_cursor()
    try:
        plain = _cipher().decrypt(raw[len(_OPAQUE):], _associated_data(tenant_id, listing))
        return _unpack(plain, shape)
    except (InvalidTag, ValueError):  # UnicodeDecodeError is a ValueError
        raise _bad_cursor() from None


def _decode_readable(raw, shape):
    """A cursor as handed out before migration 12: base64url of ["v1", ...position]."""
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _bad_cursor() from None
    if not (isinstance(value, list) and len(value) == len(shape) + 1 and value[0] == "v1"
            and all(isinstance(part, part_type) and not isinstance(part, bool)
                    and (part_type is not int or _INT64_MIN <= part <= _INT64_MAX)
                    for part, part_type in zip(value[1:], shape))):
        raise _bad_cursor()
    return tuple(value[1:])


def legacy_feed_position_allowed(tenant_id, position):
    """Whether a readable feed cursor's position (change number, table, id) is one its tenant
    could have been handed before migration 12: at or below the tenant's mark."""
    mark = (LegacyCursorMark.select(LegacyCursorMark.change_seq)
            .where(LegacyCursorMark.tenant_id == tenant_id).scalar())
    return mark is not None and position[0] <= mark


def mark_legacy_cursors(record_models):
    """Migration 12: record each tenant's mark, the highest change number a cursor handed
    out so far can hold. SQLite: the tenant's own counter. PostgreSQL: the migration's own
    change number (a transaction id, above every stored one once the clock is aligned, and
    above the horizon that bounds every cursor handed out), the same for every tenant."""
    from app.db import database, is_postgresql
    from app.models import Tenant
    from app.services.transactions import CHANGE_SEQ_SQL, align_change_clock

    if is_postgresql():
        align_change_clock(record_models)
        mark = database.execute_sql(f"SELECT {CHANGE_SEQ_SQL}").fetchone()[0]
        rows = [(tenant_id, mark) for (tenant_id,) in Tenant.select(Tenant.id).tuples()]
    else:
        rows = list(Tenant.select(Tenant.id, Tenant.change_seq).tuples())
    for start in range(0, len(rows), 500):
        (LegacyCursorMark.insert_many(rows[start:start + 500],
                                      fields=[LegacyCursorMark.tenant_id,
                                              LegacyCursorMark.change_seq])
         .on_conflict_ignore().execute())


def create_cursor_secret():
    """Migration 12: the secret every worker on this database encrypts cursors with."""
    CursorSecret.insert(id=1, secret=new_secret(), created_at=utcnow()).on_conflict_ignore() \
        .execute()
