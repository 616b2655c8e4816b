"""The change feed: every record of a collection in the order of its latest change.

The feed is ordered by change_seq (services/transactions.py). A page holds only
changes below the horizon, the number under which every change has
committed (always, on SQLite's single writer), so a stored cursor never
skips a change that commits later. Pages are read by keyset on (tenant,
change_seq, id) indexes, so a deep cursor costs what the first page costs.
"""
import datetime

from peewee import SQL, NodeList, Tuple, Value

from app.models import FeedExit, utcnow
from app.services.cursors import (CursorPage, decode_cursor, encode_cursor,
                                  legacy_feed_position_allowed)
from app.services.emails import email_key
from app.services.search import contains_pattern
from app.services.search import matches as search_matches
from app.services.transactions import feed_horizon

from app.services.write_context import TOMBSTONE_DAYS

_RECORD, _EXIT = 0, 1  # the table a position's row is in


def read_feed(resource, tenant_id, limit=100, cursor=None, updated_after=None, q=None,
              filters=None):
    """A page of the collection's change feed after `cursor`.

    `filters` holds only the filters given; a None value asks for records
    whose field is null. A filtered feed (any filter or `q`) also reports the
    records that left it since the cursor, so a follower that applies every
    page ends with exactly the records that match now.
    """
    listing = feed_listing(resource)
    seq, table, last_id = (decode_cursor(cursor, (int, int, int), tenant_id, listing,
                                        legacy_feed_position_allowed)
                          if cursor else (0, _EXIT, 0))
    filters = dict(filters or {})
    model = resource.model

    horizon = feed_horizon()  # one for the whole page: records and removals alike
    records = resource.select(tenant_id).where(_after(model, seq, table, last_id, _RECORD))
    if horizon is not None:
        records = records.where(model.change_seq < horizon)
    if updated_after is not None:
        records = records.where(model.updated_at > _naive_utc(updated_after))
    if q:
        records = records.where(_q_or_left(model, q, since_start=cursor is None))
    records = filter_records(resource, records, filters)
    rows = list(records.order_by(model.change_seq, model.id).limit(limit + 1))
    entries = [((row.change_seq, _RECORD, row.id),
                row if not q or search_matches(row.search_text, q) else _left_q(resource, row))
               for row in rows]

    # Past the (limit + 1)th record nothing can make this page or change has_more.
    bound = entries[limit][0] if len(entries) > limit else None
    removals = _Removals(resource, tenant_id, (seq, table, last_id), updated_after, horizon)
    if filters or q:
        entries.extend(removals.leaving(limit, bound, lambda state: _matches(
            resource, state, filters, q)))
    else:
        entries.extend(removals.deleted(limit))
    entries.sort(key=lambda entry: entry[0])
    page, has_more = entries[:limit], len(entries) > limit
    next_position = page[-1][0] if page else (seq, table, last_id)
    return CursorPage(_latest_per_key(resource, [item for _, item in page]),
                      encode_cursor(tenant_id, listing, *next_position), has_more)


def _latest_per_key(resource, items):
    """The page's items with only the last of each key: a record deleted (or gone from the
    view) and written again since shows once, as it is now, as a record appears once."""
    key_field = resource.key_field
    keys = [item[key_field] if isinstance(item, dict) else getattr(item, key_field)
            for item in items]
    last = {key: index for index, key in enumerate(keys)}
    return [item for index, item in enumerate(items) if last[keys[index]] == index]


def feed_listing(resource):
    """What a feed cursor is bound to besides its tenant (services/cursors.py)."""
    return f"{resource.name}:feed"


def filter_records(resource, query, filters):
    """The query narrowed by field filters ({name: value}; None asks for null)."""
    for name, value in filters.items():
        column = getattr(resource.model, name)
        if value is None:
            query = query.where(column.is_null())
        elif resource.feed_filters[name] == "email":  # as matching compares addresses
            query = query.where(resource.model.email_key == email_key(value))
        else:
            query = query.where(column == value)
    return query


def _q_or_left(model, q, since_start):
    """Records matching `q`, and, after a cursor, records that may have left its view.

    A change of search text leaves no exit row (a rename would cost one): a
    record changed after the cursor that no longer matches is reported as
    not matching instead. The follower then holds exactly what matches now,
    whatever it held: a record unchanged since the cursor matched then as it
    does now, and one still at version 1 was created after the cursor. The
    rows come from the same index scan that `LIKE` alone would read.
    """
    matching = NodeList((model.search_text, SQL("LIKE"), Value(contains_pattern(q)),
                         SQL("ESCAPE '\\'")))
    return matching if since_start else (matching | (model.version > 1))


def _left_q(resource, row):
    return {resource.key_field: getattr(row, resource.key_field), "deleted": False,
            "version": row.version, "updated_at": row.updated_at, "matches_filter": False}


def _matches(resource, state, filters, q=None):
    """Whether a kept state (FeedExit.before/after) matches the field filters, as the SQL
    above. States no longer keep the search text (the records' own scan judges `q`, see
    _q_or_left); `q` is judged only on exit rows written before that."""
    if state is None:
        return False
    for name, value in filters.items():
        stored = state.get(name)
        if value is None:
            if stored is not None:
                return False
        elif resource.feed_filters[name] == "email":
            if stored is None or email_key(stored) != email_key(value):
                return False
        elif stored != value:
            return False
    return not q or "search_text" not in state or search_matches(state["search_text"], q)


class _Removals:
    """FeedExit rows of one collection after a feed position, within the 30 days kept."""

    def __init__(self, resource, tenant_id, position, updated_after, horizon):
        self.resource = resource
        oldest = utcnow() - datetime.timedelta(days=TOMBSTONE_DAYS)
        self.query = FeedExit.select().where(FeedExit.tenant == tenant_id,
                                              FeedExit.collection == resource.name,
                                              FeedExit.left_at >= oldest)
        if horizon is not None:
            self.query = self.query.where(FeedExit.change_seq < horizon)
        if updated_after is not None:
            self.query = self.query.where(FeedExit.left_at > _naive_utc(updated_after))
        self.position = position

    def _item(self, row, deleted):
        item = {self.resource.key_field: row.key, "deleted": deleted, "version": row.version,
                "updated_at": row.left_at}
        if not deleted:
            item["matches_filter"] = False
        return ((row.change_seq, _EXIT, row.id), item)

    def deleted(self, limit):
        """Deletions after the position: what an unfiltered follower must remove."""
        rows = (self.query.where(FeedExit.deleted == True,  # noqa: E712
                                 _after(FeedExit, *self.position, _EXIT))
                .order_by(FeedExit.change_seq, FeedExit.id).limit(limit + 1))
        return [self._item(row, True) for row in rows]

    def leaving(self, limit, bound, matched, chunk=500):
        """Deletions and changes that took a record out of a filtered view.

        Read in chunks up to `bound` and judged on the stored before/after
        states; only limit + 1 of them can matter to one page.
        """
        found, position = [], self.position
        while len(found) <= limit:
            rows = list(self.query.where(_after(FeedExit, *position, _EXIT))
                        .order_by(FeedExit.change_seq, FeedExit.id).limit(chunk))
            for row in rows:
                entry_position = (row.change_seq, _EXIT, row.id)
                if bound is not None and entry_position > bound:
                    return found
                if matched(row.before) and (row.deleted or not matched(row.after)):
                    found.append(self._item(row, row.deleted))
            if len(rows) < chunk:
                return found
            position = (rows[-1].change_seq, _EXIT, rows[-1].id)
        return found


def _after(model, seq, table, last_id, own_table):
    """Rows of `model` (all of table `own_table`) past the position (seq, table, last_id).

    Written as a row-value comparison so both databases seek the (tenant,
    change_seq, id) index instead of scanning from the tenant's first row.
    """
    position = Tuple(model.change_seq, model.id)
    if table == own_table:
        return position > (seq, last_id)
    if table < own_table:  # everything of ours at this seq comes after the cursor
        return model.change_seq >= seq
    return model.change_seq > seq


def _naive_utc(moment):
    return moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)
