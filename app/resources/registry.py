"""Every resource of the API, in one list, and what follows from the list as a whole."""
from app.models import LINK_MODELS, SYNC_MODELS, TENANT_MODELS
from app.resources.accounts import ACCOUNTS
from app.resources.contacts import CONTACTS
from app.resources.documents import DOCUMENTS
from app.resources.representatives import REPRESENTATIVES

REGISTRY = [ACCOUNTS, CONTACTS, DOCUMENTS, REPRESENTATIVES]

RESOURCES = {}  # by collection name, in the registry's order


def register(resource):
    """Add a resource; every resource's dependents are derived again from the references."""
    if resource.name in RESOURCES:
        raise ValueError(f"A resource named {resource.name!r} is already registered")
    RESOURCES[resource.name] = resource
    _derive_dependents()


def unregister(resource):
    """Take a resource out again (a test's own resource)."""
    del RESOURCES[resource.name]
    _derive_dependents()


def _references_to(target, resources):
    """(resource, field, reference) of each reference of these resources to `target`."""
    return [(resource, field, reference) for resource in resources
            for field, reference in resource.references.items()
            if reference.model is target.model]


def _derive_dependents():
    # Listed (in a DELETE's 409) the later collections first, a collection's own last:
    # "1 document, 1 contact and 1 child account".
    for target in RESOURCES.values():
        target.dependents = tuple(
            (resource.model, field, *reference.dependent_labels(resource))
            for resource, field, reference in _references_to(target, reversed(RESOURCES.values())))


def child_lists(parent):
    """[(child resource, field)]: other collections whose records name a `parent` record, each
    listed under it (GET /accounts/{account_number}/contacts)."""
    return [(resource, field) for resource, field, _ in _references_to(parent, RESOURCES.values())
            if resource is not parent]


def record_models():
    """The tables of the registered resources."""
    return [resource.model for resource in RESOURCES.values()]


for _resource in REGISTRY:
    register(_resource)

RECORD_MODELS = record_models()  # the product's own tables (a test's resource is added later)
ALL_MODELS = TENANT_MODELS + RECORD_MODELS + LINK_MODELS + SYNC_MODELS
