"""Documents: invoices, credit notes, amounts and status."""
import pytest

from app.resources.documents import Document
from helpers import assert_problem

INVOICE = {"account_number": "ACCT-1", "invoice_date": "2026-01-01", "due_date": "2026-01-31",
           "currency": "eur", "amount": "1500.50", "po_number": "PO-7"}


@pytest.fixture(autouse=True)
def accounts(api):
    for number in ("ACCT-1", "ACCT-2"):
        assert api.put(f"/accounts/{number}", json={"name": number}).status_code == 201


def test_invoice_defaults(api):
    response = api.put("/documents/INV-1", json=INVOICE)
    assert response.status_code == 201
    body = response.get_json()
    assert body["document_number"] == "INV-1"
    assert body["document_type"] == "invoice"
    assert body["amount"] == "1500.50" and body["open_amount"] == "1500.50"
    assert body["status"] == "open" and body["currency"] == "EUR"
    assert body["applies_to_invoice"] is None and body["description"] is None
    assert api.put("/documents/INV-1", json=body).get_json()["version"] == 1


def test_status_follows_open_amount(api):
    body = api.put("/documents/INV-1", json=dict(INVOICE, open_amount=0)).get_json()
    assert body["status"] == "closed" and body["open_amount"] == "0.00"
    body = api.patch("/documents/INV-1", json={"open_amount": "-10.25"}).get_json()
    assert body["status"] == "open" and body["open_amount"] == "-10.25"
    assert Document.get().status == "open"
    ignored = api.patch("/documents/INV-1", json={"status": "closed"}).get_json()
    assert ignored["status"] == "open" and ignored["version"] == 2


def test_open_amount_stays_when_amount_is_patched(api):
    api.put("/documents/INV-1", json=dict(INVOICE, open_amount="100"))
    body = api.patch("/documents/INV-1", json={"amount": "2000"}).get_json()
    assert body["amount"] == "2000.00" and body["open_amount"] == "100.00"


def test_amounts_are_exact(api):
    body = api.put("/documents/D", json=dict(INVOICE, amount="9999999999999.9999",
                                             open_amount="0.0001")).get_json()
    assert body["amount"] == "9999999999999.9999" and body["open_amount"] == "0.0001"


@pytest.mark.parametrize("change, pointers", [
    ({"account_number": None}, ["#/account_number"]),
    ({"account_number": "NOPE"}, ["#/account_number"]),
    ({"invoice_date": None}, ["#/invoice_date"]),
    ({"invoice_date": "2026-02-30"}, ["#/invoice_date"]),
    ({"invoice_date": "2026-1-1"}, ["#/invoice_date"]),
    ({"invoice_date": "2026-01-01T00:00:00"}, ["#/invoice_date"]),
    ({"due_date": "20260131"}, ["#/due_date"]),
    ({"due_date": "2025-12-31"}, ["#/due_date"]),
    ({"document_type": "receipt"}, ["#/document_type"]),
    ({"amount": "12.34567"}, ["#/amount"]),
    ({"open_amount": "NaN"}, ["#/open_amount"]),
    ({"applies_to_invoice": "INV-0"}, ["#/applies_to_invoice"]),
    ({"po_number": "p" * 101}, ["#/po_number"]),
])
def test_invalid_documents(api, change, pointers):
    body = dict(INVOICE, **change)
    body = {k: v for k, v in body.items() if v is not None}
    assert_problem(api.put("/documents/D", json=body), 422, "validation-error", pointers)
    assert Document.select().count() == 0


def test_due_date_may_precede_for_credit_notes_and_others(api):
    api.put("/documents/INV-1", json=INVOICE)
    early = {"due_date": "2025-01-01"}
    assert api.put("/documents/O", json=dict(INVOICE, document_type="other", **early)).status_code == 201
    credit = dict(INVOICE, document_type="credit_note", applies_to_invoice="INV-1", **early)
    assert api.put("/documents/CN", json=credit).status_code == 201


def test_credit_note_rules(api):
    api.put("/documents/INV-1", json=INVOICE)
    api.put("/documents/INV-2", json=dict(INVOICE, account_number="ACCT-2"))
    api.put("/documents/OTHER", json=dict(INVOICE, document_type="other"))
    credit = dict(INVOICE, document_type="credit_note", amount="-100")
    assert_problem(api.put("/documents/CN", json=credit), 422, "validation-error",
                   ["#/applies_to_invoice"])
    for target in ("INV-2", "OTHER", "MISSING"):
        assert_problem(api.put("/documents/CN", json=dict(credit, applies_to_invoice=target)),
                       422, "validation-error", ["#/applies_to_invoice"])
    assert_problem(api.put("/documents/INV-3", json=dict(INVOICE, applies_to_invoice="INV-1")),
                   422, "validation-error", ["#/applies_to_invoice"])
    created = api.put("/documents/CN", json=dict(credit, applies_to_invoice="INV-1"))
    assert created.status_code == 201
    assert created.get_json()["applies_to_invoice"] == "INV-1"


def test_invoice_with_credit_notes_keeps_its_type_and_account(api):
    api.put("/documents/INV-1", json=INVOICE)
    api.put("/documents/CN", json=dict(INVOICE, document_type="credit_note",
                                       applies_to_invoice="INV-1"))
    assert_problem(api.patch("/documents/INV-1", json={"document_type": "other"}),
                   422, "validation-error", ["#/document_type"])
    assert_problem(api.patch("/documents/INV-1", json={"account_number": "ACCT-2"}),
                   422, "validation-error", ["#/account_number"])


def test_delete_refused_while_credit_notes_apply(api):
    api.put("/documents/INV-1", json=INVOICE)
    api.put("/documents/CN", json=dict(INVOICE, document_type="credit_note",
                                       applies_to_invoice="INV-1"))
    body = assert_problem(api.delete("/documents/INV-1"), 409, "conflict")
    assert "1 credit note" in body["detail"]
    assert body["dependents"] == {"credit notes": 1}
    body = assert_problem(api.delete("/accounts/ACCT-1"), 409, "conflict")
    assert "2 documents" in body["detail"]
    assert api.delete("/documents/CN").status_code == 204
    assert api.delete("/documents/INV-1").status_code == 204
    assert api.delete("/accounts/ACCT-1").status_code == 204


def test_other_tenant_cannot_see_documents(api, other_api):
    api.put("/documents/INV-1", json=INVOICE)
    assert_problem(other_api.get("/documents/INV-1"), 404, "not-found")
    assert_problem(other_api.put("/documents/INV-1", json=INVOICE), 422, "validation-error",
                   ["#/account_number"])
