"""Contacts: people at the customer, at most one primary per account."""
from app.errors import field_error
from app.models import Account, Contact
from app.services.resources import Resource, TracksEmailStatus
from schemas.contacts import ContactSchema

_SPLIT_NAME = ("first_name", "last_name")


class ContactResource(TracksEmailStatus, Resource):
    name, label = "contacts", "contact"
    model, schema_class, key_field = Contact, ContactSchema, "reference"
    references = {"account_number": (Account, "account_number")}

    def merge(self, current, patch):
        """Setting one name form clears the other."""
        merged = super().merge(current, patch)
        if patch.get("name"):
            merged.update(first_name=None, last_name=None)
        elif any(patch.get(part) for part in _SPLIT_NAME):
            merged["name"] = None
        return merged

    def check_own_rules(self, tenant_id, key, values, row):
        if values["is_primary"] and values["account_number"] is None:
            return [field_error("is_primary", "A primary contact needs an account_number.")]
        return []

    def before_write(self, txn, key, values, row):
        """Becoming primary takes the flag from the account's other contacts."""
        if not values["is_primary"]:
            return
        if row is not None and row.is_primary and row.account_number == values["account_number"]:
            return
        (Contact.update(is_primary=False, version=Contact.version + 1,
                        updated_at=txn.now, change_seq=txn.change_seq)
         .where(Contact.tenant == txn.tenant_id,
                Contact.account_number == values["account_number"],
                Contact.is_primary == True,  # noqa: E712
                Contact.reference != key)
         .execute())


CONTACTS = ContactResource()
