"""`/contacts/{reference}`: people at the customer."""
from app.api import IngestBlueprint
from app.api.collections import register_collection_routes
from app.api.records import register_record_routes
from app.services.contacts import CONTACTS

blp = IngestBlueprint("contacts", __name__, description="Contacts at the customer.")
register_record_routes(blp, CONTACTS)
register_collection_routes(blp, CONTACTS)
