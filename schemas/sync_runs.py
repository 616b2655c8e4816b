"""Bodies, query strings and answers of the sync-run endpoints (services/sync.py)."""
from decimal import Decimal

from marshmallow import Schema, ValidationError, fields, validate

from schemas.collections import CURSOR_PATTERN
from schemas.common import QuerySchema, StrictSchema
from schemas.values import QueryBoolean, QueryInteger, StrictBoolean, Timestamp

RUN_STATUSES = ("running", "finished", "aborted", "expired")
GUARDS = ("min_seen", "max_removals", "max_removal_ratio")
MAX_RUN_PAGE = 100
MAX_COUNT = 1_000_000_000
DRY_RUN_KEYS = 100  # how many keys a dry run lists of each kind


_NOT_A_COUNT = "Not a valid integer (send a whole JSON number such as 5)."


class Count(fields.Integer):
    """A count in a JSON body: a whole number, never a string or a boolean."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            raise ValidationError(_NOT_A_COUNT)
        if not isinstance(value, int):  # 5.0 is 5; a huge number is never made an int
            if abs(value) > MAX_COUNT:
                raise ValidationError(f"Must be between 0 and {MAX_COUNT}.")
            if value != int(value):
                raise ValidationError(_NOT_A_COUNT)
        return int(value)


def _count(description):
    return Count(load_default=None, allow_none=True, validate=validate.Range(min=0, max=MAX_COUNT),
                 metadata={"description": description})


class SyncRunStartSchema(StrictSchema):
    EXAMPLE = {"scope": {}, "min_seen": 9000}

    scope = fields.Dict(load_default=dict, metadata={
        "description": "Feed filters of the collection: only matching records are in the run"})
    allow_overlap = StrictBoolean(load_default=False, metadata={
        "description": "true: start even when a running run's scope overlaps this one (by "
                       "default that is 409 naming the running run)"})
    min_seen = _count("The finish refuses (409) when the run saw fewer records than this "
                      "(a finish may state its own)")


class SyncRunFinishSchema(StrictSchema):
    EXAMPLE = {"max_removal_ratio": 0.05}

    max_removal_ratio = fields.Float(load_default=None, allow_none=True,
                                     validate=validate.Range(min=0, max=1), metadata={
        "description": "Refuse (409) to remove more than this share of the scope. Default "
                       "0.2, or not applied when max_removals is given without it"})
    max_removals = _count("Refuse (409) to remove (delete or archive) more records than this")
    min_seen = _count("Refuse (409) when the run saw fewer records than this (default: the "
                      "start's min_seen)")


class SyncRunFinishArgsSchema(QuerySchema):
    dry_run = QueryBoolean(load_default=False, metadata={
        "description": "true: answer what the finish would remove and change nothing (the "
                       "run stays running)"})


class SyncRunListArgsSchema(QuerySchema):
    status = fields.String(validate=validate.OneOf(RUN_STATUSES), metadata={
        "description": "Only runs in this state (absent: every run)"})
    limit = QueryInteger(load_default=20, validate=validate.Range(min=1, max=MAX_RUN_PAGE))
    cursor = fields.String(load_default=None, metadata={
        "pattern": CURSOR_PATTERN,
        "description": "next_cursor of the page before (opaque); absent or empty: the first page"})


class SyncRunResultSchema(Schema):
    in_scope = fields.Integer(required=True, metadata={"description": "Records in the scope"})
    seen = fields.Integer(required=True, metadata={"description": "Marked seen by the run"})
    deleted = fields.Integer(required=True)
    archived = fields.Integer(required=True, metadata={
        "description": "Not seen, but others depend on them"})
    kept = fields.Integer(required=True)


class SyncRunGuardsSchema(Schema):
    min_seen = fields.Integer(required=True, allow_none=True, metadata={
        "description": "The fewest records the run must see; null: no such guard"})
    max_removals = fields.Integer(required=True, allow_none=True, metadata={
        "description": "The finish's limit on removals; null while running, or not applied"})
    max_removal_ratio = fields.Float(required=True, allow_none=True, metadata={
        "description": "The finish's limit on the share removed; null while running, or "
                       "not applied"})


class SyncRunSchema(Schema):
    id = fields.String(attribute="run_id", required=True, metadata={"pattern": "^[0-9a-f]{32}$"})
    collection = fields.String(required=True)
    scope = fields.Dict(required=True, metadata={
        "additionalProperties": {"type": ["string", "boolean", "null"]},
        "description": "The feed filters that bound the run ({}: the whole collection)"})
    status = fields.String(required=True, metadata={"enum": list(RUN_STATUSES)})
    started_at = Timestamp(required=True)
    expires_at = Timestamp(required=True)
    ended_at = Timestamp(required=True, allow_none=True)
    started_by = fields.String(required=True, allow_none=True, metadata={
        "description": "The id of the API key that started the run (null for runs started "
                       "before it was recorded)"})
    guards = fields.Nested(SyncRunGuardsSchema, required=True, metadata={
        "description": "The start's min_seen; once finished, the guards the finish applied"})
    seen = fields.Integer(required=True, metadata={"description": "Records its writes marked seen"})
    result = fields.Nested(SyncRunResultSchema, required=True, allow_none=True, metadata={
        "description": "What the finish found and removed; null until then"})


class SyncRunPageSchema(Schema):
    items = fields.List(fields.Nested(SyncRunSchema), required=True, metadata={
        "description": "Running runs first, then the others, newest first"})
    next_cursor = fields.String(required=True, allow_none=True, metadata={
        "description": "Ask again with cursor= for the next page; null on the last page"})


class SyncRunGuardFigureSchema(Schema):
    guard = fields.String(required=True, metadata={"enum": list(GUARDS)})
    limit = fields.Float(required=True, metadata={"description": "The guard's setting"})
    actual = fields.Float(required=True, metadata={
        "description": "What the finish found: records seen, records it would remove, or "
                       "their share of the scope"})


class SyncRunDryRunSchema(Schema):
    """What a finish with dry_run=true would do; nothing was changed."""

    dry_run = fields.Boolean(required=True, metadata={"enum": [True]})
    would = fields.String(required=True, metadata={
        "enum": ["finish", "refuse"], "description": "What the finish would do now"})
    refused_by = fields.Nested(SyncRunGuardFigureSchema, required=True, allow_none=True,
                               metadata={"description": "The guard that would refuse; null "
                                                        "when the finish would go ahead"})
    counts = fields.Nested(SyncRunResultSchema, required=True, metadata={
        "description": "The result the finish would have"})
    would_delete = fields.List(fields.String(), required=True, metadata={
        "description": f"The keys it would delete, the first {DRY_RUN_KEYS} in key order"})
    would_archive = fields.List(fields.String(), required=True, metadata={
        "description": f"The keys it would archive, the first {DRY_RUN_KEYS} in key order"})
