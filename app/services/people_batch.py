"""Batch matching upserts: many people in one transaction, each as its single upsert (SPEC 5).

Items run in input order, each exactly as its single matching upsert
(services/people.py `upsert_in`) against what the items before it left, so an
item naming a person an earlier item created finds that record and updates
it (`same_as_item` says which item created it): one batch never creates the
same new person twice. The batch holds its collections exclusively for its
tenant (as a sync-run finish does): matching is sequential by nature, and
holding the whole collection keeps it free of deadlocks with writers that
lock keys one by one; it also lets the batch read a scope once and match in
memory (matching.PeopleIndex). A dry run runs every item for real and rolls
back.
"""
import collections
from dataclasses import replace

from marshmallow import ValidationError

from app.errors import Problem, ValidationFailed, field_errors
from app.resources.accounts import Account
from app.resources.contacts import CONTACTS
from app.resources.representatives import REPRESENTATIVES
from app.services import people, statements
from app.services.batch import item_errors
from app.services.matching import PeopleIndex
from app.services.sync import mark_seen
from app.services.transactions import write_transaction
from app.services.write_context import WriteContext

OUTCOMES = ("created", "updated", "unchanged", "failed")
# From this many items of one scope a batch reads the scope whole (one query) and matches in
# memory, rather than a query or two per item.
INDEX_FROM_ITEMS = 10
_OUTCOME_NAMES = {"created": "created", "replaced": "updated", "unchanged": "unchanged"}
_PARTY_TYPES = {CONTACTS: "contact", REPRESENTATIVES: "representative"}


class _RolledBack(Exception):
    """Ends a dry run's transaction once its answer is known."""


def batch_upsert_people(target, tenant, raw_items, item_schema, options, atomic=False):
    """Every item's matching upsert, in input order; per-item results and counts.

    `target` is CONTACTS, REPRESENTATIVES or None for parties (routed per
    item by email domain). With `atomic`, any failed item stores nothing and
    raises ValidationFailed listing every item's errors.
    """
    results, loaded = [None] * len(raw_items), []
    for index, raw in enumerate(raw_items):
        try:
            loaded.append((index, item_schema.load(raw)))
        except ValidationError as error:
            results[index] = _failure(target, field_errors(error.messages, f"#/items/{index}"))
    resources = (CONTACTS, REPRESENTATIVES) if target is None else (target,)
    try:
        with write_transaction(tenant.id) as txn:
            for resource in resources:  # the order every multi-collection writer takes
                txn.lock_collection(resource.name)
            runs = _sync_runs(tenant.id, resources, options.sync_run)
            _run_items(txn, target, tenant, loaded, results, runs, options)
            failed = [result for result in results if result["errors"]]
            if atomic and failed:
                raise ValidationFailed(
                    [error for result in failed for error in result["errors"]],
                    detail=f"{len(failed)} of {len(results)} items failed; nothing was "
                           "stored.")
            if options.dry_run:
                raise _RolledBack
    except _RolledBack:
        pass
    counts = dict.fromkeys(OUTCOMES, 0)
    for result in results:
        counts[result.pop("_outcome", "failed")] += 1
    return {"results": results, **counts, **({"dry_run": True} if options.dry_run else {})}


def _sync_runs(tenant_id, resources, run_id):
    """{resource: run id} for the collection the Sync-Run header's run belongs to (422 when it
    is no running run of any of them, before anything is written)."""
    if run_id is None:
        return {}
    refusal = None
    for resource in resources:
        try:
            mark_seen(tenant_id, resource, run_id, [])
            return {resource: run_id}
        except ValidationFailed as error:
            refusal = refusal or error
    raise refusal


def _routed(target, tenant, loaded):
    """[(index, resource, account_number, body)]: each item's collection and its body there."""
    routed = []
    for index, data in loaded:
        account_number = data.pop("account_number", None)
        resource = target
        if resource is None:
            resource, data = people.route_party(tenant, data)
        if resource is CONTACTS:
            data = dict(data, account_number=account_number)
        routed.append((index, resource, account_number, data))
    return routed


def _indexes(tenant_id, routed):
    """A PeopleIndex for each scope with enough items to be worth reading whole."""
    sizes = collections.Counter(_scope(resource, account) for _, resource, account, _ in routed)
    return {scope: PeopleIndex(scope[0], tenant_id, scope[1])
            for scope, size in sizes.items() if size >= INDEX_FROM_ITEMS}


def _scope(resource, account_number):
    return resource, account_number if resource is CONTACTS else None


def _run_items(txn, target, tenant, loaded, results, runs, options):
    created_by = {}  # (collection, reference) -> index of the item that created it
    single = replace(options, dry_run=False, sync_run=None)
    routed = _routed(target, tenant, loaded)
    indexes = _indexes(tenant.id, routed)
    accounts = statements.existing_keys(Account, "account_number", tenant.id, {
        account for _, _, account, _ in routed if account is not None})
    contexts = {}
    for _, resource, _, data in routed:
        contexts.setdefault(resource, []).append((None, data))
    for resource, entries in contexts.items():  # what every item's rules read, read at once
        contexts[resource] = WriteContext(txn, resource)
        resource.prefetch_for(contexts[resource], entries)
    for index, resource, account_number, data in routed:
        scope_index = indexes.get(_scope(resource, account_number))
        try:
            if options.sync_run is not None and resource not in runs:
                raise ValidationFailed([{"pointer": "#", "detail": (
                    f"This person goes to the {resource.name}, and the Sync-Run header names "
                    f"a run of another collection; nothing was written for it.")}])
            result = people.upsert_in(txn, resource, account_number, data, single, scope_index,
                                      accounts, contexts[resource])
        except Problem as error:
            results[index] = _failure(target, item_errors(index, error), error, resource)
            continue
        if scope_index is not None:
            scope_index.record(result.row)
        key = getattr(result.row, resource.key_field)
        if resource in runs:
            mark_seen(tenant.id, resource, runs[resource], [key])
        earlier = created_by.get((resource.name, key))
        if result.created:
            created_by[(resource.name, key)] = index
        match = result.match
        results[index] = {
            **_party_type(target, resource),
            "status": 201 if result.created else 200,
            # a dry run creates nothing: a reference it generated would name no record
            "reference": None if options.dry_run and (result.created or earlier is not None)
            else key,
            "version": result.row.version,
            "matched_by": match.matched_by if match else None,
            "distance": match.distance if match else None,
            "name_kept": result.name_kept, "reactivated": result.reactivated,
            "same_as_item": earlier, "candidates": [], "errors": [],
            "_outcome": _OUTCOME_NAMES[result.outcome]}


def _party_type(target, resource):
    return {"party_type": _PARTY_TYPES[resource] if resource else None} if target is None \
        else {}


def _failure(target, errors, error=None, resource=None):
    extra = error.extra if error is not None else {}
    return {**_party_type(target, resource), "status": error.status if error else 422,
            "reference": None, "version": None, "matched_by": extra.get("matched_by"),
            "distance": extra.get("distance"), "name_kept": False, "reactivated": False,
            "same_as_item": None, "candidates": extra.get("candidates", []), "errors": errors}
