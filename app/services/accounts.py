"""Accounts: a customer account, optionally below a parent account."""
from app.models import Account, Contact, Document
from app.services.resources import Resource
from schemas.accounts import AccountSchema


class AccountResource(Resource):
    name, label = "accounts", "account"
    model, schema_class = Account, AccountSchema
    references = {"parent_account_number": (Account, "account_number")}
    hierarchy_field = "parent_account_number"
    search_fields = ("account_number", "name", "display_reference", "email", "phone",
                     "mobile_phone")
    feed_filters = {"parent_account_number": "exact", "account_group": "exact"}
    dependents = (
        (Document, "account_number", "document", "documents"),
        (Contact, "account_number", "contact", "contacts"),
        (Account, "parent_account_number", "child account", "child accounts"),
    )


ACCOUNTS = AccountResource()
