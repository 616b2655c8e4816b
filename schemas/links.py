"""Links between representatives and records, and the paginated lists of them."""
import functools

from marshmallow import Schema, fields, validate

from schemas.common import StrictSchema, Timestamp

MAX_PAGE_LIMIT = 100
# (page - 1) * limit must stay a valid OFFSET (PostgreSQL: a 64-bit integer).
MAX_PAGE = 1_000_000_000


class PageArgsSchema(StrictSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    limit = fields.Integer(load_default=MAX_PAGE_LIMIT,
                           validate=validate.Range(min=1, max=MAX_PAGE_LIMIT))
    include_archived = fields.Boolean(load_default=False, metadata={
        "description": "true: list archived records too"})


class KeyPageSchema(Schema):
    items = fields.List(fields.String(), metadata={"description": "Keys, in key order"})
    page = fields.Integer()
    limit = fields.Integer()
    total = fields.Integer()


@functools.cache
def record_page_schema(record_schema):
    """A page of full records of one resource."""
    name = record_schema.__name__.replace("Schema", "PageSchema")
    return Schema.from_dict({
        "items": fields.List(fields.Nested(record_schema)),
        "page": fields.Integer(), "limit": fields.Integer(), "total": fields.Integer(),
    }, name=name)


class LinkSummarySchema(Schema):
    total = fields.Integer()
    items = fields.List(fields.String(), metadata={"description": "Up to 100 keys, in key order"})


class AccountLinkSchema(Schema):
    representative = fields.String()
    account_number = fields.String()
    linked_at = Timestamp()


class DocumentLinkSchema(Schema):
    representative = fields.String()
    document_number = fields.String()
    linked_at = Timestamp()
