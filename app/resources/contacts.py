"""Contacts: people at the customer, at most one primary per account."""
from peewee import SQL, BooleanField, CharField, TextField

from app.errors import field_error
from app.models import PersonRecord
from app.resources.accounts import Account
from app.services.person_resource import PersonResource
from app.services.resources import Reference, Resource
from schemas.contacts import ContactSchema

_SPLIT_NAME = ("first_name", "last_name")


class Contact(PersonRecord):
    KEY_FIELD = "reference"
    reference = CharField(max_length=128)
    account_number = CharField(max_length=128, null=True)
    name = CharField(max_length=255, null=True)
    first_name = CharField(max_length=255, null=True)
    last_name = CharField(max_length=255, null=True)
    function = CharField(max_length=100, null=True)
    email = CharField(max_length=254, null=True)
    email_status = CharField(max_length=16, null=True)
    phone = CharField(max_length=50, null=True)
    mobile_phone = CharField(max_length=50, null=True)
    fax = CharField(max_length=50, null=True)
    title = CharField(max_length=100, null=True)
    department = CharField(max_length=100, null=True)
    contact_type = CharField(max_length=100, null=True)
    language = CharField(max_length=2, null=True)
    address1 = CharField(max_length=255, null=True)
    address2 = CharField(max_length=255, null=True)
    city = CharField(max_length=255, null=True)
    state = CharField(max_length=255, null=True)
    zip = CharField(max_length=50, null=True)
    country = CharField(max_length=2, null=True)
    notes = TextField(null=True)
    is_primary = BooleanField(default=False)

    @property
    def full_name(self):
        """`name`, or first and last name joined."""
        if self.name:
            return self.name
        joined = " ".join(part for part in (self.first_name, self.last_name) if part)
        return joined or None

    class Meta:
        table_name = "contacts"
        indexes = (
            (("tenant", "change_seq", "id"), False),
            (("tenant", "account_number"), False),
            (("tenant", "email_key"), False),
            (("tenant", "account_number", "name_length", "name_key", "reference"), False),
        )


# At most one primary contact per account, enforced by the database itself.
Contact.add_index(
    Contact.index(Contact.tenant, Contact.account_number, unique=True,
                  where=SQL("is_primary"), name="contacts_one_primary"))


class ContactResource(PersonResource, Resource):
    name, label, description = "contacts", "contact", "Contacts at the customer."
    model, schema_class = Contact, ContactSchema
    references = {"account_number": Reference(Account, "account_number")}
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
