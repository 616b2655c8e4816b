"""Accounts: a customer account, optionally below a parent account."""
from peewee import CharField, TextField

from app.models import AmountField, JSONTextField, Record
from app.services.resources import Reference, Resource
from schemas.accounts import AccountSchema


class Account(Record):
    KEY_FIELD = "account_number"
    account_number = CharField(max_length=128)
    name = CharField(max_length=255)
    display_reference = CharField(max_length=255, null=True)
    currency = CharField(max_length=3, null=True)
    language = CharField(max_length=2, null=True)
    email = CharField(max_length=254, null=True)
    phone = CharField(max_length=50, null=True)
    mobile_phone = CharField(max_length=50, null=True)
    fax = CharField(max_length=50, null=True)
    billing_address = JSONTextField(null=True)
    payment_terms = CharField(max_length=100, null=True)
    credit_limit = AmountField(null=True)
    account_group = CharField(max_length=100, null=True)
    parent_account_number = CharField(max_length=128, null=True)
    description = TextField(null=True)
    vat = CharField(max_length=255, null=True)
    company_registration_number = CharField(max_length=255, null=True)

    class Meta:
        table_name = "accounts"
        indexes = (
            (("tenant", "change_seq", "id"), False),
            (("tenant", "parent_account_number"), False),
        )


class AccountResource(Resource):
    name, label, description = "accounts", "account", "Customer accounts."
    model, schema_class = Account, AccountSchema
    references = {"parent_account_number": Reference(Account, "account_number",
                                                     "child account", "child accounts")}
    hierarchy_field = "parent_account_number"
    search_fields = ("account_number", "name", "display_reference", "email", "phone",
                     "mobile_phone")
    feed_filters = {"parent_account_number": "exact", "account_group": "exact"}


ACCOUNTS = AccountResource()
