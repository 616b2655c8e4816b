"""Representative: a member of the tenant's own staff."""
from marshmallow import fields

from schemas.common import Key, PersonFields, RecordSchema, Text
from schemas.links import LinkSummarySchema


class RepresentativeSchema(RecordSchema, PersonFields):
    reference = fields.String(dump_only=True)
    name = Text(255, allow_none=True, load_default=None)
    representative_type = Text(100, allow_none=True, load_default=None)
    supervisor_representative_reference = Key(allow_none=True, load_default=None)
    extra_info = Text(4000, allow_none=True, load_default=None)
    accounts = fields.Nested(LinkSummarySchema, dump_only=True)
    documents = fields.Nested(LinkSummarySchema, dump_only=True)
