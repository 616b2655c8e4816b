"""The client's JSON: parsed as the server parses a body, written with every digit kept."""
import json
import math
from decimal import Decimal

import pytest

from app.api.parsing import parse_json
from app.client.wire import dumps, loads
from app.errors import MalformedJson

DOCUMENTS = [
    '{"amount": 1234567890123.4567, "n": 9999999999999.9999, "i": 12, "neg": -0.0001}',
    '{"s": "Bücher \\u00e9 \\"quoted\\" \\\\ \\n\\t", "t": true, "f": false, "z": null}',
    '{"nested": {"list": [1, 2.50, 1E+2, 1e-7, [], {}], "deep": {"x": [{"y": 0}]}}}',
    '{"big": 1e999999, "tiny": 1e-999999, "long": ' + "9" * 5000 + '}',
]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_a_document_survives_loads_and_dumps_with_every_digit(text):
    value = loads(text)
    assert loads(dumps(value)) == value
    assert dumps(value) == dumps(loads(dumps(value)))
    assert parse_json(dumps(value).encode()) == parse_json(text.encode())  # the server agrees


def test_dumps_writes_numbers_as_they_were_written():
    assert dumps(loads('{"a": 1234567890123.4567}')) == '{"a":1234567890123.4567}'
    assert dumps({"a": Decimal("9999999999999.9999"), "b": Decimal("1.50")}) == \
        '{"a":9999999999999.9999,"b":1.50}'
    assert dumps({"x": 0.1, "y": 3, "z": [True, None]}) == '{"x":0.1,"y":3,"z":[true,null]}'


def test_dumps_agrees_with_the_standard_library_without_decimals():
    value = {"name": "Zoë \u2028 \x00", "list": [1, -2, 3.25, 1e300, None, False],
             "tuple": (1, 2), "nested": {"k": {"é": "ü"}}}
    assert dumps(value) == json.dumps(value, separators=(",", ":"))


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, Decimal("NaN"),
                                   Decimal("Infinity"), Decimal("-Infinity")])
def test_dumps_refuses_what_json_cannot_say(value):
    with pytest.raises(ValueError, match="not valid JSON"):
        dumps({"amount": value})


def test_dumps_refuses_other_types():
    with pytest.raises(TypeError):
        dumps({"when": object()})
    with pytest.raises(TypeError):
        dumps({1: "a key must be text"})


@pytest.mark.parametrize("text, reason", [
    ('{"a": NaN}', "NaN is not valid JSON"),
    ('{"a": Infinity}', "Infinity is not valid JSON"),
    ('{"a": -Infinity}', "-Infinity is not valid JSON"),
    ('{"reference": "a", "name": "x", "name": "y"}', "duplicate key 'name'"),
    ('{"a": {"b": 1, "b": 2}}', "duplicate key 'b'"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
])
def test_loads_refuses_what_the_server_refuses(text, reason):
    with pytest.raises(ValueError, match=reason):
        loads(text)
    with pytest.raises(MalformedJson):
        parse_json(text.encode())
