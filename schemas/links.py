"""Links between representatives and records: one link, batches of them, link summaries."""
from marshmallow import Schema, ValidationError, fields, validates_schema

from schemas.common import Key, StrictSchema
from schemas.values import Timestamp
from schemas.envelopes import BulkList, ItemErrorSchema, bulk_result_schema


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
    EXAMPLE = {"representative": "R-7", "account_number": "A-1001"}
    # _one_target, as the document states it
    CROSS_FIELD_RULES = {"oneOf": [{"required": ["account_number"]},
                                   {"required": ["document_number"]}]}

    representative = Key(required=True)
    account_number = Key()
    document_number = Key()

    @validates_schema
    def _one_target(self, data, **kwargs):
        if ("account_number" in data) == ("document_number" in data):
            raise ValidationError("Give exactly one of account_number and document_number.",
                                  field_name="account_number")


class LinkBatchSchema(StrictSchema):
    links = BulkList(fields.Raw(allow_none=True), metadata={
        "description": "Pairs of a representative and an account or a document"})


class LinkResultSchema(Schema):
    representative = fields.Raw(allow_none=True, metadata={
        "description": "As sent (absent when the item had none)"})
    account_number = fields.Raw(allow_none=True, metadata={"description": "As sent"})
    document_number = fields.Raw(allow_none=True, metadata={"description": "As sent"})
    status = fields.Integer(required=True, metadata={
        "enum": [200, 204, 404, 422],
        "description": "200 linked (or already linked), 204 unlinked, 404 a side is missing "
                       "or (unlink) not linked, 422 not a valid pair"})
    errors = fields.List(fields.Nested(ItemErrorSchema), required=True)


LinkBatchResultSchema = bulk_result_schema(
    "LinkBatchResult", LinkResultSchema, ("linked", "unchanged", "unlinked", "failed"))
