"""The one write engine: any number of PUT/PATCH/POST items of a resource, in one transaction.

Items are applied in order against a WriteContext: the database as it was
when the transaction began, plus everything earlier items changed. The
context fetches what the items need in bulk, rules read from it, and at the
end every new or changed row is written with a handful of statements. A
single PUT is a batch of one, so every rule holds the same way in both.
"""
import hashlib
from dataclasses import dataclass, field

from marshmallow import ValidationError

from app.client import wire
from app.errors import ApiError, Conflict, NotFound, ValidationFailed, field_errors, with_article
from app.models import Tombstone
from app.services import statements
from app.services.search import search_text


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


def _stamp(version, digest):
    return f"{version}:{digest}"


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
    error: ApiError = None
    version: int = None


@dataclass
class _Tracked:
    row: object
    new: bool = False
    dirty: bool = False
    order: int = 0
    original: dict = field(default_factory=dict)  # stored values, for rows read from the database


class WriteContext:
    """The rows a write transaction has seen or changed, by (model, key)."""

    def __init__(self, txn, resource):
        self.txn = txn
        self.resource = resource
        self.tenant_id = txn.tenant_id
        self._rows = {}       # (model, key) -> _Tracked, or None when known not to exist
        self._state = {}      # free-form per-rule state (e.g. primary contacts)
        self._known = {}      # (model, key) -> bool, for keys checked without loading the row
        self._staged = 0
        self._stamps = []     # (model, id, stamp): digests of unchanged rows, no new version

    # -- reading ----------------------------------------------------------
    def prefetch(self, model, key_field, keys):
        """Load the rows of these keys in one query per 500 (absent ones remembered as absent)."""
        wanted = [key for key in set(keys) if key is not None and (model, key) not in self._rows]
        for key in wanted:
            self._rows[(model, key)] = None
        for row in statements.find_many(model, key_field, self.tenant_id, wanted):
            self._rows[(model, getattr(row, key_field))] = _Tracked(
                row, original=dict(statements.row_data(row)))

    def prefetch_keys(self, model, key_field, keys):
        """Learn which of these keys exist, reading only the key column."""
        wanted = {key for key in keys if key is not None and (model, key) not in self._rows
                  and (model, key) not in self._known}
        if wanted:
            found = statements.existing_keys(model, key_field, self.tenant_id, wanted)
            self._known.update(((model, key), key in found) for key in wanted)

    def record(self, model, key_field, key):
        """The row as this transaction sees it now, or None (fetched if not seen yet)."""
        if (model, key) not in self._rows:
            self.prefetch(model, key_field, [key])
        tracked = self._rows[(model, key)]
        return tracked.row if tracked else None

    def exists(self, model, key_field, key):
        """Whether the record exists as this transaction sees it."""
        if (model, key) not in self._rows and (model, key) in self._known:
            return self._known[(model, key)]
        return self.record(model, key_field, key) is not None

    def rows_where(self, model, key_field, field_name, value):
        """Rows whose `field_name` is `value`: the database's, as changed by this transaction."""
        keys = [getattr(row, key_field) for row in
                model.select(getattr(model, key_field)).where(
                    model.tenant == self.tenant_id, getattr(model, field_name) == value)]
        self.prefetch(model, key_field, keys)
        return [t.row for (m, _), t in self._rows.items()
                if m is model and t is not None and getattr(t.row, field_name) == value]

    def state(self, name, factory):
        """Per-transaction memory of a rule, created on first use."""
        if name not in self._state:
            self._state[name] = factory()
        return self._state[name]

    def forget(self):
        """Drop everything read (nothing may be staged): the next reads go to the database."""
        assert not any(t and t.dirty for t in self._rows.values()), "flush before forgetting"
        self._rows.clear()
        self._known.clear()
        self._state.clear()

    # -- changing ---------------------------------------------------------
    def stage(self, model, key, row, new):
        """Record the new state of a row; it is written at flush."""
        tracked = self._rows.get((model, key))
        if tracked is None:
            tracked = self._rows[(model, key)] = _Tracked(row, new=new)
        if not tracked.dirty:  # written in the order first changed (parents before children)
            self._staged += 1
            tracked.order = self._staged
        tracked.row, tracked.dirty = row, True

    def change_other(self, model, key_field, key, **changes):
        """A side effect on another record (it moves to a new version, like any change)."""
        row = self.record(model, key_field, key)
        for name, value in changes.items():
            setattr(row, name, value)
        row.version += 1
        row.updated_at, row.change_seq = self.txn.now, self.txn.change_seq()
        self.stage(model, key, row, new=self._rows[(model, key)].new)

    def changed_here(self, model, key):
        """Whether this transaction has changed the record (staged, not yet written)."""
        tracked = self._rows.get((model, key))
        return tracked is not None and tracked.dirty

    def stamp_unchanged(self, row, digest):
        """Remember that a body with this digest leaves the row as it is (written at flush)."""
        stamp = _stamp(row.version, digest)
        if row.id is not None and row.input_digest != stamp:
            statements.row_data(row)["input_digest"] = stamp
            self._stamps.append((type(row), row.id, stamp))

    def flush(self):
        """Write what changed, in an order every constraint accepts, one statement per group.

        First the rows that give up an exclusive flag (a primary contact being
        replaced), then new rows in the order they were staged (parents before
        the rows naming them), then the remaining changed rows.
        """
        pending = sorted((t for t in self._rows.values() if t is not None and t.dirty),
                         key=lambda t: t.order)
        groups = {}
        for tracked in pending:
            model = type(tracked.row)
            if tracked.new:
                phase = 1
            elif _gives_up_a_flag(self.resource, tracked):
                phase = 0
            else:
                phase = 2
            groups.setdefault((phase, model), []).append(tracked)
        self._record_filter_exits(pending)
        for model in {model for model, _, _ in self._stamps}:
            statements.set_input_digests(model, [(row_id, stamp) for m, row_id, stamp
                                                 in self._stamps if m is model])
        self._stamps.clear()
        for (phase, model), group in sorted(groups.items(), key=lambda item: item[0][0]):
            rows = [tracked.row for tracked in group]
            if phase == 1:
                if statements.insert_rows(model, rows) != len(rows):
                    raise Conflict("Another writer created one of these records at the same "
                                   "time; retry the request.")
            else:
                statements.update_rows(model, rows)
            self.txn.count_written(model, len(rows))
            for tracked in group:
                tracked.dirty, tracked.new = False, False
                tracked.original = dict(statements.row_data(tracked.row))
        # An inserted row has no id here (no RETURNING): a later write to it in this context
        # reads it back first.
        inserted = {id(tracked) for (phase, _), group in groups.items() if phase == 1
                    for tracked in group}
        for place in [place for place, tracked in self._rows.items()
                      if tracked is not None and id(tracked) in inserted]:
            del self._rows[place]


    def _record_filter_exits(self, pending):
        """Changed records whose filter fields moved: filtered feeds report them (feed.py)."""
        resource, exits = self.resource, []
        for tracked in pending:
            if tracked.new or type(tracked.row) is not resource.model:
                continue
            before = resource.feed_state(tracked.original)
            after = resource.feed_state(statements.row_data(tracked.row))
            if before != after:
                exits.append({"tenant": self.tenant_id, "collection": resource.name,
                              "key": getattr(tracked.row, resource.key_field),
                              "version": tracked.row.version, "deleted_at": self.txn.now,
                              "change_seq": self.txn.change_seq(), "deleted": False,
                              "before": before, "after": after})
        if exits:
            statements.insert_plain(Tombstone, exits)


def _gives_up_a_flag(resource, tracked):
    """The row held an exclusive flag and no longer holds it where it held it."""
    row, original = tracked.row, tracked.original
    flags = resource.exclusive_flags if type(row) is resource.model else {}
    return any(original.get(flag) and (not getattr(row, flag)
                                       or getattr(row, scope) != original.get(scope))
               for flag, scope in flags.items())


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
        if stamp is not None and stamp == _stamp(version, item.digest):
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
        except ApiError as error:
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
        raise Conflict(f"{with_article(resource.label).capitalize()} with {resource.key_field} "
                       f"{key!r} already exists; "
                       "use PUT to replace it or PATCH to change it.")
    if item.mode == "patch" and row is None:
        raise NotFound(f"No {resource.label} with {resource.key_field} {key!r}.")
    if item.preconditions is not None:
        item.preconditions.check(row)
    if item.mode == "patch":  # merged onto the record as earlier items left it
        values = _values(resource, ctx, item)
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
    txn = ctx.txn
    version = 1 if row is None else row.version + 1
    columns["input_digest"] = None if item.digest is None else _stamp(version, item.digest)
    if row is None:
        columns.update(tenant=ctx.tenant_id, version=1, created_at=txn.now, updated_at=txn.now,
                       change_seq=txn.change_seq())
        columns[resource.key_field] = key
        created = statements.new_row(model, columns)
        ctx.stage(model, key, created, new=True)
        return Outcome(key, "created", created, version=1)
    statements.row_data(row).update(columns, version=row.version + 1, updated_at=txn.now,
                                    change_seq=txn.change_seq())
    ctx.stage(model, key, row, new=False)
    return Outcome(key, "replaced", row, version=row.version)

