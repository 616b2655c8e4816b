"""Bodies, query strings and answers of the collection endpoints: feed, versions, lookup,
batch, delete and sync runs."""
from marshmallow import fields, validate

from schemas.common import Key, SearchText, StrictSchema, Timestamp

MAX_FEED_LIMIT = 1000
MAX_VERSIONS_LIMIT = 10_000
MAX_LOOKUP_KEYS = 100


class FeedArgsSchema(StrictSchema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_FEED_LIMIT))
    cursor = fields.String(load_default=None, metadata={
        "description": "next_cursor of an earlier page; absent: from the beginning"})
    updated_after = fields.AwareDateTime(load_default=None, metadata={
        "description": "RFC 3339 time with an offset"})
    q = SearchText(load_default=None, validate=validate.Length(min=1, max=200), metadata={
        "description": "Case-insensitive substring of the key, names, email or phone"})


class VersionsArgsSchema(StrictSchema):
    limit = fields.Integer(load_default=1000,
                           validate=validate.Range(min=1, max=MAX_VERSIONS_LIMIT))
    cursor = fields.String(load_default=None)


class LookupSchema(StrictSchema):
    keys = fields.List(Key(), required=True,
                       validate=validate.Length(min=1, max=MAX_LOOKUP_KEYS))


class BatchSchema(StrictSchema):
    # Raw: an item that is not an object fails alone, with the other items still stored.
    items = fields.List(fields.Raw(allow_none=True), required=True,
                        validate=validate.Length(min=1), metadata={
        "description": "Records with their key field, each with PUT semantics"})


class BatchArgsSchema(StrictSchema):
    atomic = fields.Boolean(load_default=False, metadata={
        "description": "true: store nothing unless every item is valid"})


class DeleteArgsSchema(StrictSchema):
    archive_if_referenced = fields.Boolean(load_default=False, metadata={
        "description": "true: archive the record instead of answering 409 when others depend "
                       "on it (200 with the archived record)"})


class SyncRunStartSchema(StrictSchema):
    scope = fields.Dict(load_default=dict, metadata={
        "description": "Feed filters of the collection: only matching records are in the run"})


class SyncRunFinishSchema(StrictSchema):
    max_removal_ratio = fields.Float(load_default=0.2, validate=validate.Range(min=0, max=1),
                                     metadata={"description": "Refuse (409) to remove more "
                                                              "than this share of the scope"})


class SyncRunSchema(StrictSchema):
    id = fields.String(attribute="run_id")
    collection = fields.String()
    scope = fields.Dict()
    status = fields.String(metadata={"enum": ["running", "finished", "aborted", "expired"]})
    started_at = Timestamp()
    expires_at = Timestamp()
    ended_at = Timestamp(allow_none=True)
    seen = fields.Integer(metadata={"description": "Records its writes marked seen"})
    result = fields.Dict(allow_none=True, metadata={
        "description": "After the finish: in_scope, seen, deleted, archived, kept"})


class BatchResultSchema(StrictSchema):
    results = fields.List(fields.Dict(), metadata={
        "description": "One per item, in input order: the item's key field, status (201, 200, "
                       "404, 409 or 422), version (null on failure) and errors (JSON pointers "
                       "into the batch body)"})
    created = fields.Integer()
    replaced = fields.Integer()
    unchanged = fields.Integer()
    failed = fields.Integer()


class CursorPageSchema(StrictSchema):
    """A page read by cursor: the feed (records and tombstones) or versions."""

    items = fields.List(fields.Dict(), metadata={
        "description": "Feed: records, and tombstones {key, deleted: true, version, "
                       "updated_at}, in the order their latest change was committed. "
                       "Versions: {key, version, updated_at} in key order."})
    next_cursor = fields.String(metadata={"description": "Always present; store it"})
    has_more = fields.Boolean()


class LookupResultSchema(StrictSchema):
    items = fields.List(fields.Dict())
    missing = fields.List(fields.String())
