"""Representative: a member of the tenant's own staff."""
from marshmallow import fields

from schemas.common import (ONE_RECORD_ONLY, RECORD_EXAMPLE_STAMP, Key, PersonFields, RecordKey,
                            RecordSchema, Text)
from schemas.links import LinkSummarySchema


class RepresentativeSchema(RecordSchema, PersonFields):
    EXAMPLE = {  # the record as GET returns it (nulls left out)
        "reference": "R-7", "name": "Grace Hopper", "email": "grace@ourco.example",
        "email_status": "valid", "language": "en", "representative_type": "collector",
        "accounts": {"total": 1, "items": ["A-1001"]}, "documents": {"total": 0, "items": []},
        "custom_fields": {}, **RECORD_EXAMPLE_STAMP}

    reference = RecordKey()
    name = Text(255, allow_none=True, load_default=None)
    representative_type = Text(100, allow_none=True, load_default=None)
    supervisor_representative_reference = Key(allow_none=True, load_default=None)
    extra_info = Text(4000, allow_none=True, load_default=None)
    # Counted only for answers about one representative (GET, PUT, PATCH), not in lists.
    accounts = fields.Nested(LinkSummarySchema, dump_only=True, metadata=ONE_RECORD_ONLY)
    documents = fields.Nested(LinkSummarySchema, dump_only=True, metadata=ONE_RECORD_ONLY)
