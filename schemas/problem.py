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
