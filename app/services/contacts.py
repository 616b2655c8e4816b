"""Contacts: people at the customer, at most one primary per account."""
from app.errors import field_error
from app.models import Account, Contact
from app.services.resources import Resource, PersonResource
from schemas.contacts import ContactSchema

_SPLIT_NAME = ("first_name", "last_name")


class ContactResource(PersonResource, Resource):
    name, label = "contacts", "contact"
    model, schema_class, key_field = Contact, ContactSchema, "reference"
    references = {"account_number": (Account, "account_number")}
    search_fields = ("reference", "name", "first_name", "last_name", "email", "phone",
                     "mobile_phone")
    feed_filters = {"account_number": "exact", "email": "ci", "is_primary": "bool"}
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

    def prefetch_for(self, ctx, entries):
        """Also the current primary contact of every account an item makes a primary for."""
        super().prefetch_for(ctx, entries)
        accounts = {values["account_number"] for _, values in entries
                    if values["is_primary"] and values["account_number"]}
        self._load_primaries(ctx, accounts)

    def _load_primaries(self, ctx, accounts):
        primaries = ctx.state("primary_contacts", dict)
        wanted = [account for account in accounts if account not in primaries]
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            rows = (Contact.select(Contact.reference, Contact.account_number)
                    .where(Contact.tenant == ctx.tenant_id, Contact.is_primary == True,  # noqa: E712
                           Contact.account_number.in_(chunk)).tuples())
            primaries.update({account: None for account in chunk})
            primaries.update({account: reference for reference, account in rows})
        return primaries

    def before_write(self, ctx, key, values, row):
        """Becoming primary takes the flag from the account's other contact."""
        primaries = self._load_primaries(ctx, [values["account_number"]]
                                         if values["is_primary"] else [])
        if row is not None and row.is_primary:
            primaries[row.account_number] = None  # it gives the flag up, or takes it again below
        if not values["is_primary"]:
            return
        current = primaries.get(values["account_number"])
        if current is not None and current != key:
            ctx.change_other(Contact, "reference", current, is_primary=False)
        primaries[values["account_number"]] = key


CONTACTS = ContactResource()
