"""Every resource of the API, by collection name: the one list the rest iterates."""
from app.services.accounts import ACCOUNTS
from app.services.contacts import CONTACTS
from app.services.documents import DOCUMENTS
from app.services.representatives import REPRESENTATIVES
from app.services.resources import PersonResource

RESOURCES = {resource.name: resource
             for resource in (ACCOUNTS, CONTACTS, DOCUMENTS, REPRESENTATIVES)}


def people():
    """The resources whose records are people (matching, email status)."""
    return [resource for resource in RESOURCES.values() if isinstance(resource, PersonResource)]
