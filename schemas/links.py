"""Links between representatives and records: one link, batches of them, link summaries."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.common import Key, StrictSchema, Timestamp


class LinkSummarySchema(Schema):
    total = fields.Integer()
    items = fields.List(fields.String(), metadata={"description": "Up to 100 keys, in key order"})


class AccountLinkSchema(Schema):
    representative = fields.String()
    account_number = fields.String()
    linked_at = Timestamp()


class DocumentLinkSchema(Schema):
    representative = fields.String()
    document_number = fields.String()
    linked_at = Timestamp()


class LinkSchema(StrictSchema):
    representative = Key(required=True)
    account_number = Key()
    document_number = Key()

    @validates_schema
    def _one_target(self, data, **kwargs):
        if ("account_number" in data) == ("document_number" in data):
            raise ValidationError("Give exactly one of account_number and document_number.",
                                  field_name="account_number")


class LinkBatchSchema(StrictSchema):
    links = fields.List(fields.Raw(allow_none=True), required=True,
                        validate=validate.Length(min=1))


class LinkBatchResultSchema(StrictSchema):
    results = fields.List(fields.Dict())
    linked = fields.Integer()
    unchanged = fields.Integer()
    unlinked = fields.Integer()
    failed = fields.Integer()
