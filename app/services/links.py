"""Representatives' links to accounts and documents, and the paginated lists around records."""
from dataclasses import dataclass

from peewee import SQL, fn

from app.errors import HttpNotFound
from app.models import utcnow
from app.services import statements
from app.services.resources import Resource
from app.services.transactions import write_transaction

SUMMARY_SIZE = 100
_COUNT_ALL = fn.COUNT(SQL("*"))  # counted from the covering index alone


@dataclass(frozen=True)
class LinkKind:
    """One kind of link: representative -> record of the target resource."""

    name: str               # "accounts": the path segment after the representative
    model: type             # link table
    target: Resource
    representatives: Resource

    @property
    def target_field(self):
        return self.target.key_field

    @property
    def target_column(self):
        return getattr(self.model, self.target.key_field)


    @property
    def representative_model(self):
        return self.representatives.model


@dataclass(frozen=True)
class Page:
    """One page of a list: its items and the count of all of them."""

    items: list
    page: int
    limit: int
    total: int


def lock_pairs(txn, kind, pairs):
    """Hold these (representative, target) pairs until commit: one writer per link at a time."""
    txn.lock_keys(kind.model._meta.table_name, [f"{rep}\x1f{target}" for rep, target in pairs])


def _require(resource, tenant_id, key):
    if not statements.exists(resource.model, resource.key_field, tenant_id, key):
        raise HttpNotFound(f"No {resource.label} with {resource.key_field} {key!r}.")


def link(tenant_id, kind, reference, target_key):
    """Link a representative to a record; returns (link fields, created). Linking twice is fine."""
    with write_transaction(tenant_id) as txn:
        lock_pairs(txn, kind, [(reference, target_key)])
        missing = []
        if not statements.exists(kind.representative_model, "reference", tenant_id, reference):
            missing.append(f"no representative with reference {reference!r}")
        if not statements.exists(kind.target.model, kind.target_field, tenant_id, target_key):
            missing.append(f"no {kind.target.label} with {kind.target_field} {target_key!r}")
        if missing:
            raise HttpNotFound("There is " + " and ".join(missing) + ".",
                           missing=[m.split(" with ")[0][3:] for m in missing])
        now = utcnow()
        inserted = (kind.model.insert(tenant=tenant_id, representative=reference,
                                      created_at=now, **{kind.target_field: target_key})
                    .on_conflict(conflict_target=[kind.model.tenant, kind.model.representative,
                                                  kind.target_column], action="IGNORE")
                    .returning(kind.model.created_at).execute())
        row = next(iter(inserted), None)
        if row is not None:
            return {"representative": reference, kind.target_field: target_key,
                    "linked_at": now}, True
        existing = (kind.model.select(kind.model.created_at)
                    .where(kind.model.tenant == tenant_id, kind.model.representative == reference,
                           kind.target_column == target_key).get())
        return {"representative": reference, kind.target_field: target_key,
                "linked_at": existing.created_at}, False


def unlink(tenant_id, kind, reference, target_key):
    """Remove a link; HttpNotFound when there is none."""
    with write_transaction(tenant_id) as txn:
        lock_pairs(txn, kind, [(reference, target_key)])
        removed = (kind.model.delete()
                   .where(kind.model.tenant == tenant_id, kind.model.representative == reference,
                          kind.target_column == target_key).execute())
    if not removed:
        raise HttpNotFound(f"Representative {reference!r} is not linked to {kind.target.label} "
                       f"{target_key!r}.")


def _page(query, count_query, page, limit, scalars=False):
    """Count everything, then read one page (no read at all when there is nothing)."""
    total = count_query.scalar()
    if not total:
        return Page(items=[], page=page, limit=limit, total=0)
    rows = query.limit(limit).offset((page - 1) * limit)
    items = [row[0] for row in rows.tuples()] if scalars else list(rows)
    return Page(items=items, page=page, limit=limit, total=total)


# Past this many archived targets a list of them is no cheaper than joining every link.
_ARCHIVED_LIST_LIMIT = 500


def _archived_targets(tenant_id, kind, reference):
    """Keys of archived records the representative is linked to, found from the (few)
    archived records through their partial index, not by joining every link."""
    target, link = kind.target.model, kind.model
    linked = link.select(SQL("1")).where(link.tenant == tenant_id,
                                          link.representative == reference,
                                          kind.target_column == kind.target.key_column)
    return [key for (key,) in target.select(kind.target.key_column).where(
        target.tenant == tenant_id, target.archived_at.is_null(False), fn.EXISTS(linked))
        .limit(_ARCHIVED_LIST_LIMIT + 1).tuples()]


def _linked_keys_queries(tenant_id, kind, reference, include_archived=False):
    where = (kind.model.tenant == tenant_id) & (kind.model.representative == reference)
    keys = kind.model.select(kind.target_column)
    count = kind.model.select(_COUNT_ALL)
    if not include_archived:
        archived = _archived_targets(tenant_id, kind, reference)
        if len(archived) > _ARCHIVED_LIST_LIMIT:
            target = kind.target.model
            on = ((target.tenant == kind.model.tenant)
                  & (kind.target.key_column == kind.target_column))
            where &= target.archived_at.is_null()
            keys, count = keys.join(target, on=on), count.join(target, on=on)
        elif archived:  # the links' own index answers, less these keys
            where &= kind.target_column.not_in(archived)
    return keys.where(where).order_by(kind.target_column), count.where(where)


def linked_keys(tenant_id, kind, reference, page=1, limit=SUMMARY_SIZE, include_archived=False):
    """A page of the keys a representative is linked to, in key order."""
    _require(kind.representatives, tenant_id, reference)
    return _page(*_linked_keys_queries(tenant_id, kind, reference, include_archived), page,
                 limit, scalars=True)


def link_summary(tenant_id, kind, reference):
    """{"total", "items"}: the count and the first keys of active records it is linked to."""
    page = _page(*_linked_keys_queries(tenant_id, kind, reference), 1, SUMMARY_SIZE,
                 scalars=True)
    return {"total": page.total, "items": page.items}


def linked_representatives(tenant_id, kind, target_key, page=1, limit=SUMMARY_SIZE,
                           include_archived=False):
    """A page of the full representatives linked to a record, in reference order."""
    _require(kind.target, tenant_id, target_key)
    Representative = kind.representative_model
    on = ((kind.model.tenant == Representative.tenant)
          & (kind.model.representative == Representative.reference))
    where = (kind.model.tenant == tenant_id) & (kind.target_column == target_key)
    if include_archived:
        count = kind.model.select(_COUNT_ALL).where(where)
    else:
        where &= Representative.archived_at.is_null()
        count = kind.model.select(_COUNT_ALL).join(Representative, on=on).where(where)
    records = (Representative.select().join(kind.model, on=on).where(where)
               .order_by(Representative.reference))
    return _page(records, count, page, limit)


def child_records(tenant_id, parent, parent_key, child, field, page=1, limit=SUMMARY_SIZE,
                  include_archived=False):
    """A page of the child resource's records whose `field` names the parent, in key order."""
    _require(parent, tenant_id, parent_key)
    conditions = [child.model.tenant == tenant_id, getattr(child.model, field) == parent_key]
    if not include_archived:
        conditions.append(child.model.archived_at.is_null())
    query = child.select(tenant_id).where(*conditions[1:])
    count = child.model.select(_COUNT_ALL).where(*conditions)
    return _page(query.order_by(child.key_column), count, page, limit)
