"""`/accounts/{account_number}`: customer accounts."""
from app.api import IngestBlueprint
from app.api.records import register_record_routes
from app.services.accounts import ACCOUNTS

blp = IngestBlueprint("accounts", __name__, description="Customer accounts.")
register_record_routes(blp, ACCOUNTS)
