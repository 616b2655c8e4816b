"""Idempotency keys: the first answer to a POST is kept 24 hours and replayed to retries."""
import datetime
import hashlib

from app.db import holder, holder_alive, short_write
from app.errors import (IdempotencyKeyInUse, IdempotencyKeyReused, ValidationFailed,
                        parameter_error)
from app.models import IdempotencyKey, utcnow

KEEP_FOR = datetime.timedelta(hours=24)
# A claim whose holder (its database connection or worker process) is gone is taken over at
# once; one whose holder lives on but has not finished after this long is taken to be stuck.
ABANDONED_AFTER = datetime.timedelta(minutes=5)


def parse_key(header):
    """The key of an Idempotency-Key header (quoted or bare, 1-255 printable characters)."""
    key = header.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise ValidationFailed([parameter_error(
            "Idempotency-Key", "Must be 1 to 255 printable characters.", header=True)],
            detail="The Idempotency-Key header is not valid.")
    return key


def fingerprint(method, path, body):
    """What makes two requests 'the same request'."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _stored(tenant_id, key):
    return IdempotencyKey.get_or_none(IdempotencyKey.tenant == tenant_id, IdempotencyKey.key == key)


def claim(tenant_id, key, request_fingerprint):
    """Take the key for this request: None when it is ours to run, or the stored answer.

    Raises IdempotencyKeyReused for another request under the key, and
    IdempotencyKeyInUse at once while the first request is still running: the
    claim is read first, without waiting for any lock that request holds, and
    written in a short transaction of its own that takes no tenant lock.
    """
    now = utcnow()
    stored = _stored(tenant_id, key)
    if stored is None or stored.expires_at < now:
        with short_write():
            IdempotencyKey.delete().where(IdempotencyKey.tenant == tenant_id,
                                          IdempotencyKey.expires_at < now).execute()
            inserted = (IdempotencyKey.insert(tenant=tenant_id, key=key,
                                              fingerprint=request_fingerprint, claimed_at=now,
                                              expires_at=now + KEEP_FOR, holder=holder())
                        .on_conflict(conflict_target=[IdempotencyKey.tenant, IdempotencyKey.key],
                                     action="IGNORE")
                        .returning(IdempotencyKey.id).execute())
            if next(iter(inserted), None) is not None:
                return None
        stored = _stored(tenant_id, key)  # a concurrent first request claimed it just now
    if stored.fingerprint != request_fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used for a different request in the last 24 hours.")
    if stored.status is not None:
        return stored
    abandoned = stored.claimed_at <= now - ABANDONED_AFTER or not holder_alive(stored.holder)
    if not abandoned or not _take_over(stored, now):
        raise IdempotencyKeyInUse("A request with this Idempotency-Key is still running; "
                                  "retry after it has finished.", headers={"Retry-After": "1"})
    return None


def _take_over(stored, now):
    """Claim a key whose first request died with its worker; False if another retry won."""
    with short_write():
        return bool(IdempotencyKey.update(claimed_at=now, holder=holder())
                    .where(IdempotencyKey.id == stored.id, IdempotencyKey.status.is_null(),
                           IdempotencyKey.claimed_at == stored.claimed_at).execute())


def complete(tenant_id, key, status, headers, body):
    """Keep the answer; call inside the transaction of the work it answers for."""
    (IdempotencyKey.update(status=status, headers=headers, body=body)
     .where(IdempotencyKey.tenant == tenant_id, IdempotencyKey.key == key).execute())


def release(tenant_id, key):
    """Forget an unfinished claim (the request failed without an answer worth keeping)."""
    with short_write():
        IdempotencyKey.delete().where(IdempotencyKey.tenant == tenant_id,
                                      IdempotencyKey.key == key,
                                      IdempotencyKey.status.is_null()).execute()
