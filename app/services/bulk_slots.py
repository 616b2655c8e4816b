"""At most N bulk requests of one tenant at a time, across threads, workers and hosts.

A slot is a lock taken on purpose and held for one request: on PostgreSQL a
session advisory lock on the request's connection (shared by every host of
the database, and released by the server if the connection dies), on SQLite
an flock() on a small file beside the database (released by the kernel if
the process dies). Nothing is counted, so nothing can be left counted by a
crash.
"""
import atexit
import fcntl
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass

from app.db import database, is_postgresql

# The first key of the advisory lock: "ar" in its high bytes, the slot number below.
_LOCK_CLASS = 0x61720000


@dataclass(frozen=True)
class Slot:
    """A held slot: on PostgreSQL its lock keys, elsewhere its file descriptor."""

    tenant_id: int
    number: int
    descriptor: int | None = None


class BulkSlots:
    """Slots for the concurrent bulk requests of each tenant (`limit` each, 0: unlimited)."""

    def __init__(self, limit):
        self.limit = limit
        self._directories = set()
        # The slots this thread holds: PostgreSQL's session locks are reentrant, so its
        # connection would take a slot it already holds a second time.
        self._held = threading.local()

    def acquire(self, tenant_id):
        """A free slot of the tenant, or None when all `limit` are held."""
        held = self._held_keys()
        for number in range(self.limit):
            if (tenant_id, number) in held:
                continue
            slot = self._try(tenant_id, number)
            if slot is not None:
                held.add((tenant_id, number))
                return slot
        return None

    def release(self, slot):
        """Give the slot back (a no-op when its connection is already gone)."""
        self._held_keys().discard((slot.tenant_id, slot.number))
        if slot.descriptor is not None:
            try:
                fcntl.flock(slot.descriptor, fcntl.LOCK_UN)
            finally:
                os.close(slot.descriptor)
            return
        if database.is_closed():
            return  # the server released it with the session
        try:
            database.execute_sql("SELECT pg_advisory_unlock(%s, %s)",
                                 (_LOCK_CLASS + slot.number, slot.tenant_id))
        except Exception:
            database.close()  # a session that cannot unlock is ended: that unlocks

    def _held_keys(self):
        if not hasattr(self._held, "keys"):
            self._held.keys = set()
        return self._held.keys

    def _try(self, tenant_id, number):
        if is_postgresql():
            taken = database.execute_sql("SELECT pg_try_advisory_lock(%s, %s)",
                                         (_LOCK_CLASS + number, tenant_id)).fetchone()[0]
            return Slot(tenant_id, number) if taken else None
        path = os.path.join(self._lock_directory(), f"{tenant_id}-{number}.lock")
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return None
        return Slot(tenant_id, number, descriptor)

    def _lock_directory(self):
        name = database.obj.database
        if name in ("", ":memory:") or name.startswith("file::memory:"):
            # A database of one process: its slots need no neighbour, only a private place.
            directory = os.path.join(tempfile.gettempdir(), f"ar-ingest-{os.getpid()}-bulk-slots")
            if directory not in self._directories:
                atexit.register(shutil.rmtree, directory, ignore_errors=True)
        else:
            directory = os.path.abspath(name) + "-bulk-slots"
        if directory not in self._directories:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            self._directories.add(directory)
        return directory
