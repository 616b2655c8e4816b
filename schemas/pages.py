"""Lists read by page: the page arguments, and pages of keys or of full records."""
import functools

from marshmallow import Schema, fields, validate

from schemas.common import QuerySchema
from schemas.values import QueryBoolean, QueryInteger

MAX_PAGE_LIMIT = 100
# (page - 1) * limit must stay a valid OFFSET (PostgreSQL: a 64-bit integer).
MAX_PAGE = 1_000_000_000


class PageArgsSchema(QuerySchema):
    page = QueryInteger(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    limit = QueryInteger(load_default=MAX_PAGE_LIMIT,
                         validate=validate.Range(min=1, max=MAX_PAGE_LIMIT))
    include_archived = QueryBoolean(load_default=False, metadata={
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
    page = Schema.from_dict({
        "items": fields.List(fields.Nested(record_schema)),
        "page": fields.Integer(), "limit": fields.Integer(), "total": fields.Integer(),
    }, name=name)
    return page
