"""The five verbs on `/{collection}/{key}`, written once for every resource."""
import functools

from flask import current_app, g, jsonify, url_for
from flask.views import MethodView

from app.api import SHARED_HEADERS, singular
from app.api.description import see
from app.api.idempotency import IDEMPOTENCY_HEADER, idempotent
from app.api.parsing import (SYNC_RUN_HEADER, preconditions_from_request, read_optional_body,
                             sync_run_from_request)
from app.errors import ValidationFailed, with_article
from app.services.records import (create_record, delete_record, etag, get_record, not_found,
                                  patch_record, put_record, set_archived)
from schemas.collections import DeleteArgsSchema
from schemas.common import NO_BODY

ETAG_HEADER = {"ETag": "ETag"}  # the named header (app/api/__init__.py)
_PRECONDITION_HEADERS = [SHARED_HEADERS["IfMatch"]]


_CONDITIONAL_GET_HEADERS = [
    {"in": "header", "name": "If-None-Match", "required": False, "schema": {"type": "string"},
     "description": '304 without a body when the record is at one of these versions.'},
    {"in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"},
     "description": '412 when the record is at none of these versions.'},
]


def record_response(row, status=200, **headers):
    """A single record with its ETag."""
    return row, status, {"ETag": etag(row), **headers}


def _register_archive_route(blp, resource, action, archived):
    """POST /{collection}/{key}/archive or /unarchive (a key may hold a colon, so not :verb)."""
    key_field, label = resource.key_field, resource.label

    @blp.route(f"/{resource.name}/<{key_field}>/{action}",
               endpoint=f"{action}_{resource.name}", methods=["POST"])
    @blp.doc(summary=f"{action.title()} {with_article(label)} (doing it twice is fine)",
             operationId=f"{action}{singular(resource)}")
    @blp.headers(*_PRECONDITION_HEADERS, IDEMPOTENCY_HEADER)
    @idempotent
    @blp.response(200, resource.schema, headers=ETAG_HEADER)
    @blp.alt_response(404, response="NOT_FOUND")
    def archive(**path):
        read_optional_body(NO_BODY)
        return record_response(set_archived(resource, g.tenant_id, path[key_field], archived,
                                            preconditions_from_request()))


def register_record_routes(blp, resource):
    """Add GET, POST, PUT, PATCH and DELETE on `/{collection}/{key}` to a blueprint."""
    # Instances, not classes: webargs would build (and deep-copy) a class per request.
    key_field, schema, label = resource.key_field, resource.schema, resource.label
    a_label, one = with_article(label), singular(resource)
    # Its own class, so the OpenAPI document names the partial body apart; derived here
    # rather than declared beside every resource's schema.
    schema_class = resource.schema_class
    patch_schema = schema_class.from_dict(
        {}, name=schema_class.__name__.replace("Schema", "PatchSchema"))(partial=True)
    endpoint = f"{blp.name}.{label.title().replace(' ', '')}Record"

    def not_found_first(view):
        """A PATCH of a missing record is 404 whatever its body: there is nothing to change."""
        @functools.wraps(view)
        def wrapper(self, **path):
            try:
                return view(self, **path)
            except ValidationFailed:
                if resource.find(g.tenant_id, path[key_field]) is None:
                    raise not_found(resource, path[key_field]) from None
                raise
        return wrapper

    def created(row):
        location = url_for(endpoint, **{key_field: getattr(row, key_field)})
        return record_response(row, 201, Location=location)

    class RecordView(MethodView):
        @blp.doc(summary=f"Get {a_label}", operationId=f"get{one}")
        @blp.headers(*_CONDITIONAL_GET_HEADERS)
        @blp.response(200, schema, headers=ETAG_HEADER)
        @blp.alt_response(304, description="Not modified: If-None-Match names this version")
        @blp.alt_response(404, response="NOT_FOUND")
        def get(self, **path):
            row = get_record(resource, g.tenant_id, path[key_field])
            if preconditions_from_request().not_modified(row):
                return current_app.response_class(status=304, headers={"ETag": etag(row)})
            return record_response(row)

        @blp.doc(summary=f"Create {a_label}", operationId=f"create{one}", description=(
            "409 when the key is taken. " + see("Records")))
        @blp.headers(IDEMPOTENCY_HEADER, SYNC_RUN_HEADER)
        @idempotent
        @blp.arguments(schema)
        @blp.response(201, schema, headers=ETAG_HEADER)
        @blp.alt_response(409, response="CONFLICT")
        @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
        def post(self, data, **path):
            return created(create_record(resource, g.tenant_id, path[key_field], data,
                                         sync_run_from_request()))

        @blp.doc(summary=f"Create or replace {a_label}", operationId=f"put{one}", description=(
            "201 created, 200 replaced; a field left out becomes null. " + see("Records")))
        @blp.headers(*_PRECONDITION_HEADERS, {
            "in": "header", "name": "If-None-Match", "required": False,
            "schema": {"type": "string"},
            "description": '`*`: only create, never replace; `"3"`: not over version 3; else 412.'},
            SYNC_RUN_HEADER)
        @blp.arguments(schema)
        @blp.response(200, schema, headers=ETAG_HEADER, description="Replaced or unchanged")
        @blp.alt_response(201, schema=schema, headers=ETAG_HEADER, success=True,
                          description="Created")
        @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
        def put(self, data, **path):
            row, outcome = put_record(resource, g.tenant_id, path[key_field], data,
                                      preconditions_from_request(), sync_run_from_request())
            return created(row) if outcome == "created" else record_response(row)

        @blp.doc(summary=f"Change some fields of {a_label}", operationId=f"patch{one}",
                 description=(
            "Changes only the fields sent; null or blank clears one. " + see("Records")))
        @blp.headers(*_PRECONDITION_HEADERS, SYNC_RUN_HEADER)
        @not_found_first
        @blp.arguments(patch_schema)
        @blp.response(200, schema, headers=ETAG_HEADER)
        @blp.alt_response(404, response="NOT_FOUND")
        @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
        def patch(self, data, **path):
            row = patch_record(resource, g.tenant_id, path[key_field], data,
                               preconditions_from_request(), sync_run_from_request())
            return record_response(row)

        @blp.doc(summary=f"Delete {a_label}", operationId=f"delete{one}", description=(
            "204; 409 while others depend on it (archive_if_referenced=true archives it). "
            + see("Records")))
        @blp.headers(*_PRECONDITION_HEADERS)
        @blp.query(DeleteArgsSchema())
        @blp.response(204)
        @blp.alt_response(200, schema=schema, success=True, description=(
            "Archived instead: others depend on it and archive_if_referenced was true"))
        @blp.alt_response(404, response="NOT_FOUND")
        @blp.alt_response(409, response="CONFLICT")
        def delete(self, archive_if_referenced, **path):
            archived = delete_record(resource, g.tenant_id, path[key_field],
                                     preconditions_from_request(), archive_if_referenced)
            if archived is not None:  # the 204 route's schema cannot carry it: dumped here
                response = jsonify(schema.dump(archived))
                response.headers["ETag"] = etag(archived)
                return response

    for action, archived in (("archive", True), ("unarchive", False)):
        _register_archive_route(blp, resource, action, archived)

    RecordView.__name__ = endpoint.split(".", 1)[1]
    blp.route(f"/{resource.name}/<{key_field}>")(RecordView)
    return RecordView
