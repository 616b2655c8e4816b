"""People without references: matching upserts, party routing and email delivery status.

Matching (seeds 000 and 002) looks, in order, for the record with the same
email (email_key, case-insensitive) and then for the record whose full name is
closest by Levenshtein distance (rapidfuzz), a match when the distance is at
most min(2, 20% of the shorter name's length). Candidates for a name are read
through an index on the name's length and narrowed by anchors (_could_match).

An upsert matches and writes inside one write transaction of the tenant,
which every writer of the tenant takes first (app/db.py): concurrent
identical upserts of a new person therefore create it once, and no new lock
or lock order is added.
"""
import datetime
import uuid
from dataclasses import dataclass

from marshmallow import ValidationError

from peewee import fn
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from app.db import database
from app.errors import Conflict, NotFound, ValidationFailed, field_error, field_errors
from app.models import Account, Contact, EmailStatus, Representative
from app.services import statements
from app.services.changes import write_transaction
from app.services.contacts import CONTACTS
from app.services.emails import email_key
from app.services.links import ACCOUNT_LINKS, link
from app.services.representatives import REPRESENTATIVES
from app.services.resources import name_key
from app.services.sync import mark_seen
from app.services.tenants import is_internal_email
from app.services.writes import WriteItem, apply_writes
from schemas.people import EmailEventSchema

MAX_NAME_DISTANCE = 2
MAX_NAME_DISTANCE_SHARE = 0.2
EVENT_STATUS = {"delivered": "valid", "bounced": "bounced", "complained": "complained"}


@dataclass(frozen=True)
class Match:
    key: str
    matched_by: str        # "email" or "name"
    distance: int = None   # for a name match


def allowed_distance(first, second):
    """The largest distance at which two names still match."""
    return min(MAX_NAME_DISTANCE, MAX_NAME_DISTANCE_SHARE * min(len(first), len(second)))


def _ambiguous(matched_by, keys, resource, distance=None):
    detail = (f"{len(keys)} {resource.name} have this email address" if matched_by == "email"
              else f"{len(keys)} {resource.name} are equally close to this name "
                   f"(distance {distance})")
    return Conflict(detail + "; nothing was changed. Give the email address, or write to one "
                    "of them by reference.", candidates=sorted(keys), matched_by=matched_by)


def find_match(resource, tenant_id, email, full_name, account_number=None):
    """The one record these details match (None: no match); Conflict when several do.

    `account_number` narrows the search to that account's contacts.
    """
    model, key_column = resource.model, resource.key_column
    scope = [model.tenant == tenant_id]
    if account_number is not None:
        scope.append(model.account_number == account_number)
    if email:
        keys = [key for (key,) in model.select(key_column).where(
            *scope, model.email_key == email_key(email)).tuples()]
        if len(keys) > 1:
            raise _ambiguous("email", keys, resource)
        if keys:
            return Match(keys[0], "email")
    wanted = name_key(full_name)
    if not wanted:
        return None
    candidates = dict(model.select(key_column, model.name_key).where(
        *scope, *_could_match(model, wanted)).tuples())
    scored = process.extract(wanted, candidates, scorer=Levenshtein.distance,
                             score_cutoff=MAX_NAME_DISTANCE, limit=None)
    close = [(key, distance) for name, distance, key in scored
             if distance <= allowed_distance(wanted, name)]
    if not close:
        return None
    best = min(distance for _, distance in close)
    keys = [key for key, distance in close if distance == best]
    if len(keys) > 1:
        raise _ambiguous("name", keys, resource, best)
    return Match(keys[0], "name", best)


def _could_match(model, wanted):
    """Conditions every name within the allowed distance of `wanted` meets (a superset).

    A match needs lengths within 2. And it keeps an anchor: with at most two
    edits (names of 10 characters and more) either the stored name's first
    two characters survive, or its last two, or both edits fall on those ends
    and its characters 3-4 survive, moved by at most one place; a name of
    5-9 characters allows one edit, which cannot break both ends; shorter
    names must be equal. Read through a covering index on (tenant, length,
    name, key), this leaves a few thousand candidates among 100,000 people.
    """
    length = len(wanted)
    return [model.name_length.between(length - MAX_NAME_DISTANCE, length + MAX_NAME_DISTANCE),
            (fn.SUBSTR(model.name_key, 1, 2) == wanted[:2])
            | (fn.SUBSTR(model.name_key, model.name_length - 1, 2) == wanted[-2:])
            | fn.SUBSTR(model.name_key, 3, 2).in_([wanted[1:3], wanted[2:4], wanted[3:5]])]


@dataclass
class UpsertResult:
    row: object            # the record written (None on a dry run that would create)
    created: bool
    match: Match = None
    dry_run: bool = False
    resource: object = None


def _require_account(tenant_id, account_number):
    if not statements.exists(Account, "account_number", tenant_id, account_number):
        raise NotFound(f"No account with account_number {account_number!r}.")


def _creation_errors(resource, values):
    errors = []
    if not resource.full_name(values):
        first, *parts = resource.name_fields
        names = f"{first}, or {' / '.join(parts)}" if parts else first
        errors.append(field_error("name", f"Creating a {resource.label} needs {names}."))
    if not values.get("language"):
        errors.append(field_error("language", f"Creating a {resource.label} needs a language."))
    return errors


def upsert_person(resource, tenant_id, account_number, data, dry_run=False, sync_run=None):
    """Match a contact (among the account's) or a representative (the tenant's) and PATCH it,
    or create it with a generated reference; a representative is then linked to the account.
    """
    is_contact = resource is CONTACTS
    if is_contact:
        if data.get("account_number") not in (None, account_number):
            raise ValidationFailed([field_error(
                "account_number", "Must be the account in the path, or left out.")])
        data = dict(data, account_number=account_number)
    scope = account_number if is_contact else None
    if dry_run:
        _require_account(tenant_id, account_number)
        match = find_match(resource, tenant_id, data.get("email"), resource.full_name(data), scope)
        if match is None:
            errors = _creation_errors(resource, data)
            if errors:
                raise ValidationFailed(errors)
        row = resource.find(tenant_id, match.key) if match else None
        return UpsertResult(row, match is None, match, dry_run=True, resource=resource)
    with write_transaction(tenant_id) as txn:
        # Matching writers of one scope go one at a time: each sees who the last one created.
        txn.lock_keys(resource.name, [])
        txn.lock_rules(resource.name, [f"match:{scope}"])
        _require_account(tenant_id, account_number)
        match = find_match(resource, tenant_id, data.get("email"), resource.full_name(data), scope)
        if match is not None:
            item = WriteItem(match.key, data, "patch")
        else:
            errors = _creation_errors(resource, data)
            if errors:
                raise ValidationFailed(errors)
            item = WriteItem(uuid.uuid4().hex, dict(resource.defaults(), **data), "create")
        outcome = apply_writes(resource, txn, [item])[0]
        if outcome.error is not None:
            raise outcome.error
        if sync_run is not None:
            mark_seen(tenant_id, resource, sync_run, [outcome.key])
        if not is_contact:
            link(tenant_id, ACCOUNT_LINKS, outcome.key, account_number)
        return UpsertResult(resource.with_related(tenant_id, outcome.row), match is None, match,
                            resource=resource)


# Fields a party body may carry, and where a representative keeps what a contact calls
# otherwise; contact-only fields (is_primary) do not apply to representatives.
PARTY_FIELDS_FOR_REPRESENTATIVES = {"notes": "extra_info"}
CONTACT_ONLY_PARTY_FIELDS = ("is_primary",)


def upsert_party(tenant, account_number, data, dry_run=False, sync_run=None):
    """Route by the email's domain: the tenant's own staff are representatives, others contacts."""
    email = data.get("email")
    if email and is_internal_email(tenant, email):
        routed = {PARTY_FIELDS_FOR_REPRESENTATIVES.get(name, name): value
                  for name, value in data.items() if name not in CONTACT_ONLY_PARTY_FIELDS}
        return upsert_person(REPRESENTATIVES, tenant.id, account_number, routed, dry_run,
                             sync_run)
    return upsert_person(CONTACTS, tenant.id, account_number, data, dry_run, sync_run)


# -- email delivery events ------------------------------------------------------------------

_EVENT_SCHEMA = EmailEventSchema()


def record_email_events(tenant_id, raw_events):
    """POST /email-events: each event validated alone, the valid ones applied in one transaction."""
    results, valid = [None] * len(raw_events), []
    for index, raw in enumerate(raw_events):
        try:
            event = _EVENT_SCHEMA.load(raw)
        except ValidationError as error:
            email = raw.get("email") if isinstance(raw, dict) else None
            results[index] = {"email": email if isinstance(email, str) else None, "status": 422,
                              "outcome": None,
                              "errors": field_errors(error.messages, f"#/events/{index}")}
            continue
        occurred_at = event["occurred_at"].astimezone(datetime.timezone.utc).replace(tzinfo=None)
        valid.append((index, event["email"], event["type"], occurred_at))
        results[index] = {"email": event["email"], "status": 200, "outcome": None, "errors": []}
    outcomes = apply_email_events(tenant_id, valid) if valid else {}
    for index, outcome in outcomes.items():
        results[index]["outcome"] = outcome
    counts = {name: sum(1 for outcome in outcomes.values() if outcome == name)
              for name in ("applied", "stale", "unmatched")}
    return {"results": results, **counts,
            "failed": sum(1 for result in results if result["status"] == 422)}

def apply_email_events(tenant_id, events):
    """Apply valid events [(index, email, type, occurred_at)]; per index its outcome.

    Per address the events apply in occurred_at order, and one older than the
    last applied to that address is stale: a late "delivered" never clears a
    newer bounce. Every contact and representative with the address moves to
    the newest status (a new version, in the change feed) unless it has it.
    """
    outcomes = {}
    by_address = {}
    for index, email, kind, occurred_at in events:
        by_address.setdefault(email_key(email), []).append((occurred_at, index, kind))
    with write_transaction(tenant_id) as txn:
        # An event reaches every holder of the address, whichever record a writer is changing.
        for resource in (CONTACTS, REPRESENTATIVES):
            txn.lock_collection(resource.name)
        stored = {row.email_key: row for row in EmailStatus.select().where(
            EmailStatus.tenant == tenant_id, EmailStatus.email_key.in_(list(by_address)))}
        holders = _addresses_with_records(tenant_id, list(by_address))
        for address, items in by_address.items():
            items.sort()
            last = stored.get(address)
            newest = None
            for occurred_at, index, kind in items:
                if last is not None and occurred_at <= last.occurred_at or \
                        newest is not None and occurred_at <= newest[0]:
                    outcomes[index] = "stale"
                    continue
                outcomes[index] = "applied" if address in holders else "unmatched"
                newest = (occurred_at, kind)
            if newest is None:
                continue
            status = EVENT_STATUS[newest[1]]
            (EmailStatus.insert(tenant=tenant_id, email_key=address, status=status,
                                occurred_at=newest[0])
             .on_conflict(conflict_target=[EmailStatus.tenant, EmailStatus.email_key],
                          update={EmailStatus.status: status,
                                  EmailStatus.occurred_at: newest[0]}).execute())
            if address in holders:
                _set_email_status(txn, address, status)
    return outcomes


def _addresses_with_records(tenant_id, addresses):
    found = set()
    for model in (Contact, Representative):
        for start in range(0, len(addresses), 500):
            found.update(key for (key,) in model.select(model.email_key).where(
                model.tenant == tenant_id,
                model.email_key.in_(addresses[start:start + 500])).tuples())
    return found


def _set_email_status(txn, address, status):
    for model in (Contact, Representative):
        (model.update(email_status=status, version=model.version + 1, updated_at=txn.now,
                      change_seq=txn.change_seq())
         .where(model.tenant == txn.tenant_id, model.email_key == address,
                model.email_status != status).execute())


def backfill_person_keys(resource, chunk=1000):
    """Compute email_key, name_key and name_length of stored people (migration 7)."""
    model = resource.model
    fields = ("email",) + resource.name_fields
    p = database.param
    sql = (f'UPDATE "{model._meta.table_name}" SET "email_key" = {p}, "name_key" = {p}, '
           f'"name_length" = {p} WHERE "id" = {p}')
    last_id = 0
    while True:
        rows = list(model.select(model.id, *(getattr(model, f) for f in fields))
                    .where(model.id > last_id).order_by(model.id).limit(chunk).tuples())
        if not rows:
            return
        updates = []
        for row in rows:
            values = dict(zip(fields, row[1:]))
            key = name_key(resource.full_name(values))
            updates.append((email_key(values["email"]), key, len(key) if key else None, row[0]))
        database.cursor().executemany(sql, updates)
        last_id = rows[-1][0]
