"""Every registered resource's blueprint: the shared routes, its child lists, its own routes."""
from importlib import import_module

from app.api import IngestBlueprint
from app.api.collections import register_collection_routes
from app.api.links import register_child_list
from app.api.records import register_record_routes
from app.resources.registry import RESOURCES, child_lists

_BUILT = {}


def resource_blueprints():
    """One blueprint per registered resource, in the registry's order.

    Each gets the five verbs, the collection routes (feed, versions, lookup,
    batch, sync runs) and a list of the records of every other collection
    that names it; a resource declaring `own_routes` (a module with
    `register_routes(blueprints)`) adds its own. Built once per registry.
    """
    registered = tuple(RESOURCES.values())
    if registered not in _BUILT:
        blueprints = {}
        for resource in registered:
            blp = IngestBlueprint(resource.name, __name__, description=resource.description)
            register_record_routes(blp, resource)
            register_collection_routes(blp, resource)
            for child, field in child_lists(resource):
                register_child_list(blp, resource, child, field)
            blueprints[resource.name] = blp
        for resource in registered:
            if resource.own_routes:
                import_module(resource.own_routes).register_routes(blueprints)
        _BUILT[registered] = list(blueprints.values())
    return _BUILT[registered]
