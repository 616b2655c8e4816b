"""The representatives' own routes: their links to accounts and documents, from both sides."""
from app.api.links import (register_link_batch_routes, register_link_routes,
                           register_linked_representatives)
from app.resources.representatives import LINK_KINDS, REPRESENTATIVES


def register_routes(blueprints):
    """PUT/DELETE a link, the linked keys, link batches; who looks after an account or a
    document (on that collection's blueprint)."""
    own = blueprints[REPRESENTATIVES.name]
    for kind in LINK_KINDS:
        register_link_routes(own, kind)
    register_link_batch_routes(own)
    for kind in LINK_KINDS:
        register_linked_representatives(blueprints[kind.target.name], kind,
                                        REPRESENTATIVES.schema_class)
