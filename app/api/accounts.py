"""`/accounts/{account_number}`: customer accounts, and the records around them."""
from app.api import IngestBlueprint
from app.api.links import register_child_list, register_linked_representatives
from app.api.collections import register_collection_routes
from app.api.records import register_record_routes
from app.services.accounts import ACCOUNTS
from app.services.contacts import CONTACTS
from app.services.documents import DOCUMENTS
from app.services.links import ACCOUNT_LINKS
from schemas.representatives import RepresentativeSchema

blp = IngestBlueprint("accounts", __name__, description="Customer accounts.")
register_record_routes(blp, ACCOUNTS)
register_collection_routes(blp, ACCOUNTS)
register_child_list(blp, ACCOUNTS, CONTACTS, "account_number")
register_child_list(blp, ACCOUNTS, DOCUMENTS, "account_number")
register_linked_representatives(blp, ACCOUNT_LINKS, RepresentativeSchema)
