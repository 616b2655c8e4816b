"""The one write engine: any number of PUT/PATCH/POST items of a resource, in one transaction.

Items are applied in order against a WriteContext (services/write_context.py):
the database as it was when the transaction began, plus everything earlier
items changed. The context fetches what the items need in bulk, rules read
from it, and at the end every new or changed row is written with a handful of
statements. A single PUT is a batch of one, so every rule holds the same way in
both. The order in which the engine calls a resource's hooks is stated on
services/resources.py's Resource.
"""
import hashlib
from dataclasses import dataclass

from marshmallow import ValidationError

from app.client import wire
from app.errors import (HttpConflict, HttpNotFound, Problem, ValidationFailed, field_errors,
                        with_article)
from app.services import statements
from app.services.search import search_text
from app.services.write_context import WriteContext, input_stamp


# Part of every input digest: raise it when loading or normalising a body changes what the
# same body stores, so that a digest made under the old rules never calls an item unchanged.
INPUT_RULES = 1


def input_digest(raw):
    """A digest of a batch item as sent (key order and spacing aside), under INPUT_RULES;
    None for an item too deeply nested to digest.

    Written by the wire format's own dumps: a number read as a Decimal stays the number it
    was (1.50), never the string "1.50" a string field would take.
    """
    try:
        text = wire.dumps(_keys_sorted(raw))
    except RecursionError:  # nested near the parser's own limit: no digest, the full path
        return None
    return hashlib.blake2b(f"{INPUT_RULES}:{text}".encode(), digest_size=16).hexdigest()


def _keys_sorted(value):
    if isinstance(value, dict):
        return {name: _keys_sorted(value[name]) for name in sorted(value)}
    if isinstance(value, list):
        return [_keys_sorted(item) for item in value]
    return value


@dataclass
class WriteItem:
    """One write: its key, the loaded body, and how to apply it.

    A batch PUT item also carries its body as sent and that body's digest; its
    `data` may be None (not loaded yet): if the record's stored digest says
    the same body made its current version, the item is unchanged unloaded.
    """

    key: str
    data: dict
    mode: str = "put"             # "put", "patch" or "create"
    preconditions: object = None  # records.Preconditions, or None
    raw: object = None
    digest: str = None
    stored_version: int = None  # of a record its digest shows unchanged (data left None)


@dataclass
class Outcome:
    """What became of one item: its result ("created", "replaced", "unchanged"), or an error."""

    key: str
    result: str = None
    row: object = None
    error: Problem = None
    version: int = None


def apply_writes(resource, txn, items, all_or_nothing=False, context=None):
    """Apply items in order; returns one Outcome per item. Failed items change nothing.

    `context`: a WriteContext of this transaction and resource to keep using
    (a batch of matching upserts applies its items one by one through one
    context, so what it read for one item serves the next).
    """
    txn.lock_keys(resource.name, [item.key for item in items])
    failures = _confirm_unloaded(resource, txn, items)
    if not failures:
        return _apply_loaded(resource, txn, items, all_or_nothing, context)
    rest = [item for position, item in enumerate(items) if position not in failures]
    applied = iter(_apply_loaded(resource, txn, rest, all_or_nothing, context, failed=True)
                   if rest else [])
    return [failures[position] if position in failures else next(applied)
            for position in range(len(items))]


def _confirm_unloaded(resource, txn, items):
    """Read again, under the key locks, the digests of the items not loaded yet: one the
    record's digest still names keeps its stored version (it stays unloaded); the others
    are loaded now, since the record changed after the caller looked. {position: Outcome}
    of those that fail to load."""
    positions = [position for position, item in enumerate(items) if item.data is None]
    if not positions:
        return {}
    stamps = statements.input_stamps(resource.model, resource.key_field, txn.tenant_id,
                                     [items[position].key for position in positions])
    failures = {}
    for position in positions:
        item = items[position]
        version, stamp = stamps.get(item.key, (None, None))
        if stamp is not None and stamp == input_stamp(version, item.digest):
            item.stored_version = version
            continue
        try:
            _load(resource, item)
        except ValidationFailed as error:
            failures[position] = Outcome(item.key, error=error)
    return failures


def _load(resource, item):
    """Load a batch item's body as sent (ValidationFailed when it does not load)."""
    try:
        item.data = resource.load_batch_item(item.raw)
    except ValidationError as error:
        raise ValidationFailed(field_errors(error.messages)) from None
    item.data.pop(resource.key_field)


def _apply_loaded(resource, txn, items, all_or_nothing, context, failed=False):
    """apply_writes once every item is loaded or confirmed unchanged (their keys locked);
    `failed`: another item of the request failed already."""
    model = resource.model
    while True:
        ctx = context if context is not None else WriteContext(txn, resource)
        ctx.prefetch(model, resource.key_field,
                     [item.key for item in items if item.data is not None])
        # Values as the items stand against the database: enough to fetch what rules need.
        hints = [(item.key, None if item.data is None else _values(resource, ctx, item))
                 for item in items]
        entries = [(key, values) for key, values in hints if values is not None]
        # A rule's lock may have been held by a writer that changed these rows: read again.
        if not txn.lock_rules(resource.name, resource.rule_locks(ctx, entries)):
            break
        if context is not None:  # read again under the rule's lock, as a fresh context would
            context.forget()
    resource.prefetch_for(ctx, entries)
    outcomes = []
    for item, (_, values) in zip(items, hints):
        try:
            if item.data is None:  # confirmed by its digest, unless an earlier item moved it
                if not ctx.changed_here(model, item.key):
                    outcomes.append(Outcome(item.key, "unchanged", version=item.stored_version))
                    continue
                _load(resource, item)
                values = _values(resource, ctx, item)
            outcomes.append(_apply_one(resource, ctx, item, values))
        except Problem as error:
            outcomes.append(Outcome(item.key, error=error))
    if all_or_nothing and (failed or any(outcome.error for outcome in outcomes)):
        return outcomes
    ctx.flush()
    return outcomes


def _values(resource, ctx, item):
    """The item's full values against the record as it stands now (None: PATCH of nothing)."""
    if item.mode != "patch":
        return resource.normalise(dict(item.data))
    row = ctx.record(resource.model, resource.key_field, item.key)
    if row is None:
        return None
    return resource.normalise(resource.merge(resource.values_of(row), item.data))


def _apply_one(resource, ctx, item, values):
    model, key = resource.model, item.key
    row = ctx.record(model, resource.key_field, key)
    if item.mode == "create" and row is not None:
        raise HttpConflict(f"{with_article(resource.label).capitalize()} with {resource.key_field} "
                       f"{key!r} already exists; "
                       "use PUT to replace it or PATCH to change it.")
    if item.mode == "patch" and row is None:
        raise HttpNotFound(f"No {resource.label} with {resource.key_field} {key!r}.")
    if item.preconditions is not None:
        item.preconditions.check(row)
    if item.mode == "patch" and ctx.changed_here(model, key):
        values = _values(resource, ctx, item)  # merged again onto what earlier items left
    errors = resource.check(ctx, key, values, row)
    if errors:
        raise ValidationFailed(errors)
    # An archived record written again is active again (the source has it): a change.
    if row is not None and row.archived_at is None and resource.is_unchanged(row, values):
        if item.digest is not None:
            ctx.stamp_unchanged(row, item.digest)
        return Outcome(key, "unchanged", row, version=row.version)
    resource.before_write(ctx, key, values, row)
    columns = dict(values, **resource.derived_values(ctx, values, row))
    columns["search_text"] = search_text(resource, key, columns)
    columns["archived_at"] = None
    version = ctx.version_stamp(1 if row is None else row.version + 1)
    columns["input_digest"] = None if item.digest is None else input_stamp(version["version"],
                                                                           item.digest)
    if row is None:
        columns.update(version, tenant=ctx.tenant_id, created_at=version["updated_at"])
        columns[resource.key_field] = key
        created = statements.new_row(model, columns)
        ctx.stage(model, key, created, new=True)
        return Outcome(key, "created", created, version=1)
    statements.row_data(row).update(columns, **version)
    ctx.stage(model, key, row, new=False)
    return Outcome(key, "replaced", row, version=row.version)

