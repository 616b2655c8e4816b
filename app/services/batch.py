"""Batch upsert of any resource, and batch link / unlink of representatives."""
from marshmallow import ValidationError

from app.errors import ValidationFailed, field_errors
from app.models import utcnow
from app.resources.representatives import (ACCOUNT_LINKS, DOCUMENT_LINKS, LINK_KINDS,
                                           Representative)
from app.services import statements
from app.services.links import lock_pairs
from app.services.sync import mark_seen
from app.services.transactions import write_transaction
from app.services.writes import WriteItem, apply_writes, input_digest
from schemas.common import validate_key
from schemas.links import LinkSchema

_STATUS = {"created": 201, "replaced": 200, "unchanged": 200}
_LINK_SCHEMA = LinkSchema()


def item_errors(index, error):
    """An item's errors with pointers into the batch body (#/items/3/email)."""
    prefix = f"#/items/{index}"
    if error.errors:
        return [dict(e, pointer=prefix + e["pointer"][1:]) for e in error.errors]
    return [{"pointer": prefix, "detail": error.detail}]


def _echoed(value):
    """A key of a refused item as its result repeats it: a string, unless no UTF-8 holds it (a
    lone surrogate, which strict JSON parsers refuse in an answer); else null."""
    if not isinstance(value, str):
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def _failure(status, key_field, key, errors):
    return {key_field: _echoed(key), "status": status, "version": None, "errors": errors}


def batch_upsert(resource, tenant_id, raw_items, atomic=False, sync_run=None):
    """PUT every item (in input order); returns the per-item results and counts.

    With `atomic`, any failure stores nothing and raises ValidationFailed
    listing every item's errors.
    """
    key_field = resource.key_field
    results, writes, positions, seen = [None] * len(raw_items), [], [], set()
    digests = [input_digest(raw) if isinstance(raw, dict) else None for raw in raw_items]
    stamps = _stored_stamps(resource, tenant_id, raw_items)
    for index, raw in enumerate(raw_items):
        key = raw.get(key_field) if isinstance(raw, dict) else None
        version, stamp = stamps.get(key, (None, None)) if isinstance(key, str) else (None, None)
        if stamp is not None and digests[index] is not None \
                and stamp == f"{version}:{digests[index]}":
            data = None  # the body that made the record's version: loaded only if that changed
        else:
            try:
                data = resource.load_batch_item(raw)
            except ValidationError as error:
                results[index] = _failure(422, key_field, key,
                                          field_errors(error.messages, f"#/items/{index}"))
                continue
            key = data.pop(key_field)
        if key in seen:
            results[index] = _failure(422, key_field, key, [{
                "pointer": f"#/items/{index}/{key_field}",
                "detail": f"{key!r} appears earlier in this batch."}])
            continue
        seen.add(key)
        writes.append(WriteItem(key, data, "put", raw=raw, digest=digests[index]))
        positions.append(index)

    with write_transaction(tenant_id) as txn:
        outcomes = apply_writes(resource, txn, writes, all_or_nothing=atomic) if writes else []
        for index, outcome in zip(positions, outcomes):
            if outcome.error is not None:
                results[index] = _failure(outcome.error.status, key_field, outcome.key,
                                          item_errors(index, outcome.error))
            else:
                results[index] = {key_field: outcome.key, "status": _STATUS[outcome.result],
                                  "version": outcome.version, "errors": [],
                                  "_outcome": outcome.result}
        failed = [result for result in results if result["errors"]]
        if sync_run is not None and not (atomic and failed):
            mark_seen(tenant_id, resource, sync_run,
                      [outcome.key for outcome in outcomes if outcome.error is None])
        if atomic and failed:
            raise ValidationFailed(
                [error for result in failed for error in result["errors"]],
                detail=f"{len(failed)} of {len(results)} items are invalid; nothing was stored.")

    counts = {"created": 0, "replaced": 0, "unchanged": 0, "failed": len(failed)}
    for result in results:
        outcome = result.pop("_outcome", None)
        if outcome:
            counts[outcome] += 1
    return {"results": results, **counts}


def _stored_stamps(resource, tenant_id, raw_items):
    """The stored digests of the records these items name (read before the write
    transaction, so that loading items holds no lock; the engine reads them again under it)."""
    named = {raw.get(resource.key_field) for raw in raw_items
             if isinstance(raw, dict) and isinstance(raw.get(resource.key_field), str)}
    # A NUL or a surrogate is the item's 422, never a query's error.
    keys = [key for key in named if _is_valid_key(key)]
    return statements.input_stamps(resource.model, resource.key_field, tenant_id, keys) \
        if keys else {}


def _is_valid_key(key):
    try:
        validate_key(key)
    except ValidationError:
        return False
    return True


def _link_kind(link):
    return ACCOUNT_LINKS if "account_number" in link else DOCUMENT_LINKS


def batch_links(tenant_id, raw_links, remove=False):
    """Link (or unlink) every pair in input order; per-item results and counts."""
    results, valid = [None] * len(raw_links), []
    for index, raw in enumerate(raw_links):
        try:
            link = _LINK_SCHEMA.load(raw)
        except ValidationError as error:
            echo = {k: _echoed(raw.get(k)) for k in ("representative", "account_number",
                                                     "document_number")
                    if k in raw} if isinstance(raw, dict) else {}
            results[index] = dict(echo, status=422, errors=field_errors(error.messages,
                                                                         f"#/links/{index}"))
            continue
        valid.append((index, link))

    with write_transaction(tenant_id) as txn:
        for kind in LINK_KINDS:
            lock_pairs(txn, kind, [(link["representative"], link[kind.target_field])
                                   for _, link in valid if _link_kind(link) is kind])
        known = _existing_sides(tenant_id, [link for _, link in valid])
        linked = _existing_links(tenant_id, [link for _, link in valid])
        to_write = {kind.name: [] for kind in (ACCOUNT_LINKS, DOCUMENT_LINKS)}
        for index, link in valid:
            kind = _link_kind(link)
            pair = (kind.name, link["representative"], link[kind.target_field])
            missing = [side for side, present in (
                ("representative", ("representatives", link["representative"]) in known),
                (kind.target.label, (kind.name, link[kind.target_field]) in known)) if not present]
            if missing:
                results[index] = dict(link, status=404, errors=[{
                    "pointer": f"#/links/{index}", "detail": "No such " + " and no ".join(missing)
                    + "."}])
            elif remove and pair not in linked:
                results[index] = dict(link, status=404, errors=[{
                    "pointer": f"#/links/{index}", "detail": "Not linked."}])
            else:
                outcome = ("unlinked" if remove else
                           "unchanged" if pair in linked else "linked")
                if outcome == "linked":
                    linked.add(pair)
                elif outcome == "unlinked":
                    linked.discard(pair)
                if outcome != "unchanged":
                    to_write[kind.name].append(pair)
                results[index] = dict(link, status=204 if remove else 200, errors=[],
                                      _outcome=outcome)
        now = utcnow()
        for kind in (ACCOUNT_LINKS, DOCUMENT_LINKS):
            pairs = [(rep, target) for _, rep, target in to_write[kind.name]]
            if pairs and remove:
                statements.delete_links(kind.model, kind.target_field, tenant_id, pairs)
            elif pairs:
                statements.insert_links(kind.model, kind.target_field, tenant_id, pairs, now)
            if pairs:
                txn.count_written(kind.model, len(pairs))

    counts = {"linked": 0, "unchanged": 0, "unlinked": 0,
              "failed": sum(1 for result in results if result["errors"])}
    for result in results:
        outcome = result.pop("_outcome", None)
        if outcome:
            counts[outcome] += 1
    return {"results": results, **counts}


def _existing_sides(tenant_id, links):
    """{(collection, key)} of the representatives and targets these links name that exist."""
    wanted = {"representatives": (Representative, "reference", set())}
    for kind in (ACCOUNT_LINKS, DOCUMENT_LINKS):
        wanted[kind.name] = (kind.target.model, kind.target_field, set())
    for link in links:
        wanted["representatives"][2].add(link["representative"])
        kind = _link_kind(link)
        wanted[kind.name][2].add(link[kind.target_field])
    found = set()
    for name, (model, key_field, keys) in wanted.items():
        found.update((name, key) for key in statements.existing_keys(model, key_field,
                                                                     tenant_id, keys))
    return found


def _existing_links(tenant_id, links):
    """{(kind, representative, target)} of these pairs that are linked now."""
    found = set()
    for kind in (ACCOUNT_LINKS, DOCUMENT_LINKS):
        pairs = {(link["representative"], link[kind.target_field]) for link in links
                 if _link_kind(link) is kind}
        for rep, target in statements.existing_links(kind.model, kind.target_field, tenant_id,
                                                     pairs):
            found.add((kind.name, rep, target))
    return found

