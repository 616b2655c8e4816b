"""Every reach into a library's internals, in one place; tests/test_library_internals.py pins
each, so an upgrade that moves one fails there rather than somewhere far away.

- Peewee: a model instance made straight from a dict, without a descriptor
  call and a default per field (`__new__`, `__data__`, `_dirty`, `__rel__`),
  which at a thousand rows a batch cost more than the SQL; and the wrapper
  that turns a driver's errors into Peewee's (`__exception_wrapper__`), for
  the executemany Peewee has no public form of.
- flask-smorest: a blueprint's doc callbacks (`_prepare_doc_cbks`) and a
  view's doc information (`_apidoc`), for request headers listed beside the
  other parameters (`@blp.doc(parameters=...)` would replace those), and the
  Api's registration of the standard responses (`_register_responses`),
  through which errors are documented as problem+json.

- gunicorn: the function its workers answer a request they cannot parse with
  (`gunicorn.util.write_error`, an HTML page), replaced so that answer is problem+json.

The Singer SDK's are in app/singer/sdk_internals.py, so that the server never imports the SDK.
"""
from copy import deepcopy

import flask_smorest
from peewee import __exception_wrapper__

driver_errors_as_peewee_errors = __exception_wrapper__  # a context manager


def bare_row(model, data):
    """A `model` instance holding `data` ({field name: value}; absent fields read as None)."""
    instance = model.__new__(model)
    instance.__data__ = data
    instance._dirty = set()
    instance.__rel__ = {}
    return instance


def row_data(row):
    """The field values a model instance holds, by name (the dict itself, not a copy)."""
    return row.__data__


def add_doc_callback(blueprint, callback):
    """Call `callback(doc, doc_info, **kwargs)` for each of the blueprint's operations as the
    document is built; it returns the operation's doc."""
    blueprint._prepare_doc_cbks.append(callback)


def extend_doc_info(view, name, values):
    """Add `values` to the list `name` of the view's doc information (what doc callbacks see
    as `doc_info`); returns the view."""
    view._apidoc = deepcopy(getattr(view, "_apidoc", {}))
    view._apidoc.setdefault(name, []).extend(values)
    return view


class StandardResponsesApi(flask_smorest.Api):
    """flask-smorest's Api, its standard responses registered by `register_standard_responses`
    (which a subclass writes) instead of flask-smorest's own."""

    def register_standard_responses(self):
        """Register the spec's response components (called as the Api is bound to an app)."""
        raise NotImplementedError

    def _register_responses(self):
        self.register_standard_responses()


def answer_gunicorn_refusals_with(answer):
    """gunicorn answers a request it cannot parse (400, 414, 431, 501) itself, as HTML, through
    `gunicorn.util.write_error(sock, status, reason, message)`: send `answer(status, reason)`
    (bytes) instead. Called in each worker, after the fork."""
    from gunicorn import util

    def write_error(sock, status_int, reason, mesg):
        util.write_nonblock(sock, answer(status_int, reason))

    util.write_error = write_error
