"""Matching upserts, party upserts and email events (SPEC section 5)."""
from marshmallow import fields, validate

from schemas.common import (Email, PersonFields, RecordSchema, SearchText, StrictBoolean,
                            StrictSchema, Text)
from schemas.contacts import ContactSchema
from schemas.representatives import RepresentativeSchema

MAX_EMAIL_EVENTS = 1000
EVENT_TYPES = ("delivered", "bounced", "complained")


class UpsertArgsSchema(StrictSchema):
    dry_run = fields.Boolean(load_default=False, metadata={
        "description": "true: answer what would happen and change nothing"})


class PartySchema(RecordSchema, PersonFields):
    """A person of either kind: the fields contacts and representatives share, plus notes
    (a representative's extra_info) and is_primary (contacts only; ignored for staff)."""

    name = Text(255, allow_none=True, load_default=None, metadata={"description": "Full name"})
    notes = Text(4000, allow_none=True, load_default=None)
    is_primary = StrictBoolean(load_default=False)


_MATCH_FIELDS = {
    "matched_by": fields.String(dump_only=True, allow_none=True, metadata={
        "enum": ["email", "name", None],
        "description": "How the record was found; null when it was created"}),
    "distance": fields.Integer(dump_only=True, allow_none=True, metadata={
        "description": "Levenshtein distance of a name match"}),
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


class RepresentativeUpsertResultSchema(RepresentativeSchema):
    matched_by = _MATCH_FIELDS["matched_by"]
    distance = _MATCH_FIELDS["distance"]


class PartyUpsertResultSchema(StrictSchema):
    """The contact or representative written, with how it was found and which kind it is."""

    party_type = fields.String(metadata={"enum": ["contact", "representative"]})
    matched_by = _MATCH_FIELDS["matched_by"]
    distance = _MATCH_FIELDS["distance"]
    record = fields.Dict(metadata={"description": "The contact or representative"})


class EmailEventSchema(StrictSchema):
    email = Email(required=True)
    type = fields.String(required=True, validate=validate.OneOf(EVENT_TYPES))
    occurred_at = fields.AwareDateTime(required=True, metadata={
        "description": "RFC 3339 time with an offset"})


class EmailEventsSchema(StrictSchema):
    events = fields.List(fields.Raw(allow_none=True), required=True,
                         validate=validate.Length(min=1), metadata={
                             "description": f"1 to {MAX_EMAIL_EVENTS} events"})


class EmailEventsDocSchema(StrictSchema):
    events = fields.List(fields.Nested(EmailEventSchema), required=True,
                         validate=validate.Length(min=1, max=MAX_EMAIL_EVENTS))


class EmailEventResultSchema(StrictSchema):
    email = SearchText(allow_none=True)
    status = fields.Integer(metadata={"enum": [200, 422]})
    outcome = fields.String(allow_none=True, metadata={"enum": ["applied", "stale",
                                                                "unmatched", None]})
    errors = fields.List(fields.Dict())


class EmailEventsResultSchema(StrictSchema):
    results = fields.List(fields.Nested(EmailEventResultSchema))
    applied = fields.Integer()
    stale = fields.Integer()
    unmatched = fields.Integer()
    failed = fields.Integer()
