"""Create, replace, patch, read and delete one record of any resource."""
from dataclasses import dataclass

from app.db import write_transaction
from app.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from app.services import statements

ANY = "*"


@dataclass(frozen=True)
class Preconditions:
    """Conditional-request headers: If-Match versions (or ANY) and If-None-Match: *."""

    if_match: object = None          # None, ANY, or a frozenset of version numbers
    if_none_match_any: bool = False

    def check(self, row):
        """Raise PreconditionFailed when the stored record does not satisfy them."""
        if self.if_match is not None:
            if row is None:
                raise PreconditionFailed("The record does not exist, so If-Match cannot match.")
            if self.if_match != ANY and row.version not in self.if_match:
                raise PreconditionFailed(
                    f"The record is at version {row.version}; If-Match named another.",
                    headers={"ETag": etag(row)})
        if self.if_none_match_any and row is not None:
            raise PreconditionFailed("The record already exists (If-None-Match: *).",
                                     headers={"ETag": etag(row)})


NO_PRECONDITIONS = Preconditions()


def etag(row):
    """The entity tag of a stored record: its version, quoted."""
    return f'"{row.version}"'


def _not_found(resource, key):
    return NotFound(f"No {resource.label} with {resource.key_field} {key!r}.")


def get_record(resource, tenant_id, key):
    """The tenant's record, or NotFound."""
    row = resource.find(tenant_id, key)
    if row is None:
        raise _not_found(resource, key)
    return resource.with_related(tenant_id, row)


def _validated(resource, tenant_id, key, values, row):
    values = resource.normalise(values)
    errors = resource.check(tenant_id, key, values, row)
    if errors:
        raise ValidationFailed(errors)
    return values


def _unchanged(resource, row, values):
    return all(getattr(row, name) == values[name] for name in resource.writable_fields)


def _insert(resource, txn, key, values):
    """Insert atomically; None when another writer holds the key already."""
    model = resource.model
    now = txn.now
    columns = dict(values, **resource.derived_values(values, None))
    columns.update({resource.key_field: key, "tenant": txn.tenant_id, "version": 1,
                    "created_at": now, "updated_at": now, "change_seq": txn.change_seq})
    new_id = statements.insert_returning_id(model, resource.key_field, columns)
    if new_id is None:
        return None
    return model(id=new_id, **columns)


def _update(resource, txn, row, values):
    model = resource.model
    columns = dict(values, **resource.derived_values(values, row))
    columns.update({"updated_at": txn.now, "change_seq": txn.change_seq})
    statements.update_by_id(model, row.id, columns)
    for name, value in columns.items():
        setattr(row, name, value)
    row.version += 1
    return row


def _write(resource, txn, key, values, row):
    """Store validated values as a new record or a new version; returns (row, created)."""
    resource.before_write(txn, key, values, row)
    if row is None:
        created = _insert(resource, txn, key, values)
        if created is not None:
            return created, True
        row = resource.find(txn.tenant_id, key)  # lost an insert race: replace instead
    return _update(resource, txn, row, values), False


def create_record(resource, tenant_id, key, data):
    """POST: create the record; Conflict when the key is taken."""
    with write_transaction(tenant_id) as txn:
        existing = resource.find(tenant_id, key)
        if existing is None:
            values = _validated(resource, tenant_id, key, data, None)
            resource.before_write(txn, key, values, None)
            row = _insert(resource, txn, key, values)
            if row is not None:
                return resource.with_related(tenant_id, row)
        raise Conflict(f"A {resource.label} with {resource.key_field} {key!r} already exists; "
                       "use PUT to replace it or PATCH to change it.")


def put_record(resource, tenant_id, key, data, preconditions=NO_PRECONDITIONS):
    """PUT: create or replace; returns (row, status) with status "created", "replaced" or "unchanged"."""
    with write_transaction(tenant_id) as txn:
        row = resource.find(tenant_id, key)
        preconditions.check(row)
        values = _validated(resource, tenant_id, key, data, row)
        if row is not None and _unchanged(resource, row, values):
            return resource.with_related(tenant_id, row), "unchanged"
        row, created = _write(resource, txn, key, values, row)
        return resource.with_related(tenant_id, row), "created" if created else "replaced"


def patch_record(resource, tenant_id, key, patch, preconditions=NO_PRECONDITIONS):
    """PATCH: change the fields present; the merged record must pass every rule."""
    with write_transaction(tenant_id) as txn:
        row = resource.find(tenant_id, key)
        if row is None:
            raise _not_found(resource, key)
        preconditions.check(row)
        merged = resource.merge(resource.values_of(row), patch)
        values = _validated(resource, tenant_id, key, merged, row)
        if not _unchanged(resource, row, values):
            row = _write(resource, txn, key, values, row)[0]
        return resource.with_related(tenant_id, row)


def delete_record(resource, tenant_id, key, preconditions=NO_PRECONDITIONS):
    """DELETE: remove the record; Conflict while other records name it."""
    with write_transaction(tenant_id) as txn:
        row = resource.find(tenant_id, key)
        if row is None:
            raise _not_found(resource, key)
        preconditions.check(row)
        counts = resource.dependent_counts(tenant_id, key)
        if counts:
            parts = [f"{count} {singular if count == 1 else plural}"
                     for count, singular, plural in counts]
            listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
            raise Conflict(f"The {resource.label} {key!r} is still referred to by {listed}; "
                           "delete them or point them elsewhere first.",
                           dependents={plural: count for count, _, plural in counts})
        resource.before_delete(txn, row)
        resource.model.delete().where(resource.model.id == row.id).execute()

