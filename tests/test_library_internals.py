"""The library internals app/library_internals.py reaches into: each test here fails when an
upgrade of Peewee or flask-smorest moves one, before anything that relies on it misbehaves."""
import sqlite3

import flask_smorest
import peewee
import pytest
from flask import Flask

from app.library_internals import (StandardResponsesApi, add_doc_callback, bare_row,
                                   driver_errors_as_peewee_errors, extend_doc_info, row_data)
from app.models import Tenant


def test_a_peewee_instance_holds_exactly_the_state_bare_row_gives():
    """Peewee's constructor sets these three attributes and nothing else: a bare row made
    without it is the same object, or a new one would be missing from bare rows."""
    assert set(vars(Tenant(name="x"))) == {"__data__", "_dirty", "__rel__"}
    data = {"id": 7, "name": "acme", "internal_domains": ["acme.example"]}
    row = bare_row(Tenant, data)
    assert (row.id, row.name, row.internal_domains) == (7, "acme", ["acme.example"])
    assert row.change_seq is None and row.dirty_fields == []
    assert row_data(row) is data
    row.name = "globex"
    assert data["name"] == "globex" and row.dirty_fields == [Tenant.name]


def test_the_exception_wrapper_turns_driver_errors_into_peewee_errors():
    with pytest.raises(peewee.IntegrityError):
        with driver_errors_as_peewee_errors:
            raise sqlite3.IntegrityError("UNIQUE constraint failed")


def test_doc_callbacks_and_doc_information_reach_the_document():
    app = Flask(__name__)
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.1.0")
    api = flask_smorest.Api(app)
    blp = flask_smorest.Blueprint("things", __name__)
    seen = []

    def callback(doc, doc_info, **kwargs):
        seen.append(doc_info.get("headers"))
        doc.setdefault("parameters", []).extend(doc_info.get("headers", ()))
        return doc

    add_doc_callback(blp, callback)
    header = {"in": "header", "name": "X-Thing", "schema": {"type": "string"}}

    def things():
        return ""

    blp.route("/things", methods=["GET"])(blp.doc(summary="Things")(
        extend_doc_info(things, "headers", [header])))
    api.register_blueprint(blp)
    operation = api.spec.to_dict()["paths"]["/things"]["get"]
    assert seen == [[header]]
    assert operation["summary"] == "Things" and header in operation["parameters"]


def test_the_api_registers_its_standard_responses_through_the_hook():
    class Responses(StandardResponsesApi):
        def register_standard_responses(self):
            self.spec.components.response("ONLY_THIS", {"description": "mine"})

    app = Flask(__name__)
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.1.0")
    responses = Responses(app).spec.to_dict()["components"]["responses"]
    assert responses == {"ONLY_THIS": {"description": "mine"}}


def test_gunicorn_answers_what_it_cannot_parse_through_util_write_error(monkeypatch):
    """A worker's handle_error sends its answer with gunicorn.util.write_error (looked up at
    the call): replacing it replaces every such answer."""
    import inspect
    import socket

    from gunicorn import util
    from gunicorn.http.errors import InvalidHeader
    from gunicorn.workers.base import Worker

    from app.library_internals import answer_gunicorn_refusals_with

    assert list(inspect.signature(util.write_error).parameters) == ["sock", "status_int",
                                                                    "reason", "mesg"]
    monkeypatch.setattr(util, "write_error", util.write_error)  # given back after the test
    answer_gunicorn_refusals_with(lambda status, reason: f"{status} {reason}".encode())
    worker = Worker.__new__(Worker)
    worker.log = type("Log", (), {"warning": lambda *a: None, "debug": lambda *a: None})()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        Worker.handle_error(worker, None, ours, ("127.0.0.1", 1), InvalidHeader("CONTENT-TYPE"))
        assert theirs.recv(100) == b"400 Bad Request"
