"""Contact: a person at the customer."""
from marshmallow import ValidationError, fields, validates_schema

from schemas.common import (RECORD_EXAMPLE_STAMP, AddressFields, Key, PersonFields, RecordKey,
                            RecordSchema, Text)
from schemas.values import StrictBoolean


class ContactSchema(RecordSchema, PersonFields, AddressFields):
    EXAMPLE = {  # the record as GET returns it (nulls left out)
        "reference": "C-77", "account_number": "A-1001", "first_name": "Ada",
        "last_name": "Lovelace", "full_name": "Ada Lovelace", "function": "Accounts payable",
        "email": "ada@acme.example", "email_status": "valid", "language": "en",
        "is_primary": True, "custom_fields": {}, **RECORD_EXAMPLE_STAMP}

    reference = RecordKey()
    account_number = Key(allow_none=True, load_default=None)
    name = Text(255, allow_none=True, load_default=None)
    first_name = Text(255, allow_none=True, load_default=None)
    last_name = Text(255, allow_none=True, load_default=None)
    full_name = fields.String(dump_only=True, allow_none=True)
    function = Text(100, allow_none=True, load_default=None)
    contact_type = Text(100, allow_none=True, load_default=None)
    notes = Text(4000, allow_none=True, load_default=None)
    is_primary = StrictBoolean(load_default=False)

    # _one_name_form, as the document states it: not a non-blank name beside a non-blank
    # first or last name.
    CROSS_FIELD_RULES = {"not": {"allOf": [
        {"required": ["name"], "properties": {"name": {"type": "string", "pattern": r"\S"}}},
        {"anyOf": [{"required": [part], "properties": {part: {"type": "string",
                                                              "pattern": r"\S"}}}
                   for part in ("first_name", "last_name")]}]}}

    @validates_schema
    def _one_name_form(self, data, **kwargs):
        """`name` and `first_name`/`last_name` are two forms of one thing: not both at once."""
        if data.get("name") and (data.get("first_name") or data.get("last_name")):
            raise ValidationError(
                "Give either name or first_name/last_name, not both.", field_name="name")
