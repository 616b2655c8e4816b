"""Parsing a request: the route's parameters, strict JSON bodies, conditional headers."""
import re
import urllib.parse
import zlib

from flask import current_app, request
from marshmallow import ValidationError
from webargs.flaskparser import FlaskParser

from app.api.policy import is_api_request, route_policy
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


def _values_outside_strings(raw, limit):
    """The bound without what the text's complete strings hold, or None past twice `limit`
    strings (each string is a value or the key of one: too many values already). Exact for
    any text that parses; for the start of one, a string it cuts short is left out. Walks
    the strings without copying the text."""
    inside, end = 0, 0
    for number, match in enumerate(_JSON_STRING.finditer(raw)):
        if number > 2 * limit:
            return None
        text = match.group()
        inside += text.count(b",") + text.count(b"[") + text.count(b"{")
        end = match.end()
    unterminated = raw.find(b'"', end)
    return _value_bound(raw if unterminated == -1 else raw[:unterminated]) - inside


def _too_many_values(limit):
    return PayloadTooLarge(f"The request body holds more than {limit} JSON values; send "
                           "fewer items per request.")


def check_value_budget(raw, limit):
    """413 when the text holds more than `limit` values: what parsing costs is memory per value
    (a Decimal, a list slot), so a small body of millions of `1.0` is refused unparsed."""
    if limit is None or _value_bound(raw) <= limit:
        return
    # Only past the quick bound are what strings hold taken off.
    count = _values_outside_strings(raw, limit)
    if count is None or count > limit:
        raise _too_many_values(limit)


def parse_json(raw):
    """Parse a JSON document strictly (the client's own rules: app.client.wire.loads), in
    UTF-8 only (RFC 8259; a leading byte order mark is ignored): json.loads would also take
    UTF-16 and UTF-32 bytes."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise MalformedJson(f"The body is not UTF-8: {error}.") from None
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


_READ_CHUNK = 1024 * 1024


def _read_stream(limit, values):
    """The raw body, read a chunk at a time; with `values`, refused (413) as soon as what was
    read already holds more than that many values, the rest left unread."""
    stream = request.stream  # 413 at once when Content-Length is over the limit
    parts, bound, checked = [], 1, False
    while True:
        part = stream.read(_READ_CHUNK)
        if not part:
            break
        parts.append(part)
        if values is not None and not checked:
            bound += part.count(b",") + part.count(b"[") + part.count(b"{")
            if bound > values:
                checked = True  # once: the whole body is judged again at the end
                count = _values_outside_strings(b"".join(parts), values)
                if count is None or count > values:
                    raise _too_many_values(values)
    raw = b"".join(parts)
    # A chunked body is read up to the limit and no further: one that reaches it may go on.
    if request.content_length is None and limit is not None and len(raw) >= limit:
        raise _too_large(limit)
    return raw


def read_body_bytes():
    """The request body, whole and decoded; 413 past the route's limit however it is framed,
    or past MAX_BODY_VALUES JSON values (counted as it is read)."""
    # Kept in the request's environ, not in g: an app context can outlive a request.
    body = request.environ.get("ar_ingest.body")
    if body is not None:
        return body
    limit, values = request.max_content_length, current_app.config["MAX_BODY_VALUES"]
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        body = _read_stream(limit, values)
    elif encoding in _DECODERS:
        body = _decode(_read_stream(limit, None), encoding, limit)
    else:
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; send "
                                   "gzip, deflate or an uncompressed body.")
    check_value_budget(body, values)
    request.environ["ar_ingest.body"] = body
    return body


def _decode(raw, encoding, limit):
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
    """Read and drop what is left of a body the answer did not need, a megabyte at a time.

    Closing a connection with unread bytes resets it, and a proxy in front (nginx) would then
    answer 502 instead of this answer; reading the rest costs milliseconds and keeps nothing.
    Chunked bodies and bodies past any route's limit are closed instead (gunicorn.conf.py):
    nginx sends neither.
    """
    length, limit = request.content_length, request.max_content_length
    if not length or length > current_app.config["MAX_CONTENT_LENGTH"]:
        return response
    try:
        if limit is not None and length > limit:  # refused before any of it was read
            stream, left = request.environ["wsgi.input"], length
        else:
            stream, left = request.stream, None
        while left is None or left > 0:
            part = stream.read(_READ_CHUNK if left is None else min(_READ_CHUNK, left))
            if not part:
                break
            if left is not None:
                left -= len(part)
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
    return read_json_value(dict)


def read_json_value(json_type):
    """The request's JSON value, of `json_type` (dict or list); else 415 / 400 / 413."""
    mimetype = request.mimetype
    if mimetype != "application/json" and not (
            mimetype.startswith("application/") and mimetype.endswith("+json")):
        raise UnsupportedMediaType("Send the body as JSON with Content-Type: application/json.")
    raw = read_body_bytes()
    what = "object" if json_type is dict else "array"
    if not raw.strip():
        raise MalformedJson(f"The request body is empty; send a JSON {what}.")
    data = parse_json(raw)
    if not isinstance(data, json_type):
        raise MalformedJson(f"The request body must be a JSON {what}.")
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
    unknown = sorted(set(request.args) - route_policy().query_parameters)
    errors = [parameter_error(name, "Unknown query parameter.") for name in unknown]
    undecodable = sorted(_undecodable_query_parameters() - set(unknown))
    errors.extend(parameter_error(name, "Must be valid UTF-8 (percent-encoded).")
                  for name in undecodable)
    for name, value in (request.view_args or {}).items():
        try:
            validate_key(value)
        except ValidationError as error:
            errors.extend(parameter_error(name, message) for message in error.messages)
        else:
            if "\ufffd" in value and not _path_is_utf8():
                # Werkzeug decodes invalid UTF-8 to U+FFFD, which a key may hold: the bytes
                # sent decide.
                errors.append(parameter_error(name, "Must be valid UTF-8 (percent-encoded)."))
    if errors:
        raise ValidationFailed(errors, detail="The query string or a key in the path is not "
                               "valid." if unknown or undecodable
                               else "A key in the path is not valid.")


def _undecodable_query_parameters():
    """Names of the query parameters whose percent-decoded bytes are not UTF-8 (Werkzeug
    would keep such an escape as literal text: `%FF` searched for as "%FF")."""
    raw = request.query_string
    if b"%" not in raw:
        return set()
    names = set()
    for pair in raw.split(b"&"):
        name, _, value = pair.partition(b"=")
        try:
            urllib.parse.unquote_to_bytes(value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeError:
            names.add(urllib.parse.unquote(name.replace(b"+", b" ").decode("latin-1")))
    return names


def _path_is_utf8():
    """True when the path's bytes, percent-decoded, are valid UTF-8."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    try:
        if raw is None:
            request.environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
        else:
            urllib.parse.unquote_to_bytes(raw.partition("?")[0]).decode("utf-8")
    except UnicodeError:
        return False
    return True


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
