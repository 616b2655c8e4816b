"""Payment: money received against a document (a test's own resource)."""
from marshmallow import fields, validate

from schemas.common import RECORD_EXAMPLE_STAMP, Key, RecordSchema, Text
from schemas.values import Amount, StrictDate

METHODS = ("card", "transfer", "cheque")


class PaymentSchema(RecordSchema):
    EXAMPLE = {  # the record as GET returns it (nulls left out)
        "payment_number": "PAY-1", "document_number": "INV-2026-0042", "amount": "250.00",
        "received_on": "2026-11-20", "method": "transfer", "custom_fields": {},
        **RECORD_EXAMPLE_STAMP}

    payment_number = fields.String(dump_only=True)
    document_number = Key(required=True)
    amount = Amount(required=True)
    received_on = StrictDate(required=True)
    method = fields.String(load_default="transfer", validate=validate.OneOf(METHODS))
    note = Text(200, allow_none=True, load_default=None)
