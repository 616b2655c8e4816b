"""Reading requests: the route's parameters, strict JSON bodies, conditional headers."""
import re
import zlib

from flask import current_app, request
from marshmallow import ValidationError
from webargs.flaskparser import FlaskParser

from app.api.policy import declared_query_parameters, is_api_request
from app.client import wire as strict_json
from app.errors import (MalformedJson, PayloadTooLarge, UnsupportedMediaType, ValidationFailed,
                        field_errors, parameter_error,
                        parameter_errors)
from app.services.records import ANY, Preconditions
from schemas.common import validate_key

# A string literal of JSON, escapes included (the unrolled form: no backtracking per character).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')


def _value_bound(raw):
    """An upper bound of the values a JSON text holds: one more than its commas, plus one per
    container (commas and brackets inside strings count too)."""
    return raw.count(b",") + raw.count(b"[") + raw.count(b"{") + 1


def check_value_budget(raw, limit):
    """413 when the text holds more than `limit` values: what parsing costs is memory per value
    (a Decimal, a list slot), so a small body of millions of `1.0` is refused unread."""
    if limit is None or _value_bound(raw) <= limit:
        return
    # Only then are commas and brackets inside strings taken off, which makes the bound exact
    # for any text that parses, without copying the body. Each string is a value or the key
    # of one, so more than twice the limit of strings is too many values already.
    inside = 0
    for number, match in enumerate(_JSON_STRING.finditer(raw)):
        if number > 2 * limit:
            break
        text = match.group()
        inside += text.count(b",") + text.count(b"[") + text.count(b"{")
    else:
        if _value_bound(raw) - inside <= limit:
            return
    raise PayloadTooLarge(f"The request body holds more than {limit} JSON values; send "
                          "fewer items per request.")


def parse_json(raw):
    """Parse a JSON document strictly (the client's own rules: app.client.wire.loads)."""
    try:
        return strict_json.loads(raw)
    except ValueError as error:  # includes JSONDecodeError, UnicodeDecodeError and nesting
        raise MalformedJson(f"The body is not valid JSON: {error}.") from None


# zlib window bits: gzip wrapper, zlib wrapper (HTTP's "deflate"), raw deflate.
_DECODERS = {"gzip": (16 + zlib.MAX_WBITS,), "x-gzip": (16 + zlib.MAX_WBITS,),
             "deflate": (zlib.MAX_WBITS, -zlib.MAX_WBITS)}


def _too_large(limit):
    return PayloadTooLarge(f"The request body is larger than this endpoint accepts "
                           f"({limit} bytes, decoded).")


def read_body_bytes():
    """The request body, whole and decoded; 413 past the route's limit however it is framed."""
    limit = request.max_content_length
    raw = request.get_data(cache=True)  # 413 at once when Content-Length is over the limit
    # A chunked body is read up to the limit and no further: one that reaches it may go on.
    if request.content_length is None and limit is not None and len(raw) >= limit:
        raise _too_large(limit)
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding not in _DECODERS:
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; send "
                                   "gzip, deflate or an uncompressed body.")
    for wbits in _DECODERS[encoding]:
        decoder = zlib.decompressobj(wbits)
        try:
            decoded = decoder.decompress(raw, limit + 1 if limit is not None else 0)
        except zlib.error:
            continue
        if limit is not None and (len(decoded) > limit or decoder.unconsumed_tail):
            raise _too_large(limit)  # a small compressed bomb stops here
        if decoder.eof and not decoder.unused_data:
            return decoded
    raise MalformedJson(f"The body is not valid {encoding} data.")


def drain_unread_body(response):
    """Read what is left of a body the answer did not need, so the connection stays usable.

    gunicorn discards at most 64 KiB of an unread body before it gives up on
    the connection (after already saying keep-alive); bodies over the route's
    limit, and chunked ones, are closed on purpose (gunicorn.conf.py).
    """
    length, limit = request.content_length, request.max_content_length
    if length and (limit is None or length <= limit):
        try:
            request.stream.exhaust()
        except Exception:  # the client went away: nothing left to keep usable
            pass
    return response


def _has_body():
    return bool(request.content_length) or "Transfer-Encoding" in request.headers


def read_optional_body(schema):
    """A body that may be left out (it counts as {}), loaded with `schema`; 400/415/422 else.

    A route that takes no body at all passes a schema without fields: then only
    nothing, or an empty object, is accepted.
    """
    raw = read_json_body() if _has_body() and read_body_bytes().strip() else {}
    errors = schema.validate(raw)
    if errors:
        raise ValidationFailed(field_errors(errors))
    return schema.load(raw)


def read_json_body():
    """The request's JSON object, or the matching 415 / 400 / 413 / 422 error."""
    mimetype = request.mimetype
    if mimetype != "application/json" and not (
            mimetype.startswith("application/") and mimetype.endswith("+json")):
        raise UnsupportedMediaType("Send the body as JSON with Content-Type: application/json.")
    raw = read_body_bytes()
    if not raw.strip():
        raise MalformedJson("The request body is empty; send a JSON object.")
    check_value_budget(raw, current_app.config["MAX_BODY_VALUES"])
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise MalformedJson("The request body must be a JSON object.")
    # Strings holding NUL or lone surrogates fail in the schema of their field (StrictSchema),
    # so one such item of a bulk body fails alone.
    return data


class BodyParser(FlaskParser):
    """webargs parser whose JSON location is strict and whose errors are problem+json."""

    def load_json(self, req, schema):
        return read_json_body()

    def load_querystring(self, req, schema):
        """The query string, refusing a repeated parameter that takes one value."""
        repeated = sorted(name for name in req.args
                          if len(req.args.getlist(name)) > 1 and name in schema.fields)
        if repeated:
            raise ValidationFailed([parameter_error(name, "Give this parameter once.")
                                    for name in repeated],
                                   detail="The query string is invalid.")
        return super().load_querystring(req, schema)

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        messages = error.messages
        if isinstance(messages, dict) and set(messages) <= {"json", "query", "headers"}:
            if "json" in messages:
                raise ValidationFailed(field_errors(messages["json"]))
            if "query" in messages:
                raise ValidationFailed(parameter_errors(messages["query"]),
                                       detail="The query string is invalid.")
        raise ValidationFailed(field_errors(messages))


SYNC_RUN_HEADER = {
    "in": "header", "name": "Sync-Run", "required": False,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
    "description": "The id of a running sync run of this collection: the record counts as "
                   "seen (no new version)."}


def check_route_parameters():
    """Before the view: every query parameter is one the route declares, and every key in
    the path is a valid key (422, naming each)."""
    if not is_api_request() or request.routing_exception is not None:
        return  # 404 / 405 from routing: there is no route whose parameters to check
    unknown = sorted(set(request.args) - declared_query_parameters())
    errors = [parameter_error(name, "Unknown query parameter.") for name in unknown]
    for name, value in (request.view_args or {}).items():
        try:
            validate_key(value)
        except ValidationError as error:
            errors.extend(parameter_error(name, message) for message in error.messages)
    if errors:
        raise ValidationFailed(errors, detail="The query string or a key in the path is not "
                               "valid." if unknown else "A key in the path is not valid.")


def sync_run_from_request():
    """The Sync-Run header's run id, or None; 422 when it is not a run id at all."""
    value = request.headers.get("Sync-Run")
    if value is None:
        return None
    value = value.strip()
    if not re.fullmatch(r"[0-9a-f]{32}", value):
        raise ValidationFailed([parameter_error(
            "Sync-Run", "Must be the id of a sync run (32 hex characters).", header=True)],
            detail="The Sync-Run header is not valid.")
    return value


def _versions(tags):
    """ANY for `*`, else the versions named by the entity tags (others can never match)."""
    if tags.star_tag:
        return ANY
    # Werkzeug yields None for an empty tag (""), which names no version.
    return frozenset(int(tag) for tag in tags.as_set(include_weak=True) if tag and tag.isdigit())


def preconditions_from_request():
    """If-Match / If-None-Match as the service understands them."""
    return Preconditions(
        if_match=_versions(request.if_match) if "If-Match" in request.headers else None,
        if_none_match=(_versions(request.if_none_match)
                       if "If-None-Match" in request.headers else None))
