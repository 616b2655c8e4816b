"""Contacts: people at the customer, at most one primary per account."""
from app.errors import field_error
from app.models import Account, Contact
from app.services.resources import Resource, PersonResource
from schemas.contacts import ContactSchema

_SPLIT_NAME = ("first_name", "last_name")


class ContactResource(PersonResource, Resource):
    name, label = "contacts", "contact"
    model, schema_class = Contact, ContactSchema
    references = {"account_number": (Account, "account_number")}
    search_fields = ("reference", "name", "first_name", "last_name", "email", "phone",
                     "mobile_phone")
    feed_filters = {"account_number": "exact", "email": "email", "is_primary": "bool"}
    exclusive_flags = {"is_primary": "account_number"}  # also the contacts_one_primary index
    name_fields = ("name", "first_name", "last_name")

    def merge(self, current, patch):
        """Setting one name form clears the other."""
        merged = super().merge(current, patch)
        if patch.get("name"):
            merged.update(first_name=None, last_name=None)
        elif any(patch.get(part) for part in _SPLIT_NAME):
            merged["name"] = None
        return merged

    def check_own_rules(self, ctx, key, values, row):
        if values["is_primary"] and values["account_number"] is None:
            return [field_error("is_primary", "A primary contact needs an account_number.")]
        return []


CONTACTS = ContactResource()
