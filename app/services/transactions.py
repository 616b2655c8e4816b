"""Write transactions, and the change sequence that orders every collection's feed.

Every change a write transaction makes is stamped with one number, its
`change_seq`; the change feed (services/feed.py) is read in (change_seq, id)
order, and a stored cursor must never skip a change that commits later.

SQLite has one writer at a time (BEGIN IMMEDIATE), so a tenant's counter
(`tenants.change_seq`) hands out numbers in commit order at no extra cost.

PostgreSQL lets writers of one tenant run and commit side by side, so
numbers cannot be handed out in commit order without a lock held to COMMIT.
Instead, as PgQ does, a change is stamped with its transaction's id
(`pg_current_xact_id()`, plus the database's clock offset, see
`change_clock`), and a feed read returns only changes below the horizon:
the oldest transaction id still running (`pg_snapshot_xmin`). Every
transaction below it has ended, and a new transaction always gets a higher
id, so nothing can ever appear behind a cursor. The price: a transaction
that stays open anywhere in the cluster holds the horizon back, and the
feed waits for it (it never loses a change); `feed_lag()` measures that.

Without the tenant lock, PostgreSQL writers are kept apart by advisory
locks, each held to the end of the transaction:
- the collection, shared by every writer of it and exclusive for work on the
  whole collection (a sync run's finish, email events);
- each key a transaction writes, exclusive, all of them taken sorted in one
  statement before any of them is read (two batches never deadlock);
- a resource's cross-record rules (one primary contact per account, a
  hierarchy without loops, matching people without references), exclusive,
  taken after the keys; the rows are read again once they are held.
"""
import hashlib
import threading
from contextlib import contextmanager

from peewee import SQL, NodeList

from app.db import compiled_sql, database, is_postgresql, writer_queue
from app.models import FeedExit, Tenant, utcnow
from app.services import statistics

_CLOCK = "(SELECT xid_offset FROM change_clock WHERE id = 1)"
CHANGE_SEQ_SQL = f"(pg_current_xact_id()::text::bigint + {_CLOCK})"
CHANGE_SEQ = SQL(CHANGE_SEQ_SQL)  # PostgreSQL: the writing transaction's change number


def _lock_id(*parts):
    """A 64-bit advisory lock id for a name (a collision only makes two writers wait)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class WriteTransaction:
    """One write transaction of one tenant: its time, its change number and its locks."""

    def __init__(self, tenant_id):
        self.tenant_id = tenant_id
        self.now = utcnow()
        self._seq = None
        self._held = set()  # advisory locks taken (PostgreSQL)
        self._whole = set()  # tables held exclusively: their keys need no locks of their own
        self.rows_written = {}  # table -> rows inserted, updated or deleted (statistics.py)

    def count_written(self, model, rows):
        """Note that `rows` rows of `model`'s table were written (for the planner statistics)."""
        table = model._meta.table_name
        self.rows_written[table] = self.rows_written.get(table, 0) + rows

    def change_seq(self):
        """What to store as this transaction's change number.

        SQLite: the number, taken from the tenant's counter on first use.
        PostgreSQL: an expression every statement evaluates to the same number
        (the transaction's id), so no statement is spent asking for it.
        """
        if is_postgresql():
            return CHANGE_SEQ
        if self._seq is None:
            sql = compiled_sql("next_change_seq", lambda: (
                Tenant.update(change_seq=Tenant.change_seq + 1).where(Tenant.id == 0)
                .returning(Tenant.change_seq).sql()[0]))
            self._seq = database.execute_sql(sql, (1, self.tenant_id)).fetchone()[0]
        return self._seq

    def lock_keys(self, table, keys):
        """Hold the collection (shared) and these keys (exclusive) until commit."""
        if not is_postgresql() or table in self._whole:
            return
        collection = _lock_id(self.tenant_id, table)
        wanted = sorted({_lock_id(self.tenant_id, table, "key", key) for key in keys}
                        - self._held)
        if collection not in self._held and not wanted:
            database.execute_sql("SELECT pg_advisory_xact_lock_shared(%s)", (collection,))
            self._held.add(collection)
        elif collection not in self._held:
            # One statement for both (a key's row needs the collection's row to join).
            database.execute_sql(
                "SELECT count(pg_advisory_xact_lock(k)) FROM "
                "(SELECT pg_advisory_xact_lock_shared(%s)) AS c, unnest(%s::bigint[]) AS k",
                (collection, wanted))
            self._held.add(collection)
        elif wanted:
            database.execute_sql("SELECT count(pg_advisory_xact_lock(k)) "
                                 "FROM unnest(%s::bigint[]) AS k", (wanted,))
        self._held.update(wanted)

    def lock_rules(self, table, names):
        """Hold these rules of a collection (exclusive); True when one was not held before."""
        if not is_postgresql():
            return False
        wanted = sorted({_lock_id(self.tenant_id, table, "rule", name) for name in names}
                        - self._held)
        if wanted:
            database.execute_sql("SELECT count(pg_advisory_xact_lock(k)) "
                                 "FROM unnest(%s::bigint[]) AS k", (wanted,))
            self._held.update(wanted)
        return bool(wanted)

    def lock_collection(self, table):
        """Hold the whole collection (exclusive): no other writer of it runs until commit."""
        if is_postgresql():
            lock = _lock_id(self.tenant_id, table)
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (lock,))
            self._held.add(lock)
            self._whole.add(table)


_active = threading.local()


@contextmanager
def write_transaction(tenant_id):
    """Run a block as one write transaction of a tenant (BEGIN IMMEDIATE on SQLite).

    Inside another write transaction of the same tenant it is a savepoint of
    that one: an idempotent POST keeps its stored answer in the same
    transaction as the work it answers for.
    """
    outer = getattr(_active, "txn", None)
    if outer is not None:
        if outer.tenant_id != tenant_id:
            raise RuntimeError("write transactions of two tenants cannot nest")
        seq_before, held_before, whole_before = outer._seq, set(outer._held), set(outer._whole)
        try:
            with database.atomic():
                yield outer
        except BaseException:
            # Rolled back with the savepoint: SQLite's counter update and any lock taken in it.
            outer._seq = seq_before
            outer._held, outer._whole = held_before, whole_before
            raise
        return
    txn = WriteTransaction(tenant_id)
    with writer_queue(), database.atomic():
        _active.txn = txn
        try:
            yield txn
        finally:
            _active.txn = None
    statistics.after_commit(txn.rows_written)


def feed_horizon():
    """The change number below which every change has committed (None: no horizon, SQLite)."""
    if not is_postgresql():
        return None
    sql = f"SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint + {_CLOCK}"
    return database.execute_sql(sql).fetchone()[0]


def start_snapshot():
    """What a sync run remembers of its start: (change number, PostgreSQL snapshot or None)."""
    if is_postgresql():
        return database.execute_sql(
            f"SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint + {_CLOCK}, "
            "pg_current_snapshot()::text").fetchone()
    return None, None


def committed_at_start(column, started_seq, snapshot):
    """A condition on a change_seq column: that change had committed when the run started.

    `started_seq` and `snapshot` are what start_snapshot() returned (on
    SQLite the tenant's counter then, and no snapshot).
    """
    if snapshot is None:
        return column <= started_seq
    # Numbers below the snapshot's xmin (numbers from before migration 9 among them) had
    # committed; at or above its xmax they had not; in between the snapshot tells.
    return NodeList((
        SQL("CASE WHEN"), column,
        SQL(f"< pg_snapshot_xmin(%s::pg_snapshot)::text::bigint + {_CLOCK} THEN true WHEN",
            [snapshot]), column,
        SQL(">= %s THEN false ELSE pg_visible_in_snapshot((", [started_seq]), column,
        SQL(f"- {_CLOCK})::text::xid8, %s::pg_snapshot) END", [snapshot])))


def feed_lag():
    """How far the feed's horizon trails the newest transaction: (transaction ids, seconds).

    Seconds are the age of the oldest transaction holding the horizon back, as
    far as this database user may see it; None where it cannot be told.
    """
    if not is_postgresql():
        return 0, 0.0
    ids, seconds = database.execute_sql(
        "SELECT pg_snapshot_xmax(s)::text::bigint - pg_snapshot_xmin(s)::text::bigint, "
        "(SELECT extract(epoch FROM now() - min(xact_start)) FROM pg_stat_activity "
        " WHERE backend_xid IS NOT NULL AND backend_xid::text::bigint = "
        "   mod(pg_snapshot_xmin(s)::text::bigint, 4294967296)) "
        "FROM pg_current_snapshot() AS s").fetchone()
    return ids, (float(seconds) if seconds is not None else 0.0 if ids == 0 else None)


def align_change_clock(record_models):
    """Keep new change numbers above every one stored in these tables and the tombstones (a
    counter before migration 9, or numbers of another cluster after a restore): raise the
    clock's offset when needed."""
    if not is_postgresql():
        return
    highest = max((model.select(model.change_seq).order_by(model.change_seq.desc())
                   .limit(1).scalar() or 0) for model in [*record_models, FeedExit])
    database.execute_sql(
        "UPDATE change_clock SET xid_offset = xid_offset + (%s - (pg_current_xact_id()::text::bigint"
        " + xid_offset) + 1) WHERE id = 1 AND pg_current_xact_id()::text::bigint + xid_offset <= %s",
        (highest, highest))
