"""Representatives: the tenant's own staff, with a supervisor chain and links."""
from app.models import Representative
from app.services.links import ACCOUNT_LINKS, DOCUMENT_LINKS, link_summary
from app.services.resources import Resource, PersonResource
from schemas.representatives import RepresentativeSchema


class RepresentativeResource(PersonResource, Resource):
    name, label = "representatives", "representative"
    model, schema_class = Representative, RepresentativeSchema
    references = {"supervisor_representative_reference": (Representative, "reference")}
    hierarchy_field = "supervisor_representative_reference"
    search_fields = ("reference", "name", "email", "phone", "mobile_phone")
    feed_filters = {"supervisor_representative_reference": "exact"}
    dependents = ((Representative, "supervisor_representative_reference",
                   "supervised representative", "supervised representatives"),)

    def with_related(self, tenant_id, row):
        """GET shows how many accounts and documents it looks after, and the first 100 of each."""
        row.accounts = link_summary(tenant_id, ACCOUNT_LINKS, row.reference)
        row.documents = link_summary(tenant_id, DOCUMENT_LINKS, row.reference)
        return row


REPRESENTATIVES = RepresentativeResource()
