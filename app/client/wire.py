"""JSON as the server reads it: numbers exact (Decimal), no NaN or Infinity, no key given twice.

`loads` parses a document the way the server parses a request body, so a
line the importer accepts is one the server would accept, and `dumps` writes
Decimals digit for digit (the standard library cannot), so an amount read as
`1234567890123.4567` reaches the server as exactly that.
"""
import json
import math
from decimal import Decimal
from json.encoder import encode_basestring_ascii as _string

# Python refuses int() of more than 4,300 digits; such a number stays a Decimal (as on the server).
_LONGEST_INT = 4000


def _constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _integer(text):
    return int(text) if len(text) <= _LONGEST_INT else Decimal(text)


def _object(pairs):
    result = {}
    for name, value in pairs:
        if name in result:
            raise ValueError(f"duplicate key {name!r}")
        result[name] = value
    return result


def loads(text):
    """Parse JSON strictly: Decimal for fractions, ValueError for NaN, Infinity, a key given twice
    or nesting too deep."""
    try:
        return json.loads(text, parse_float=Decimal, parse_int=_integer,
                          parse_constant=_constant, object_pairs_hook=_object)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def dumps(value) -> str:
    """Compact ASCII JSON text; Decimals as written, NaN and infinities refused (ValueError)."""
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ",".join([_string(_key(name)) + ":" + dumps(item)
                               for name, item in value.items()]) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join([dumps(item) for item in value]) + "]"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not valid JSON")
        return str(value)
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not valid JSON")
        return float.__repr__(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _key(name):
    if not isinstance(name, str):
        raise TypeError(f"keys must be str, not {type(name).__name__}")
    return name
