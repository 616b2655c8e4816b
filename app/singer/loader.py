"""What target-ar-ingest does with records, deletions and table versions, on the project's client.

The loader keeps every operation in the order the tap sent it, across streams
(a contact may name an account sent just before it in another stream), and
sends them on `flush()`: runs of upserts of one collection as batches, each
deletion as a DELETE. A full table (records carrying a version) is loaded in a
sync run, started before the version's first record and finished when the
table ends. This module imports no Singer SDK: app/singer/target.py feeds it.
"""
import json
import logging
import os
import datetime as dt
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import quote

from app.client import ApiError, Conflict, NotFound

# An item answered 409 lost a race with another writer: sent again, then rejected.
_CONFLICT_TRIES = 3


class LoadFailed(Exception):
    """The load cannot go on: too many rejects, or a full table's finish was refused."""


@dataclass
class Operation:
    """One record of one stream: an upsert, or a deletion (`_sdc_deleted_at` set)."""

    stream: str
    collection: str
    record: dict
    version: Optional[int] = None
    deleted: bool = False


@dataclass
class Run:
    """The sync run of one stream's table version."""

    collection: str
    version: int
    run_id: str
    rejected: int = 0


@dataclass
class Counts:
    """What the load did so far."""

    created: int = 0
    replaced: int = 0
    unchanged: int = 0
    rejected: int = 0
    deleted: int = 0
    absent: int = 0          # deletions of records the server did not have
    runs: list = field(default_factory=list)  # each finished or aborted run's outcome

    def summary(self):
        """`3 created, 0 replaced, ...` for the closing log line."""
        finished = [run for run in self.runs if run["status"] == "finished"]
        return (f"{self.created} created, {self.replaced} replaced, {self.unchanged} unchanged, "
                f"{self.rejected} rejected, {self.deleted} deleted ({self.absent} already absent); "
                f"full tables removed {sum(run['deleted'] for run in finished)} and archived "
                f"{sum(run['archived'] for run in finished)}")


def plain(value):
    """A record value as JSON sends it: dates and times back to ISO text."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dict):
        return {name: plain(item) for name, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def body_of(record):
    """The record without the Singer metadata columns (`_sdc_*`)."""
    return {name: plain(value) for name, value in record.items() if not name.startswith("_sdc_")}


class Loader:
    """Ordered operations of every stream, sent through an IngestClient."""

    def __init__(self, client, *, batch_size=1000, reject_file=None, max_rejects=1000,
                 max_removal_ratio=None, max_removals=None, logger=None):
        self.client, self.batch_size = client, batch_size
        self.max_rejects = max_rejects
        self.guards = {name: value for name, value in (("max_removal_ratio", max_removal_ratio),
                                                        ("max_removals", max_removals))
                       if value is not None}
        self.logger = logger or logging.getLogger("target-ar-ingest")
        self.reject_file, self._rejects = reject_file, None
        self.pending: list[Operation] = []
        self.runs: dict[str, Run] = {}
        self.announced: dict[str, int] = {}  # versions activated before their first record
        self.counts = Counts()

    # -- operations -------------------------------------------------------------------------
    def add(self, stream, collection, record, version=None):
        """Queue one record (a deletion when `_sdc_deleted_at` is set)."""
        self.pending.append(Operation(stream, collection, record, version,
                                      bool(record.get("_sdc_deleted_at"))))

    def flush(self):
        """Send every queued operation, in order; rejects are counted and written."""
        pending, self.pending = self.pending, []
        index = 0
        while index < len(pending):
            first = pending[index]
            if first.deleted:
                self._delete(first)
                index += 1
                continue
            run = self._run_for(first) if first.version is not None else None
            key_field, batch, keys = self.client.key_fields()[first.collection], [], set()
            while index < len(pending) and len(batch) < self.batch_size:
                operation = pending[index]
                key = operation.record.get(key_field)
                # The same key twice in one batch fails the later item: start another batch.
                if operation.deleted or (operation.stream, operation.collection,
                                         operation.version) != \
                        (first.stream, first.collection, first.version) or key in keys:
                    break
                keys.add(key)
                batch.append(operation)
                index += 1
            self._upsert(first.collection, batch, run)

    def _upsert(self, collection, batch, run, tries=_CONFLICT_TRIES):
        answer = self.client.collection(collection).batch(
            [body_of(operation.record) for operation in batch],
            sync_run=run.run_id if run else None)
        raced = []
        for operation, result in zip(batch, answer["results"]):
            status = result["status"]
            if status == 409 and tries > 1:
                raced.append(operation)
            elif status >= 400:
                self._reject(operation, result.get("errors") or [], run)
        for outcome in ("created", "replaced", "unchanged"):
            setattr(self.counts, outcome, getattr(self.counts, outcome) + answer[outcome])
        if raced:
            self._upsert(collection, raced, run, tries - 1)

    def _delete(self, operation):
        key_field = self.client.key_fields()[operation.collection]
        key = operation.record.get(key_field)
        if not isinstance(key, str) or not key:
            self._reject(operation, [{"pointer": f"#/{key_field}",
                                      "detail": "A deleted record needs its key."}], None)
            return
        try:
            # Archived instead when other records depend on it (the API's own rule).
            self.client.request("DELETE", f"/{operation.collection}/{quote(key, safe='')}",
                                params={"archive_if_referenced": "true"})
            self.counts.deleted += 1
        except NotFound:
            self.counts.absent += 1
        except ApiError as refused:
            if refused.status != 422:
                raise
            self._reject(operation, refused.errors or [{"detail": refused.detail}], None)

    def _reject(self, operation, errors, run):
        """Write the refused record with the server's reasons; fail past max_rejects."""
        self.counts.rejected += 1
        if run is not None:
            run.rejected += 1
        if self.reject_file:
            if self._rejects is None:
                directory = os.path.dirname(os.path.abspath(self.reject_file))
                os.makedirs(directory, exist_ok=True)
                self._rejects = open(self.reject_file, "a", encoding="utf-8")
            reasons = [dict(error, pointer=_relative(error.get("pointer"))) for error in errors]
            self._rejects.write(json.dumps({
                "stream": operation.stream, "collection": operation.collection,
                "record": body_of(operation.record), "errors": reasons},
                default=str, ensure_ascii=False) + "\n")
            self._rejects.flush()
        self.logger.warning("Rejected a %s record: %s", operation.stream,
                            "; ".join(f"{_relative(e.get('pointer'))}: {e.get('detail')}"
                                      for e in errors))
        if self.counts.rejected > self.max_rejects:
            self.abort_runs("more records were rejected than max_rejects allows")
            raise LoadFailed(f"{self.counts.rejected} records were rejected, more than "
                             f"max_rejects ({self.max_rejects}); see the reject file.")

    # -- table versions ---------------------------------------------------------------------
    def _run_for(self, operation):
        """The sync run of the operation's table version, started when the version begins."""
        run = self.runs.get(operation.stream)
        if run is not None and run.version == operation.version:
            return run
        if run is not None:
            self._abort(operation.stream, run, f"version {operation.version} began before "
                                               f"version {run.version} was activated")
        try:
            started = self.client.request("POST", f"/{operation.collection}:sync-runs",
                                          json={"scope": {}})
        except Conflict as refused:
            running = refused.problem.get("running_run") or "another run"
            raise LoadFailed(
                f"Cannot load the full table of {operation.stream}: {refused.detail} Abort "
                f"{running} (POST /{operation.collection}:sync-runs/<id>:abort) if it was "
                "left by a load that died.") from refused
        run = self.runs[operation.stream] = Run(operation.collection, operation.version,
                                                started["id"])
        self.logger.info("Sync run %s started for %s (table version %s)", run.run_id,
                         operation.stream, run.version)
        return run

    def activate(self, stream, version):
        """ACTIVATE_VERSION: the table `version` of `stream` is whole. Removes what it lacks,
        unless no record of that version came before (a tap's announcement)."""
        self.flush()
        run = self.runs.get(stream)
        if run is None or run.version != version:
            if run is not None and run.version > version:
                return  # a stale activation; the newer table is still loading
            if run is not None:
                self._abort(stream, run, f"version {version} was activated instead")
            self.announced[stream] = version
            self.logger.info("Table version %s of %s activated before any of its records: "
                             "nothing removed", version, stream)
            return
        self._finish(stream, run)

    def finish_announced(self):
        """At a clean end of input: finish the runs of versions announced at their start
        (taps that mark a table's start, never its end)."""
        self.flush()
        for stream, run in list(self.runs.items()):
            if self.announced.get(stream) == run.version:
                self._finish(stream, run)

    def _finish(self, stream, run):
        del self.runs[stream]
        path = f"/{run.collection}:sync-runs/{run.run_id}"
        if run.rejected:
            self.client.request("POST", path + ":abort")
            self.logger.error("Full table of %s (version %s): %d records were rejected, so "
                              "nothing was removed (sync run %s aborted)", stream, run.version,
                              run.rejected, run.run_id)
            self.counts.runs.append({"stream": stream, "status": "aborted",
                                     "rejected": run.rejected})
            return
        try:
            finished = self.client.request("POST", path + ":finish", json=self.guards)
        except Conflict as refused:
            self.client.request("POST", path + ":abort")
            self.counts.runs.append({"stream": stream, "status": "refused",
                                     "reason": refused.detail})
            self.abort_runs("another stream's full table was refused")
            raise LoadFailed(f"The full table of {stream} was refused, nothing removed: "
                             f"{refused.detail}") from refused
        result = finished["result"]
        self.counts.runs.append({"stream": stream, "status": "finished", **result})
        self.logger.info("Full table of %s (version %s) finished: %s deleted, %s archived, %s "
                         "kept", stream, run.version, result["deleted"], result["archived"],
                         result["kept"])

    def _abort(self, stream, run, reason):
        self.runs.pop(stream, None)
        try:
            self.client.request("POST", f"/{run.collection}:sync-runs/{run.run_id}:abort")
        except ApiError as failed:  # already ended or expired: nothing to remove either way
            self.logger.warning("Could not abort sync run %s: %s", run.run_id, failed)
        self.counts.runs.append({"stream": stream, "status": "aborted", "reason": reason})
        self.logger.warning("Sync run %s of %s aborted, nothing removed: %s", run.run_id,
                            stream, reason)

    def abort_runs(self, reason):
        """End every open run without removing anything."""
        for stream, run in list(self.runs.items()):
            self._abort(stream, run, reason)

    def close(self):
        """Close the reject file."""
        if self._rejects is not None:
            self._rejects.close()
            self._rejects = None


def _relative(pointer):
    """`#/items/3/email` -> `#/email`: the pointer into the record itself."""
    if not isinstance(pointer, str) or not pointer.startswith("#/items/"):
        return pointer
    rest = pointer[len("#/items/"):].partition("/")[2]
    return "#/" + rest if rest else "#"
