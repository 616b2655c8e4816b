"""A fifth resource takes its resource module, its schema module, a migration and one registry
line (README, "Adding a resource"): declared in that form in tests/payments/, it gets every
shared route, its dependents, a child list and the document's paths, with no other file."""
import os
import subprocess
import sys
import uuid

import pytest

from app import create_app
from app.db import database, is_postgresql
from app.migrations import MIGRATIONS, SchemaVersion, upgrade
from app.resources.registry import RESOURCES, register, unregister
from app.services import tenants as tenant_service
from helpers import ApiClient, assert_problem
from payments.resource import MIGRATION, PAYMENTS, Payment

DOCUMENT = {"account_number": "A-1", "invoice_date": "2026-11-01", "due_date": "2026-12-01",
            "amount": "100.00"}


@pytest.fixture
def payments_app(database_url, _schema):
    register(PAYMENTS)  # the registry line
    try:
        assert upgrade([*MIGRATIONS, MIGRATION]) == [MIGRATION[0]]
        app = create_app({"DATABASE_URL": database_url, "TESTING": True, "LOG_LEVEL": "WARNING",
                          "API_KEY_CACHE_SECONDS": 0})
        from conftest import empty_database
        empty_database()
        yield app
    finally:
        unregister(PAYMENTS)
        database.execute_sql(f"DROP TABLE IF EXISTS {Payment._meta.table_name}"
                             + (" CASCADE" if is_postgresql() else ""))
        SchemaVersion.delete().where(SchemaVersion.version == MIGRATION[0]).execute()
        database.close()


@pytest.fixture
def clients(payments_app):
    """Two tenants' clients, each with an account and an invoice of the same keys."""
    made = []
    for name in ("acme", "globex"):
        key = tenant_service.create_api_key(tenant_service.create_tenant(name))[1]
        client = ApiClient(payments_app.test_client(), key)
        assert client.put("/accounts/A-1", json={"name": name}).status_code == 201
        assert client.put("/documents/INV-1", json=DOCUMENT).status_code == 201
        made.append(client)
    return made


def test_the_registry_lists_it_and_derives_its_reference(payments_app):
    assert list(RESOURCES)[-1] == "payments"
    documents = RESOURCES["documents"]
    assert (Payment, "document_number", "payment", "payments") in documents.dependents


def test_put_get_and_its_reference_rule(clients):
    api, _ = clients
    body = assert_problem(api.put("/payments/P-1", json={
        "document_number": "NOPE", "amount": "10.00", "received_on": "2026-11-05"}),
        422, "validation-error", ["#/document_number"])
    assert "NOPE" in body["errors"][0]["detail"]
    created = api.put("/payments/P-1", json={"document_number": "INV-1", "amount": "10.00",
                                             "received_on": "2026-11-05"})
    assert created.status_code == 201 and created.headers["ETag"] == '"1"'
    got = api.get("/payments/P-1")
    assert got.status_code == 200
    assert got.get_json()["payment_number"] == "P-1"
    assert got.get_json()["amount"] == "10.00" and got.get_json()["method"] == "transfer"
    assert api.patch("/payments/P-1", json={"note": "first"}).headers["ETag"] == '"2"'
    assert Payment.get(Payment.payment_number == "P-1").note == "first"


def test_batch_feed_filter_and_child_list(clients):
    api, _ = clients
    answer = api.post("/payments:batch", json={"items": [
        {"payment_number": "P-1", "document_number": "INV-1", "amount": "1.00",
         "received_on": "2026-11-05", "method": "card"},
        {"payment_number": "P-2", "document_number": "INV-1", "amount": "2.00",
         "received_on": "2026-11-06"},
        {"payment_number": "P-3", "document_number": "INV-1", "amount": "3.00",
         "received_on": "2026-11-07", "method": "barter"}]})
    assert answer.status_code == 200
    results = answer.get_json()["results"]
    assert [result["status"] for result in results] == [201, 201, 422]
    assert results[2]["errors"][0]["pointer"] == "#/items/2/method"
    assert Payment.select().count() == 2

    def keys(path):
        return [item["payment_number"] for item in api.get(path).get_json()["items"]]
    assert keys("/payments") == ["P-1", "P-2"]
    assert keys("/payments?method=card") == ["P-1"]
    assert_problem(api.get("/payments?method=barter"), 422, "validation-error")
    assert keys("/documents/INV-1/payments") == ["P-1", "P-2"]
    assert api.get("/documents/INV-1/payments").get_json()["total"] == 2


def test_a_document_with_payments_is_kept_or_archived(clients):
    api, _ = clients
    api.put("/payments/P-1", json={"document_number": "INV-1", "amount": "1.00",
                                   "received_on": "2026-11-05"})
    body = assert_problem(api.delete("/documents/INV-1"), 409, "conflict")
    assert body["dependents"] == {"payments": 1} and "1 payment" in body["detail"]
    archived = api.delete("/documents/INV-1?archive_if_referenced=true")
    assert archived.status_code == 200 and archived.get_json()["archived_at"]
    assert api.delete("/payments/P-1").status_code == 204
    assert api.delete("/documents/INV-1").status_code == 204
    tombstones = api.get("/payments").get_json()["items"]
    assert [(item["payment_number"], item.get("deleted")) for item in tombstones] == \
        [("P-1", True)]


def test_tenants_stay_apart(clients):
    acme, globex = clients
    acme.put("/payments/P-1", json={"document_number": "INV-1", "amount": "1.00",
                                    "received_on": "2026-11-05"})
    assert_problem(globex.get("/payments/P-1"), 404, "not-found")
    assert globex.get("/payments").get_json()["items"] == []
    assert globex.get("/documents/INV-1/payments").get_json()["items"] == []
    assert globex.delete("/documents/INV-1").status_code == 204  # nothing of acme's names it
    assert_problem(globex.put("/payments/P-1", json={
        "document_number": "INV-1", "amount": "9.00", "received_on": "2026-11-05"}),
        422, "validation-error", ["#/document_number"])
    assert acme.get("/payments/P-1").get_json()["amount"] == "1.00"


def test_the_document_describes_it(payments_app):
    spec = payments_app.test_client().get("/api/v1/ingest/openapi.json").get_json()
    prefix = "/api/v1/ingest"
    paths = {path[len(prefix):] for path in spec["paths"]}
    assert {"/payments/{payment_number}", "/payments", "/payments:batch", "/payments:lookup",
            "/payments:sync-runs", "/documents/{document_number}/payments"} <= paths
    assert {"Payment", "PaymentInput", "PaymentPatch", "PaymentBatchItem", "PaymentPage",
            "PaymentSyncScope"} <= set(spec["components"]["schemas"])
    scope = spec["components"]["schemas"]["PaymentSyncScope"]["properties"]
    assert set(scope) == {"document_number", "method"}


def test_the_client_reaches_it_by_name(payments_app):
    from app.client import IngestClient

    served = payments_app.test_client().get("/api/v1/ingest/openapi.json").get_json()
    asked = []

    def from_the_app(method, path, **_):
        asked.append((method, path))
        return served

    with IngestClient("http://127.0.0.1:9", "ark_x_y") as client:
        client.request = from_the_app  # the server's document, without a network
        payments = client.collection("payments")
        # The key field comes from the server's document: the client copies nothing.
        assert (payments.name, payments.key_field) == ("payments", "payment_number")
        assert client.accounts.key_field == "account_number"
        assert asked == [("GET", "/openapi.json")]  # read once
        assert payments._path("P 1?") == "/payments/P%201%3F"
        with pytest.raises(ValueError):  # no URL carries a key with "/" (SPEC 1 forbids it)
            payments._path("P/1")
        assert client.collection("accounts") is client.accounts
        with pytest.raises(ValueError):
            client.collection("../accounts")


_FRESH_UPGRADE = """
import sys
from app import create_app
from app.migrations import MIGRATIONS, upgrade
from app.resources.registry import register
from payments.resource import MIGRATION, PAYMENTS
register(PAYMENTS)
create_app({"DATABASE_URL": sys.argv[1], "LOG_LEVEL": "WARNING"})
print(upgrade([*MIGRATIONS, MIGRATION])[-1], PAYMENTS.model.select().count())
"""


def _upgrade_from_nothing(url):
    tests = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run([sys.executable, "-c", _FRESH_UPGRADE, url], text=True, timeout=300,
                          capture_output=True, cwd=os.path.dirname(tests),
                          env={**os.environ, "PYTHONPATH": tests})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(MIGRATION[0]), "0"]


def test_a_fresh_database_upgrades_with_it_registered(tmp_path, database_url):
    """The released migrations read only the tables they were released with: with the fifth
    resource registered, every migration still runs on an empty database, its own last."""
    if not database_url.startswith("postgresql"):
        _upgrade_from_nothing(f"sqlite:///{tmp_path}/fresh.sqlite3")
        return
    psycopg = pytest.importorskip("psycopg")
    name = f"fifth_resource_{uuid.uuid4().hex[:12]}"
    server_url = database_url.rsplit("/", 1)[0]
    with psycopg.connect(server_url + "/postgres", autocommit=True) as server:
        server.execute(f"CREATE DATABASE {name}")
        try:
            _upgrade_from_nothing(f"{server_url}/{name}")
        finally:
            server.execute(f"DROP DATABASE {name} WITH (FORCE)")
