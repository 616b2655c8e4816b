"""Documents: invoices and credit notes of an account."""
from peewee import CharField, DateField, TextField

from app.errors import field_error
from app.models import AmountField, Record
from app.resources.accounts import Account
from app.services.resources import Reference, Resource
from schemas.documents import DocumentSchema


class Document(Record):
    KEY_FIELD = "document_number"
    document_number = CharField(max_length=128)
    account_number = CharField(max_length=128)
    document_type = CharField(max_length=16, default="invoice")
    invoice_date = DateField()
    due_date = DateField()
    currency = CharField(max_length=3, null=True)
    amount = AmountField(null=True)
    open_amount = AmountField(null=True)
    status = CharField(max_length=8, default="closed")
    applies_to_invoice = CharField(max_length=128, null=True)
    po_number = CharField(max_length=100, null=True)
    description = TextField(null=True)

    class Meta:
        table_name = "documents"
        indexes = (
            (("tenant", "change_seq", "id"), False),
            (("tenant", "account_number", "document_number"), False),
            (("tenant", "applies_to_invoice"), False),
        )


class DocumentResource(Resource):
    name, label, description = "documents", "document", "Invoices and credit notes."
    model, schema_class = Document, DocumentSchema
    references = {"account_number": Reference(Account, "account_number"),
                  "applies_to_invoice": Reference(Document, "document_number",
                                                  "credit note", "credit notes")}
    search_fields = ("document_number", "po_number", "account_number")
    feed_filters = {"account_number": "exact", "status": ("open", "closed"),
                    "document_type": ("invoice", "credit_note", "other")}

    def normalise(self, values):
        """An open_amount equal to amount (nothing paid yet) follows amount: stored as null.

        So it moves with a later change of amount, while one the caller set
        to something else stays; a body read with GET and sent back is no change.
        """
        values = super().normalise(values)
        if values["open_amount"] == values["amount"]:
            values["open_amount"] = None
        return values

    def prefetch_for(self, ctx, entries):
        """Also the invoices credit notes apply to: their rules read those rows."""
        super().prefetch_for(ctx, entries)
        ctx.prefetch(Document, "document_number",
                     [values["applies_to_invoice"] for _, values in entries
                      if values["document_type"] == "credit_note"])

    def derived_values(self, ctx, values, row):
        """`status` is open while something is still owed (or owed back).

        A null `open_amount` follows `amount` (the schema shows `amount` in its place).
        """
        open_amount = values["open_amount"] if values["open_amount"] is not None \
            else values["amount"]
        return {"status": "open" if open_amount else "closed"}

    def check_own_rules(self, ctx, key, values, row):
        errors = []
        is_invoice = values["document_type"] == "invoice"
        if is_invoice and values["due_date"] < values["invoice_date"]:
            errors.append(field_error("due_date", "An invoice cannot fall due before its "
                                                  "invoice_date."))
        applies_to = values["applies_to_invoice"]
        if values["document_type"] == "credit_note":
            if applies_to is None:
                errors.append(field_error("applies_to_invoice",
                                          "A credit note must name the invoice it applies to."))
            else:
                errors.extend(self._check_target_invoice(ctx, values))
        elif applies_to is not None:
            errors.append(field_error("applies_to_invoice",
                                      "Only credit notes apply to an invoice."))
        if row is not None and row.document_type == "invoice" and (
                not is_invoice or values["account_number"] != row.account_number):
            credit_notes = len(ctx.rows_where(Document, "document_number", "applies_to_invoice",
                                              key))
            if credit_notes:
                field = "document_type" if not is_invoice else "account_number"
                errors.append(field_error(field, f"{credit_notes} credit note(s) apply to this "
                                                 "invoice; it must stay an invoice of its account."))
        return errors

    def _check_target_invoice(self, ctx, values):
        target = ctx.record(Document, "document_number", values["applies_to_invoice"])
        if target is None:
            return []  # reported by the reference check
        if target.document_type != "invoice":
            return [field_error("applies_to_invoice",
                                f"{target.document_number!r} is a {target.document_type}, "
                                "not an invoice.")]
        if target.account_number != values["account_number"]:
            return [field_error("applies_to_invoice",
                                f"{target.document_number!r} belongs to another account.")]
        return []


DOCUMENTS = DocumentResource()
