"""The OpenAPI document states exactly what the server enforces: each case is judged by
the document and by the server, and the two must agree."""
import itertools
import json
import random
import re
import shutil
import string
import subprocess
import unicodedata

import jsonschema_rs
import pytest
from marshmallow import ValidationError

from app import create_app
from app.api.idempotency import IDEMPOTENCY_HEADER
from app.errors import ValidationFailed
from app.services.idempotency import parse_key
from helpers import ApiClient
from schemas.common import (COUNTRY_CODES, CURRENCY_CODES, KEY_MAX_LENGTH, LANGUAGE_CODES,
                            validate_key)
from schemas.patterns import FORMAT_CHARACTERS, key_pattern

PREFIX = "/api/v1/ingest"


@pytest.fixture
def spec(app):
    return app.test_client().get(f"{PREFIX}/openapi.json").get_json()


def validator(spec, schema):
    """A validator for `schema`, its $refs resolved in the document's components."""
    return jsonschema_rs.validator_for({**schema, "components": spec["components"]},
                                       validate_formats=True)


def body_schema(spec, path, method):
    return spec["paths"][PREFIX + path][method]["requestBody"]["content"]["application/json"][
        "schema"]


def parameter(spec, path, method, name):
    operation = spec["paths"][PREFIX + path][method]
    shared = spec["paths"][PREFIX + path].get("parameters", [])
    named = spec["components"].get("parameters", {})
    found = [named[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p
             for p in operation.get("parameters", []) + shared]
    (found,) = [p for p in found if p["name"] == name]
    return found


KEYS = ["A-1", "a b", "x" * 128, "x" * 129, "", " a", "a ", "a/b", ".", "..", "...", "a\n",
        "a\x00", "a\u00a0", "a\u00a0b", "a\u200b", "\ufffd", "é😀", "a:b", "Ω" * 5, "\t", "\u3000a",
        "\ue000", "\u0378", "\U000e0001", "a\u2028b", "\u061c"]


def _key_is_valid(key):
    try:
        validate_key(key)
    except ValidationError:
        return False
    return True


def _random_keys(count):
    """Short strings over the characters each rule is about, and over any code point a
    JSON text can carry (a lone surrogate it cannot, outside Python)."""
    tricky = ["a", " ", ".", "/", "\x00", "\n", "\ufffd", "\u200b", "\u00a0", "😀", "\u3000",
              "\U000e0001", "\U000e007f", "\x7f", "\x85", "\xad", "]", "^", "-", "\\", "\ufeff"]
    rng = random.Random(20261129)
    for _ in range(count):
        yield "".join(rng.choice(tricky) for _ in range(rng.randint(1, 5)))
        yield "".join(chr(rng.choice([rng.randint(0, 0xD7FF), rng.randint(0xE000, 0x10FFFF)]))
                      for _ in range(rng.randint(1, 3)))


def test_the_key_pattern_agrees_with_validate_key_on_random_keys():
    pattern = re.compile(key_pattern(KEY_MAX_LENGTH))
    for key in _random_keys(20_000):
        assert bool(pattern.search(key)) == _key_is_valid(key), repr(key)


def test_the_key_pattern_reads_the_same_in_javascript(tmp_path):
    """ECMA-262 with the u flag (what JSON Schema validators in JavaScript use) reads the
    pattern as Python does."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    keys = list(_random_keys(3_000)) + KEYS
    (tmp_path / "keys.json").write_text(json.dumps(
        {"pattern": key_pattern(KEY_MAX_LENGTH), "keys": keys}, ensure_ascii=False))
    script = ("const d = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'));"
              "const p = new RegExp(d.pattern, 'u');"
              "console.log(JSON.stringify(d.keys.map(k => p.test(k))));")
    answer = subprocess.run([node, "-e", script, str(tmp_path / "keys.json")],
                            capture_output=True, text=True, check=True)
    assert json.loads(answer.stdout) == [_key_is_valid(key) for key in keys]


def test_the_excluded_characters_are_fixed_and_cover_todays_unicode():
    """The format characters are listed in the code (so a key valid today stays valid),
    and the list holds every one this interpreter's Unicode tables know."""
    listed = {code for low, high in FORMAT_CHARACTERS for code in range(low, high + 1)}
    known = {code for code in range(0x110000) if unicodedata.category(chr(code)) == "Cf"}
    assert known <= listed, sorted(map(hex, known - listed))
    assert len(key_pattern(KEY_MAX_LENGTH).encode()) < 500


def test_the_key_rule_is_the_servers(spec):
    key = validator(spec, {"$ref": "#/components/schemas/Key"})
    for value in KEYS:
        assert key.is_valid(value) == _key_is_valid(value), repr(value)
    assert parameter(spec, "/contacts/{reference}", "get", "reference")["schema"] == {
        "$ref": "#/components/schemas/Key"}
    run_id = parameter(spec, "/contacts:sync-runs/{run_id}", "get", "run_id")["schema"]
    assert re.search(run_id["pattern"], "0" * 32) and not re.search(run_id["pattern"], "G" * 32)


@pytest.mark.parametrize("key", ["x" * 128, "x" * 129, "a\u00a0", "a\u200b", "..", "é😀"])
def test_path_keys_the_document_refuses_the_server_refuses(api, spec, key):
    answer = api.put(f"/accounts/{key}", json={"name": "Acme"})
    assert (answer.status_code in (200, 201)) == _key_is_valid(key), answer.get_json()
    if not _key_is_valid(key):
        assert answer.status_code == 422
        assert answer.get_json()["errors"][0]["parameter"] == "account_number"


def test_the_idempotency_key_rule_is_the_servers():
    pattern = re.compile(IDEMPOTENCY_HEADER["schema"]["pattern"])
    for value in ["k", "k" * 255, "k" * 256, '"k"', '""', '"', ' "a b" ', "a\x7f", "é", "\xa0",
                  '"' + "k" * 255 + '"', '"' + "k" * 256 + '"', "a b"]:
        try:
            parse_key(value)
            accepted = True
        except ValidationFailed:
            accepted = False
        assert bool(pattern.search(value)) == accepted, repr(value)


ACCOUNT_BODIES = [
    {"name": "Acme"},
    {"name": "  "},
    {"name": None},
    {"name": "Acme", "currency": " eur "},
    {"name": "Acme", "currency": "XYZ"},
    {"name": "Acme", "language": "EN", "billing_address": {"country": "de"}},
    {"name": "Acme", "billing_address": {"country": "Germany"}},
    {"name": "Acme", "billing_address": ""},
    {"name": "Acme", "credit_limit": "-0.00"},
    {"name": "Acme", "credit_limit": "-1"},
    {"name": "Acme", "credit_limit": 1.5},
    {"name": "Acme", "credit_limit": "1.00001"},
    {"name": "Acme", "credit_limit": "9999999999999.9999"},
    {"name": "Acme", "credit_limit": "10000000000000"},
    {"name": "Acme", "credit_limit": "1e3"},
    {"name": "Acme", "credit_limit": "  "},
    {"name": "Acme", "parent_account_number": ""},
    {"name": "Acme", "parent_account_number": " "},
    {"name": "Acme", "custom_fields": {"tier": "gold", "score": 1.5, "ok": True, "gone": None}},
    {"name": "Acme", "custom_fields": {"a\n": 1}},
    {"name": "Acme", "custom_fields": {"1st": 1}},
    {"name": "Acme", "custom_fields": {"huge": 1.7976931348623157e308, "big": 2 ** 63 - 1}},
    {"name": "Acme", "custom_fields": {"tiny": 5e-324}},
    {"name": "Acme", "custom_fields": {"nested": {"a": 1}}},
    {"name": "Acme", "custom_fields": {"text": "x" * 1001}},
    # Read-only fields are ignored, so a body fetched with GET can be sent back.
    {"name": "Acme", "version": 7, "created_at": "2020-01-01T00:00:00Z", "archived_at": None},
]


@pytest.mark.parametrize("body", ACCOUNT_BODIES, ids=range(len(ACCOUNT_BODIES)))
def test_account_bodies_the_document_admits_the_server_stores(api, spec, body):
    documented = validator(spec, body_schema(spec, "/accounts/{account_number}", "put"))
    answer = api.put("/accounts/A-1", json=body)
    assert (answer.status_code in (200, 201)) == documented.is_valid(body), answer.get_json()


CONTACT_PATCHES = [
    {"is_primary": ""}, {"is_primary": None}, {"is_primary": "true"}, {"language": None},
    {"language": "  "}, {"language": "xx"}, {"email": ""}, {"email": "no-at-sign"},
    {"name": "", "first_name": "Ada"}, {"account_number": ""}, {"account_number": " A"},
    {"name": "Ada L", "first_name": "Ada"}, {"name": " ", "last_name": "L"},
    {"name": "Ada L", "last_name": None},
    # The server strips U+001C-U+001F and U+0085 too (ECMA's \s has neither), never U+FEFF.
    {"language": " \x1c"}, {"language": "\x85en\u3000"}, {"language": "\ufeffen"},
]


@pytest.mark.parametrize("body", CONTACT_PATCHES, ids=range(len(CONTACT_PATCHES)))
def test_contact_patches_the_document_admits_the_server_applies(api, spec, body):
    api.put("/contacts/C-1", json={"name": "Ada"})
    documented = validator(spec, body_schema(spec, "/contacts/{reference}", "patch"))
    answer = api.patch("/contacts/C-1", json=body)
    assert (answer.status_code == 200) == documented.is_valid(body), answer.get_json()


LINKS = [{"representative": "R-1", "account_number": "A-1"},
         {"representative": "R-1", "document_number": "D-1"},
         {"representative": "R-1", "account_number": "A-1", "document_number": "D-1"},
         {"representative": "R-1"}, {"representative": "R-1", "account_number": ""}]


@pytest.mark.parametrize("link", LINKS, ids=range(len(LINKS)))
def test_link_items_the_document_admits_the_server_links(api, spec, link):
    api.put("/representatives/R-1", json={"name": "Grace"})
    api.put("/accounts/A-1", json={"name": "Acme"})
    api.put("/documents/D-1", json={"account_number": "A-1", "invoice_date": "2026-11-01",
                                    "due_date": "2026-12-01"})
    item = validator(spec, body_schema(spec, "/representatives:link", "post")).is_valid(
        {"links": [link]})
    (result,) = api.post("/representatives:link", json={"links": [link]}).get_json()["results"]
    assert (result["status"] == 200) == item, result


def test_a_number_no_double_holds_is_refused_as_the_document_says_in_words(api, spec):
    value = validator(spec, body_schema(spec, "/accounts/{account_number}", "put"))
    body = {"name": "Acme", "custom_fields": {"big": 2 ** 64 + 1}}
    assert value.is_valid(body)  # JSON Schema cannot say "exactly a double"
    answer = api.put("/accounts/A-1", json=body)
    assert answer.status_code == 422
    assert answer.get_json()["errors"][0]["pointer"] == "#/custom_fields/big"
    number = [option for option in spec["components"]["schemas"]["CustomFields"][
        "additionalProperties"]["anyOf"] if option.get("type") == "number"]
    assert "exactly a double" in number[0]["description"]


def test_a_required_field_cannot_be_cleared_by_put_or_patch(api, spec):
    for method in ("put", "patch"):
        name = validator(spec, body_schema(spec, "/accounts/{account_number}", method))
        assert not name.is_valid({"name": None}) and not name.is_valid({"name": " "})
    api.put("/accounts/A-1", json={"name": "Acme"})
    assert api.patch("/accounts/A-1", json={"name": None}).status_code == 422
    assert api.patch("/accounts/A-1", json={"name": " "}).status_code == 422


def test_iso_code_lists_are_the_servers(spec):
    """Every code, in any case, and nothing else of its length (the pattern factors common
    first letters, so it is checked against every string of letters)."""
    schemas = spec["components"]["schemas"]
    for name, codes in (("LanguageCode", LANGUAGE_CODES), ("CountryCode", COUNTRY_CODES),
                        ("CurrencyCode", CURRENCY_CODES)):
        pattern = re.compile(schemas[name]["pattern"])
        assert all(pattern.search(code) and pattern.search(code.lower()) for code in codes)
        upper = {code.upper() for code in codes}
        (length,) = {len(code) for code in codes}
        for letters in itertools.product(string.ascii_uppercase, repeat=length):
            text = "".join(letters)
            mixed = text[0].lower() + text[1:]
            assert bool(pattern.search(text)) == bool(pattern.search(mixed)) == \
                (text in upper), (name, text)
        assert not pattern.search(next(iter(upper)) + "A")


def test_every_query_parameter_is_declared_with_its_bounds(spec):
    atomic = parameter(spec, "/contacts:batch", "post", "atomic")
    assert atomic["in"] == "query" and atomic["schema"]["type"] == "boolean"
    assert parameter(spec, "/contacts/{reference}", "delete", "archive_if_referenced")
    assert parameter(spec, "/accounts/{account_number}/contacts/upsert", "put", "dry_run")
    assert parameter(spec, "/accounts/{account_number}/contacts", "get",
                     "include_archived")["schema"]["type"] == "boolean"
    limit = parameter(spec, "/contacts:versions", "get", "limit")["schema"]
    assert (limit["minimum"], limit["maximum"]) == (1, 10_000)
    cursor = parameter(spec, "/contacts", "get", "cursor")["schema"]
    assert re.search(cursor["pattern"], "WyJ2MSIsMSwxLDFd") and not re.search(cursor["pattern"],
                                                                              "a!b")
    header = parameter(spec, "/contacts/{reference}", "put", "If-Match")
    assert header["in"] == "header"


@pytest.mark.parametrize("flag, accepted", [("true", True), ("False", True), ("tRuE", True),
                                            ("1", False), ("yes", False), ("", False)])
def test_query_flags_are_true_or_false(api, spec, flag, accepted):
    assert parameter(spec, "/contacts:batch", "post", "atomic")["schema"]["type"] == "boolean"
    items = {"items": [{"reference": "C-1", "name": "Ada"}]}
    answer = api.post(f"/contacts:batch?atomic={flag}", json=items)
    assert (answer.status_code == 200) == accepted, answer.get_json()
    assert (api.get(f"/contacts?is_primary={flag}").status_code == 200) == accepted


def test_a_cursor_with_characters_it_never_holds_is_refused(api):
    api.put("/contacts/C-1", json={"name": "Ada"})
    cursor = api.get("/contacts?limit=1").get_json()["next_cursor"]
    assert api.get(f"/contacts?cursor={cursor}").status_code == 200
    assert api.get(f"/contacts?cursor={cursor[:4]}!{cursor[4:]}").status_code == 422


def test_bulk_lists_are_bounded_by_the_deployments_setting(database_url, _schema, tenant):
    from app.services.tenants import create_api_key
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "MAX_BATCH_ITEMS": 3,
                      "LOG_LEVEL": "WARNING"})
    spec = app.test_client().get(f"{PREFIX}/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    for envelope, name in (("AccountBatch", "items"), ("LinkBatch", "links"),
                           ("EmailEvents", "events")):
        assert (schemas[envelope]["properties"][name]["minItems"],
                schemas[envelope]["properties"][name]["maxItems"]) == (1, 3), envelope
    lookup = schemas["Lookup"]["properties"]["keys"]
    assert (lookup["minItems"], lookup["maxItems"]) == (1, 100)
    api = ApiClient(app.test_client(), create_api_key(tenant)[1])
    items = [{"account_number": f"A-{n}", "name": "Acme"} for n in range(4)]
    assert api.post("/accounts:batch", json={"items": items[:3]}).status_code == 200
    assert api.post("/accounts:batch", json={"items": items}).status_code == 422


def _walk(node, path=()):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, path + (index,))


def test_every_answer_is_a_named_schema(spec):
    placeholders = [path for path, node in _walk(spec) if node.get("additionalProperties") == {}]
    assert placeholders == []
    # apispec numbers a second schema of the same name (LinkBatch1): each name is declared once.
    assert [name for name in spec["components"]["schemas"] if name[-1].isdigit()] == []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            for status, answer in operation["responses"].items():
                if "$ref" in answer:  # an answer many operations share, named once
                    answer = spec["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
                schema = (answer.get("content") or {}).get("application/json", {}).get("schema")
                if schema is not None:
                    named = [schema] if "$ref" in schema else schema.get("oneOf", [])
                    assert named and all("$ref" in option for option in named), (path, status)
    schemas = spec["components"]["schemas"]
    assert schemas["ContactChanges"]["properties"]["items"]["items"] == {"oneOf": [
        {"$ref": "#/components/schemas/ContactTombstone"},
        {"$ref": "#/components/schemas/Contact"}]}
    assert schemas["ContactTombstone"]["required"] == ["deleted", "reference", "updated_at",
                                                       "version"]
    assert schemas["AccountVersions"]["properties"]["items"]["items"] == {
        "$ref": "#/components/schemas/AccountVersion"}
    assert schemas["DocumentLookupResult"]["properties"]["items"]["items"] == {
        "$ref": "#/components/schemas/Document"}
    assert schemas["RepresentativeBatchResult"]["properties"]["results"]["items"] == {
        "$ref": "#/components/schemas/RepresentativeBatchItemResult"}
    assert schemas["LinkBatchResult"]["properties"]["results"]["items"] == {
        "$ref": "#/components/schemas/LinkResult"}


def test_a_dry_run_that_would_create_answers_a_null_record(api, spec):
    api.put("/accounts/A-1", json={"name": "Acme"})
    answer = api.put("/accounts/A-1/party/upsert?dry_run=true",
                     json={"name": "Ada", "language": "en"})
    assert answer.status_code == 200 and answer.get_json()["record"] is None
    schema = spec["paths"][f"{PREFIX}/accounts/{{account_number}}/party/upsert"]["put"][
        "responses"]["200"]["content"]["application/json"]["schema"]
    assert validator(spec, schema).is_valid(answer.get_json()), answer.get_json()


def test_answers_match_their_named_schemas(api, spec):
    api.put("/accounts/A-1", json={"name": "Acme", "custom_fields": {
        "huge": 1.7976931348623155e308, "whole": -1.42294694008727e227, "small": 1.5e-300}})
    api.put("/contacts/C-1", json={"name": "Ada", "account_number": "A-1"})
    api.put("/contacts/C-2", json={"name": "Bob"})
    api.delete("/contacts/C-2")
    answers = {
        "Account": api.get("/accounts/A-1"),
        "ContactChanges": api.get("/contacts"),
        "ContactVersions": api.get("/contacts:versions"),
        "ContactLookupResult": api.post("/contacts:lookup", json={"keys": ["C-1", "nope"]}),
        "ContactBatchResult": api.post("/contacts:batch", json={"items": [
            {"reference": "C-3", "name": "Cy"}, {"reference": 5}, None]}),
        "LinkBatchResult": api.post("/representatives:link", json={"links": [
            {"representative": "R-1", "account_number": "A-1"}, {"x": 1}]}),
    }
    for name, answer in answers.items():
        assert answer.status_code == 200, name
        checked = validator(spec, {"$ref": f"#/components/schemas/{name}"})
        assert checked.is_valid(answer.get_json()), (name, answer.get_json())
    feed = answers["ContactChanges"].get_json()["items"]
    assert [item.get("deleted", False) for item in feed] == [False, True]


def _operations(spec):
    return [(path, method, operation) for path, operations in spec["paths"].items()
            for method, operation in operations.items() if method != "parameters"]


def _component(spec, schema):
    return spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]


def test_every_operation_has_examples_that_fit_its_schemas(spec):
    """Examples live in the components (stated once), each fitting its component; the
    records' bodies and answers have one."""
    for name, component in spec["components"]["schemas"].items():
        for example in component.get("examples", []):
            assert validator(spec, {"$ref": f"#/components/schemas/{name}"}).is_valid(
                example), name
    for path, method, operation in _operations(spec):
        if path.endswith("openapi.json"):
            continue
        assert operation.get("summary"), (path, method)
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None and "/{" in path and method in ("put", "patch"):
            assert _component(spec, body["schema"]).get("examples"), (path, method)
        answers = [answer for status, answer in operation["responses"].items()
                   if str(status).startswith("2")]
        assert answers, (path, method)
    put = spec["paths"][f"{PREFIX}/contacts/{{reference}}"]["put"]
    (example,) = _component(spec, put["requestBody"]["content"]["application/json"]["schema"])[
        "examples"]
    assert example["first_name"] == "Ada" and "version" not in example  # read-only left out


def test_behaviour_that_is_not_obvious_is_described(spec):
    described = {(path, method) for path, method, operation in _operations(spec)
                 if len(operation.get("description", "")) > 80}
    for path, method in [("/accounts/{account_number}", "put"),
                         ("/accounts/{account_number}", "patch"),
                         ("/accounts/{account_number}", "delete"), ("/contacts", "get"),
                         ("/contacts:batch", "post"), ("/representatives:link", "post"),
                         ("/accounts/{account_number}/party/upsert", "put"),
                         ("/documents:sync-runs/{run_id}:finish", "post"),
                         ("/email-events", "post")]:
        assert (PREFIX + path, method) in described, (path, method)


SYNC_RUN_STARTS = [None, {}, {"scope": None}, {"scope": ""}, {"scope": {}},
                   {"scope": {"account_number": "A-1"}}, {"scope": {"account_number": ""}},
                   {"scope": {"account_number": " A"}}, {"scope": {"email": None}},
                   {"scope": {"is_primary": True}}, {"scope": {"is_primary": None}},
                   {"scope": {"q": "x"}}, {"scope": []}, {"scope": {"email": False}},
                   {"scope": {"account_number": True}}, {"scope": {"is_primary": "yes"}},
                   {"scope": {"is_primary": 1}}]


@pytest.mark.parametrize("body", SYNC_RUN_STARTS, ids=range(len(SYNC_RUN_STARTS)))
def test_sync_run_bodies_the_document_admits_the_server_takes(api, spec, body):
    operation = spec["paths"][f"{PREFIX}/contacts:sync-runs"]["post"]
    assert operation["requestBody"]["required"] is False
    documented = body is None or validator(spec, body_schema(spec, "/contacts:sync-runs",
                                                             "post")).is_valid(body)
    answer = api.post("/contacts:sync-runs", json=body)
    assert (answer.status_code == 201) == documented, answer.get_json()
