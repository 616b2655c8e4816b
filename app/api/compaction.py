"""State what the OpenAPI document repeats once. Pure functions on the document's dict.

A parameter, an answer or a described property that many operations or components state
alike becomes a named one; a request component that narrows another of its resource (the
PUT body: the PATCH body with required fields; a batch item: the body with its key) is
stated as `allOf` of it.
"""
import json
import re

_PARAMETERS = "#/components/parameters/"


def resource_of(name):
    """The resource a component belongs to, by its first word ("Contact" of ContactInput)."""
    return re.match(r"[A-Z][a-z]*", name).group()


def _name_once(uses, shared, minimum_uses, base_name):
    """{use key: component name} for each statement used `minimum_uses` times or more, each
    added to `shared` under base_name(statement), numbered when the name is taken."""
    names = {}
    for key, found in uses.items():
        if len(found) < minimum_uses:
            continue
        base = base_name(found[0])
        name, number = base, 2
        while name in shared:
            name, number = f"{base}{number}", number + 1
        shared[name] = dict(found[0])
        names[key] = name
    return names


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
    names = _name_once(uses, document["components"].setdefault("parameters", {}), minimum_uses,
                       lambda parameter: "".join(
                           part.title() for part in parameter["name"].replace("-", "_").split("_")))
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


_SCHEMAS = "#/components/schemas/"
# What a property may say and still take any value: the body ignores it (a record's key).
_ANY_VALUE = {"description", "title"}
# An optional key's other values: "" and null (openapi.py, _input_schema).
_EMPTY_OR_NULL = {"type": ["string", "null"], "maxLength": 0}


def _narrowed(own, prop, required):
    """How an allOf branch states `prop` over the base's `own`, or None if it cannot: an
    any-value property takes the derived schema; an optional key made required (Key, "" or
    null, to Key) says "not empty, not null", which openapi-python-client merges, where a
    second Key would not merge with the base's alternatives."""
    if set(own) <= _ANY_VALUE:
        return prop
    annotations = {name: value for name, value in prop.items() if name in _ANY_VALUE}
    value = {name: item for name, item in prop.items() if name not in _ANY_VALUE}
    if required and own.get("anyOf") == [value, _EMPTY_OR_NULL]:
        return {"minLength": 1, "not": {"type": "null"}, **annotations}
    return None


def _narrows(derived, base):
    """The allOf branch's properties if `derived` is `base` with more required fields and
    some properties narrowed as _narrowed can state it; else None."""
    rest = ("properties", "required", "examples")
    if {k: v for k, v in derived.items() if k not in rest} != \
            {k: v for k, v in base.items() if k not in rest}:
        return None
    properties, own = derived.get("properties", {}), base.get("properties", {})
    required = set(derived.get("required", ()))
    if set(properties) != set(own) or not set(base.get("required", ())) <= required:
        return None
    changed = {name: _narrowed(own[name], prop, name in required)
               for name, prop in properties.items() if prop != own[name]}
    return None if None in changed.values() else changed


def compose_narrowed(forms, names):
    """State a request component that narrows another of its resource (a PUT body that is
    the PATCH body with required fields, a batch item that is the body with its key) as
    `allOf` of that one and what it adds, in place. The base keeps its
    additionalProperties: the derived component adds no property, so the composition stays
    logical, and generators (openapi-python-client, openapi-typescript) merge it into one
    model. Only `names` are considered; a base is never itself derived. (A base whose
    property the derived one narrows must take any value there and not be readOnly:
    Schemathesis drops read-only properties from a request, and the item could not be
    built.)"""
    bases = {}
    for name in sorted(names):
        form = forms[name]
        if form.get("type") != "object" or "properties" not in form:
            continue
        candidates = [(len(forms[other].get("required", ())), other) for other in names
                      if other != name and resource_of(other) == resource_of(name)
                      and forms[other].get("type") == "object"
                      and _narrows(form, forms[other]) is not None]
        if candidates:
            bases[name] = min(candidates)[1]
    for name, base in bases.items():
        if base in bases:
            continue  # a chain: the base is derived too; this one stays as it is
        form = forms[name]
        changed = _narrows(form, forms[base])
        # `required` beside allOf, where both generators read it (openapi-typescript makes
        # it WithRequired<Base, ...>); the second schema is what is added, never empty.
        added = {"properties": changed} if changed else {"required": form["required"]}
        # A PUT body keeps its example; an item's is its body's with its key.
        shown = {"examples": form["examples"]} if "examples" in form and not changed else {}
        forms[name] = {"allOf": [{"$ref": _SCHEMAS + base}, added], "required": form["required"],
                       **shown}


_RESPONSES = "#/components/responses/"


def _response_name(response):
    """A name for a shared answer: its schemas' names, and a short description but OK."""
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    refs = [option["$ref"] for option in [schema, *schema.get("oneOf", ())] if "$ref" in option]
    words = response.get("description", "").split()
    words = [] if words == ["OK"] or len(words) > 3 else words
    return ("Or".join(ref.rsplit("/", 1)[-1] for ref in refs)
            + "".join(word.title() for word in words if word.isalpha())) or "Answer"


def share_responses(document, minimum_uses=2):
    """Move each answer stated the same way by `minimum_uses` operations or more (a
    record with its ETag, a sync run) into components/responses, and refer to it there.
    A GET's answers stay where they are: readers take a record's schema from the GET-one
    answer (the Singer tap, app/singer/tap.py)."""
    uses = {}
    for operations in document["paths"].values():
        for method, operation in operations.items():
            if isinstance(operation, dict) and method != "get":
                for answer in operation.get("responses", {}).values():
                    if "$ref" not in answer and "content" in answer:
                        uses.setdefault(json.dumps(answer, sort_keys=True), []).append(answer)
    names = _name_once(uses, document["components"].setdefault("responses", {}), minimum_uses,
                       _response_name)
    for operations in document["paths"].values():
        for method, operation in operations.items():
            if isinstance(operation, dict) and method != "get":
                responses = operation.get("responses", {})
                for status, answer in responses.items():
                    if (key := json.dumps(answer, sort_keys=True)) in names:
                        responses[status] = {"$ref": _RESPONSES + names[key]}


def _camel(name):
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def share_properties(forms, minimum_uses=3):
    """Name each described property schema that `minimum_uses` components or more state
    the same way (a feed's next_cursor, how a matching upsert found the record), after
    the property ("NextCursor"), and refer to it there. In place on the components."""
    uses = {}
    for name, form in forms.items():
        for branch in [form, *form.get("allOf", ())]:
            for prop, schema in branch.get("properties", {}).items():
                # Described, and a value's own rule (not a body's ignored key: `{}`).
                if "description" in schema and {"type", "anyOf"} & set(schema):
                    uses.setdefault((prop, json.dumps(schema, sort_keys=True)), []).append(
                        branch["properties"])
    for (prop, _), found in uses.items():
        name = _camel(prop)
        if len(found) < minimum_uses or name in forms:
            continue
        forms[name] = found[0][prop]
        for properties in found:
            properties[prop] = {"$ref": _SCHEMAS + name}
