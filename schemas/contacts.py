"""Contact: a person at the customer."""
from marshmallow import ValidationError, fields, validates_schema

from schemas.common import AddressFields, Key, PersonFields, RecordSchema, StrictBoolean, Text


class ContactSchema(RecordSchema, PersonFields, AddressFields):
    reference = fields.String(dump_only=True)
    account_number = Key(allow_none=True, load_default=None)
    name = Text(255, allow_none=True, load_default=None)
    first_name = Text(255, allow_none=True, load_default=None)
    last_name = Text(255, allow_none=True, load_default=None)
    full_name = fields.String(dump_only=True, allow_none=True)
    function = Text(100, allow_none=True, load_default=None)
    contact_type = Text(100, allow_none=True, load_default=None)
    notes = Text(4000, allow_none=True, load_default=None)
    is_primary = StrictBoolean(load_default=False)

    @validates_schema
    def _one_name_form(self, data, **kwargs):
        """`name` and `first_name`/`last_name` are two forms of one thing: not both at once."""
        if data.get("name") and (data.get("first_name") or data.get("last_name")):
            raise ValidationError(
                "Give either name or first_name/last_name, not both.", field_name="name")
