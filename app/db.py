"""The one database proxy, how it is bound from a URL, and write transactions."""
import os
from contextlib import contextmanager

from peewee import DatabaseProxy, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import connect as connect_url

database = DatabaseProxy()


def open_database(url, busy_timeout_seconds=30):
    """Build (without connecting) the Peewee database a DATABASE_URL names."""
    if url.startswith("sqlite:"):
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
        return connect_url(
            url,
            pragmas={
                "journal_mode": "wal",
                "synchronous": "normal",
                "foreign_keys": 1,
                "busy_timeout": int(busy_timeout_seconds * 1000),
                "cache_size": -16000,
            },
            timeout=busy_timeout_seconds,
            # Every write transaction takes the write lock up front, so a
            # reader never has to upgrade to a writer and fail "locked".
            lock_type="IMMEDIATE",
            returning_clause=True,
        )
    if url.startswith(("postgres://", "postgresql://")):
        return connect_url(url.replace("postgres://", "postgresql://", 1))
    return connect_url(url)


def bind_database(url, busy_timeout_seconds=30):
    """Point the module-wide proxy at the database of this URL (no connection yet)."""
    old = database.obj
    if old is not None and not old.is_closed():
        old.close()
    database.initialize(open_database(url, busy_timeout_seconds))
    return database.obj


def is_postgresql():
    """True when the bound database is PostgreSQL."""
    return isinstance(database.obj, PostgresqlDatabase)


def is_sqlite():
    """True when the bound database is SQLite."""
    return isinstance(database.obj, SqliteDatabase)


def release_broken_connection():
    """Close the connection when the server dropped it, so the next request reconnects."""
    db = database.obj
    if db is None or db.is_closed():
        return
    try:
        usable = db.is_connection_usable()
    except Exception:  # pragma: no cover - depends on the driver's state
        usable = False
    if not usable:
        db.close()


def database_answers():
    """True when the database answers a trivial query (a dropped connection is reopened next time)."""
    try:
        database.execute_sql("SELECT 1").fetchone()
        return True
    except Exception:
        if not database.is_closed():
            database.close()
        return False


class WriteTransaction:
    """One write transaction of one tenant, with that tenant's change sequence.

    Every write transaction that changes something takes a number from the
    tenant's change counter; the counter row stays locked until commit, so
    numbers are handed out in commit order and a reader of the change feed
    never sees a later number before an earlier one has committed.
    """

    def __init__(self, tenant_id):
        from app.models import utcnow

        self.tenant_id = tenant_id
        self.now = utcnow()
        self._seq = None

    @property
    def change_seq(self):
        """This transaction's change number, allocated on first use."""
        if self._seq is None:
            from app.models import Tenant

            query = (Tenant.update(change_seq=Tenant.change_seq + 1)
                     .where(Tenant.id == self.tenant_id)
                     .returning(Tenant.change_seq))
            self._seq = next(iter(query.execute())).change_seq
        return self._seq


@contextmanager
def write_transaction(tenant_id):
    """Run a block as one write transaction of a tenant (BEGIN IMMEDIATE on SQLite)."""
    with database.atomic():
        if is_postgresql():
            # Serialise a tenant's writers on its counter row before they read
            # anything, so every writer locks in the same order (no deadlock).
            from app.models import Tenant

            (Tenant.select(Tenant.id).where(Tenant.id == tenant_id)
             .for_update().execute())
        yield WriteTransaction(tenant_id)
