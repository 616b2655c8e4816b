"""Collection endpoints written once for every resource: feed, versions, lookup, batch."""
import functools

from flask import current_app, g
from marshmallow import fields, validate

from app import metrics
from app.api import BATCH_RATE_LIMIT_COST, body_limit, bulk, costs, plural, reads_only, singular
from app.api.description import see
from app.api.idempotency import IDEMPOTENCY_HEADER, idempotent
from app.api.parsing import SYNC_RUN_HEADER, read_json_body, sync_run_from_request
from app.api.sync_runs import register_sync_run_routes
from app.errors import ValidationFailed
from app.services import batch as batch_service
from app.services import feed as feed_service
from app.services import lookup as lookup_service
from schemas.common import Key, SearchText
from schemas.values import QueryBoolean, format_timestamp
from schemas.envelopes import typed_envelope
from schemas.collections import (BatchArgsSchema, BatchSchema, FeedArgsSchema, LookupSchema,
                                 VersionsArgsSchema, collection_answers)

# Filters name keys (the same rules as keys); an empty value asks for "none" (IS NULL).
_FILTER_FIELDS = {"exact": lambda: Key(allow_none=True, metadata={
                      "description": "Exact value; empty: records where it is null"}),
                  "email": lambda: SearchText(allow_none=True, validate=validate.Length(max=254),
                                           metadata={"description": "Case-insensitive; empty: "
                                                                    "records without one"}),
                  "bool": QueryBoolean}


def filter_fields(resource):
    """The collection's feed filters as fields, from its one declaration of them
    (Resource.feed_filters)."""
    return {name: (fields.String(validate=validate.OneOf(filter_type))
                   if isinstance(filter_type, tuple) else _FILTER_FIELDS[filter_type]())
            for name, filter_type in resource.feed_filters.items()}


def feed_args_schema(resource):
    """The feed's query string: the common parameters plus this collection's filters."""
    name = resource.schema_class.__name__.replace("Schema", "FeedArgsSchema")
    return FeedArgsSchema.from_dict(filter_fields(resource), name=name)()


def parse_envelope(schema):
    """Read a bulk body with `schema`, holding its list (a BulkList) to its setting."""
    data = schema.load(read_json_body())
    ((list_name, field),) = schema.fields.items()
    limit = current_app.config[field.max_items_setting]
    if len(data[list_name]) > limit:
        raise ValidationFailed([{"pointer": f"#/{list_name}",
                                 "detail": f"At most {limit} per request."}])
    return data[list_name]


_BULK_DESCRIPTION = see("Batches")


def bulk_post(blp, path, endpoint, operation_id, summary, envelope, item_schema, result_schema, *,
              envelope_name, metric, query=None, headers=(), limit_setting="MAX_BATCH_BODY_BYTES",
              description=""):
    """Declare a bulk POST: a list envelope in (`envelope` reads it; the document shows it
    as `envelope_name`, each item as `item_schema`; the view receives the list), a result
    per item out (200, `result_schema`, whose outcomes are counted under `metric`), the
    batch rate-limit cost and body limit, Idempotency-Key, and optional query parameters
    and headers."""
    reader = envelope()
    envelope_doc = typed_envelope(envelope, item_schema, envelope_name)

    def with_items(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            result = view(parse_envelope(reader), *args, **kwargs)
            metrics.count_batch(metric, {outcome: result[outcome]
                                         for outcome in result_schema.OUTCOMES})
            return result
        return wrapper

    layers = [blp.route(path, endpoint=endpoint, methods=["POST"]),
              blp.doc(summary=summary, operationId=operation_id,
                      description=" ".join(filter(None, (description, _BULK_DESCRIPTION))),
                      requestBody={"required": True, "content": {"application/json": {
                          "schema": envelope_doc}}}),
              blp.headers(IDEMPOTENCY_HEADER, *headers),
              costs(BATCH_RATE_LIMIT_COST), body_limit(limit_setting), bulk, idempotent]
    if query is not None:
        layers.append(blp.query(query))
    layers += [blp.response(200, result_schema),
               blp.alt_response(422, response="UNPROCESSABLE_ENTITY"), with_items]

    def decorator(view):
        for layer in reversed(layers):  # as if written top to bottom above the view
            view = layer(view)
        return view
    return decorator


def _dump_feed_item(schema, item):
    if isinstance(item, dict):  # a tombstone
        return dict(item, updated_at=format_timestamp(item["updated_at"]))
    return schema.dump(item)


def register_collection_routes(blp, resource):
    """GET /{c} (change feed), GET /{c}:versions, POST /{c}:lookup, POST /{c}:batch, and
    the sync runs (api/sync_runs.py)."""
    register_sync_run_routes(blp, resource, feed_args_schema(resource), filter_fields(resource))
    name, schema = resource.name, resource.schema
    answers = collection_answers(resource.schema_class, resource.key_field)

    @blp.route(f"/{name}", endpoint=f"{name}_feed", methods=["GET"])
    @blp.doc(summary=f"Change feed of {name}, in commit order, with tombstones",
             operationId=f"list{singular(resource)}Changes", description=(
                 "Every committed change exactly once, deletions as tombstones: ask again with "
                 "next_cursor. " + see("Change feed and cursors")))
    @blp.query(feed_args_schema(resource))
    @blp.response(200, answers.changes())
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def feed(limit, cursor, updated_after, q, **filters):
        page = feed_service.read_feed(resource, g.tenant_id, limit, cursor, updated_after, q,
                                      filters)
        metrics.count(metrics.FEED_PAGES, name)
        return {"items": [_dump_feed_item(schema, item) for item in page.items],
                "next_cursor": page.next_cursor, "has_more": page.has_more}

    @blp.route(f"/{name}:versions", endpoint=f"{name}_versions", methods=["GET"])
    @blp.doc(summary=f"Keys and versions of all {name}, in key order",
             operationId=f"list{singular(resource)}Versions",
             description=see("Change feed and cursors"))
    @blp.query(VersionsArgsSchema())
    @blp.response(200, answers.versions())
    def versions(limit, cursor):
        page = lookup_service.read_versions(resource, g.tenant_id, limit, cursor)
        return {"items": [dict(item, updated_at=format_timestamp(item["updated_at"]))
                          for item in page.items],
                "next_cursor": page.next_cursor, "has_more": page.has_more}

    @blp.route(f"/{name}:lookup", endpoint=f"{name}_lookup", methods=["POST"])
    @blp.doc(summary=f"Fetch up to 100 {name} by key", operationId=f"lookup{plural(resource)}")
    @blp.headers(IDEMPOTENCY_HEADER)
    @reads_only
    @idempotent
    @blp.arguments(LookupSchema())
    @blp.response(200, answers.lookup())
    def lookup(body):
        found, missing = lookup_service.lookup(resource, g.tenant_id, body["keys"])
        return {"items": schema.dump(found, many=True), "missing": missing}

    @bulk_post(blp, f"/{name}:batch", f"{name}_batch", f"batchUpsert{plural(resource)}",
               f"Create or replace up to 1,000 {name}, each with PUT semantics", BatchSchema,
               resource.batch_item_schema, answers.batch(), query=BatchArgsSchema(),
               envelope_name=resource.schema_class.__name__.replace("Schema", "Batch"),
               metric=name,
               headers=[SYNC_RUN_HEADER], description=(
                   "Each item has PUT semantics; with atomic=true any failure stores nothing "
                   "(422)."))
    def batch(items, atomic):
        return batch_service.batch_upsert(resource, g.tenant_id, items, atomic,
                                          sync_run_from_request())
