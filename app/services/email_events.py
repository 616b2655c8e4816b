"""Email delivery events: the status of an address, and every record that has it (SPEC 5).

The status belongs to the address (`email_statuses`, one row per tenant and
address, kept whether or not a record has the address yet): a record created
with an address, or changed to it, takes its last known status
(services/person_resource.py). Mail services' webhook bodies are
translated into these events by services/mail_providers.py.
"""
import datetime
from dataclasses import dataclass, field

from marshmallow import ValidationError

from app.errors import field_errors
from app.models import EmailStatus
from app.resources.contacts import CONTACTS
from app.resources.representatives import REPRESENTATIVES
from app.services.emails import email_key
from app.services.transactions import write_transaction
from app.services.write_context import WriteContext
from schemas.people import EVENT_STATUS, EmailEventSchema

OUTCOMES = ("applied", "stale", "unmatched", "ignored")
_GRAVITY = {"valid": 0, "bounced": 1, "complained": 2}  # which status wins a tie in time
_EVENT_SCHEMA = EmailEventSchema()


@dataclass
class SentEvent:
    """One event as it arrived: native fields, or a mail service's event translated."""

    raw: object                  # {"email", "type", "occurred_at"}, as sent or translated
    pointer: str                 # where it is in the body: "#/events/3"
    names: dict = field(default_factory=dict)  # native field -> the sender's name for it
    type: str = None             # the type as the sender named it
    ignored: bool = False        # a type that says nothing about the address


def native_events(raw_events):
    """POST /email-events: the events of the body as they were sent."""
    return [SentEvent(raw, f"#/events/{index}",
                      type=raw.get("type") if isinstance(raw, dict) else None)
            for index, raw in enumerate(raw_events)]


def _sent_email(raw):
    email = raw.get("email") if isinstance(raw, dict) else None
    return email if isinstance(email, str) else None


def record_email_events(tenant_id, events):
    """Each event validated alone, the valid ones applied in one transaction; per-event results."""
    results, valid = [None] * len(events), []
    for index, event in enumerate(events):
        sent_type = event.type if isinstance(event.type, str) else None
        result = {"email": _sent_email(event.raw), "type": sent_type, "status": 200,
                  "outcome": None, "errors": []}
        results[index] = result
        if event.ignored:
            result["outcome"] = "ignored"
            continue
        try:
            loaded = _EVENT_SCHEMA.load(event.raw)
        except ValidationError as error:
            messages = {event.names.get(name, name): value
                        for name, value in error.messages.items()} \
                if isinstance(error.messages, dict) else error.messages
            result.update(status=422, errors=field_errors(messages, event.pointer))
            continue
        result["email"] = loaded["email"]
        if EVENT_STATUS[loaded["type"]] is None:
            result["outcome"] = "ignored"
            continue
        occurred_at = loaded["occurred_at"].astimezone(datetime.timezone.utc).replace(tzinfo=None)
        valid.append((index, loaded["email"], loaded["type"], occurred_at))
    for index, outcome in (apply_email_events(tenant_id, valid) if valid else {}).items():
        results[index]["outcome"] = outcome
    counts = {name: sum(1 for result in results if result["outcome"] == name)
              for name in OUTCOMES}
    return {"results": results, **counts,
            "failed": sum(1 for result in results if result["status"] == 422)}


def apply_email_events(tenant_id, events):
    """Apply valid events [(index, email, type, occurred_at)]; per index its outcome.

    Per address the events apply in occurred_at order, and one older than the
    last applied to that address is stale: a late "delivered" never clears a
    newer bounce. Of two events at the same time (mail services stamp whole
    seconds) the graver status wins, whichever arrived first, so a re-delivered
    event is stale and the outcome never depends on arrival order. The address
    keeps its newest status, and every contact and representative with it
    moves to that status (a new version, in the change feed) unless it has it.
    """
    outcomes = {}
    by_address = {}
    for index, email, event_type, occurred_at in events:
        by_address.setdefault(email_key(email), []).append(
            (occurred_at, _GRAVITY[EVENT_STATUS[event_type]], index, event_type))
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
            current = (last.occurred_at, _GRAVITY[last.status]) if last is not None else None
            newest = None
            for occurred_at, _, index, event_type in items:
                status = EVENT_STATUS[event_type]
                if current is not None and (occurred_at, _GRAVITY[status]) <= current:
                    outcomes[index] = "stale"
                    continue
                outcomes[index] = "applied" if address in holders else "unmatched"
                current, newest = (occurred_at, _GRAVITY[status]), (occurred_at, status)
            if newest is None:
                continue
            status = newest[1]
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
    for model in (CONTACTS.model, REPRESENTATIVES.model):
        for start in range(0, len(addresses), 500):
            found.update(key for (key,) in model.select(model.email_key).where(
                model.tenant == tenant_id,
                model.email_key.in_(addresses[start:start + 500])).tuples())
    return found


def _set_email_status(txn, address, status):
    for resource in (CONTACTS, REPRESENTATIVES):
        model = resource.model
        WriteContext(txn, resource).change_stored(
            (model.email_key == address) & (model.email_status != status), email_status=status)


def rekey_email_statuses(chunk=1000):
    """Re-derive the address of each stored email status from its old key (migration 11).

    The old key was casefolded, so it re-derives to itself for every address
    without non-ASCII letters; where two old keys now make one address, the
    newer status is kept.
    """
    last_id = 0
    while True:
        rows = list(EmailStatus.select().where(EmailStatus.id > last_id)
                    .order_by(EmailStatus.id).limit(chunk))
        if not rows:
            return
        for row in rows:
            new_key = email_key(row.email_key)
            if new_key == row.email_key:
                continue
            other = EmailStatus.get_or_none(EmailStatus.tenant == row.tenant_id,
                                            EmailStatus.email_key == new_key)
            if other is not None and other.occurred_at >= row.occurred_at:
                row.delete_instance()
                continue
            if other is not None:
                other.delete_instance()
            EmailStatus.update(email_key=new_key).where(EmailStatus.id == row.id).execute()
        last_id = rows[-1].id
