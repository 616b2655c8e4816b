"""Bulk bodies and typed answers: the shapes the collection endpoints share."""
import functools

from marshmallow import Schema, fields, validate


class BulkList(fields.List):
    """The list of a bulk body (items, links, events): 1 to the deployment's maximum."""

    max_items_setting = "MAX_BATCH_ITEMS"
    items_load_alone = True  # StrictSchema leaves the items' strings to each item's schema

    def __init__(self, item, **kwargs):
        super().__init__(item, required=True, validate=validate.Length(min=1), **kwargs)


class ItemErrorSchema(Schema):
    pointer = fields.String(required=True, metadata={
        "description": "JSON Pointer into the request body (#/items/3/email)"})
    detail = fields.String(required=True)


class Typed(fields.Raw):
    """A value the view has already serialised, passed through as it is; the document
    shows it as one of `choices` (marshmallow schemas, tried in that order)."""

    def __init__(self, *choices, **kwargs):
        self.choices = choices
        super().__init__(**kwargs)


def bulk_result_schema(name, item_schema, outcomes, extra=None):
    """The answer of a bulk route: a result per item in input order, and how many items
    had each outcome (`outcomes`, kept on the class as OUTCOMES), and any `extra` fields."""
    schema = Schema.from_dict({
        "results": fields.List(Typed(item_schema), required=True, metadata={
            "description": "One per item, in input order"}),
        **{outcome: fields.Integer(required=True) for outcome in outcomes},
        **(extra or {})}, name=name)
    schema.OUTCOMES = outcomes
    return schema


@functools.cache  # one class per name: routes that share a body share its schema
def typed_envelope(envelope_class, item_schema, name):
    """A bulk envelope as the document shows it, its items typed by `item_schema`.

    The server reads each item on its own (an item that is not valid fails
    alone), so the envelope it loads takes any item; this one says what a
    valid item is.
    """
    ((list_name, field),) = envelope_class().declared_fields.items()
    return Schema.from_dict({list_name: BulkList(fields.Nested(item_schema),
                                                 metadata=field.metadata)}, name=name)
