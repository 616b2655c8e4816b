"""The Idempotency-Key header on POST: claim, run once, keep the answer, replay it."""
import functools

from flask import current_app, g, request

from app import metrics
from app.api.parsing import read_body_bytes
from app.errors import Problem, error_response
from app.services import idempotency
from app.services.transactions import write_transaction
from schemas.patterns import END, character_class

_KEPT_HEADERS = ("Content-Type", "ETag", "Location")
# Answers that say "try again" are not kept: the retry should run the request.
_TRANSIENT = frozenset({409, 429})


class _Retryable(Exception):
    def __init__(self, response):
        super().__init__(response.status_code)
        self.response = response


def _header_key_character(character):
    """A character a header carries (Latin-1) that a key may hold (printable)."""
    return character <= "\xff" and character.isprintable()


def _header_key_edge(character):
    """A character a bare key may start or end with (the header is stripped)."""
    return character != " " and _header_key_character(character)


def _idempotency_key_pattern():
    """parse_key as a regular expression: 1-255 printable characters, bare or quoted."""
    printable = character_class(_header_key_character)
    solid = character_class(_header_key_edge)
    return (rf'^\s*(?!""\s*$)(?:"{printable}{{1,255}}"|{solid}(?:{printable}{{0,253}}{solid})?)'
            rf"\s*{END}")


IDEMPOTENCY_HEADER = {
    "in": "header", "name": "Idempotency-Key", "required": False,
    "schema": {"type": "string", "pattern": _idempotency_key_pattern()},
    "description": "1-255 printable characters, bare or in double quotes. Retries with the "
                   "same key and request get the first answer again (Idempotent-Replayed: "
                   "true) for 24 hours; the same key with another request is 422."}


def _replay(stored):
    metrics.count(metrics.IDEMPOTENT_REPLAYS)
    response = current_app.response_class(stored.body, status=stored.status)
    for name, value in (stored.headers or {}).items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def idempotent(view):
    """Make a POST view honour Idempotency-Key (outermost decorator: it keeps the response)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Idempotency-Key")
        if header is None:
            return view(*args, **kwargs)
        key = idempotency.parse_key(header)
        request_fingerprint = idempotency.fingerprint(
            request.method, request.full_path, read_body_bytes())
        stored = idempotency.claim(g.tenant_id, key, request_fingerprint)
        if stored is not None:
            return _replay(stored)
        try:
            with write_transaction(g.tenant_id):
                try:
                    response = current_app.make_response(view(*args, **kwargs))
                except Problem as error:  # a 4xx is an answer too; the work rolled back
                    response = error_response(error)
                if response.status_code in _TRANSIENT:
                    raise _Retryable(response)
                headers = {name: response.headers[name] for name in _KEPT_HEADERS
                           if name in response.headers}
                idempotency.complete(g.tenant_id, key, response.status_code, headers,
                                     response.get_data(as_text=True))
            return response
        except _Retryable as retryable:
            idempotency.release(g.tenant_id, key)
            return retryable.response
        except Exception:
            idempotency.release(g.tenant_id, key)
            raise

    return wrapper
