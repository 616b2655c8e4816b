"""Hostile input on every write route: each answer is a problem+json 4xx and nothing is stored."""
import json

import pytest

from app.api import API_PREFIX
from app.models import LINK_MODELS
from app.resources.registry import RECORD_MODELS, RESOURCES

KEY_FIELDS = {name: resource.key_field for name, resource in RESOURCES.items()}
STRING_FIELDS = {
    "accounts": ["name", "display_reference", "email", "phone", "payment_terms", "description",
                 "currency", "language", "vat", "parent_account_number"],
    "contacts": ["name", "first_name", "email", "phone", "title", "notes", "language", "country",
                 "account_number"],
    "documents": ["account_number", "invoice_date", "due_date", "currency", "po_number",
                  "description", "document_type", "applies_to_invoice"],
    "representatives": ["name", "email", "phone", "title", "extra_info", "language",
                        "supervisor_representative_reference"],
}
NOT_A_STRING = [123, 1.5, True, [], {}, ["x"], {"a": 1}]


def _raw_bodies():
    """(label, bytes) that no endpoint may accept."""
    deep = b'{"name": ' + b'[' * 50000 + b']' * 50000 + b'}'
    return [
        ("NaN", b'{"name": NaN}'), ("Infinity", b'{"name": "x", "credit_limit": Infinity}'),
        ("-Infinity", b'{"amount": -Infinity}'), ("duplicate keys", b'{"name": "a", "name": "b"}'),
        ("deep nesting", deep), ("invalid UTF-8", b'{"name": "\xc3\x28"}'),
        ("lone continuation byte", b'{"name": "\x80"}'), ("truncated", b'{"name": "x"'),
        ("trailing comma", b'{"name": "x",}'), ("single quotes", b"{'name': 'x'}"),
        ("array", b'[{"name": "x"}]'), ("string", b'"x"'), ("number", b"1"), ("null", b"null"),
        ("empty", b""), ("whitespace", b"  \n "), ("BOM then garbage", b"\xef\xbb\xbf{"),
        ("huge integer", b'{"name": "x", "credit_limit": ' + b"9" * 5000 + b"}"),
        ("NUL escape", b'{"name": "a\\u0000b"}'), ("lone surrogate", b'{"name": "\\ud83d"}'),
        ("NUL in a key", b'{"na\\u0000me": "x"}'),
        ("number past float range", b'{"name": "x", "custom_fields": {"k": 1e999}}'),
    ]


def _json_bodies(collection):
    """(label, body) per field: wrong types, huge strings, bad numbers and nesting."""
    cases = []
    for field in STRING_FIELDS[collection]:
        for value in NOT_A_STRING:
            cases.append((f"{field}={value!r}", {field: value}))
        cases.append((f"{field} huge", {field: "x" * 100_000}))
    cases += [
        ("custom_fields nested", {"custom_fields": {"a": {"b": {"c": 1}}}}),
        ("custom_fields list", {"custom_fields": [1, 2]}),
        ("custom_fields 51 keys", {"custom_fields": {f"k{n}": n for n in range(51)}}),
        ("custom_fields bad key", {"custom_fields": {"../x": 1}}),
        ("custom_fields huge value", {"custom_fields": {"k": "v" * 2000}}),
        ("custom_fields huge number", {"custom_fields": {"k": 10 ** 400}}),
        ("unknown field", {"__proto__": {"admin": True}}),
        ("amount huge", {"amount": "1" * 40, "credit_limit": "1" * 40}),
        ("amount exponent", {"amount": "1e400", "credit_limit": "1e400"}),
        ("amount precise", {"amount": 1.00000001, "credit_limit": 1.00000001}),
    ]
    return cases


def _snapshot():
    return ({model.__name__: sorted((getattr(r, model.KEY_FIELD), r.version)
                                    for r in model.select()) for model in RECORD_MODELS},
            sum(model.select().count() for model in LINK_MODELS))


def _assert_refused(response, label):
    assert 400 <= response.status_code < 500, (label, response.status_code,
                                               response.get_data(as_text=True)[:300])
    assert response.mimetype == "application/problem+json", label
    assert response.get_json()["status"] == response.status_code


@pytest.fixture
def existing(api):
    for collection, body in (("accounts", {"name": "a"}), ("contacts", {"name": "c"}),
                             ("representatives", {"name": "r"})):
        assert api.put(f"/{collection}/EXISTING", json=body).status_code == 201
    api.put("/documents/EXISTING", json={"account_number": "EXISTING",
                                         "invoice_date": "2026-01-01", "due_date": "2026-01-02"})
    return api


def _write_routes(app):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX + "/"):
            continue
        for method in sorted(rule.methods & {"POST", "PUT", "PATCH"}):
            path = rule.rule[len(API_PREFIX):]
            # /{collection}/{key}, not a collection's custom method (/accounts:sync-runs/{id})
            if path.count("/") == 2 and "<" in path and ":" not in path.split("/")[1]:
                yield method, path.split("/")[1], path.split("<")[0] + "EXISTING"


@pytest.mark.parametrize("collection", sorted(KEY_FIELDS))
def test_hostile_bodies_on_record_routes(app, existing, collection):
    before = _snapshot()
    count = 0
    for method, route_collection, path in _write_routes(app):
        if route_collection != collection:
            continue
        for label, raw in _raw_bodies():
            response = existing.request(method, path, data=raw,
                                        headers={"Content-Type": "application/json"})
            _assert_refused(response, f"{method} {path} {label}")
            count += 1
        for label, body in _json_bodies(collection):
            target = path if method != "POST" else path.replace("EXISTING", "NEW")
            response = existing.request(method, target, data=json.dumps(body),
                                        headers={"Content-Type": "application/json"})
            _assert_refused(response, f"{method} {target} {label}")
            count += 1
    assert count > 200
    assert _snapshot() == before


@pytest.mark.parametrize("path", ["/accounts:batch", "/contacts:batch", "/documents:batch",
                                  "/representatives:batch", "/accounts:lookup",
                                  "/representatives:link", "/representatives:unlink"])
def test_hostile_bodies_on_bulk_routes(existing, path):
    before = _snapshot()
    envelopes = [(label, raw) for label, raw in _raw_bodies()] + [
        ("items not a list", json.dumps({"items": "x", "keys": "x", "links": "x"}).encode()),
        ("too many", json.dumps({"items": [{}] * 1001, "keys": ["k"] * 101,
                                 "links": [{}] * 1001}).encode()),
        ("empty", json.dumps({"items": [], "keys": [], "links": []}).encode()),
    ]
    for label, raw in envelopes:
        response = existing.request("POST", path, data=raw,
                                    headers={"Content-Type": "application/json"})
        _assert_refused(response, f"{path} {label}")
    assert _snapshot() == before


def test_bad_items_in_a_batch_store_nothing_of_themselves(existing):
    before = _snapshot()
    items = [dict(body, account_number="X") for _, body in _json_bodies("accounts")]
    body = existing.post("/accounts:batch", json={"items": items}).get_json()
    assert body["failed"] == len(items) and body["created"] == 0
    assert _snapshot() == before


@pytest.mark.parametrize("path, status", [
    ("/accounts/a%2Fb", 404), ("/accounts/%2E%2E", 422), ("/accounts/.", 422),
    ("/accounts/..%2F..%2Fetc", 404), ("/accounts/%00", 422), ("/accounts/a%0Ab", 422),
    ("/accounts/%20", 422), ("/accounts/" + "k" * 129, 422), ("/accounts/%C3%28", 422),
    ("/contacts/%E2%80%8B%09", 422), ("/representatives/R/accounts/%7F", 422),
])
def test_hostile_keys_in_paths(existing, path, status):
    before = _snapshot()
    methods = ("PUT", "DELETE") if path.count("/") > 2 else ("PUT", "POST", "PATCH", "GET",
                                                             "DELETE")
    for method in methods:
        response = existing.request(method, path, json={"name": "x"})
        assert response.status_code == status, (method, path, response.status_code)
        assert response.mimetype == "application/problem+json"
    assert _snapshot() == before


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/xml",
                                          "multipart/form-data; boundary=x",
                                          "application/x-www-form-urlencoded", "text/json"])
def test_wrong_media_types_everywhere(app, existing, content_type):
    before = _snapshot()
    headers = {"Content-Type": content_type} if content_type else {}
    for method, _, path in _write_routes(app):
        response = existing.request(method, path, data='{"name": "x"}', headers=headers)
        assert response.status_code == 415, (method, path)
    for path in ("/accounts:batch", "/accounts:lookup", "/representatives:link"):
        assert existing.request("POST", path, data="{}", headers=headers).status_code == 415
    assert _snapshot() == before


def test_oversized_bodies(existing):
    before = _snapshot()
    big = json.dumps({"name": "x", "description": "d" * (1024 * 1024 + 1)})
    _assert_refused(existing.put("/accounts/EXISTING", data=big,
                                 headers={"Content-Type": "application/json"}), "1 MiB")
    huge = b'{"items": [' + b'{"account_number": "A", "name": "' + b"x" * (33 * 1024 * 1024) \
        + b'"}]}'
    response = existing.post("/accounts:batch", data=huge,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert _snapshot() == before
