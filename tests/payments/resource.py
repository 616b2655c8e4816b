"""Payments: money received against an invoice (a test's own resource)."""
from peewee import CharField, DateField

from app.migrations import create_tables
from app.models import AmountField, Record
from app.resources.documents import Document
from app.services.resources import Reference, Resource
from payments.schema import METHODS, PaymentSchema


class Payment(Record):
    KEY_FIELD = "payment_number"
    payment_number = CharField(max_length=128)
    document_number = CharField(max_length=128)
    amount = AmountField()
    received_on = DateField()
    method = CharField(max_length=16, default="transfer")
    note = CharField(max_length=200, null=True)

    class Meta:
        table_name = "test_payments"
        indexes = ((("tenant", "change_seq", "id"), False),
                   (("tenant", "document_number"), False))


class PaymentResource(Resource):
    name, label, description = "payments", "payment", "Payments received."
    model, schema_class = Payment, PaymentSchema
    references = {"document_number": Reference(Document, "document_number")}
    search_fields = ("payment_number", "note")
    feed_filters = {"document_number": "exact", "method": METHODS}


PAYMENTS = PaymentResource()
MIGRATION = (1000, "payments (a test's own resource)", create_tables(Payment))
