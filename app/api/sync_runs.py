"""Sync runs of every collection: POST and GET /{c}:sync-runs, GET one, :finish, :abort."""
from flask import g, jsonify, url_for
from marshmallow import fields

from app.api import singular
from app.api.description import see
from app.api.idempotency import IDEMPOTENCY_HEADER, idempotent
from app.api.parsing import read_optional_body
from app.errors import ValidationFailed, field_errors
from app.services import sync
from app.services.sync_guards import Guards
from schemas.common import NO_BODY, StrictSchema
from schemas.sync_runs import (SyncRunDryRunSchema, SyncRunFinishArgsSchema, SyncRunFinishSchema,
                               SyncRunListArgsSchema, SyncRunPageSchema, SyncRunSchema,
                               SyncRunStartSchema)

_RUN = SyncRunSchema()
_DRY_RUN = SyncRunDryRunSchema()

_FINISH = ("A guard refuses it with 409, removing nothing; dry_run=true only answers. "
           + see("Sync runs"))


def _dump(run):
    run.seen = sync.seen_count(run)
    run.guards = {"min_seen": None, "max_removals": None, "max_removal_ratio": None,
                  **(run.guards or {})}
    return run


def _dry_run_answer(plan):
    return jsonify(_DRY_RUN.dump({
        "dry_run": True, "would": "refuse" if plan.refusal else "finish",
        "refused_by": plan.refusal.figures() if plan.refusal else None, "counts": plan.counts,
        "would_delete": plan.first_keys(plan.to_delete),
        "would_archive": plan.first_keys(plan.to_archive)}))


def _optional_body_doc(schema):
    return {"required": False, "content": {"application/json": {"schema": schema}}}


def start_body_schema(resource, filters):
    """How the document shows a start's body: the scope holds this collection's filters."""
    named = resource.schema_class.__name__.replace("Schema", "")
    scope = StrictSchema.from_dict(filters, name=f"{named}SyncScopeSchema")
    return SyncRunStartSchema.from_dict({
        "scope": fields.Nested(scope, allow_none=True, load_default=dict,
                               metadata=SyncRunStartSchema().fields["scope"].metadata)},
        name=f"{named}SyncRunStartSchema")


def _not_a_scope_filter(field, allowed):
    if field in ("q", "updated_after"):
        return (f"A scope takes the collection's field filters only ({', '.join(allowed)}): "
                f"{field} selects by search text or by time, and a full sync states which "
                "records it covers, not which changed; send it to the feed instead.")
    return f"Not a filter of this collection's feed; a scope takes {', '.join(allowed)}."


def register_sync_run_routes(blp, resource, scope_schema, filters):
    """The four sync-run routes of one collection; `scope_schema` checks a run's scope,
    `filters` (the feed's filter fields) document it."""
    name, one = resource.name, singular(resource)

    def check_scope(scope):
        allowed = set(resource.feed_filters)
        unknown = sorted(set(scope) - allowed)
        if unknown:
            raise ValidationFailed([{"pointer": f"#/scope/{field}",
                                     "detail": _not_a_scope_filter(field, sorted(allowed))}
                                    for field in unknown])
        # A body's booleans are JSON booleans; the feed's filters read them as query text.
        flags = {field for field, filter_type in resource.feed_filters.items()
                 if filter_type == "bool"}
        not_booleans = sorted(field for field in flags & set(scope)
                              if not isinstance(scope[field], bool))
        if not_booleans:
            raise ValidationFailed([{"pointer": f"#/scope/{field}",
                                     "detail": "Not a valid boolean (use true or false)."}
                                    for field in not_booleans])
        text = {field: str(value).lower() if field in flags else "" if value is None else value
                for field, value in scope.items()}
        errors = scope_schema.validate(text)
        if errors:
            raise ValidationFailed(field_errors(errors, "#/scope"))
        return {field: value for field, value in scope_schema.load(text).items()
                if field in allowed}

    @blp.route(f"/{name}:sync-runs", endpoint=f"{name}_sync_runs", methods=["POST"])
    @blp.doc(summary=f"Start a full sync of {name}: writes carrying its id mark records seen",
             operationId=f"start{one}SyncRun", description=(
                 "409 when its scope overlaps a running run's, unless allow_overlap is true. "
                 + see("Sync runs")),
             requestBody=_optional_body_doc(start_body_schema(resource, filters)))
    @blp.headers(IDEMPOTENCY_HEADER)
    @idempotent
    @blp.response(201, SyncRunSchema())
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def start():
        body = read_optional_body(SyncRunStartSchema())
        run = sync.start_run(resource, g.tenant_id, check_scope(body["scope"]),
                             started_by=g.key_id, min_seen=body["min_seen"],
                             allow_overlap=body["allow_overlap"])
        location = url_for(f"{blp.name}.{name}_sync_run", run_id=run.run_id)
        return _dump(run), 201, {"Location": location}

    @blp.route(f"/{name}:sync-runs", endpoint=f"{name}_sync_run_list", methods=["GET"])
    @blp.doc(summary=f"The sync runs of {name}: running ones first, then the newest",
             operationId=f"list{one}SyncRuns", description=(
                 "Finds a lost run so that it can be aborted. " + see("Sync runs")))
    @blp.query(SyncRunListArgsSchema())
    @blp.response(200, SyncRunPageSchema())
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def list_runs(limit, cursor, status=None):
        runs, next_cursor = sync.list_runs(resource, g.tenant_id, status, limit, cursor)
        return {"items": [_dump(run) for run in runs], "next_cursor": next_cursor}

    run_path = f"/{name}:sync-runs/<run_id:run_id>"

    @blp.route(run_path, endpoint=f"{name}_sync_run", methods=["GET"])
    @blp.doc(summary=f"A sync run of {name}: its status, what it saw, what it removed",
             operationId=f"get{one}SyncRun")
    @blp.response(200, _RUN)
    @blp.alt_response(404, response="NOT_FOUND")
    def show(run_id):
        return _dump(sync.get_run(resource, g.tenant_id, run_id))

    @blp.route(run_path + ":finish", endpoint=f"{name}_sync_run_finish", methods=["POST"])
    @blp.doc(summary=f"Finish a sync run of {name}: remove what it did not see",
             operationId=f"finish{one}SyncRun", description=_FINISH,
             requestBody=_optional_body_doc(SyncRunFinishSchema),
             responses={200: {"content": {"application/json": {"schema": {
                 "oneOf": [SyncRunSchema, SyncRunDryRunSchema]}}}}})
    @blp.headers(IDEMPOTENCY_HEADER)
    @idempotent
    @blp.query(SyncRunFinishArgsSchema())
    @blp.response(200, SyncRunSchema(), description="The finished run; with dry_run=true, what "
                                                    "the finish would do (nothing changed)")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def finish(run_id, dry_run):
        guards = Guards(**read_optional_body(SyncRunFinishSchema()))
        result = sync.finish_run(resource, g.tenant_id, run_id, guards, dry_run)
        return _dry_run_answer(result) if dry_run else _dump(result)

    @blp.route(run_path + ":abort", endpoint=f"{name}_sync_run_abort", methods=["POST"])
    @blp.doc(summary=f"Abort a sync run of {name}: nothing is removed",
             operationId=f"abort{one}SyncRun")
    @blp.headers(IDEMPOTENCY_HEADER)
    @idempotent
    @blp.response(200, SyncRunSchema())
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def abort(run_id):
        read_optional_body(NO_BODY)
        return _dump(sync.end_run(resource, g.tenant_id, run_id, "aborted"))
