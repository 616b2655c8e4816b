"""State what the OpenAPI document repeats once: a parameter many operations share becomes
a named parameter. Pure functions on the document's dict.

(Components that narrow another, such as a batch item that is the PUT body plus its key,
are not stated as `allOf` of it: openapi-python-client 0.29 then generates no model for
them, and Redocly flags the composition.)
"""
import json
import re

_PARAMETERS = "#/components/parameters/"


def resource_of(name):
    """The resource a component belongs to, by its first word ("Contact" of ContactInput)."""
    return re.match(r"[A-Z][a-z]*", name).group()


def share_parameters(document, minimum_uses=3):
    """Move each parameter stated the same way by `minimum_uses` operations or more into
    components/parameters, and refer to it there."""
    uses = {}
    for operations in document["paths"].values():
        for operation in operations.values():
            listed = operation if isinstance(operation, list) else operation.get("parameters", [])
            for parameter in listed:
                if "$ref" not in parameter:
                    uses.setdefault(json.dumps(parameter, sort_keys=True), []).append(parameter)
    shared = document["components"].setdefault("parameters", {})
    names = {}
    for key, found in uses.items():
        if len(found) < minimum_uses:
            continue
        parameter = found[0]
        base = "".join(part.title() for part in parameter["name"].replace("-", "_").split("_"))
        name, number = base, 2
        while name in shared:
            name, number = f"{base}{number}", number + 1
        shared[name] = dict(parameter)
        names[key] = name
    for operations in document["paths"].values():
        for method, operation in operations.items():
            listed = operation if isinstance(operation, list) else operation.get("parameters")
            if not listed:
                continue
            replaced = [{"$ref": _PARAMETERS + names[key]}
                        if (key := json.dumps(parameter, sort_keys=True)) in names else parameter
                        for parameter in listed]
            if isinstance(operation, list):
                operations[method] = replaced
            else:
                operation["parameters"] = replaced
