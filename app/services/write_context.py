"""What one write transaction has read and changed: the only place stored records change.

Every change of a record's stored state goes through a WriteContext, which
alone gives records their next version (`version`, `updated_at`,
`change_seq`), leaves tombstones for deleted records, and feed exits for
records whose filter fields moved. The write engine (services/writes.py)
stages rows here and flushes them; archive, delete, sync-run finishes and
email-status updates change rows here in place (`change_stored`, `remove`).
"""
import datetime
from dataclasses import dataclass, field

from app.errors import HttpConflict
from app.models import FeedExit
from app.services import statements

TOMBSTONE_DAYS = 30
_CHUNK = 500


def input_stamp(version, digest):
    """What a record keeps of the batch item that made a version: "<version>:<digest>"."""
    return f"{version}:{digest}"


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
        if any(t and t.dirty for t in self._rows.values()):
            raise RuntimeError("Flush the staged rows before forgetting what was read")
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

    def version_stamp(self, version):
        """The columns of a record's `version`-th version made in this transaction (version,
        updated_at, change_seq): the one place they are given."""
        return {"version": version, "updated_at": self.txn.now,
                "change_seq": self.txn.change_seq()}

    def change_other(self, model, key_field, key, **changes):
        """A side effect on another record (it moves to a new version, like any change)."""
        row = self.record(model, key_field, key)
        for name, value in {**changes, **self.version_stamp(row.version + 1)}.items():
            setattr(row, name, value)
        self.stage(model, key, row, new=self._rows[(model, key)].new)

    def change_stored(self, where, **columns):
        """Give the resource's stored records matching `where` (in this tenant) these columns
        and a new version, in one statement; returns how many changed.

        For changes no rule of a later item reads (archive, email status): what this
        context has read is forgotten. Never a field a feed filters on, which would need a
        feed exit (`flush` leaves those).
        """
        model = self.resource.model
        if set(columns) & set(self.resource.feed_filters):
            raise ValueError("A change of a feed's filter field is staged, not changed in place")
        self.forget()
        version = self.version_stamp(model.version + 1)
        changed = model.update(**columns, **version).where(
            model.tenant == self.tenant_id, where).execute()
        self.txn.count_written(model, changed)
        return changed

    def remove(self, rows):
        """Delete these stored records of the resource, each leaving a tombstone for the feed
        (kept TOMBSTONE_DAYS: older ones of the tenant are purged here)."""
        resource, model = self.resource, self.resource.model
        self.forget()
        tombstones = []
        for row in rows:
            version = self.version_stamp(row.version + 1)
            tombstones.append({
                "tenant": self.tenant_id, "collection": resource.name,
                "key": getattr(row, resource.key_field), "version": version["version"],
                "left_at": version["updated_at"], "change_seq": version["change_seq"],
                "deleted": True, "before": resource.feed_state(statements.row_data(row)),
                "after": None})
        statements.insert_plain(FeedExit, tombstones)
        FeedExit.delete().where(
            FeedExit.tenant == self.tenant_id,
            FeedExit.left_at < self.txn.now - datetime.timedelta(days=TOMBSTONE_DAYS)).execute()
        for start in range(0, len(rows), _CHUNK):
            model.delete().where(
                model.id.in_([row.id for row in rows[start:start + _CHUNK]])).execute()
        self.txn.count_written(model, len(rows))

    def changed_here(self, model, key):
        """Whether this transaction has changed the record (staged, not yet written)."""
        tracked = self._rows.get((model, key))
        return tracked is not None and tracked.dirty

    def stamp_unchanged(self, row, digest):
        """Remember that a body with this digest leaves the row as it is (written at flush)."""
        stamp = input_stamp(row.version, digest)
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
                    raise HttpConflict("Another writer created one of these records at the same "
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
                              "version": tracked.row.version,
                              "left_at": tracked.row.updated_at,
                              "change_seq": tracked.row.change_seq, "deleted": False,
                              "before": before, "after": after})
        if exits:
            statements.insert_plain(FeedExit, exits)


def _gives_up_a_flag(resource, tracked):
    """The row held an exclusive flag and no longer holds it where it held it."""
    row, original = tracked.row, tracked.original
    flags = resource.exclusive_flags if type(row) is resource.model else {}
    return any(original.get(flag) and (not getattr(row, flag)
                                       or getattr(row, scope) != original.get(scope))
               for flag, scope in flags.items())
