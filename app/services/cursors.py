"""Cursors: opaque, versioned positions in a listing (the feed, versions)."""
import base64
import binascii
import json
from dataclasses import dataclass

from app.errors import ValidationFailed, parameter_error

# Positions are 64-bit columns; a forged larger number is a bad cursor, not a driver error.
_INT64_MIN, _INT64_MAX = -2 ** 63, 2 ** 63 - 1


@dataclass(frozen=True)
class CursorPage:
    """A page read by cursor."""

    items: list         # model rows, tombstone dicts, or version dicts
    next_cursor: str
    has_more: bool


def _bad_cursor():
    return ValidationFailed([parameter_error("cursor", "Not a cursor this collection handed out.")],
                            detail="The query string is invalid.")


def encode_cursor(*position):
    """An opaque cursor for a position in a listing."""
    raw = json.dumps(["v1", *position], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text, shape):
    """The position in a cursor; `shape` lists the expected types. 422 when it is not ours."""
    try:
        padded = text + "=" * (-len(text) % 4)
        value = json.loads(base64.b64decode(padded.encode(), altchars=b"-_", validate=True))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _bad_cursor() from None
    if not (isinstance(value, list) and len(value) == len(shape) + 1 and value[0] == "v1"
            and all(isinstance(part, kind) and not isinstance(part, bool)
                    and (kind is not int or _INT64_MIN <= part <= _INT64_MAX)
                    for part, kind in zip(value[1:], shape))):
        raise _bad_cursor()
    return tuple(value[1:])
