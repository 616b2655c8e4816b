"""RFC 9457 problem details, as every error of the API is answered."""
from marshmallow import Schema, fields


class FieldErrorSchema(Schema):
    pointer = fields.String(metadata={"description": "JSON Pointer into the request body"})
    parameter = fields.String(metadata={"description": "Query parameter at fault"})
    detail = fields.String()


class ProblemSchema(Schema):
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
