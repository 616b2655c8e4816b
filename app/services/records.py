"""Create, replace, patch, read and delete one record of any resource."""
from dataclasses import dataclass

from app.errors import HttpConflict, HttpNotFound, HttpPreconditionFailed
from app.services.sync import mark_seen
from app.services.transactions import write_transaction
from app.services.write_context import WriteContext
from app.services.writes import WriteItem, apply_writes

ANY = "*"


@dataclass(frozen=True)
class Preconditions:
    """Conditional-request headers: If-Match and If-None-Match, each versions or ANY."""

    if_match: object = None          # None, ANY, or a frozenset of version numbers
    if_none_match: object = None     # None, ANY, or a frozenset of version numbers

    def check(self, row):
        """Raise HttpPreconditionFailed when the stored record does not satisfy them."""
        if self.if_match is not None:
            self.check_match(row)
        if self.if_none_match is not None and self.none_match_fails(row):
            raise HttpPreconditionFailed("The record exists at a version If-None-Match excludes.",
                                     headers={"ETag": etag(row)})

    def check_match(self, row):
        """Raise HttpPreconditionFailed unless If-Match names the record's version."""
        if row is None:
            raise HttpPreconditionFailed("The record does not exist, so If-Match cannot match.")
        if self.if_match != ANY and row.version not in self.if_match:
            raise HttpPreconditionFailed(
                f"The record is at version {row.version}; If-Match named another.",
                headers={"ETag": etag(row)})

    def not_modified(self, row):
        """For a read of a stored record: True when If-None-Match names its version (answer
        304); HttpPreconditionFailed when If-Match names another."""
        if self.if_match is not None:
            self.check_match(row)
        return self.if_none_match is not None and self.none_match_fails(row)

    def none_match_fails(self, row):
        """True when If-None-Match names the record's version (or * and it exists)."""
        return row is not None and (self.if_none_match == ANY
                                    or row.version in self.if_none_match)


NO_PRECONDITIONS = Preconditions()


def etag(row):
    """The entity tag of a stored record: its version, quoted."""
    return f'"{row.version}"'


def not_found(resource, key):
    return HttpNotFound(f"No {resource.label} with {resource.key_field} {key!r}.")


def get_record(resource, tenant_id, key):
    """The tenant's record, or HttpNotFound."""
    row = resource.find(tenant_id, key)
    if row is None:
        raise not_found(resource, key)
    return resource.with_related(tenant_id, row)


def _write_one(resource, tenant_id, item, sync_run=None):
    with write_transaction(tenant_id) as txn:
        outcome = apply_writes(resource, txn, [item])[0]
        if outcome.error is not None:
            raise outcome.error
        if sync_run is not None:
            mark_seen(tenant_id, resource, sync_run, [outcome.key])
        return resource.with_related(tenant_id, outcome.row), outcome.result


def create_record(resource, tenant_id, key, data, sync_run=None):
    """POST: create the record; HttpConflict when the key is taken."""
    return _write_one(resource, tenant_id, WriteItem(key, data, "create"), sync_run)[0]


def put_record(resource, tenant_id, key, data, preconditions=NO_PRECONDITIONS, sync_run=None):
    """PUT: create or replace; returns (row, "created" | "replaced" | "unchanged")."""
    return _write_one(resource, tenant_id, WriteItem(key, data, "put", preconditions), sync_run)


def patch_record(resource, tenant_id, key, patch, preconditions=NO_PRECONDITIONS,
                 sync_run=None):
    """PATCH: change the fields present; the merged record must pass every rule."""
    return _write_one(resource, tenant_id, WriteItem(key, patch, "patch", preconditions),
                      sync_run)[0]


def set_archived(resource, tenant_id, key, archived, preconditions=NO_PRECONDITIONS):
    """Archive (or make active again) a record; doing it twice changes nothing the second time.

    Archiving is a change: a new version, in the change feed.
    """
    with write_transaction(tenant_id) as txn:
        txn.lock_keys(resource.name, [key])
        row = resource.find(tenant_id, key)
        if row is None:
            raise not_found(resource, key)
        preconditions.check(row)
        if (row.archived_at is not None) == archived:
            return resource.with_related(tenant_id, row)
        WriteContext(txn, resource).change_stored(resource.model.id == row.id,
                                                  archived_at=txn.now if archived else None)
        return resource.with_related(tenant_id, resource.find(tenant_id, key))


def delete_record(resource, tenant_id, key, preconditions=NO_PRECONDITIONS,
                  archive_if_referenced=False):
    """DELETE: remove the record; HttpConflict while other records name it, or, with
    `archive_if_referenced`, archive it instead: returns None, or the archived record."""
    with write_transaction(tenant_id) as txn:
        txn.lock_keys(resource.name, [key])
        row = resource.find(tenant_id, key)
        if row is None:
            raise not_found(resource, key)
        preconditions.check(row)
        counts = resource.dependents_of(tenant_id, [key]).get(key, [])
        if counts and archive_if_referenced:
            return set_archived(resource, tenant_id, key, True)
        if counts:
            parts = [f"{count} {singular if count == 1 else plural}"
                     for count, singular, plural in counts]
            listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
            raise HttpConflict(f"The {resource.label} {key!r} is still referred to by {listed}; "
                           "delete them or point them elsewhere first.",
                           dependents={plural: count for count, _, plural in counts})
        WriteContext(txn, resource).remove([row])
        return None

