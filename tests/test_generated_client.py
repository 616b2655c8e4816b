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


def _client(generated, app, api_key):
    return generated.Client(base_url="http://ingest.test", headers={"X-API-Key": api_key},
                            raise_on_unexpected_status=True,
                            httpx_args={"transport": httpx.WSGITransport(app=app)})


class _Operations:
    """The generated modules of one tag's operations, imported when first named."""

    def __init__(self, tag):
        self.tag = tag

    def __getattr__(self, name):
        return importlib.import_module(f"{PACKAGE}.api.{self.tag}.{name}")


def test_a_generated_client_reads_and_writes(app, api_key, generated):
    from ar_ingest_client.api.contacts import (batch_upsert_contacts, delete_contact, get_contact,
                                               list_contact_changes, put_contact)
    from ar_ingest_client.models import (Contact, ContactBatch, ContactBatchItem, ContactInput,
                                         ContactTombstone)

    client = _client(generated, app, api_key)
    created = put_contact.sync_detailed("C-1", client=client, body=ContactInput.from_dict(
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
    again = put_contact.sync_detailed("C-1", client=client,
                                      body=ContactInput.from_dict(contact.to_dict()))
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


def test_every_resource_round_trips_with_every_field_set(app, api_key, generated):
    """Real answers with every field set parse, and each sent back with PUT is unchanged;
    PATCH, lookup, versions and DELETE of each resource."""
    accounts, contacts, documents, representatives = (
        _Operations(tag) for tag in ("accounts", "contacts", "documents", "representatives"))
    from ar_ingest_client.models import (AccountInput, AccountPatch, ContactInput,
                                         DocumentInput, LinkBatch, Lookup, RepresentativeInput)

    client = _client(generated, app, api_key)
    custom = {"tier": "gold", "score": 1.5, "count": 7, "ok": True, "gone": None}
    account = AccountInput.from_dict({
        "name": "Acme GmbH", "display_reference": "ACME", "currency": "eur", "language": "de",
        "email": "ar@acme.example", "phone": "+49 30 1", "mobile_phone": "+49 170 1",
        "fax": "+49 30 2", "billing_address": {"address1": "Hauptstr. 1", "address2": "Hof",
                                               "city": "Berlin", "state": "BE", "zip": "10115",
                                               "country": "de"},
        "payment_terms": "30 days", "credit_limit": "5000.5", "account_group": "key",
        "description": "Biggest customer", "vat": "DE123", "company_registration_number": "HRB 1",
        "custom_fields": custom})
    assert accounts.put_account.sync_detailed("A-1", client=client, body=AccountInput.from_dict(
        {"name": "Parent"})).status_code == 201
    account.parent_account_number = "A-1"
    stored = accounts.put_account.sync_detailed("A-2", client=client, body=account).parsed
    assert (stored.credit_limit, stored.currency, stored.billing_address.country) == \
        ("5000.50", "EUR", "DE")
    contact = contacts.put_contact.sync_detailed("C-1", client=client, body=ContactInput.from_dict({
        "account_number": "A-2", "first_name": "Ada", "last_name": "Lovelace",
        "function": "AP", "contact_type": "billing", "notes": "Call mornings",
        "is_primary": True, "email": "ada@acme.example", "phone": "1", "mobile_phone": "2",
        "fax": "3", "language": "en", "title": "Dr", "department": "Finance",
        "address1": "Hauptstr. 1", "address2": "Hof", "city": "Berlin", "state": "BE",
        "zip": "10115", "country": "DE", "custom_fields": custom})).parsed
    assert (contact.account_number, contact.full_name) == ("A-2", "Ada Lovelace")
    invoice = documents.put_document.sync_detailed("INV-1", client=client,
                                                   body=DocumentInput.from_dict({
        "account_number": "A-2", "document_type": "invoice", "amount": 1250,
        "open_amount": "250.5", "currency": "EUR", "invoice_date": "2026-11-01",
        "po_number": "PO-1",
        "due_date": "2026-12-01", "description": "November", "custom_fields": custom})).parsed
    assert (invoice.amount, invoice.open_amount) == ("1250.00", "250.50")
    credit = documents.put_document.sync_detailed("CN-1", client=client,
                                                  body=DocumentInput.from_dict({
        "account_number": "A-2", "document_type": "credit_note", "amount": "50",
        "currency": "EUR", "invoice_date": "2026-11-02", "due_date": "2026-11-02",
        "applies_to_invoice": "INV-1"})).parsed
    assert credit.applies_to_invoice == "INV-1"
    representatives.put_representative.sync_detailed("R-0", client=client,
                                                     body=RepresentativeInput.from_dict(
        {"name": "Boss"}))
    rep = representatives.put_representative.sync_detailed("R-1", client=client,
                                                           body=RepresentativeInput.from_dict({
        "name": "Rita Rep", "representative_type": "collector", "email": "rita@us.example",
        "supervisor_representative_reference": "R-0", "extra_info": "Nights",
        "language": "en", "custom_fields": custom})).parsed
    assert rep.supervisor_representative_reference == "R-0"
    linked = representatives.batch_link_representatives.sync_detailed(
        client=client, body=LinkBatch.from_dict({"links": [
            {"representative": "R-1", "account_number": "A-2"},
            {"representative": "R-1", "document_number": "INV-1"}]}))
    assert [int(result.status) for result in linked.parsed.results] == [200, 200]
    rep = representatives.get_representative.sync_detailed("R-1", client=client).parsed
    assert (rep.accounts.items, rep.documents.items) == (["A-2"], ["INV-1"])

    for module, key, one, model in [(accounts, "A-2", "account", AccountInput),
                                    (contacts, "C-1", "contact", ContactInput),
                                    (documents, "INV-1", "document", DocumentInput),
                                    (representatives, "R-1", "representative",
                                     RepresentativeInput)]:
        got = getattr(module, f"get_{one}").sync_detailed(key, client=client).parsed
        back = getattr(module, f"put_{one}").sync_detailed(
            key, client=client, body=model.from_dict(got.to_dict()))
        assert back.status_code == 200 and back.parsed.version == got.version, one
        assert back.parsed.to_dict() == got.to_dict(), one
        plural = {"account": "accounts", "contact": "contacts", "document": "documents",
                  "representative": "representatives"}[one]
        found = getattr(module, f"lookup_{plural}").sync_detailed(
            client=client, body=Lookup(keys=[key, "nope"])).parsed
        listed = {name: value for name, value in got.to_dict().items()
                  if name not in ("accounts", "documents")}  # one representative's links only
        assert [item.to_dict() for item in found.items] == [listed]
        assert found.missing == ["nope"]
        versions = getattr(module, f"list_{one}_versions").sync_detailed(client=client).parsed
        assert versions.items, one

    patched = accounts.patch_account.sync_detailed("A-2", client=client, body=AccountPatch(
        phone="+49 30 9")).parsed
    assert (patched.phone, patched.version, patched.name) == ("+49 30 9", 2, "Acme GmbH")
    assert contacts.delete_contact.sync_detailed("C-1", client=client).status_code == 204


def test_every_example_in_the_document_parses(app, generated):
    """from_dict of each component's examples, in the generated model of that component."""
    import ar_ingest_client.models as models

    document = app.test_client().get("/api/v1/ingest/openapi.json").get_json()
    parsed = 0
    for name, component in document["components"]["schemas"].items():
        model = getattr(models, name, None)
        if model is None or not hasattr(model, "from_dict"):
            continue  # a plain value (Key, CountryCode): no model of its own
        for example in component.get("examples", []):
            assert model.from_dict(example).to_dict() is not None, name
            parsed += 1
    assert parsed >= 20
