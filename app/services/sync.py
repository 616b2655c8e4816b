"""Sync runs: a full sync marks what it sends, and its finish removes what it did not.

A run records which changes had committed when it started (the tenant's
change counter on SQLite, the transaction snapshot on PostgreSQL:
services/transactions.py). Writes that carry the run's id mark their keys seen,
which is not a change (no new version). The finish removes, in one
transaction, every record in the run's scope that is neither seen nor changed
since the start: deleted (with a tombstone) when nothing depends on it,
archived otherwise. It refuses, removing nothing, when a guard says the
export looks wrong (services/sync_guards.py), so an empty or broken export
never wipes a tenant. Two running runs of overlapping scopes are refused:
both would decide what to remove.
"""
import datetime
import json
import uuid

from peewee import JOIN, Case

from app.errors import HttpConflict, HttpNotFound, ValidationFailed, parameter_error
from app.models import SyncRun, SyncRunSeen, Tenant, utcnow
from app.services import statements
from app.services.cursors import decode_cursor, encode_cursor
from app.services.emails import email_key
from app.services.feed import filter_records
from app.services.sync_guards import NO_GUARDS, FinishPlan
from app.services.transactions import committed_at_start, start_snapshot, write_transaction
from app.services.write_context import WriteContext

RUN_LIFETIME = datetime.timedelta(hours=24)
_CHUNK = 500
_EPOCH = datetime.datetime(1970, 1, 1)
_MICROSECOND = datetime.timedelta(microseconds=1)


def start_run(resource, tenant_id, scope, started_by=None, min_seen=None, allow_overlap=False):
    """Begin a run over the collection (or the records matching `scope`); 409 when a running
    run's scope overlaps it, unless `allow_overlap`."""
    with write_transaction(tenant_id) as txn:
        # Starts of the collection one at a time, held to commit: of two overlapping starts
        # the second sees the first's run. Not the collection itself: a start never waits
        # for writers, so a write open at the start stays "not committed at start".
        txn.lock_rules(resource.name, ["sync-run starts"])
        running = None if allow_overlap else _overlapping_run(resource, tenant_id, scope, txn.now)
        if running is not None:
            raise HttpConflict(
                f"Sync run {running.run_id} of {resource.name} is running with scope "
                f"{json.dumps(running.scope, sort_keys=True)}, which overlaps this one: two "
                "runs over the same records would both decide what to remove. Finish or abort "
                f"it (GET /{resource.name}:sync-runs lists the runs), or start with "
                '"allow_overlap": true.', running_run=running.run_id)
        started_seq, snapshot = start_snapshot()
        if snapshot is None:
            started_seq = Tenant.select(Tenant.change_seq).where(Tenant.id == tenant_id).scalar()
        return SyncRun.create(run_id=uuid.uuid4().hex, tenant=tenant_id,
                              collection=resource.name, scope=scope, started_at=txn.now,
                              started_seq=started_seq, started_snapshot=snapshot,
                              expires_at=txn.now + RUN_LIFETIME, started_by=started_by,
                              guards={"min_seen": min_seen})


def scopes_overlap(resource, first, second):
    """Whether two scopes can hold a record in common: unless a filter both name differs."""
    def value(name, given):
        if given is not None and resource.feed_filters[name] == "email":
            return email_key(given)  # as the scope's filter compares addresses
        return given
    return all(value(name, first[name]) == value(name, second[name])
               for name in first.keys() & second.keys())


def _overlapping_run(resource, tenant_id, scope, now):
    runs = (SyncRun.select().where(SyncRun.tenant == tenant_id,
                                   SyncRun.collection == resource.name,
                                   SyncRun.status == "running", SyncRun.expires_at > now)
            .order_by(SyncRun.started_at, SyncRun.id))
    return next((run for run in runs if scopes_overlap(resource, scope, run.scope)), None)


def _as_of(run, now):
    """The run as it stands at `now`: a running run past its 24 hours is expired."""
    if run.status == "running" and run.expires_at <= now:
        run.status, run.ended_at = "expired", run.expires_at
    return run


def _expire(run, now):
    if run.status == "running" and _as_of(run, now).status == "expired":
        run.save(only=[SyncRun.status, SyncRun.ended_at])
    return run


def get_run(resource, tenant_id, run_id):
    """The tenant's run of this collection, expired if its 24 hours are over; else HttpNotFound."""
    run = SyncRun.get_or_none(SyncRun.run_id == run_id, SyncRun.tenant == tenant_id,
                              SyncRun.collection == resource.name)
    if run is None:
        raise HttpNotFound(f"No sync run {run_id!r} of {resource.name}.")
    return _expire(run, utcnow())


def list_runs(resource, tenant_id, status=None, limit=20, cursor=None):
    """(a page of the tenant's runs of this collection, running first, then newest first;
    the cursor of the next page or None)."""
    now = utcnow()
    live = (SyncRun.status == "running") & (SyncRun.expires_at > now)
    rank = Case(None, [(live, 0)], 1)  # an expired run still stored as running is not running
    query = SyncRun.select().where(SyncRun.tenant == tenant_id,
                                   SyncRun.collection == resource.name)
    if status == "running":
        query = query.where(live)
    elif status == "expired":
        query = query.where((SyncRun.status == "expired") | (
            (SyncRun.status == "running") & (SyncRun.expires_at <= now)))
    elif status is not None:
        query = query.where(SyncRun.status == status)
    listing = f"{resource.name}:sync-runs:{status or ''}"  # a cursor is bound to its filter
    if cursor:
        after_rank, after_us, after_id = decode_cursor(cursor, (int, int, int), tenant_id,
                                                       listing)
        after = _EPOCH + after_us * _MICROSECOND
        query = query.where((rank > after_rank) | ((rank == after_rank) & (
            (SyncRun.started_at < after) | ((SyncRun.started_at == after) &
                                            (SyncRun.id < after_id)))))
    rows = list(query.order_by(rank, SyncRun.started_at.desc(), SyncRun.id.desc())
                .limit(limit + 1))
    page = [_as_of(run, now) for run in rows[:limit]]
    if len(rows) <= limit:
        return page, None
    last = page[-1]
    return page, encode_cursor(tenant_id, listing, 0 if last.status == "running" else 1,
                               (last.started_at - _EPOCH) // _MICROSECOND, last.id)


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
            raise HttpConflict(f"The sync run is {run.status}; only a running run can end.",
                           run_status=run.status)
        run.status, run.ended_at = status, txn.now
        run.save(only=[SyncRun.status, SyncRun.ended_at])
        return run


def finish_run(resource, tenant_id, run_id, guards=NO_GUARDS, dry_run=False):
    """Remove what the run did not see, unless a guard refuses (409, nothing removed);
    returns the run with its counts in `result`. With `dry_run`, changes nothing and
    returns the FinishPlan instead."""
    with write_transaction(tenant_id) as txn:
        # Writers carrying the run finish first (their seen marks count); others wait.
        txn.lock_collection(resource.name)
        run = get_run(resource, tenant_id, run_id)
        if run.status != "running":
            raise HttpConflict(f"The sync run is {run.status}; it can no longer finish.",
                           run_status=run.status)
        plan = _plan(resource, tenant_id, run, guards.applied((run.guards or {}).get("min_seen")))
        if dry_run:
            return plan
        if plan.refusal is not None:
            raise HttpConflict(plan.refusal.detail, **plan.refusal.figures(), would=plan.counts)
        context = WriteContext(txn, resource)
        context.remove(plan.to_delete)
        archived = [row.id for row in plan.to_archive]
        for start in range(0, len(archived), _CHUNK):
            context.change_stored(resource.model.id.in_(archived[start:start + _CHUNK]),
                                  archived_at=txn.now)
        run.status, run.ended_at, run.result = "finished", txn.now, plan.counts
        run.guards = plan.guards
        run.save(only=[SyncRun.status, SyncRun.ended_at, SyncRun.result, SyncRun.guards])
        return run


def _plan(resource, tenant_id, run, guards):
    """What finishing the run would remove now, and whether a guard refuses it."""
    model, key_column = resource.model, resource.key_column
    in_scope = filter_records(resource, resource.select(tenant_id), run.scope)
    total = in_scope.count()
    unseen = (in_scope.join(SyncRunSeen, JOIN.LEFT_OUTER, on=(
        (SyncRunSeen.run == run.id) & (SyncRunSeen.key == key_column)))
        .where(SyncRunSeen.key.is_null(),
               committed_at_start(model.change_seq, run.started_seq, run.started_snapshot)))
    stale = list(unseen)
    depended = resource.dependents_of(tenant_id, [getattr(r, resource.key_field) for r in stale])
    to_delete = [row for row in stale if getattr(row, resource.key_field) not in depended]
    to_archive = [row for row in stale if getattr(row, resource.key_field) in depended
                  and row.archived_at is None]
    counts = {"in_scope": total, "seen": seen_count(run), "deleted": len(to_delete),
              "archived": len(to_archive), "kept": total - len(to_delete) - len(to_archive)}
    return FinishPlan(resource, guards, counts, to_delete, to_archive)
