"""Shared fixtures: one database per session (SQLite file, or TEST_DATABASE_URL), emptied per test."""
import logging
import os

import pytest

from app import create_app
from app.api import API_PREFIX
from app.db import database, is_postgresql
from app.migrations import SchemaVersion, upgrade
from app.models import ALL_MODELS, ChangeClock
from app.services import tenants as tenant_service


def redis_url():
    """TEST_REDIS_URL, or the local Redis (database 15) when it answers; None otherwise."""
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    if not url:
        return None
    try:
        import redis
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except Exception:
        return None
    return url


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = os.environ.get("TEST_DATABASE_URL") or ""
    if not url:
        url = "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite3")
    return url


@pytest.fixture(scope="session")
def _schema(database_url):
    create_app({"DATABASE_URL": database_url, "TESTING": True})
    schema = ALL_MODELS + [ChangeClock, SchemaVersion]
    database.drop_tables(list(reversed(schema)), safe=True, cascade=True) \
        if is_postgresql() else database.drop_tables(schema, safe=True)
    upgrade()
    yield
    database.close()


def empty_database():
    """Remove every row, keeping the schema."""
    if is_postgresql():
        tables = ", ".join(model._meta.table_name for model in ALL_MODELS)
        database.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    else:
        with database.atomic():
            for model in reversed(ALL_MODELS):
                model.delete().execute()


@pytest.fixture
def app(database_url, _schema):
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "LOG_LEVEL": "WARNING",
                      "API_KEY_CACHE_SECONDS": 0})
    empty_database()
    yield app
    database.close()


class ApiClient:
    """The Flask test client with an API key and the API prefix applied."""

    def __init__(self, client, key):
        self.client = client
        self.key = key

    def request(self, method, path, json=None, headers=None, key=None, **kwargs):
        """key=None: this client's key; key="": no key at all."""
        chosen = self.key if key is None else key
        sent = {"X-API-Key": chosen} if chosen else {}
        sent.update(headers or {})
        if json is not None:
            kwargs["json"] = json
        return self.client.open(API_PREFIX + path, method=method, headers=sent, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path, json=None, **kwargs):
        return self.request("PUT", path, json=json, **kwargs)

    def patch(self, path, json=None, **kwargs):
        return self.request("PATCH", path, json=json, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def tenant(app):
    return tenant_service.create_tenant("acme", ["acme.example"])


@pytest.fixture
def api_key(tenant):
    return tenant_service.create_api_key(tenant, name="tests")[1]


@pytest.fixture
def read_key(tenant):
    return tenant_service.create_api_key(tenant, scope="read")[1]


@pytest.fixture
def other_key(app):
    other = tenant_service.create_tenant("globex")
    return tenant_service.create_api_key(other)[1]


@pytest.fixture
def api(app, api_key):
    return ApiClient(app.test_client(), api_key)


@pytest.fixture
def other_api(app, other_key):
    return ApiClient(app.test_client(), other_key)


def assert_problem(response, status, code, pointers=None):
    """The response is problem+json with this status and code (and these error pointers)."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"/problems/{code}"
    assert body["title"] and body["detail"]
    assert body["request_id"] == response.headers["X-Request-Id"]
    if pointers is not None:
        assert sorted(e["pointer"] for e in body.get("errors", [])) == sorted(pointers), body
    return body


def key_parts(api_key):
    """(key id, secret) of an `ark_<id>_<secret>` key; the secret may itself hold '_'."""
    _, key_id, secret = api_key.split("_", 2)
    return key_id, secret


class _CountStatements(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record):
        self.count += 1


def count_statements(call):
    """How many SQL statements `call()` ran (Peewee logs each); its response must be 200."""
    logger = logging.getLogger("peewee")
    handler, level = _CountStatements(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        response = call()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert response.status_code == 200, response.get_data(as_text=True)
    return handler.count
