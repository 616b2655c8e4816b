"""Conventions of every endpoint: auth, tenancy, media types, errors, request ids, logs."""
import json
import logging

import pytest

from app.logs import JsonLineFormatter
from app.resources.accounts import Account
from app.resources.contacts import Contact
from app.services import tenants as tenant_service
from helpers import assert_problem, key_parts

WRITES = [("put", "/accounts/A"), ("post", "/accounts/A"), ("patch", "/accounts/A"),
          ("delete", "/accounts/A"), ("put", "/contacts/C"), ("post", "/contacts/C"),
          ("patch", "/contacts/C"), ("delete", "/contacts/C")]
RECORD_ROUTES = ["/accounts/A", "/contacts/C"]


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": ""}, {"X-API-Key": "nonsense"},
                                     {"X-API-Key": "ark_0123456789abcdef_" + "x" * 43}])
def test_missing_or_unknown_key_is_401(api, headers):
    response = api.client.get("/api/v1/ingest/accounts/A", headers=headers)
    assert_problem(response, 401, "unauthorized")


def test_wrong_secret_for_a_real_key_id_is_401(api, api_key):
    tampered = api_key[:-4] + ("AAAA" if not api_key.endswith("AAAA") else "BBBB")
    assert_problem(api.get("/accounts/A", key=tampered), 401, "unauthorized")


def test_revoked_key_is_refused(api, api_key):
    key_id = key_parts(api_key)[0]
    assert api.get("/accounts/A").status_code == 404
    tenant_service.revoke_api_key(key_id)
    assert_problem(api.get("/accounts/A"), 401, "unauthorized")


def test_expired_key_is_refused(api, tenant):
    _, key = tenant_service.create_api_key(
        tenant, expires_at=__import__("datetime").datetime(2000, 1, 1))
    assert_problem(api.get("/accounts/A", key=key), 401, "unauthorized")


@pytest.mark.parametrize("method, path", WRITES)
def test_read_key_cannot_write(api, read_key, method, path):
    api.put("/accounts/A", json={"name": "x"})
    response = api.request(method.upper(), path, json={"name": "y"}, key=read_key)
    assert_problem(response, 403, "forbidden")
    assert Account.get().name == "x"


def test_read_key_can_read(api, read_key):
    api.put("/accounts/A", json={"name": "x"})
    assert api.get("/accounts/A", key=read_key).status_code == 200


@pytest.mark.parametrize("path", RECORD_ROUTES)
def test_other_tenant_sees_nothing(api, other_api, path):
    api.put("/accounts/A", json={"name": "mine"})
    api.put("/contacts/C", json={"name": "mine", "account_number": "A"})
    mine = api.get(path).get_json()
    for response in (other_api.get(path), other_api.patch(path, json={"name": "x"}),
                     other_api.delete(path)):
        body = assert_problem(response, 404, "not-found")
        assert "mine" not in json.dumps(body)
    assert api.get(path).get_json() == mine


def test_same_key_in_two_tenants_is_two_records(api, other_api):
    assert api.post("/accounts/A", json={"name": "mine"}).status_code == 201
    assert other_api.post("/accounts/A", json={"name": "theirs"}).status_code == 201
    assert api.get("/accounts/A").get_json()["name"] == "mine"
    assert other_api.get("/accounts/A").get_json()["name"] == "theirs"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "application/xml"])
def test_non_json_media_type_is_415(api, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = api.put("/accounts/A", data='{"name": "x"}', headers=headers)
    assert_problem(response, 415, "unsupported-media-type")


def test_json_with_charset_is_accepted(api):
    response = api.put("/accounts/A", data='{"name": "x"}',
                       headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 201


@pytest.mark.parametrize("raw", [
    b"", b"   ", b"{", b'{"name": "x",}', b"[1, 2]", b'"text"', b"null", b"42",
    b'{"name": NaN}', b'{"name": "x", "credit_limit": Infinity}', b'{"name": "a", "name": "b"}',
    b'{"name": "\xff\xfe"}', b"[" * 100000 + b"]" * 100000,
])
def test_malformed_json_is_400(api, raw):
    response = api.put("/accounts/A", data=raw, headers={"Content-Type": "application/json"})
    assert_problem(response, 400, "malformed-json")
    assert Account.select().count() == 0


@pytest.mark.parametrize("raw, pointer", [
    (b'{"name": "a\\u0000b"}', "#/name"),
    (b'{"name": "x", "custom_fields": {"k": "\\ud800"}}', "#/custom_fields/k"),
])
def test_unstorable_strings_are_422(api, raw, pointer):
    response = api.put("/accounts/A", data=raw, headers={"Content-Type": "application/json"})
    assert_problem(response, 422, "validation-error", [pointer])
    assert Account.select().count() == 0


def test_body_over_one_mib_is_413(api):
    body = {"name": "x", "description": "d" * (1024 * 1024)}
    assert_problem(api.put("/accounts/A", json=body), 413, "payload-too-large")
    assert Account.select().count() == 0


def test_unknown_route_is_404_problem(api):
    assert_problem(api.get("/nothing/here"), 404, "not-found")
    assert_problem(api.get("/accounts/A/unknown"), 404, "not-found")
    assert_problem(api.post("/accounts:explode", json={}), 404, "not-found")


def test_wrong_method_is_405_problem(api):
    response = api.client.post("/livez")
    body = assert_problem(response, 405, "method-not-allowed")
    assert "GET" in response.headers["Allow"]
    assert body["instance"] == "/livez"


def test_unexpected_exception_is_500_without_internals(app, api):
    def explode():
        raise RuntimeError("SELECT secret FROM api_keys; password=hunter2")
    app.add_url_rule("/api/v1/ingest/_explode", "explode", explode)
    response = api.get("/_explode")
    body = assert_problem(response, 500, "internal-error")
    text = response.get_data(as_text=True)
    assert "hunter2" not in text and "SELECT" not in text and "Traceback" not in text
    assert body["request_id"]


def test_request_id_is_echoed_or_generated(api):
    echoed = api.get("/accounts/A", headers={"X-Request-Id": "etl-run-42.7"})
    assert echoed.headers["X-Request-Id"] == "etl-run-42.7"
    assert echoed.get_json()["request_id"] == "etl-run-42.7"
    generated = api.get("/accounts/A", headers={"X-Request-Id": "bad id\twith junk" * 20})
    assert len(generated.headers["X-Request-Id"]) == 32
    assert api.client.get("/livez").headers["X-Request-Id"]


def test_problem_detail_never_leaks_the_key(api, api_key):
    body = api.get("/accounts/A").get_data(as_text=True)
    assert api_key not in body and key_parts(api_key)[1] not in body


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(json.loads(JsonLineFormatter().format(record)))


def test_one_json_log_line_per_request(api, api_key):
    handler = _Collect()
    logger = logging.getLogger("ar_ingest.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        api.put("/accounts/A", json={"name": "Very Secret Customer"},
                headers={"X-Request-Id": "req-1"})
    finally:
        logger.removeHandler(handler)
    assert len(handler.lines) == 1
    line = handler.lines[0]
    assert line["request_id"] == "req-1" and line["method"] == "PUT"
    assert line["route"] == "/api/v1/ingest/accounts/<account_number>"
    assert line["status"] == 201 and line["tenant"] and line["key_id"] == key_parts(api_key)[0]
    assert line["duration_ms"] >= 0 and line["time"].endswith("Z")
    text = json.dumps(line)
    assert "Very Secret" not in text and key_parts(api_key)[1] not in text


def test_livez_and_readyz(app):
    client = app.test_client()
    assert client.get("/livez").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json()["database"] == "ok"


def test_readyz_503_when_database_unreachable(database_url, _schema):
    from app import create_app
    broken = create_app({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    try:
        response = broken.test_client().get("/readyz")
        assert response.status_code == 503
        assert response.get_json()["database"] == "unreachable"
    finally:
        create_app({"DATABASE_URL": database_url})


def test_failed_write_leaves_nothing_behind(api):
    api.put("/accounts/A", json={"name": "x"})
    api.put("/contacts/OLD", json={"account_number": "A", "name": "old", "is_primary": True})
    response = api.put("/contacts/NEW", json={"account_number": "A", "name": "new",
                                              "is_primary": True, "language": "zz"})
    assert response.status_code == 422
    assert Contact.get(Contact.reference == "OLD").is_primary is True
    assert Contact.select().count() == 1


def test_repeated_single_value_query_parameter_is_422(api, tenant):
    # found by Schemathesis: ?limit=1&limit=2 used to take the first silently
    body = assert_problem(api.get("/accounts?limit=1&limit=2"), 422, "validation-error")
    assert body["errors"][0]["parameter"] == "limit"


def test_overlong_url_is_a_problem_not_html(api, app):
    # found by Schemathesis: gunicorn's own 414 was text/html
    response = api.get("/accounts?q=" + "x" * (app.config["MAX_URL_LENGTH"] + 1))
    assert_problem(response, 414, "payload-too-large")


def test_empty_string_key_reference_means_null(api):
    # found by Schemathesis: the document said minLength 1 while "" means null
    body = api.put("/contacts/C", json={"name": "x", "account_number": ""}).get_json()
    assert body["account_number"] is None
