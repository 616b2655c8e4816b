"""Bodies, query strings and answers of the collection endpoints: feed, versions, lookup,
batch and delete (sync runs: schemas/sync_runs.py)."""
import functools
from types import SimpleNamespace

from marshmallow import Schema, fields, validate

from schemas.common import Key, QuerySchema, SearchText, StrictSchema
from schemas.values import AwareTimestamp, QueryBoolean, QueryInteger, Timestamp
from schemas.envelopes import BulkList, ItemErrorSchema, Typed, bulk_result_schema

MAX_FEED_LIMIT = 1000
MAX_VERSIONS_LIMIT = 10_000
MAX_LOOKUP_KEYS = 100
# What services/cursors.py hands out: unpadded base64url. Empty, like absent, is the start.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]*$(?!\n)"


class FeedArgsSchema(QuerySchema):
    limit = QueryInteger(load_default=100, validate=validate.Range(min=1, max=MAX_FEED_LIMIT))
    cursor = fields.String(load_default=None, metadata={
        "pattern": CURSOR_PATTERN,
        "description": "next_cursor of an earlier page (opaque); absent or empty: from the beginning"})
    updated_after = AwareTimestamp(load_default=None, metadata={
        "description": "RFC 3339 time with an offset"})
    q = SearchText(load_default=None, validate=validate.Length(min=1, max=200), metadata={
        "description": "Case-insensitive substring of the key, names, email or phone"})


class VersionsArgsSchema(QuerySchema):
    limit = QueryInteger(load_default=1000,
                         validate=validate.Range(min=1, max=MAX_VERSIONS_LIMIT))
    cursor = fields.String(load_default=None, metadata={
        "pattern": CURSOR_PATTERN,
        "description": "next_cursor of an earlier page (opaque); absent or empty: from the beginning"})


class LookupSchema(StrictSchema):
    keys = fields.List(Key(), required=True,
                       validate=validate.Length(min=1, max=MAX_LOOKUP_KEYS))


class BatchSchema(StrictSchema):
    # Raw: an item that is not an object fails alone, with the other items still stored.
    items = BulkList(fields.Raw(allow_none=True), metadata={
        "description": "Records with their key field, each with PUT semantics"})


class BatchArgsSchema(QuerySchema):
    atomic = QueryBoolean(load_default=False, metadata={
        "description": "true: store nothing unless every item is valid"})


class DeleteArgsSchema(QuerySchema):
    archive_if_referenced = QueryBoolean(load_default=False, metadata={
        "description": "true: archive the record instead of answering 409 when others depend "
                       "on it (200 with the archived record)"})


def _key_echo(key_field):
    return fields.Raw(required=True, allow_none=True, metadata={
        "description": f"The item's {key_field} as sent (null when it had none)"})


@functools.cache
def collection_answers(record_schema_class, key_field):
    """The named answers of one collection's endpoints: feed, versions, lookup, batch.

    Each is built once per collection from its record schema and key field;
    the views pass already-serialised values through them (Typed).
    """
    name = record_schema_class.__name__.replace("Schema", "")
    key = fields.String(required=True)
    tombstone = Schema.from_dict({
        key_field: key,
        "deleted": fields.Boolean(required=True, metadata={
            "description": "true: the record was deleted; false: it was changed so that it "
                           "no longer matches the feed's filters"}),
        "matches_filter": fields.Boolean(metadata={
            "enum": [False], "description": "Present (false) when the record left a filtered "
                                            "feed without being deleted"}),
        "version": fields.Integer(required=True),
        "updated_at": Timestamp(required=True)}, name=f"{name}Tombstone")
    # The one answer a follower must tell apart by its shape: shown as an example.
    tombstone.EXAMPLE = {key_field: f"{record_schema_class.EXAMPLE[key_field]}-OLD",
                         "deleted": True, "version": 4,
                         "updated_at": "2026-11-20T10:00:00.000000Z"}
    version = Schema.from_dict({key_field: key, "version": fields.Integer(required=True),
                                "updated_at": Timestamp(required=True)}, name=f"{name}Version")
    page_fields = {
        "next_cursor": fields.String(required=True, metadata={
            "description": "Always present, also on the last page: store it and ask again "
                           "with cursor= to receive what changed since"}),
        "has_more": fields.Boolean(required=True, metadata={
            "description": "false: caught up for now"})}
    item_result = Schema.from_dict({
        key_field: _key_echo(key_field),
        "status": fields.Integer(required=True, metadata={"enum": [200, 201, 404, 409, 422]}),
        "version": fields.Integer(required=True, allow_none=True, metadata={
            "description": "The record's version; null when the item failed"}),
        "errors": fields.List(fields.Nested(ItemErrorSchema), required=True)},
        name=f"{name}BatchItemResult")
    answers = SimpleNamespace(
        changes=Schema.from_dict({
            "items": fields.List(Typed(tombstone, record_schema_class), required=True, metadata={
                "description": "Records, and tombstones for records deleted or gone from a "
                               "filtered feed, in the order of their latest committed change"}),
            **page_fields}, name=f"{name}Changes"),
        versions=Schema.from_dict({
            "items": fields.List(Typed(version), required=True, metadata={
                "description": "Live records' keys and versions, in key order"}),
            **page_fields}, name=f"{name}Versions"),
        lookup=Schema.from_dict({
            "items": fields.List(Typed(record_schema_class), required=True, metadata={
                "description": "The records found, in the order their keys were given"}),
            "missing": fields.List(fields.String(), required=True, metadata={
                "description": "The keys not found"})}, name=f"{name}LookupResult"),
        batch=bulk_result_schema(f"{name}BatchResult", item_result,
                                 ("created", "replaced", "unchanged", "failed")))
    return answers

