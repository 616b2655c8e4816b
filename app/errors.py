"""Every failure becomes an RFC 9457 problem+json response; this is the only place that says how."""
import json
import logging
import traceback
import uuid
from urllib.parse import quote as url_quote

from flask import g, request
from marshmallow import ValidationError
from peewee import IntegrityError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

try:  # the body's framing is parsed by gunicorn while the view reads it
    from gunicorn.http.errors import ParseException as FramingError
except ImportError:  # pragma: no cover - served by another WSGI server
    class FramingError(Exception):
        """Stands in for gunicorn's parse errors where gunicorn is not installed."""

from app import metrics
from app.db import release_broken_connection

log = logging.getLogger("ar_ingest.errors")

PROBLEM_MIMETYPE = "application/problem+json"

_TITLES = {
    "validation-error": "Validation failed",
    "malformed-json": "Malformed JSON",
    "unsupported-media-type": "Unsupported media type",
    "payload-too-large": "Payload too large",
    "unauthorized": "Unauthorized",
    "forbidden": "Forbidden",
    "not-found": "Not found",
    "method-not-allowed": "Method not allowed",
    "conflict": "Conflict",
    "precondition-failed": "Precondition failed",
    "rate-limited": "Too many requests",
    "idempotency-key-reused": "Idempotency key reused",
    "idempotency-key-in-use": "Idempotency key in use",
    "internal-error": "Internal error",
}

_CODE_BY_STATUS = {
    400: "malformed-json", 401: "unauthorized", 403: "forbidden", 404: "not-found",
    405: "method-not-allowed", 409: "conflict", 412: "precondition-failed",
    413: "payload-too-large", 415: "unsupported-media-type", 422: "validation-error",
    429: "rate-limited",
}


class Problem(Exception):
    """An error the API answers on purpose; subclasses fix status and code."""

    status = 500
    code = "internal-error"

    def __init__(self, detail=None, errors=None, headers=None, **extra):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra


class MalformedJson(Problem):
    status, code = 400, "malformed-json"


class HttpUnauthorized(Problem):
    status, code = 401, "unauthorized"


class HttpForbidden(Problem):
    status, code = 403, "forbidden"


class HttpNotFound(Problem):
    status, code = 404, "not-found"


class HttpConflict(Problem):
    status, code = 409, "conflict"


class HttpPreconditionFailed(Problem):
    status, code = 412, "precondition-failed"


class PayloadTooLarge(Problem):
    status, code = 413, "payload-too-large"


class UriTooLong(Problem):
    status, code = 414, "payload-too-large"


class HeadersTooLarge(Problem):
    status, code = 431, "payload-too-large"


class UnsupportedMediaType(Problem):
    status, code = 415, "unsupported-media-type"


class IdempotencyKeyReused(Problem):
    status, code = 422, "idempotency-key-reused"


class IdempotencyKeyInUse(Problem):
    status, code = 409, "idempotency-key-in-use"


class ValidationFailed(Problem):
    """422 with one `errors` entry per offending field."""

    status, code = 422, "validation-error"

    def __init__(self, errors, detail=None, **kwargs):
        if detail is None:
            names = ", ".join(e["pointer"] for e in errors[:5])
            detail = f"The request has {len(errors)} invalid field(s): {names}."
        super().__init__(detail, errors=errors, **kwargs)


def with_article(noun):
    """'an account', 'a contact'."""
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def escape_pointer_token(token):
    """Escape one JSON Pointer reference token (RFC 6901)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def field_errors(messages, prefix="#"):
    """Flatten marshmallow's nested messages into `[{"pointer", "detail"}]`, sorted by pointer."""
    found = []

    def walk(node, pointer):
        if isinstance(node, dict):
            for name, value in node.items():
                walk(value, pointer if name == "_schema" else f"{pointer}/{escape_pointer_token(name)}")
        elif isinstance(node, (list, tuple)):
            for item in node:
                walk(item, pointer)
        else:
            found.append({"pointer": pointer, "detail": str(node)})

    walk(messages, prefix)
    found.sort(key=lambda error: error["pointer"])
    return found


def field_error(field, detail, prefix="#"):
    """One validation error for one named field."""
    return {"pointer": f"{prefix}/{escape_pointer_token(field)}", "detail": detail}


def parameter_error(name, detail, header=False):
    """One error for a query or path parameter (pointer `#/name`), or a header (pointer `#`)."""
    return {"pointer": "#" if header else f"#/{escape_pointer_token(name)}", "parameter": name,
            "detail": detail}


def parameter_errors(messages):
    """marshmallow's messages for a query string, as parameter errors."""
    return [parameter_error(name, str(detail)) for name, details in sorted(messages.items())
            for detail in (details if isinstance(details, (list, tuple)) else [details])]


# What gunicorn refuses before the app sees a request (its HTTP parser's errors), and says.
_SERVER_REFUSALS = {
    400: "The request is not valid HTTP/1.1 (its request line, a header field or the body's "
         "framing).",
    403: "The request was refused.",
    414: "The request line is longer than the server accepts.",
    417: "The request's Expect header field is not supported.",
    431: "A request header field, or all of them together, is larger than the server accepts.",
    501: "The request's transfer coding is not supported.",
}


def server_refusal_answer(status, reason):
    """A whole HTTP/1.1 answer, as bytes, in problem+json for a request the WSGI server could
    not parse and the app never saw (nothing of the request is repeated in it)."""
    code = {414: "payload-too-large", 431: "payload-too-large", 417: "malformed-json"}.get(
        status) or _CODE_BY_STATUS.get(status, "internal-error")
    request_id = uuid.uuid4().hex
    body = json.dumps({"type": f"/problems/{code}", "title": _TITLES[code], "status": status,
                       "detail": _SERVER_REFUSALS.get(status, "The server could not complete "
                                                              "the request."),
                       "instance": None, "code": code, "request_id": request_id}).encode()
    return (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
            f"Content-Type: {PROBLEM_MIMETYPE}\r\nContent-Length: {len(body)}\r\n"
            f"X-Request-Id: {request_id}\r\n\r\n").encode("latin-1") + body


def instance_uri():
    """The request's path as a URI reference: percent-encoded like Location."""
    return url_quote(request.path, safe="/:@!$&'()*+,;=-._~")


def problem_response(status, code, detail=None, errors=None, headers=None, title=None, **extra):
    """Build the problem+json response (the only place one is built)."""
    from flask import current_app

    body = {
        "type": f"/problems/{code}",
        "title": title or _TITLES.get(code, "Error"),
        "status": status,
        "detail": detail or title or _TITLES.get(code, "Error"),
        "instance": instance_uri() if request else None,
        "code": code,
        "request_id": g.get("request_id"),
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    response = current_app.response_class(
        json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_MIMETYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_response(error):
    """The problem+json response for a Problem."""
    return problem_response(error.status, error.code, error.detail, error.errors,
                            error.headers, **error.extra)


def _handle_marshmallow_error(error):
    return problem_response(422, "validation-error", errors=field_errors(error.messages),
                            detail="The request body is invalid.")


def _handle_http_exception(error):
    status = error.code or 500
    code = _CODE_BY_STATUS.get(status, "internal-error")
    headers = {}
    if status == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    if status == 404:
        detail = "No such resource."
    elif status == 405:
        detail = f"{request.method} is not allowed on this resource."
    elif status == 413:
        detail = "The request body is larger than this endpoint accepts."
    elif status >= 500:
        detail = "The server could not complete the request."
    else:
        detail = error.description
    return problem_response(status, code, detail, headers=headers)


def _handle_database_unavailable(error):
    metrics.count(metrics.DATABASE_ERRORS, "unavailable")
    release_broken_connection()
    log.error("database unavailable", extra={"request_id": g.get("request_id"),
                                             "error": type(error).__name__})
    return problem_response(503, "internal-error", "The database is unavailable; retry later.",
                            headers={"Retry-After": "1"}, title="Service unavailable")


def _handle_integrity_error(error):
    # Reached only when a concurrent writer won a race the service could not
    # resolve itself; the caller's retry will see the settled state.
    metrics.count(metrics.DATABASE_ERRORS, "integrity")
    log.warning("integrity conflict", extra={"request_id": g.get("request_id")})
    return problem_response(409, "conflict",
                            "The write conflicted with a concurrent change; retry the request.")


def _handle_framing_error(error):
    # The message of a framing error quotes the bytes it choked on: never logged, never sent.
    log.warning("malformed request framing", extra={"request_id": g.get("request_id"),
                                                    "error": type(error).__name__})
    response = problem_response(400, "malformed-json", "The request body's framing is not valid "
                                "HTTP/1.1 (a chunk size line, or a body cut short).")
    response.headers["Connection"] = "close"  # what follows on the connection cannot be trusted
    return response


def _handle_unexpected(error):
    release_broken_connection()
    # The frames only: an exception's message may quote request data (a body, a key).
    log.error("unhandled exception", extra={
        "request_id": g.get("request_id"), "error": type(error).__name__,
        "traceback": "".join(traceback.format_tb(error.__traceback__))})
    return problem_response(500, "internal-error", "The server could not complete the request.")


def register_error_handlers(app):
    """Install the handlers; registered last so they replace flask-smorest's JSON ones."""
    app.register_error_handler(Problem, error_response)
    app.register_error_handler(ValidationError, _handle_marshmallow_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(IntegrityError, _handle_integrity_error)
    app.register_error_handler(OperationalError, _handle_database_unavailable)
    app.register_error_handler(InterfaceError, _handle_database_unavailable)
    app.register_error_handler(FramingError, _handle_framing_error)
    app.register_error_handler(Exception, _handle_unexpected)
