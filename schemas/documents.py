"""Document: an invoice or credit note of an account."""
from marshmallow import fields, post_dump, validate

from schemas.common import (RECORD_EXAMPLE_STAMP, Currency, Key, RecordKey, RecordSchema,
                            Text)
from schemas.values import Amount, StrictDate

DOCUMENT_TYPES = ("invoice", "credit_note", "other")


class DocumentSchema(RecordSchema):
    EXAMPLE = {  # the record as GET returns it (nulls left out)
        "document_number": "INV-2026-0042", "account_number": "A-1001", "document_type": "invoice",
        "invoice_date": "2026-11-01", "due_date": "2026-12-01", "currency": "EUR",
        "amount": "1250.00", "open_amount": "250.00", "status": "open", "po_number": "PO-88",
        "custom_fields": {}, **RECORD_EXAMPLE_STAMP}

    document_number = RecordKey()
    account_number = Key(required=True)
    document_type = fields.String(load_default="invoice", validate=validate.OneOf(DOCUMENT_TYPES))
    invoice_date = StrictDate(required=True)
    due_date = StrictDate(required=True)
    currency = Currency(allow_none=True, load_default=None)
    amount = Amount(allow_none=True, load_default=None)
    open_amount = Amount(allow_none=True, load_default=None, metadata={
        "description": "What is still owed. Unset (null) it follows amount, also when amount "
                       "changes later; once set it stays until the caller changes it."})
    status = fields.String(dump_only=True, metadata={
        "enum": ["open", "closed"], "description": "open while open_amount is non-zero"})
    applies_to_invoice = Key(allow_none=True, load_default=None, metadata={
        "description": "Required for credit notes: an invoice of the same account."})
    po_number = Text(100, allow_none=True, load_default=None)
    description = Text(4000, allow_none=True, load_default=None)

    @post_dump
    def _open_amount_follows_amount(self, data, **kwargs):
        """An open_amount the caller never set reads as the amount."""
        if data.get("open_amount") is None and "amount" in data:
            data["open_amount"] = data["amount"]
        return data
