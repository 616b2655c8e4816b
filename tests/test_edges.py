"""Where real ETL data meets the API: unstorable strings, extreme times, bodies of no-body routes."""
import os
import time

import psycopg
import pytest

from app.models import RepresentativeAccount
from app.resources.accounts import Account
from app.resources.contacts import Contact
from helpers import assert_problem, operation_parameters

NUL = b'"A\\u0000B"'
SURROGATE = b'"\\ud800"'
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["NUL", "lone surrogate"])
def test_an_unstorable_string_fails_its_batch_item_alone(api, bad):
    body = (b'{"items": [{"account_number": "A", "name": "good"}, '
            b'{"account_number": "B", "name": ' + bad + b'}, '
            b'{"account_number": "C", "name": "x", "custom_fields": {"k": ' + bad + b'}}, '
            b'{"account_number": "D", "name": "also good"}]}')
    response = api.post("/accounts:batch", data=body, headers=JSON)
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert [r["status"] for r in answer["results"]] == [201, 422, 422, 201]
    assert answer["results"][1]["errors"] == [
        {"pointer": "#/items/1/name",
         "detail": "Strings must not contain NUL characters or unpaired surrogates."}]
    assert answer["results"][2]["errors"][0]["pointer"] == "#/items/2/custom_fields/k"
    assert (answer["created"], answer["failed"]) == (2, 2)
    assert sorted(a.account_number for a in Account.select()) == ["A", "D"]


def test_an_unstorable_string_in_an_atomic_batch_stores_nothing(api):
    body = (b'{"items": [{"account_number": "A", "name": "good"}, '
            b'{"account_number": "B", "name": ' + NUL + b'}]}')
    response = api.post("/accounts:batch?atomic=true", data=body, headers=JSON)
    problem = assert_problem(response, 422, "validation-error")
    assert [e["pointer"] for e in problem["errors"]] == ["#/items/1/name"]
    assert Account.select().count() == 0


@pytest.mark.parametrize("route", [":link", ":unlink"])
def test_an_unstorable_key_fails_its_link_alone(api, route):
    api.put("/accounts/A", json={"name": "a"})
    api.put("/representatives/R", json={"name": "r"})
    if route == ":unlink":
        api.put("/representatives/R/accounts/A")
    body = (b'{"links": [{"representative": ' + NUL + b', "account_number": "A"}, '
            b'{"representative": "R", "account_number": "A"}]}')
    response = api.post(f"/representatives{route}", data=body, headers=JSON)
    assert response.status_code == 200, response.get_json()
    results = response.get_json()["results"]
    assert [r["status"] for r in results] == [422, 204 if route == ":unlink" else 200]
    assert results[0]["errors"][0]["pointer"] == "#/links/0/representative"
    assert RepresentativeAccount.select().count() == (0 if route == ":unlink" else 1)


def test_an_unstorable_string_fails_its_email_event_alone(api):
    api.put("/contacts/C", json={"name": "c", "email": "c@example.com"})
    body = (b'{"events": [{"email": "c@example.com", "type": "bounced", '
            b'"occurred_at": "2026-11-20T10:00:00Z"}, '
            b'{"email": ' + SURROGATE + b', "type": "bounced", '
            b'"occurred_at": "2026-11-20T10:00:00Z"}]}')
    response = api.post("/email-events", data=body, headers=JSON)
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert [r["status"] for r in answer["results"]] == [200, 422]
    assert answer["results"][1]["errors"][0]["pointer"] == "#/events/1/email"
    assert Contact.get(Contact.reference == "C").email_status == "bounced"


def test_an_unstorable_string_in_a_single_write_names_its_field(api):
    response = api.put("/accounts/A", data=b'{"name": "x", "billing_address": {"city": '
                                            + NUL + b'}}', headers=JSON)
    assert_problem(response, 422, "validation-error", ["#/billing_address/city"])
    assert Account.select().count() == 0


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
def test_a_time_whose_utc_form_leaves_the_calendar_fails_its_event_alone(api, moment):
    api.put("/contacts/C", json={"name": "c", "email": "c@example.com"})
    response = api.post("/email-events", json={"events": [
        {"email": "c@example.com", "type": "bounced", "occurred_at": "2026-11-20T10:00:00Z"},
        {"email": "c@example.com", "type": "complained", "occurred_at": moment}]})
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = response.get_json()
    assert [r["status"] for r in answer["results"]] == [200, 422]
    assert answer["results"][1]["errors"][0]["pointer"] == "#/events/1/occurred_at"
    assert "UTC" in answer["results"][1]["errors"][0]["detail"]
    assert Contact.get(Contact.reference == "C").email_status == "bounced"


@pytest.mark.parametrize("collection", ["accounts", "documents", "contacts", "representatives"])
@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
def test_a_feed_time_whose_utc_form_leaves_the_calendar_is_422(api, collection, moment):
    response = api.get(f"/{collection}", query_string={"updated_after": moment})
    problem = assert_problem(response, 422, "validation-error")
    assert [e["pointer"] for e in problem["errors"]] == ["#/updated_after"]


def test_the_calendar_edges_themselves_are_valid_feed_times(api):
    api.put("/accounts/A", json={"name": "a"})
    early = api.get("/accounts", query_string={"updated_after": "0001-01-01T00:00:00Z"})
    late = api.get("/accounts", query_string={"updated_after": "9999-12-31T23:59:59+00:00"})
    assert [r["account_number"] for r in early.get_json()["items"]] == ["A"]
    assert late.get_json()["items"] == []


def test_a_key_expiry_whose_utc_form_leaves_the_calendar_is_refused():
    from app.services.tenants import TenantError, expiry_from

    with pytest.raises(TenantError, match="outside the years 1 to 9999"):
        expiry_from(expires_at="9999-12-31T23:59:59-23:59")


def _no_body_routes(api):
    api.put("/accounts/A", json={"name": "a"})
    run = api.post("/accounts:sync-runs").get_json()["id"]
    return {"archive": "/accounts/A/archive", "unarchive": "/accounts/A/unarchive",
            "abort": f"/accounts:sync-runs/{run}:abort"}


@pytest.mark.parametrize("route", ["archive", "unarchive", "abort"])
@pytest.mark.parametrize("data, content_type, status, code", [
    (b"not json", "application/json", 400, "malformed-json"),
    (b"[]", "application/json", 400, "malformed-json"),
    (b"hello", "text/plain", 415, "unsupported-media-type"),
    (b'{"colour": 1}', "application/json", 422, "validation-error"),
])
def test_routes_without_a_body_refuse_one(api, route, data, content_type, status, code):
    path = _no_body_routes(api)[route]
    before = api.get("/accounts/A").get_json()
    response = api.post(path, data=data, headers={"Content-Type": content_type})
    problem = assert_problem(response, status, code)
    if code == "validation-error":
        assert problem["errors"] == [{"pointer": "#/colour", "detail": "Unknown field."}]
    assert api.get("/accounts/A").get_json() == before
    if route == "abort":
        assert api.get(path.removesuffix(":abort")).get_json()["status"] == "running"


@pytest.mark.parametrize("route", ["archive", "unarchive", "abort"])
@pytest.mark.parametrize("data", [None, b"{}", b"  {} \n"])
def test_routes_without_a_body_take_none_or_an_empty_object(api, route, data):
    path = _no_body_routes(api)[route]
    response = api.post(path, data=data, headers={"Content-Type": "application/json"}
                        if data is not None else {})
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("action", ["archive", "unarchive"])
def test_archive_and_unarchive_honour_idempotency_keys(api, action):
    api.put("/accounts/A", json={"name": "a"})
    if action == "unarchive":
        api.post("/accounts/A/archive")
    headers = {"Idempotency-Key": f"{action}-1"}
    first = api.post(f"/accounts/A/{action}", headers=headers)
    assert first.status_code == 200 and "Idempotent-Replayed" not in first.headers
    api.put("/accounts/A", json={"name": "changed since"})
    again = api.post(f"/accounts/A/{action}", headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert api.post("/accounts/B/archive", headers=headers).status_code == 422  # reused


def test_the_document_declares_idempotency_keys_on_archive(app):
    document = app.test_client().get("/api/v1/ingest/openapi.json").get_json()
    for action in ("archive", "unarchive"):
        operation = document["paths"]["/api/v1/ingest/accounts/{account_number}/" + action]["post"]
        names = {parameter["name"] for parameter in operation_parameters(document, operation)}
        assert "Idempotency-Key" in names


@pytest.mark.parametrize("field, value", [("q", "acme"),
                                          ("updated_after", "2026-01-01T00:00:00Z")])
def test_a_scope_refuses_search_and_time_filters_saying_what_it_takes(api, field, value):
    response = api.post("/contacts:sync-runs", json={"scope": {field: value}})
    problem = assert_problem(response, 422, "validation-error", [f"#/scope/{field}"])
    detail = problem["errors"][0]["detail"]
    assert "account_number, email, is_primary" in detail and "feed instead" in detail


def test_the_email_filter_compares_as_matching_does(api):
    api.put("/accounts/A", json={"name": "a"})
    api.put("/contacts/C", json={"account_number": "A", "name": "c",
                                 "email": "Jos\u00e9@Example.com"})
    api.put("/contacts/D", json={"account_number": "A", "name": "d",
                                 "email": "strasse@example.com"})
    found = api.get("/contacts", query_string={"email": "JOSE\u0301@example.COM"}).get_json()
    assert [r["reference"] for r in found["items"]] == ["C"]
    none = api.get("/contacts", query_string={"email": "stra\u00dfe@example.com"}).get_json()
    assert none["items"] == []


def test_an_unexpected_error_logs_its_frames_but_not_its_message(api, monkeypatch, caplog):
    from app.services import records

    secret = "jane.doe" + "@customer.com"  # not in any source line a traceback shows

    def explode(*args, **kwargs):
        raise RuntimeError(f'body was {{"email": "{secret}"}}')

    monkeypatch.setattr(records, "get_record", explode)
    monkeypatch.setattr("app.api.records.get_record", explode)
    with caplog.at_level("ERROR", logger="ar_ingest.errors"):
        assert_problem(api.get("/accounts/A"), 500, "internal-error")
    [record] = [r for r in caplog.records if r.name == "ar_ingest.errors"]
    assert record.error == "RuntimeError" and "explode" in record.traceback
    assert record.exc_info is None
    assert "jane.doe" not in caplog.text and "jane.doe" not in record.traceback


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="PostgreSQL only")
def test_a_connection_the_database_dropped_between_requests_is_replaced(app, api):
    from app.db import database

    assert api.put("/accounts/A", json={"name": "a"}).status_code == 201
    pid = database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    with psycopg.connect(os.environ["TEST_DATABASE_URL"], autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
        for _ in range(100):  # until the backend has gone
            if not admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s",
                                 (pid,)).fetchone():
                break
            time.sleep(0.05)
    assert api.get("/accounts/A").status_code == 200
    assert api.put("/accounts/B", json={"name": "b"}).status_code == 201
    assert app.test_client().get("/readyz").status_code == 200


def test_a_refused_item_whose_key_no_utf8_holds_is_answered_with_a_null_key(api):
    body = (b'{"items": [{"account_number": "LS-\\ud800", "name": "x"}, '
            b'{"account_number": "OK-1", "name": "y"}]}')
    response = api.post("/accounts:batch", data=body, headers=JSON)
    assert response.status_code == 200
    assert b"\\ud800" not in response.get_data()  # strict JSON parsers refuse a lone surrogate
    results = response.get_json()["results"]
    assert [(r["account_number"], r["status"]) for r in results] == [(None, 422), ("OK-1", 201)]
    assert results[0]["errors"][0]["pointer"] == "#/items/0/account_number"
