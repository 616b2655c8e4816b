"""Unauthenticated operational endpoints: liveness, readiness and a no-op baseline."""
from flask import Blueprint, current_app, jsonify

from app.db import database_answers

blp = Blueprint("ops", __name__)


@blp.get("/livez")
def livez():
    """The process is up."""
    return jsonify(status="ok")


@blp.get("/readyz")
def readyz():
    """The database answers (503 when it does not)."""
    if database_answers():
        return jsonify(status="ok", database="ok")
    return jsonify(status="unavailable", database="unreachable"), 503


@blp.get("/_noop")
def noop():
    """A JSON answer that touches nothing: the benchmarks' baseline."""
    if not current_app.config["ENABLE_NOOP_ROUTE"]:
        from werkzeug.exceptions import NotFound
        raise NotFound()
    return jsonify(ok=True)
