"""Sync runs of every collection: POST /{c}:sync-runs, GET, :finish and :abort."""
from flask import g, request, url_for

from app.api import singular
from app.api.body import read_json_body
from app.api.idempotency import IDEMPOTENCY_HEADER, idempotent
from app.errors import ValidationFailed, field_errors
from app.services import sync
from schemas.collections import SyncRunFinishSchema, SyncRunSchema, SyncRunStartSchema

_RUN = SyncRunSchema()


def _optional_body(schema):
    """The body loaded with `schema`; an absent body counts as {}."""
    raw = read_json_body() if request.content_length or request.headers.get(
        "Transfer-Encoding") else {}
    errors = schema.validate(raw)
    if errors:
        raise ValidationFailed(field_errors(errors))
    return schema.load(raw)


def _dump(run):
    run.seen = sync.seen_count(run)
    return run


def register_sync_run_routes(blp, resource, scope_schema):
    """The four sync-run routes of one collection; `scope_schema` checks a run's scope."""
    name, one = resource.name, singular(resource)

    def check_scope(scope):
        allowed = set(resource.feed_filters)
        unknown = sorted(set(scope) - allowed)
        if unknown:
            raise ValidationFailed([{"pointer": f"#/scope/{field}",
                                     "detail": "Not a filter of this collection's feed."}
                                    for field in unknown])
        text = {field: "" if value is None else str(value).lower()
                if isinstance(value, bool) else value for field, value in scope.items()}
        errors = scope_schema.validate(text)
        if errors:
            raise ValidationFailed(field_errors(errors, "#/scope"))
        return {field: value for field, value in scope_schema.load(text).items()
                if field in allowed}

    @blp.route(f"/{name}:sync-runs", endpoint=f"{name}_sync_runs", methods=["POST"])
    @blp.doc(summary=f"Start a full sync of {name}: writes carrying its id mark records seen",
             parameters=[IDEMPOTENCY_HEADER], operationId=f"start{one}SyncRun")
    @idempotent
    @blp.response(201, SyncRunSchema())
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def start():
        scope = check_scope(_optional_body(SyncRunStartSchema())["scope"])
        run = sync.start_run(resource, g.tenant_id, scope)
        location = url_for(f"{blp.name}.{name}_sync_run", run_id=run.run_id)
        return _dump(run), 201, {"Location": location}

    run_path = f"/{name}:sync-runs/<string(length=32):run_id>"  # ids are 32 hex characters

    @blp.route(run_path, endpoint=f"{name}_sync_run", methods=["GET"])
    @blp.doc(summary=f"A sync run of {name}: its status, what it saw, what it removed",
             operationId=f"get{one}SyncRun")
    @blp.response(200, SyncRunSchema())
    @blp.alt_response(404, response="NOT_FOUND")
    def show(run_id):
        return _dump(sync.get_run(resource, g.tenant_id, run_id))

    @blp.route(run_path + ":finish", endpoint=f"{name}_sync_run_finish", methods=["POST"])
    @blp.doc(summary=f"Finish a sync run of {name}: remove what it neither saw nor was "
                     "changed since it began (deleted, or archived when others depend on it)",
             parameters=[IDEMPOTENCY_HEADER], operationId=f"finish{one}SyncRun")
    @idempotent
    @blp.response(200, SyncRunSchema())
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def finish(run_id):
        ratio = _optional_body(SyncRunFinishSchema())["max_removal_ratio"]
        return _dump(sync.finish_run(resource, g.tenant_id, run_id, ratio))

    @blp.route(run_path + ":abort", endpoint=f"{name}_sync_run_abort", methods=["POST"])
    @blp.doc(summary=f"Abort a sync run of {name}: nothing is removed",
             parameters=[IDEMPOTENCY_HEADER], operationId=f"abort{one}SyncRun")
    @idempotent
    @blp.response(200, SyncRunSchema())
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def abort(run_id):
        return _dump(sync.end_run(resource, g.tenant_id, run_id, "aborted"))
