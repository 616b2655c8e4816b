"""RFC 9457 problem details, as every error of the API is answered."""
from marshmallow import INCLUDE, Schema, fields


class FieldErrorSchema(Schema):
    pointer = fields.String(metadata={"description": "JSON Pointer into the request body"})
    parameter = fields.String(metadata={"description": "Query parameter at fault"})
    detail = fields.String()


class ProblemSchema(Schema):
    """RFC 9457 allows extension members; ours are listed, others may follow."""

    class Meta:
        unknown = INCLUDE

    type = fields.String(metadata={"example": "/problems/validation-error"})
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    instance = fields.String()
    code = fields.String(metadata={"enum": [
        "validation-error", "malformed-json", "unsupported-media-type", "payload-too-large",
        "unauthorized", "forbidden", "not-found", "method-not-allowed", "conflict",
        "precondition-failed", "rate-limited", "idempotency-key-reused",
        "idempotency-key-in-use", "internal-error"]})
    request_id = fields.String()
    errors = fields.List(fields.Nested(FieldErrorSchema))
    dependents = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "409 on DELETE: how many records of each kind still refer to it"})
    missing = fields.List(fields.String(), metadata={
        "description": "404 on a link: which side does not exist"})
    candidates = fields.List(fields.String(), metadata={
        "description": "409 on a matching upsert: the keys of the records that tie"})
    matched_by = fields.String(allow_none=True, metadata={
        "enum": ["email", "name", None],
        "description": "409 on a matching upsert: what the tie is over"})
    archived = fields.Boolean(metadata={
        "description": "409 on a matching upsert: true when the tie is among archived records"})
    distance = fields.Integer(metadata={
        "description": "409 on a matching upsert by name: the edit distance of the tie"})
    run_status = fields.String(metadata={
        "description": "409 on a sync run that is no longer running: its status"})
    running_run = fields.String(metadata={
        "description": "409 on starting a sync run: the id of the running run whose scope "
                       "overlaps"})
    guard = fields.String(metadata={
        "enum": ["min_seen", "max_removals", "max_removal_ratio"],
        "description": "409 on finishing a sync run: the guard that refused it"})
    limit = fields.Float(metadata={"description": "409 on finishing a sync run: the guard's "
                                                  "setting"})
    actual = fields.Float(metadata={
        "description": "409 on finishing a sync run: what the finish found (records seen, "
                       "records it would remove, or their share of the scope)"})
    would = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "409 on finishing a sync run: the counts the finish would have had"})
