"""People without references: matching upserts and party routing (SPEC 5).

Which record an upsert means is found by services/matching.py. An upsert
matches and writes in one write transaction holding the matching rule of its
scope (an account's contacts, or the tenant's representatives), so
concurrent upserts of one new person create it once.
"""
import uuid
from dataclasses import dataclass

from app.db import database
from app.errors import HttpNotFound, HttpPreconditionFailed, ValidationFailed, field_error
from app.resources.accounts import Account
from app.resources.contacts import CONTACTS
from app.resources.representatives import ACCOUNT_LINKS, REPRESENTATIVES
from app.services import statements
from app.services.emails import email_key
from app.services.links import link
from app.services.matching import find_match, name_key
from app.services.records import NO_PRECONDITIONS
from app.services.sync import mark_seen
from app.services.tenants import is_internal_email
from app.services.transactions import write_transaction
from app.services.writes import WriteItem, apply_writes


@dataclass(frozen=True)
class UpsertOptions:
    """How an upsert is asked for: the query flags and the headers it honours."""

    dry_run: bool = False
    update_name: bool = False      # a record found by its name takes the name sent
    sync_run: str = None           # Sync-Run: the record counts as seen by that run
    preconditions: object = NO_PRECONDITIONS  # If-Match / If-None-Match, on the matched record


@dataclass
class UpsertResult:
    row: object            # the record written (None on a dry run that would create)
    created: bool
    match: object = None   # matching.Match, or None
    dry_run: bool = False
    resource: object = None
    name_kept: bool = False  # found by its name, it kept its stored name
    outcome: str = None      # created, replaced or unchanged (a write that ran)

    @property
    def reactivated(self):
        """The matched record was archived and the write made (or would make) it active."""
        return self.match is not None and self.match.archived


def _require_account(tenant_id, account_number):
    if not statements.exists(Account, "account_number", tenant_id, account_number):
        raise HttpNotFound(f"No account with account_number {account_number!r}.")


def _creation_errors(resource, values):
    errors = []
    if not resource.full_name(values):
        first, *parts = resource.name_fields
        names = f"{first}, or {' / '.join(parts)}" if parts else first
        errors.append(field_error("name", f"Creating a {resource.label} needs {names}."))
    if not values.get("language"):
        errors.append(field_error("language", f"Creating a {resource.label} needs a language."))
    return errors


def _check_creation(resource, data, options):
    """Raise what stops an upsert that matched nobody from creating the record."""
    if options.preconditions.if_match is not None:
        raise HttpPreconditionFailed(f"No {resource.label} matched, so If-Match cannot match; "
                                 "nothing was created.")
    errors = _creation_errors(resource, data)
    if errors:
        raise ValidationFailed(errors)


def _written_fields(resource, data, match, options):
    """What a match is patched with, and whether its name was kept: found by its name, the
    name sent was the search, not new data (unless update_name asks for it)."""
    if match.matched_by != "name" or options.update_name:
        return data, False
    return {name: value for name, value in data.items()
            if name not in resource.name_fields}, True


def _plan(resource, tenant_id, account_number, data, options, people=None,
          known_accounts=frozenset()):
    """(match, write item, name kept): what an upsert does, a dry run and a real one alike.
    A representative may come without an account (a batch item): it is then linked to none."""
    if (account_number is not None or resource is CONTACTS) and \
            account_number not in known_accounts:
        _require_account(tenant_id, account_number)
    scope = account_number if resource is CONTACTS else None
    match = find_match(resource, tenant_id, data.get("email"), resource.full_name(data), scope,
                       people)
    if match is None:
        _check_creation(resource, data, options)
        return None, WriteItem(uuid.uuid4().hex, dict(resource.defaults(), **data), "create",
                               options.preconditions), False
    written, name_kept = _written_fields(resource, data, match, options)
    return match, WriteItem(match.key, written, "patch", options.preconditions), name_kept


def upsert_person(resource, tenant_id, account_number, data, options=UpsertOptions()):
    """Match a contact (among the account's) or a representative (the tenant's) and PATCH it,
    or create it with a generated reference; a representative is then linked to the account.
    """
    data = _scoped(resource, account_number, data)
    if options.dry_run:
        match, _, name_kept = _plan(resource, tenant_id, account_number, data, options)
        row = resource.find(tenant_id, match.key) if match else None
        if row is not None:
            options.preconditions.check(row)
        return UpsertResult(row, match is None, match, dry_run=True, resource=resource,
                            name_kept=name_kept)
    with write_transaction(tenant_id) as txn:
        txn.lock_keys(resource.name, [])
        result = upsert_in(txn, resource, account_number, data, options)
        result.row = resource.with_related(tenant_id, result.row)
        return result


def _scoped(resource, account_number, data):
    """A contact's body with its account: the one named (the path's), never another."""
    if resource is not CONTACTS:
        return data
    if data.get("account_number") not in (None, account_number):
        raise ValidationFailed([field_error(
            "account_number", "Must be the account in the path, or left out.")])
    return dict(data, account_number=account_number)


def match_lock(resource, account_number):
    """The rule lock matching writers of one scope share: each sees who the last created."""
    return f"match:{account_number if resource is CONTACTS else None}"


def upsert_in(txn, resource, account_number, data, options, people=None,
              known_accounts=frozenset(), context=None):
    """One matching upsert inside a write transaction; raises what stops it (nothing written).
    `people`: the scope's PeopleIndex, which the caller keeps up to date; `known_accounts`:
    account numbers the caller has seen exist in this transaction; `context`: the
    WriteContext the caller keeps using (writes.apply_writes)."""
    tenant_id = txn.tenant_id
    txn.lock_rules(resource.name, [match_lock(resource, account_number)])
    match, item, name_kept = _plan(resource, tenant_id, account_number, data, options, people,
                                   known_accounts)
    outcome = apply_writes(resource, txn, [item], context=context)[0]
    if outcome.error is not None:
        raise outcome.error
    if options.sync_run is not None:
        mark_seen(tenant_id, resource, options.sync_run, [outcome.key])
    if resource is not CONTACTS and account_number is not None:
        link(tenant_id, ACCOUNT_LINKS, outcome.key, account_number)
    return UpsertResult(outcome.row, match is None, match, resource=resource,
                        name_kept=name_kept, outcome=outcome.result)


# Fields a party body may carry, and where a representative keeps what a contact calls
# otherwise; contact-only fields (is_primary) do not apply to representatives.
PARTY_FIELDS_FOR_REPRESENTATIVES = {"notes": "extra_info"}
CONTACT_ONLY_PARTY_FIELDS = ("is_primary",)


def route_party(tenant, data):
    """(resource, body): the tenant's own staff are representatives, anyone else a contact."""
    email = data.get("email")
    if email and is_internal_email(tenant, email):
        return REPRESENTATIVES, {PARTY_FIELDS_FOR_REPRESENTATIVES.get(name, name): value
                                 for name, value in data.items()
                                 if name not in CONTACT_ONLY_PARTY_FIELDS}
    return CONTACTS, data


def upsert_party(tenant, account_number, data, options=UpsertOptions()):
    """Route by the email's domain (route_party), then upsert the person there."""
    resource, routed = route_party(tenant, data)
    return upsert_person(resource, tenant.id, account_number, routed, options)


def backfill_person_keys(resource, chunk=1000):
    """Compute email_key, name_key and name_length of every stored person (migrations 7, 11)."""
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


def rederive_matching_keys(resources, people):
    """Migration 11: every stored matching key and search text of these resources (people:
    those of them that are people) under the NFC, unfolded rules."""
    from app.services.email_events import rekey_email_statuses
    from app.services.search import backfill_search_text

    for resource in resources:
        backfill_search_text(resource, every_row=True)
    for resource in people:
        backfill_person_keys(resource)
    rekey_email_statuses()
