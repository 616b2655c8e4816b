"""Account: a customer account of the tenant."""
from marshmallow import fields

from schemas.common import (AddressFields, Amount, Currency, Email, Key, Language, RecordSchema,
                            Text)


class AddressSchema(AddressFields):
    """The account's billing address."""


class AccountSchema(RecordSchema):
    account_number = fields.String(dump_only=True)
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
