"""Reading a collection back: the change feed, versions for reconciliation, lookup by keys.

The feed is ordered by change_seq (services/changes.py). A page holds only
changes below the horizon, the number under which every change has
committed (always, on SQLite's single writer), so a stored cursor never
skips a change that commits later. Pages are read by keyset on (tenant,
change_seq, id) indexes, so a deep cursor costs what the first page costs.
"""
import base64
import binascii
import datetime
import json
from dataclasses import dataclass

from peewee import SQL, NodeList, Tuple, Value, fn

from app.errors import ValidationFailed
from app.models import Tombstone, utcnow
from app.services import statements
from app.services.changes import feed_horizon
from app.services.search import contains_pattern
from app.services.search import matches as search_matches

TOMBSTONE_DAYS = 30
# Positions are 64-bit columns; a forged larger number is a bad cursor, not a driver error.
_INT64_MIN, _INT64_MAX = -2 ** 63, 2 ** 63 - 1
_RECORD, _TOMBSTONE = 0, 1


@dataclass(frozen=True)
class FeedPage:
    items: list         # model rows and tombstone dicts
    next_cursor: str
    has_more: bool


def _bad_cursor():
    return ValidationFailed([{"pointer": "#/cursor", "parameter": "cursor",
                              "detail": "Not a cursor this collection handed out."}],
                            detail="The query string is invalid.")


def encode_cursor(*position):
    """An opaque cursor for a position in a listing."""
    raw = json.dumps(["v1", *position], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text, shape):
    """The position in a cursor; `shape` lists the expected types. 422 when it is not ours."""
    try:
        padded = text + "=" * (-len(text) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _bad_cursor() from None
    if not (isinstance(value, list) and len(value) == len(shape) + 1 and value[0] == "v1"
            and all(isinstance(part, kind) and not isinstance(part, bool)
                    and (kind is not int or _INT64_MIN <= part <= _INT64_MAX)
                    for part, kind in zip(value[1:], shape))):
        raise _bad_cursor()
    return tuple(value[1:])


def read_feed(resource, tenant_id, limit=100, cursor=None, updated_after=None, q=None,
              filters=None):
    """A page of the collection's change feed after `cursor`.

    `filters` holds only the filters given; a None value asks for records
    whose field is null. A filtered feed (any filter or `q`) also reports the
    records that left it since the cursor, so a follower that applies every
    page ends with exactly the records that match now.
    """
    seq, kind, last_id = decode_cursor(cursor, (int, int, int)) if cursor else (0, _TOMBSTONE, 0)
    filters = dict(filters or {})
    model = resource.model

    horizon = feed_horizon()  # one for the whole page: records and removals alike
    records = resource.select(tenant_id).where(_after(model, seq, kind, last_id, _RECORD))
    if horizon is not None:
        records = records.where(model.change_seq < horizon)
    if updated_after is not None:
        records = records.where(model.updated_at > _naive_utc(updated_after))
    if q:
        records = records.where(NodeList((model.search_text, SQL("LIKE"),
                                          Value(contains_pattern(q)), SQL("ESCAPE '\\'"))))
    records = filter_records(resource, records, filters)
    rows = list(records.order_by(model.change_seq, model.id).limit(limit + 1))
    entries = [((row.change_seq, _RECORD, row.id), row) for row in rows]

    # Past the (limit + 1)th record nothing can make this page or change has_more.
    bound = entries[limit][0] if len(entries) > limit else None
    removals = _Removals(resource, tenant_id, (seq, kind, last_id), updated_after, horizon)
    if filters or q:
        entries.extend(removals.leaving(limit, bound, lambda state: _matches(
            resource, state, filters, q)))
    else:
        entries.extend(removals.deleted(limit))
    entries.sort(key=lambda entry: entry[0])
    page, has_more = entries[:limit], len(entries) > limit
    next_position = page[-1][0] if page else (seq, kind, last_id)
    return FeedPage([item for _, item in page], encode_cursor(*next_position), has_more)


def filter_records(resource, query, filters):
    """The query narrowed by field filters ({name: value}; None asks for null)."""
    for name, value in filters.items():
        column = getattr(resource.model, name)
        if value is None:
            query = query.where(column.is_null())
        elif resource.feed_filters[name] == "ci":
            query = query.where(fn.LOWER(column) == value.lower())
        else:
            query = query.where(column == value)
    return query


def _matches(resource, state, filters, q):
    """Whether a kept state (Tombstone.before/after) matches the filters, as the SQL above."""
    if state is None:
        return False
    for name, value in filters.items():
        stored = state.get(name)
        if value is None:
            if stored is not None:
                return False
        elif resource.feed_filters[name] == "ci":
            if stored is None or stored.lower() != value.lower():
                return False
        elif stored != value:
            return False
    return not q or search_matches(state.get("search_text"), q)


class _Removals:
    """Tombstone rows of one collection after a feed position, within the 30 days kept."""

    def __init__(self, resource, tenant_id, position, updated_after, horizon):
        self.resource = resource
        oldest = utcnow() - datetime.timedelta(days=TOMBSTONE_DAYS)
        self.query = Tombstone.select().where(Tombstone.tenant == tenant_id,
                                              Tombstone.collection == resource.name,
                                              Tombstone.deleted_at >= oldest)
        if horizon is not None:
            self.query = self.query.where(Tombstone.change_seq < horizon)
        if updated_after is not None:
            self.query = self.query.where(Tombstone.deleted_at > _naive_utc(updated_after))
        self.position = position

    def _item(self, row, deleted):
        item = {self.resource.key_field: row.key, "deleted": deleted, "version": row.version,
                "updated_at": row.deleted_at}
        if not deleted:
            item["matches_filter"] = False
        return ((row.change_seq, _TOMBSTONE, row.id), item)

    def deleted(self, limit):
        """Deletions after the position: what an unfiltered follower must remove."""
        rows = (self.query.where(Tombstone.deleted == True,  # noqa: E712
                                 _after(Tombstone, *self.position, _TOMBSTONE))
                .order_by(Tombstone.change_seq, Tombstone.id).limit(limit + 1))
        return [self._item(row, True) for row in rows]

    def leaving(self, limit, bound, matched, chunk=500):
        """Deletions and changes that took a record out of a filtered view.

        Read in chunks up to `bound` and judged on the stored before/after
        states; only limit + 1 of them can matter to one page.
        """
        found, position = [], self.position
        while len(found) <= limit:
            rows = list(self.query.where(_after(Tombstone, *position, _TOMBSTONE))
                        .order_by(Tombstone.change_seq, Tombstone.id).limit(chunk))
            for row in rows:
                entry_position = (row.change_seq, _TOMBSTONE, row.id)
                if bound is not None and entry_position > bound:
                    return found
                if matched(row.before) and (row.deleted or not matched(row.after)):
                    found.append(self._item(row, row.deleted))
            if len(rows) < chunk:
                return found
            position = (rows[-1].change_seq, _TOMBSTONE, rows[-1].id)
        return found


def _after(model, seq, kind, last_id, own_kind):
    """Rows of `model` (all of kind `own_kind`) past the position (seq, kind, last_id).

    Written as a row-value comparison so both databases seek the (tenant,
    change_seq, id) index instead of scanning from the tenant's first row.
    """
    position = Tuple(model.change_seq, model.id)
    if kind == own_kind:
        return position > (seq, last_id)
    if kind < own_kind:  # everything of ours at this seq comes after the cursor
        return model.change_seq >= seq
    return model.change_seq > seq


def _naive_utc(moment):
    return moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)


def record_tombstone(txn, resource, row):
    """Leave a tombstone for a deleted record and purge the tenant's expired ones."""
    Tombstone.insert(tenant=txn.tenant_id, collection=resource.name,
                     key=getattr(row, resource.key_field), version=row.version + 1,
                     deleted_at=txn.now, change_seq=txn.change_seq(), deleted=True,
                     before=resource.feed_state(statements.row_data(row))).execute()
    oldest = txn.now - datetime.timedelta(days=TOMBSTONE_DAYS)
    Tombstone.delete().where(Tombstone.tenant == txn.tenant_id,
                             Tombstone.deleted_at < oldest).execute()


def read_versions(resource, tenant_id, limit=1000, cursor=None):
    """Keys, versions and update times of live records, in key order after `cursor`."""
    model = resource.model
    query = (model.select(resource.key_column, model.version, model.updated_at)
             .where(model.tenant == tenant_id))
    after = decode_cursor(cursor, (str,))[0] if cursor else None
    if after is not None:
        query = query.where(resource.key_column > after)
    rows = list(query.order_by(resource.key_column).limit(limit + 1).tuples())
    page = rows[:limit]
    items = [{resource.key_field: key, "version": version, "updated_at": updated_at}
             for key, version, updated_at in page]
    last = page[-1][0] if page else after
    next_cursor = encode_cursor(last) if last is not None else encode_cursor("")
    return FeedPage(items, next_cursor, len(rows) > limit)


def lookup(resource, tenant_id, keys):
    """(records found, in the order asked, and the keys not found)."""
    unique = list(dict.fromkeys(keys))
    found = {getattr(row, resource.key_field): row
             for row in statements.find_many(resource.model, resource.key_field, tenant_id,
                                             unique)}
    return ([found[key] for key in unique if key in found],
            [key for key in unique if key not in found])

