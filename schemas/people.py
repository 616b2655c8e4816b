"""Matching upserts, party upserts and email events (SPEC section 5)."""
from marshmallow import INCLUDE, Schema, fields, validate

from schemas.common import Email, Key, PersonFields, QuerySchema, RecordSchema, StrictSchema, Text
from schemas.values import AwareTimestamp, QueryBoolean, StrictBoolean
from schemas.envelopes import BulkList, ItemErrorSchema, Typed, bulk_result_schema
from schemas.contacts import ContactSchema
from schemas.representatives import RepresentativeSchema

# An event type and the status it gives the address (None: it says nothing lasting about it,
# and is answered "ignored"). A drop is the mail service refusing to send to the address.
EVENT_STATUS = {"delivered": "valid", "bounced": "bounced", "complained": "complained",
                "dropped": "bounced", "deferred": None}


class UpsertArgsSchema(QuerySchema):
    dry_run = QueryBoolean(load_default=False, metadata={
        "description": "true: answer what would happen and change nothing"})
    update_name = QueryBoolean(load_default=False, metadata={
        "description": "true: a record found by its name takes the name sent (by default it "
                       "keeps its stored name: the name was the search, not new data)"})


class PartySchema(RecordSchema, PersonFields):
    """A person of either kind: the fields contacts and representatives share, plus notes
    (a representative's extra_info) and is_primary (contacts only; ignored for staff)."""

    EXAMPLE = {"name": "Ada Lovelace", "email": "ada@acme.example", "language": "en",
               "title": "Head of accounts payable"}

    name = Text(255, allow_none=True, load_default=None, metadata={"description": "Full name"})
    notes = Text(4000, allow_none=True, load_default=None)
    is_primary = StrictBoolean(load_default=False)


_MATCH_FIELDS = {
    "matched_by": fields.String(dump_only=True, allow_none=True, metadata={
        "enum": ["email", "name", None],
        "description": "How the record was found; null when it was created"}),
    "distance": fields.Integer(dump_only=True, allow_none=True, metadata={
        "description": "Levenshtein distance of a name match"}),
    "name_kept": fields.Boolean(dump_only=True, metadata={
        "description": "true: found by its name, the record kept its stored name and the "
                       "name sent was not applied (update_name=true applies it)"}),
    "reactivated": fields.Boolean(dump_only=True, metadata={
        "description": "true: the record matched was archived (no active one matched) and "
                       "is active again"}),
}


class ContactUpsertSchema(ContactSchema):
    """Body of a contact's matching upsert: any of a contact's fields (loaded partial)."""


class RepresentativeUpsertSchema(RepresentativeSchema):
    """Body of a representative's matching upsert: any of its fields (loaded partial)."""


class PartyUpsertSchema(PartySchema):
    """Body of a party upsert: any of a party's fields (loaded partial)."""


class ContactUpsertResultSchema(ContactSchema):
    matched_by = _MATCH_FIELDS["matched_by"]
    distance = _MATCH_FIELDS["distance"]
    name_kept = _MATCH_FIELDS["name_kept"]
    reactivated = _MATCH_FIELDS["reactivated"]


class RepresentativeUpsertResultSchema(RepresentativeSchema):
    matched_by = _MATCH_FIELDS["matched_by"]
    distance = _MATCH_FIELDS["distance"]
    name_kept = _MATCH_FIELDS["name_kept"]
    reactivated = _MATCH_FIELDS["reactivated"]


class PartyUpsertResultSchema(Schema):
    """The contact or representative written, with how it was found and which kind it is."""

    party_type = fields.String(required=True, metadata={"enum": ["contact", "representative"]})
    matched_by = _MATCH_FIELDS["matched_by"]
    distance = _MATCH_FIELDS["distance"]
    name_kept = _MATCH_FIELDS["name_kept"]
    reactivated = _MATCH_FIELDS["reactivated"]
    record = Typed(ContactSchema, RepresentativeSchema, required=True, metadata={
        "description": "The contact or representative"})


class UpsertDryRunSchema(Schema):
    """What a matching upsert with dry_run=true would do; nothing was changed."""

    dry_run = fields.Boolean(required=True, metadata={"enum": [True]})
    would = fields.String(required=True, metadata={"enum": ["create", "update"]})
    party_type = fields.String(metadata={"enum": ["contact", "representative"],
                                         "description": "Party upserts only"})
    matched_by = _MATCH_FIELDS["matched_by"]
    distance = _MATCH_FIELDS["distance"]
    name_kept = _MATCH_FIELDS["name_kept"]
    reactivated = _MATCH_FIELDS["reactivated"]
    record = Typed(ContactSchema, RepresentativeSchema, required=True, allow_none=True,
                   metadata={"description": "The matched record as it is now; null when "
                                            "the upsert would create one"})


class BatchUpsertArgsSchema(UpsertArgsSchema):
    atomic = QueryBoolean(load_default=False, metadata={
        "description": "true: store nothing unless every item succeeds"})


_ACCOUNT = "The account whose contacts are matched (the path's account of the single upsert)"


class ContactUpsertItemSchema(ContactUpsertSchema):
    """One person of POST /contacts:upsert: the single upsert's body and its account."""

    account_number = Key(required=True, metadata={"description": _ACCOUNT})


class RepresentativeUpsertItemSchema(RepresentativeUpsertSchema):
    """One person of POST /representatives:upsert, and the account to link it to."""

    account_number = Key(allow_none=True, load_default=None, metadata={
        "description": "The account to link the representative to (optional)"})


class PartyUpsertItemSchema(PartyUpsertSchema):
    """One person of POST /parties:upsert: the single party upsert's body and its account."""

    EXAMPLE = {**PartySchema.EXAMPLE, "account_number": "A-1001"}

    account_number = Key(required=True, metadata={"description": _ACCOUNT})


def item_loader(item_schema_class):
    """The schema that loads one item: every field optional (as in the single upsert) but
    the account where the item needs one."""
    names = [name for name, field in item_schema_class().fields.items()
             if not (name == "account_number" and field.required)]
    return item_schema_class(partial=tuple(names))


class UpsertItemsSchema(StrictSchema):
    items = BulkList(fields.Raw(allow_none=True), metadata={
        "description": "People to match and write, in order"})


class UpsertItemResultSchema(Schema):
    """What one item of a batch matching upsert did."""

    status = fields.Integer(required=True, metadata={"enum": [200, 201, 404, 409, 422]})
    reference = fields.String(required=True, allow_none=True, metadata={
        "description": "The record written; null when the item failed, and in a dry run for "
                       "a record the batch would create"})
    version = fields.Integer(required=True, allow_none=True)
    matched_by = _MATCH_FIELDS["matched_by"]
    distance = _MATCH_FIELDS["distance"]
    name_kept = _MATCH_FIELDS["name_kept"]
    reactivated = _MATCH_FIELDS["reactivated"]
    same_as_item = fields.Integer(required=True, allow_none=True, metadata={
        "description": "The index of the earlier item of this batch that created the record "
                       "this one matched (it was updated, not created twice)"})
    candidates = fields.List(fields.String(), required=True, metadata={
        "description": "409: the equally close records"})
    errors = fields.List(fields.Nested(ItemErrorSchema), required=True)


class PartyUpsertItemResultSchema(UpsertItemResultSchema):
    party_type = fields.String(required=True, allow_none=True, metadata={
        "enum": ["contact", "representative", None],
        "description": "Where the person went; null when the item could not be read"})


def _upsert_result(name, item_schema):
    return bulk_result_schema(name, item_schema, ("created", "updated", "unchanged", "failed"),
                              extra={"dry_run": fields.Boolean(metadata={
                                  "enum": [True],
                                  "description": "Present in a dry run: nothing was stored"})})


PeopleUpsertResultSchema = _upsert_result("PeopleUpsertResult", UpsertItemResultSchema)
PartiesUpsertResultSchema = _upsert_result("PartiesUpsertResult", PartyUpsertItemResultSchema)


class EmailEventSchema(StrictSchema):
    EXAMPLE = {"email": "ada@acme.example", "type": "bounced",
               "occurred_at": "2026-11-20T10:00:00+00:00"}

    email = Email(required=True)
    type = fields.String(required=True, validate=validate.OneOf(list(EVENT_STATUS)), metadata={
        "description": "delivered: valid; bounced and dropped: bounced; complained; deferred "
                       "(a temporary delay) is answered ignored and changes nothing"})
    occurred_at = AwareTimestamp(required=True, metadata={
        "description": "RFC 3339 time with an offset"})


class EmailEventsSchema(StrictSchema):
    events = BulkList(fields.Raw(allow_none=True), metadata={
        "description": "Delivery events; each applies in occurred_at order per address"})


class EmailEventResultSchema(Schema):
    email = fields.Raw(required=True, allow_none=True, metadata={
        "description": "The event's email as sent (null when it had none)"})
    type = fields.String(required=True, allow_none=True, metadata={
        "description": "The event's type as sent (a mail service's own name for it)"})
    status = fields.Integer(required=True, metadata={"enum": [200, 422]})
    outcome = fields.String(required=True, allow_none=True, metadata={
        "enum": ["applied", "stale", "unmatched", "ignored", None],
        "description": "applied; stale (an event as recent or more was applied already); "
                       "unmatched (no record has the address yet: its status is kept for "
                       "records that get it later); ignored (a type that says nothing "
                       "lasting about the address); null when the event failed"})
    errors = fields.List(fields.Nested(ItemErrorSchema), required=True)


EmailEventsResultSchema = bulk_result_schema(
    "EmailEventsResult", EmailEventResultSchema,
    ("applied", "stale", "unmatched", "ignored", "failed"))


class SendGridEventSchema(Schema):
    """One event of SendGrid's Event Webhook, as SendGrid sends it (other fields are kept)."""

    class Meta:
        unknown = INCLUDE

    EXAMPLE = {"email": "ada@acme.example", "timestamp": 1764669600, "event": "bounce",
               "type": "bounce", "reason": "550 5.1.1 The email account does not exist",
               "sg_event_id": "sg_event_id", "sg_message_id": "sg_message_id"}

    email = fields.String(required=True)
    timestamp = fields.Integer(required=True, metadata={"description": "Unix seconds"})
    event = fields.String(required=True, metadata={"description": (
        "delivered: valid; bounce: bounced (type blocked is ignored); spamreport: complained; "
        "dropped: bounced for the reasons Bounced Address and Invalid, complained for Spam "
        "Reporting Address, else ignored; every other event is ignored")})
    type = fields.String(metadata={"description": "A bounce's kind: bounce or blocked"})
    reason = fields.String(metadata={"description": "Why an event was dropped or bounced"})


class PostmarkWebhookSchema(Schema):
    """A Postmark bounce, spam-complaint or delivery webhook body, as Postmark sends it."""

    class Meta:
        unknown = INCLUDE

    EXAMPLE = {"RecordType": "Bounce", "ID": 42, "Type": "HardBounce", "TypeCode": 1,
               "Name": "Hard bounce", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
               "Email": "ada@acme.example", "BouncedAt": "2026-11-20T13:28:10.2735393-04:00",
               "Inactive": True}

    RecordType = fields.String(metadata={"description": (
        "Bounce (the default when BouncedAt is present), SpamComplaint or Delivery; "
        "others are ignored")})
    Type = fields.String(metadata={"description": (
        "A bounce's type: HardBounce and BadEmailAddress make the address bounced, "
        "SpamComplaint complained; softer types are ignored")})
    Email = fields.String(metadata={"description": "Bounce and SpamComplaint: the address"})
    BouncedAt = fields.String(metadata={"description": "Bounce and SpamComplaint: when"})
    Recipient = fields.String(metadata={"description": "Delivery: the address"})
    DeliveredAt = fields.String(metadata={"description": "Delivery: when"})
