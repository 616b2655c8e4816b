"""The one database proxy, how it is bound from a URL, and the SQLite writer queue."""
import fcntl
import os
import select
import socket
import threading
from contextlib import contextmanager, nullcontext

from peewee import SQL, DatabaseProxy, PostgresqlDatabase, SqliteDatabase
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
                # Reads through a memory map instead of read() calls: random access
                # to a large table (a million contacts) stays close to its small-table cost.
                "mmap_size": 256 * 1024 * 1024,
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


class SqliteWriterQueue:
    """Lets one writer at a time into an SQLite file, across threads and processes.

    SQLite's busy handler polls with sleeps of up to 100 ms, so writers that
    collide idle while the file is free. A blocking flock() on a side file
    wakes the next writer the moment the previous one commits; BEGIN
    IMMEDIATE and the busy timeout stay as the safety net.
    """

    def __init__(self, database_path):
        self.path = database_path + "-writer.lock"
        self._thread_lock = threading.Lock()
        self._fd = None
        self._pid = None

    def _descriptor(self):
        if self._pid != os.getpid():  # opened after fork, once per process
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def __enter__(self):
        self._thread_lock.acquire()
        try:
            fcntl.flock(self._descriptor(), fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    def __exit__(self, *exc):
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


_writer_queue = None


def bind_database(url, busy_timeout_seconds=30):
    """Point the module-wide proxy at the database of this URL (no connection yet)."""
    global _writer_queue
    old = database.obj
    if old is not None and not old.is_closed():
        old.close()
    database.initialize(open_database(url, busy_timeout_seconds))
    path = database.obj.database if isinstance(database.obj, SqliteDatabase) else None
    _writer_queue = SqliteWriterQueue(os.path.abspath(path)) if path and path != ":memory:" \
        else None
    return database.obj


_compiled_sql = {}


def compiled_sql(name, build):
    """SQL text built once per kind of database: Peewee's builder costs more than the query."""
    cache_key = (type(database.obj), name)
    sql = _compiled_sql.get(cache_key)
    if sql is None:
        sql = _compiled_sql[cache_key] = build()
    return sql


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


def drop_dead_connection():
    """Before a request: close an idle PostgreSQL connection the server has dropped.

    A terminated backend sends its last message and closes the socket, so an
    idle connection whose socket is readable is dead (or has news no idle
    connection expects): closing it costs a reconnect, using it costs a 503.
    """
    db = database.obj
    if not isinstance(db, PostgresqlDatabase) or db.is_closed() or db.in_transaction():
        return
    try:
        readable, _, _ = select.select([db.connection().pgconn.socket], [], [], 0)
    except Exception:  # no socket left at all
        readable = True
    if readable:
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


def _process_identity(pid):
    """This boot's id, the process id and its start time: one running process, never reused."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot:
            boot_id = boot.read().strip()
        with open(f"/proc/{pid}/stat") as stat:
            # The start time is field 22; the command name (field 2) may hold spaces.
            started = stat.read().rpartition(")")[2].split()[19]
    except OSError:
        return None
    return f"{boot_id}:{pid}:{started}"


_HOLDER_PG = SQL("(SELECT pid::text || '@' || backend_start::text FROM pg_stat_activity "
                 "WHERE pid = pg_backend_pid())")


def holder():
    """Who runs the current request, as stored with a claim: its connection or process.

    On PostgreSQL the request's backend (it ends when the worker dies or the
    connection is dropped); on SQLite the worker process, which is on this machine.
    """
    if is_postgresql():
        return _HOLDER_PG
    return _process_identity(os.getpid()) or f"pid:{socket.gethostname()}:{os.getpid()}"


def holder_alive(stored):
    """False when the holder of a claim is known to be gone (its work can never finish)."""
    if not stored:
        return True  # claims from before holders were stored: only their age tells
    if is_postgresql():
        if "@" not in stored:
            return True
        row = database.execute_sql(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity "
            "WHERE pid::text || '@' || backend_start::text = %s)", (stored,)).fetchone()
        return bool(row[0])
    if stored.startswith("pid:"):
        _, host, pid = stored.split(":", 2)
        if host != socket.gethostname():
            return True
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except (OSError, ValueError):
            return True
        return True
    # An SQLite file is written from one machine: another boot's process is gone.
    pid = stored.split(":")[1]
    return pid.isdigit() and _process_identity(int(pid)) == stored


def writer_queue():
    """The SQLite file's writer queue, to hold around a write transaction (a no-op elsewhere)."""
    return _writer_queue or nullcontext()


@contextmanager
def short_write():
    """A small write transaction that takes no tenant lock (bookkeeping such as claims)."""
    with writer_queue(), database.atomic():
        yield
