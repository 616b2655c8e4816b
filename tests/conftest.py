"""Shared fixtures: one database per session (SQLite file, or TEST_DATABASE_URL), emptied per test."""
import os
import signal

import pytest

from app import create_app
from app.db import database, is_postgresql
from app.migrations import SchemaVersion, upgrade
from app.models import ChangeClock
from app.resources.registry import ALL_MODELS
from app.services import tenants as tenant_service
from helpers import ApiClient
from live_server import serve


# pytest's own handlers, read before any test module builds a Singer plugin in this process.
_PYTEST_SIGNAL_HANDLERS = {number: signal.getsignal(number)
                           for number in (signal.SIGINT, signal.SIGTERM)}


@pytest.fixture(autouse=True)
def _pytests_own_signal_handlers():
    """A Singer SDK plugin built in this process takes SIGINT and SIGTERM over (its handler
    raises SystemExit, which pytest reports as one test's error and carries on): a killed
    suite, or CI's timeout, must stop it. The handlers are given back around every test."""
    for number, handler in _PYTEST_SIGNAL_HANDLERS.items():
        signal.signal(number, handler)
    yield
    for number, handler in _PYTEST_SIGNAL_HANDLERS.items():
        signal.signal(number, handler)


@pytest.fixture(scope="session")
def nginx():
    """The nginx binary. Missing, the tests fail rather than skip: this is the deployment the
    README gives, and CI (.ci/run) installs nginx when it is not there."""
    binary = serve.find_nginx()
    if binary is None:
        pytest.fail("nginx is not installed: apt-get install nginx (.ci/run does it)")
    return binary


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
