"""`/documents/{document_number}`: invoices and credit notes."""
from app.api import IngestBlueprint
from app.api.links import register_linked_representatives
from app.api.collections import register_collection_routes
from app.api.records import register_record_routes
from app.services.documents import DOCUMENTS
from app.services.links import DOCUMENT_LINKS
from schemas.representatives import RepresentativeSchema

blp = IngestBlueprint("documents", __name__, description="Invoices and credit notes.")
register_record_routes(blp, DOCUMENTS)
register_collection_routes(blp, DOCUMENTS)
register_linked_representatives(blp, DOCUMENT_LINKS, RepresentativeSchema)
