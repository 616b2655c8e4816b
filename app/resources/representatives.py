"""Representatives: the tenant's own staff, with a supervisor chain and links to the accounts
and documents they look after."""
from peewee import CharField, TextField

from app.models import PersonRecord, RepresentativeAccount, RepresentativeDocument
from app.resources.accounts import ACCOUNTS
from app.resources.documents import DOCUMENTS
from app.services.links import LinkKind, link_summary
from app.services.person_resource import PersonResource
from app.services.resources import Reference, Resource
from schemas.representatives import RepresentativeSchema


class Representative(PersonRecord):
    KEY_FIELD = "reference"
    reference = CharField(max_length=128)
    name = CharField(max_length=255, null=True)
    email = CharField(max_length=254, null=True)
    email_status = CharField(max_length=16, null=True)
    phone = CharField(max_length=50, null=True)
    mobile_phone = CharField(max_length=50, null=True)
    fax = CharField(max_length=50, null=True)
    language = CharField(max_length=2, null=True)
    title = CharField(max_length=100, null=True)
    department = CharField(max_length=100, null=True)
    representative_type = CharField(max_length=100, null=True)
    supervisor_representative_reference = CharField(max_length=128, null=True)
    extra_info = TextField(null=True)

    class Meta:
        table_name = "representatives"
        indexes = (
            (("tenant", "change_seq", "id"), False),
            (("tenant", "supervisor_representative_reference"), False),
            (("tenant", "email_key"), False),
            (("tenant", "name_length", "name_key", "reference"), False),
        )


class RepresentativeResource(PersonResource, Resource):
    name, label = "representatives", "representative"
    description = "The tenant's representatives and their links."
    own_routes = "app.api.representatives"
    model, schema_class = Representative, RepresentativeSchema
    references = {"supervisor_representative_reference": Reference(
        Representative, "reference", "supervised representative", "supervised representatives")}
    hierarchy_field = "supervisor_representative_reference"
    search_fields = ("reference", "name", "email", "phone", "mobile_phone")
    feed_filters = {"supervisor_representative_reference": "exact"}

    def with_related(self, tenant_id, row):
        """GET shows how many accounts and documents it looks after, and the first 100 of each."""
        row.accounts = link_summary(tenant_id, ACCOUNT_LINKS, row.reference)
        row.documents = link_summary(tenant_id, DOCUMENT_LINKS, row.reference)
        return row


REPRESENTATIVES = RepresentativeResource()
ACCOUNT_LINKS = LinkKind("accounts", RepresentativeAccount, ACCOUNTS, REPRESENTATIVES)
DOCUMENT_LINKS = LinkKind("documents", RepresentativeDocument, DOCUMENTS, REPRESENTATIVES)
LINK_KINDS = (ACCOUNT_LINKS, DOCUMENT_LINKS)
