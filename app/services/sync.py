"""Sync runs: a full sync marks what it sends, and its finish removes what it did not.

A run records which changes had committed when it started (the tenant's
change counter on SQLite, the transaction snapshot on PostgreSQL:
services/changes.py). Writes that carry the run's id mark their keys seen,
which is not a change (no new version). The finish removes, in one
transaction, every record in the run's scope that is neither seen nor changed
since the start: deleted (with a tombstone) when nothing depends on it,
archived otherwise. It refuses, removing nothing, past `max_removal_ratio`
of the scope, so an empty or broken export never wipes a tenant.
"""
import datetime
import uuid

from peewee import JOIN, fn

from app.errors import Conflict, NotFound, ValidationFailed, parameter_error
from app.models import SyncRun, SyncRunSeen, Tenant, utcnow
from app.services import statements
from app.services.changes import committed_at_start, start_snapshot, write_transaction
from app.services.feed import filter_records
from app.services.tombstones import leave_tombstones

RUN_LIFETIME = datetime.timedelta(hours=24)
DEFAULT_MAX_REMOVAL_RATIO = 0.2
_CHUNK = 500


def start_run(resource, tenant_id, scope):
    """Begin a run over the collection (or the records matching `scope`)."""
    with write_transaction(tenant_id) as txn:
        started_seq, snapshot = start_snapshot()
        if snapshot is None:
            started_seq = Tenant.select(Tenant.change_seq).where(Tenant.id == tenant_id).scalar()
        return SyncRun.create(run_id=uuid.uuid4().hex, tenant=tenant_id,
                              collection=resource.name, scope=scope, started_at=txn.now,
                              started_seq=started_seq, started_snapshot=snapshot,
                              expires_at=txn.now + RUN_LIFETIME)


def _expire(run, now):
    if run.status == "running" and run.expires_at <= now:
        run.status, run.ended_at = "expired", run.expires_at
        run.save(only=[SyncRun.status, SyncRun.ended_at])
    return run


def get_run(resource, tenant_id, run_id):
    """The tenant's run of this collection, expired if its 24 hours are over; else NotFound."""
    run = SyncRun.get_or_none(SyncRun.run_id == run_id, SyncRun.tenant == tenant_id,
                              SyncRun.collection == resource.name)
    if run is None:
        raise NotFound(f"No sync run {run_id!r} of {resource.name}.")
    return _expire(run, utcnow())


def seen_count(run):
    return SyncRunSeen.select().where(SyncRunSeen.run == run.id).count()


def mark_seen(tenant_id, resource, run_id, keys):
    """Record that a run's writes carried these keys (call inside the write transaction)."""
    run = SyncRun.get_or_none(SyncRun.run_id == run_id, SyncRun.tenant == tenant_id)
    if run is None or run.collection != resource.name or \
            _expire(run, utcnow()).status != "running":
        raise ValidationFailed([parameter_error(
            "Sync-Run", f"Not a running sync run of {resource.name}.", header=True)],
                               detail="The Sync-Run header names no running sync run of "
                                      f"{resource.name}; nothing was written.")
    if keys:
        statements.insert_seen(run.id, dict.fromkeys(keys))


def end_run(resource, tenant_id, run_id, status):
    """Abort a running run: it removes nothing."""
    with write_transaction(tenant_id) as txn:
        run = get_run(resource, tenant_id, run_id)
        if run.status != "running":
            raise Conflict(f"The sync run is {run.status}; only a running run can end.",
                           run_status=run.status)
        run.status, run.ended_at = status, txn.now
        run.save(only=[SyncRun.status, SyncRun.ended_at])
        return run


def finish_run(resource, tenant_id, run_id, max_removal_ratio=DEFAULT_MAX_REMOVAL_RATIO):
    """Remove what the run did not see; returns the run with its counts in `result`."""
    model, key_column = resource.model, resource.key_column
    with write_transaction(tenant_id) as txn:
        # Writers carrying the run finish first (their seen marks count); others wait.
        txn.lock_collection(resource.name)
        run = get_run(resource, tenant_id, run_id)
        if run.status != "running":
            raise Conflict(f"The sync run is {run.status}; it can no longer finish.",
                           run_status=run.status)
        in_scope = filter_records(resource, resource.select(tenant_id), run.scope)
        total = in_scope.count()
        unseen = (in_scope.join(SyncRunSeen, JOIN.LEFT_OUTER, on=(
            (SyncRunSeen.run == run.id) & (SyncRunSeen.key == key_column)))
            .where(SyncRunSeen.key.is_null(),
                   committed_at_start(model.change_seq, run.started_seq, run.started_snapshot)))
        stale = list(unseen)
        depended = _depended_on(resource, tenant_id, [getattr(r, resource.key_field)
                                                       for r in stale])
        to_delete = [row for row in stale if getattr(row, resource.key_field) not in depended]
        to_archive = [row for row in stale if getattr(row, resource.key_field) in depended
                      and row.archived_at is None]
        counts = {"in_scope": total, "seen": seen_count(run), "deleted": len(to_delete),
                  "archived": len(to_archive),
                  "kept": total - len(to_delete) - len(to_archive)}
        removing = len(to_delete) + len(to_archive)
        if total and removing / total > max_removal_ratio:
            raise Conflict(
                f"Finishing would remove {removing} of the {total} {resource.name} in scope "
                f"({removing / total:.0%}), more than max_removal_ratio {max_removal_ratio}; "
                "nothing was removed. Check the export, or finish with a higher ratio.",
                would=counts, max_removal_ratio=max_removal_ratio)
        _delete(txn, resource, to_delete)
        _archive(txn, resource, to_archive)
        run.status, run.ended_at, run.result = "finished", txn.now, counts
        run.save(only=[SyncRun.status, SyncRun.ended_at, SyncRun.result])
        return run


def _depended_on(resource, tenant_id, keys):
    """Which of these keys other records still name."""
    found = set()
    for dependent_model, field_name, _, _ in resource.dependents:
        column = getattr(dependent_model, field_name)
        for start in range(0, len(keys), _CHUNK):
            found.update(key for (key,) in dependent_model.select(fn.DISTINCT(column)).where(
                dependent_model.tenant == tenant_id,
                column.in_(keys[start:start + _CHUNK])).tuples())
    return found


def _delete(txn, resource, rows):
    model = resource.model
    leave_tombstones(txn, resource, rows)
    txn.count_written(model, len(rows))
    for start in range(0, len(rows), _CHUNK):
        model.delete().where(model.id.in_([row.id for row in rows[start:start + _CHUNK]])).execute()


def _archive(txn, resource, rows):
    model = resource.model
    txn.count_written(model, len(rows))
    for start in range(0, len(rows), _CHUNK):
        ids = [row.id for row in rows[start:start + _CHUNK]]
        model.update(archived_at=txn.now, version=model.version + 1, updated_at=txn.now,
                     change_seq=txn.change_seq()).where(model.id.in_(ids)).execute()
