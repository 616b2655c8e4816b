"""Contact: a person at the customer."""
from marshmallow import ValidationError, fields, validates_schema

from schemas.common import Country, Email, Key, Language, RecordSchema, StrictBoolean, Text


class ContactSchema(RecordSchema):
    reference = fields.String(dump_only=True)
    account_number = Key(allow_none=True, load_default=None)
    name = Text(255, allow_none=True, load_default=None)
    first_name = Text(255, allow_none=True, load_default=None)
    last_name = Text(255, allow_none=True, load_default=None)
    full_name = fields.String(dump_only=True)
    function = Text(100, allow_none=True, load_default=None)
    email = Email(allow_none=True, load_default=None)
    email_status = fields.String(dump_only=True, metadata={
        "enum": ["valid", "bounced", "complained", None]})
    phone = Text(50, allow_none=True, load_default=None)
    mobile_phone = Text(50, allow_none=True, load_default=None)
    fax = Text(50, allow_none=True, load_default=None)
    title = Text(100, allow_none=True, load_default=None)
    department = Text(100, allow_none=True, load_default=None)
    contact_type = Text(100, allow_none=True, load_default=None)
    language = Language(allow_none=True, load_default=None)
    address1 = Text(255, allow_none=True, load_default=None)
    address2 = Text(255, allow_none=True, load_default=None)
    city = Text(255, allow_none=True, load_default=None)
    state = Text(255, allow_none=True, load_default=None)
    zip = Text(50, allow_none=True, load_default=None)
    country = Country(allow_none=True, load_default=None)
    notes = Text(4000, allow_none=True, load_default=None)
    is_primary = StrictBoolean(load_default=False)

    @validates_schema
    def _one_name_form(self, data, **kwargs):
        """`name` and `first_name`/`last_name` are two forms of one thing: not both at once."""
        if data.get("name") and (data.get("first_name") or data.get("last_name")):
            raise ValidationError(
                "Give either name or first_name/last_name, not both.", field_name="name")
