"""`/representatives/{reference}`: the tenant's staff, and their links to accounts and documents."""
from app.api import IngestBlueprint
from app.api.links import register_link_batch_routes, register_link_routes
from app.api.collections import register_collection_routes
from app.api.records import register_record_routes
from app.services.links import LINK_KINDS
from app.services.representatives import REPRESENTATIVES

blp = IngestBlueprint("representatives", __name__,
                      description="The tenant's representatives and their links.")
register_record_routes(blp, REPRESENTATIVES)
register_collection_routes(blp, REPRESENTATIVES)
for kind in LINK_KINDS:
    register_link_routes(blp, kind)
register_link_batch_routes(blp)
