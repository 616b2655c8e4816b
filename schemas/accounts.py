"""Account: a customer account of the tenant."""
from marshmallow import fields

from schemas.common import (RECORD_EXAMPLE_STAMP, AddressFields, Currency, Email, Key, Language,
                            RecordKey, RecordSchema, Text)
from schemas.values import Amount


class AddressSchema(AddressFields):
    """The account's billing address."""


class AccountSchema(RecordSchema):
    EXAMPLE = {  # the record as GET returns it (nulls left out)
        "account_number": "A-1001", "name": "Acme GmbH", "currency": "EUR", "language": "de",
        "email": "ap@acme.example", "payment_terms": "NET30", "credit_limit": "50000.00",
        "billing_address": {"address1": "Hauptstr. 1", "city": "Berlin", "zip": "10115",
                            "country": "DE"},
        "custom_fields": {"segment": "enterprise"}, **RECORD_EXAMPLE_STAMP}

    account_number = RecordKey()
    name = Text(255, required=True)
    display_reference = Text(255, allow_none=True, load_default=None)
    currency = Currency(allow_none=True, load_default=None)
    language = Language(allow_none=True, load_default=None)
    email = Email(allow_none=True, load_default=None)
    phone = Text(50, allow_none=True, load_default=None)
    mobile_phone = Text(50, allow_none=True, load_default=None)
    fax = Text(50, allow_none=True, load_default=None)
    billing_address = fields.Nested(AddressSchema, allow_none=True, load_default=None)
    payment_terms = Text(100, allow_none=True, load_default=None)
    credit_limit = Amount(minimum=0, allow_none=True, load_default=None)
    account_group = Text(100, allow_none=True, load_default=None)
    parent_account_number = Key(allow_none=True, load_default=None)
    description = Text(4000, allow_none=True, load_default=None)
    vat = Text(255, allow_none=True, load_default=None)
    company_registration_number = Text(255, allow_none=True, load_default=None)
