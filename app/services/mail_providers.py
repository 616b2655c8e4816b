"""Mail services' webhook bodies, as they send them, translated into email events.

Each service's event becomes one native event ({"email", "type",
"occurred_at"}) or is answered "ignored" when it says nothing lasting about
the address (an open, a click, a deferral, a soft bounce). Errors point at the
service's own fields (`#/2/timestamp`, `#/BouncedAt`).

SendGrid (Event Webhook: a JSON array of events, `timestamp` in Unix seconds):
  delivered -> delivered; bounce -> bounced (type "blocked", a temporary
  refusal, is ignored); spamreport -> complained; dropped -> bounced when its
  reason is "Bounced Address" or "Invalid", complained for "Spam Reporting
  Address", ignored for any other reason (an unsubscribe says nothing about
  delivery); every other event is ignored.
Postmark (one JSON object per webhook call, times in ISO 8601):
  Bounce -> bounced for a HardBounce or BadEmailAddress, complained for a
  SpamComplaint, ignored for every softer type; SpamComplaint -> complained;
  Delivery -> delivered; any other record type is ignored.
"""
import datetime

from app.services.email_events import SentEvent

SENDGRID_DROPPED = {"Bounced Address": "bounced", "Invalid": "bounced",
                    "Spam Reporting Address": "complained"}
POSTMARK_BOUNCES = {"HardBounce": "bounced", "BadEmailAddress": "bounced",
                    "SpamComplaint": "complained"}
_SENDGRID_NAMES = {"email": "email", "type": "event", "occurred_at": "timestamp"}


def _text(value):
    """A field that names something (an event type, a reason) when it is text; else None."""
    return value if isinstance(value, str) else None


def _unix_time(value):
    """An RFC 3339 text for Unix seconds (what the event schema reads); the value if not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    try:
        moment = datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return "not a time"  # refused by the schema, pointing at the service's field
    return moment.isoformat()


def sendgrid_events(body):
    """SentEvents of a SendGrid Event Webhook body (a list of event objects)."""
    events = []
    for index, raw in enumerate(body):
        pointer = f"#/{index}"
        if not isinstance(raw, dict):
            events.append(SentEvent(raw, pointer))
            continue
        event_type = _text(raw.get("event"))
        native = {"delivered": "delivered", "spamreport": "complained",
                  "bounce": None if raw.get("type") == "blocked" else "bounced",
                  "dropped": SENDGRID_DROPPED.get(_text(raw.get("reason")))}.get(event_type)
        events.append(SentEvent(
            {"email": raw.get("email"), "type": native,
             "occurred_at": _unix_time(raw.get("timestamp"))},
            pointer, _SENDGRID_NAMES, type=event_type, ignored=native is None))
    return events


def postmark_events(body):
    """The SentEvent of a Postmark webhook body (Bounce, SpamComplaint or Delivery)."""
    record_type = _text(body.get("RecordType", "Bounce" if "BouncedAt" in body else None))
    if record_type == "Delivery":
        native, email_field, time_field = "delivered", "Recipient", "DeliveredAt"
    elif record_type == "SpamComplaint":
        native, email_field, time_field = "complained", "Email", "BouncedAt"
    elif record_type == "Bounce":
        native, email_field, time_field = POSTMARK_BOUNCES.get(_text(body.get("Type"))), \
            "Email", "BouncedAt"
    else:
        native, email_field, time_field = None, "Email", "BouncedAt"
    names = {"email": email_field, "type": "Type" if record_type == "Bounce" else "RecordType",
             "occurred_at": time_field}
    sent_type = _text(body.get("Type")) if record_type == "Bounce" else record_type
    return [SentEvent({"email": body.get(email_field), "type": native,
                       "occurred_at": body.get(time_field)},
                      "#", names, type=sent_type, ignored=native is None)]
