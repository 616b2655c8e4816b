"""A client generated from the live OpenAPI document by openapi-python-client works.

The document is what clients are generated from: this generates one from the
document the app serves and drives a PUT, GET, PUT-back, batch and feed pages
through it, over httpx's WSGI transport into the same app.
"""
import importlib
import json
import os
import subprocess
import sys

import httpx
import pytest

PACKAGE = "ar_ingest_client"


@pytest.fixture
def generated(app, tmp_path):
    """The generated package, imported from a scratch folder."""
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(app.test_client().get("/api/v1/ingest/openapi.json").get_json()))
    config = tmp_path / "config.yaml"
    config.write_text(f"post_hooks: []\nproject_name_override: ar-ingest-client\n"
                      f"package_name_override: {PACKAGE}\n")
    command = os.path.join(os.path.dirname(sys.executable), "openapi-python-client")
    result = subprocess.run([command, "generate", "--path", str(document), "--config", str(config),
                             "--output-path", str(tmp_path / "client")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(tmp_path / "client"))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path / "client"))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def test_a_generated_client_reads_and_writes(app, api_key, generated):
    from ar_ingest_client import Client
    from ar_ingest_client.api.contacts import (batch_upsert_contacts, delete_contact, get_contact,
                                               list_contact_changes, put_contact)
    from ar_ingest_client.models import (Contact, ContactBatch, ContactBatchItem,
                                         ContactTombstone)

    client = Client(base_url="http://ingest.test", headers={"X-API-Key": api_key},
                    raise_on_unexpected_status=True,
                    httpx_args={"transport": httpx.WSGITransport(app=app)})

    created = put_contact.sync_detailed("C-1", client=client, body=Contact.from_dict(
        {"name": "Ada Lovelace", "email": "ada@example.com", "language": "EN"}))
    assert created.status_code == 201
    assert isinstance(created.parsed, Contact)
    assert (created.parsed.reference, created.parsed.language, created.parsed.version) == \
        ("C-1", "en", 1)

    fetched = get_contact.sync_detailed("C-1", client=client)
    assert fetched.status_code == 200 and fetched.headers["ETag"] == '"1"'
    contact = fetched.parsed
    assert contact.full_name == "Ada Lovelace" and contact.email_status == "valid"

    # What GET gave back, sent again unchanged, changes nothing.
    again = put_contact.sync_detailed("C-1", client=client, body=contact)
    assert again.status_code == 200
    assert (again.parsed.version, again.parsed.updated_at) == (1, contact.updated_at)

    batch = batch_upsert_contacts.sync_detailed(client=client, body=ContactBatch(items=[
        ContactBatchItem(reference="C-2", name="Grace Hopper"),
        ContactBatchItem(reference="C-3", name="Bad", email="not an address")]))
    assert batch.status_code == 200
    assert (batch.parsed.created, batch.parsed.failed) == (1, 1)
    first, second = batch.parsed.results
    assert (first.reference, int(first.status), first.version) == ("C-2", 201, 1)
    assert int(second.status) == 422 and second.errors[0].pointer == "#/items/1/email"

    page = list_contact_changes.sync_detailed(client=client, limit=10).parsed
    assert [item.reference for item in page.items] == ["C-1", "C-2"]
    assert all(isinstance(item, Contact) for item in page.items) and page.has_more is False

    assert delete_contact.sync_detailed("C-2", client=client).status_code == 204
    later = list_contact_changes.sync_detailed(client=client, cursor=page.next_cursor).parsed
    (tombstone,) = later.items
    assert isinstance(tombstone, ContactTombstone)
    assert (tombstone.reference, tombstone.deleted, tombstone.version) == ("C-2", True, 2)
