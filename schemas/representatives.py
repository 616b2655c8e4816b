"""Representative: a member of the tenant's own staff."""
from marshmallow import fields

from schemas.common import Email, Key, Language, RecordSchema, Text
from schemas.links import LinkSummarySchema


class RepresentativeSchema(RecordSchema):
    reference = fields.String(dump_only=True)
    name = Text(255, allow_none=True, load_default=None)
    email = Email(allow_none=True, load_default=None)
    email_status = fields.String(dump_only=True, metadata={
        "enum": ["valid", "bounced", "complained", None]})
    phone = Text(50, allow_none=True, load_default=None)
    mobile_phone = Text(50, allow_none=True, load_default=None)
    fax = Text(50, allow_none=True, load_default=None)
    language = Language(allow_none=True, load_default=None)
    title = Text(100, allow_none=True, load_default=None)
    department = Text(100, allow_none=True, load_default=None)
    representative_type = Text(100, allow_none=True, load_default=None)
    supervisor_representative_reference = Key(allow_none=True, load_default=None)
    extra_info = Text(4000, allow_none=True, load_default=None)
    accounts = fields.Nested(LinkSummarySchema, dump_only=True)
    documents = fields.Nested(LinkSummarySchema, dump_only=True)
