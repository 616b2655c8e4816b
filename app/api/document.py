"""The served OpenAPI document: each schema stated once per direction, compact UTF-8.

apispec states a marshmallow schema as one component, but the server reads a
body more leniently than it answers (a blank string means null, read-only
fields are ignored, most fields are optional) and answers more completely
than it reads (every field present, each in its real type). Field statements
carry both forms (openapi.py: the request form as the property, the answer
form under ANSWER); this module gives every component the form of the
direction it is used in, and a component used in both becomes `X` (the
answer) and `XInput` (the request body).
"""
import copy
import json

from flask import Blueprint, current_app

from app.api import api
from app.api.compaction import (compose_narrowed, resource_of, share_parameters,
                                 share_properties, share_responses)
from app.api.openapi import ANSWER, EVERY_FIELD, INPUT_RULES
from app.api.policy import API_PREFIX
from schemas.common import ONE_RECORD_ONLY_KEY as ONE_RECORD_ONLY

_SCHEMAS = "#/components/schemas/"
INPUT_SUFFIX = "Input"

blp = Blueprint("openapi", __name__)


def _schema_refs(value):
    """Every dict in `value` that refers to a schema component."""
    if isinstance(value, dict):
        if value.get("$ref", "").startswith(_SCHEMAS):
            yield value
        for item in value.values():
            yield from _schema_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _schema_refs(item)


def _walk_refs(value, found, components):
    """Add to `found` every schema component `value` refers to, directly or not."""
    for node in _schema_refs(value):
        if (name := node["$ref"][len(_SCHEMAS):]) not in found:
            found.add(name)
            _walk_refs(components[name], found, components)


def _rename_refs(value, renamed):
    """Point every $ref to a renamed component at its new name, in place."""
    for node in _schema_refs(value):
        node["$ref"] = _SCHEMAS + renamed.get(node["$ref"][len(_SCHEMAS):],
                                              node["$ref"][len(_SCHEMAS):])


def _request_parts(document):
    """What of each operation a caller sends: parameters (path-level too) and bodies."""
    for operations in document["paths"].values():
        for operation in operations.values():
            if isinstance(operation, dict):
                yield operation.get("parameters", [])
                yield operation.get("requestBody", {})
            else:
                yield operation  # path-level parameters


def _directions(document, components):
    """(components reachable from request parts, from answers), by name."""
    requests, answers = set(), set()
    for part in _request_parts(document):
        _walk_refs(part, requests, components)
    for operations in document["paths"].values():
        for operation in operations.values():
            if isinstance(operation, dict):
                _walk_refs(operation.get("responses", {}), answers, components)
    _walk_refs(document["components"].get("responses", {}), answers, components)
    return requests, answers


def _request_form(component):
    """The component as a request body states it."""
    form = copy.deepcopy(component)
    # Read-only as answered: a request example leaves it out (a record's key included).
    read_only = {name for name, prop in form.get("properties", {}).items()
                 if prop.get(ANSWER, prop).get("readOnly")}
    for prop in form.get("properties", {}).values():
        prop.pop(ANSWER, None)
        prop.pop(ONE_RECORD_ONLY, None)
        if "default" in prop:
            # In words: generators (openapi-typescript) make a field with a default required.
            default = json.dumps(prop.pop("default"))
            prop["description"] = " ".join(filter(None, (
                prop.get("description"), f"Left out of a PUT or a create: {default}.")))
    form.pop(EVERY_FIELD, None)
    form.update(form.pop(INPUT_RULES, {}))
    if read_only and "examples" in form:
        form["examples"] = [{name: value for name, value in example.items()
                             if name not in read_only} if isinstance(example, dict) else example
                            for example in form["examples"]]
    return form


def _answer_form(component):
    """The component as the server's answers state it."""
    form = copy.deepcopy(component)
    properties = form.get("properties", {})
    for name, prop in properties.items():
        if ANSWER in prop:
            properties[name] = prop[ANSWER]
    form.pop(INPUT_RULES, None)
    sometimes = {name for name, prop in properties.items() if prop.pop(ONE_RECORD_ONLY, False)}
    if form.pop(EVERY_FIELD, False):
        form["required"] = [name for name in properties if name not in sometimes]
        # The record's example is its request bodies' (read-only fields aside): an answer's
        # would repeat it with every unset field spelled out as null.
        form.pop("examples", None)
    return form


def split_directions(document):
    """The document with each component in the form of its direction (see the module)."""
    document = copy.deepcopy(document)
    components = document["components"]["schemas"]
    requests, answers = _directions(document, components)
    renamed = {name: name + INPUT_SUFFIX for name in requests & answers
               if _request_form(components[name]) != _answer_form(components[name])}
    forms = {}
    for name, component in components.items():
        if name in requests:
            forms[renamed.get(name, name)] = _request_form(component)
        if name in answers:  # a component nothing refers to is left out
            forms[name] = _answer_form(component)
    for name in requests:
        _rename_refs(forms[renamed.get(name, name)], renamed)
    for part in _request_parts(document):
        _rename_refs(part, renamed)
    _merge_identical(forms, document)
    requests, answers = _directions(document, forms)
    compose_narrowed(forms, requests - answers)  # components only request bodies refer to
    share_properties(forms)
    document["components"]["schemas"] = dict(sorted(forms.items()))
    share_parameters(document)
    share_responses(document)
    return document


def _merge_identical(forms, document):
    """State identical components once (a PATCH body that reads like the PUT body): the
    shortest name stays, and every reference follows it."""
    while True:
        by_content = {}
        for name, form in forms.items():
            # Within one resource only: a Representative answer is not named Contact...
            by_content.setdefault((resource_of(name), json.dumps(form, sort_keys=True)),
                                  []).append(name)
        renamed = {}
        for names in by_content.values():
            kept = min(names, key=lambda name: (len(name), name))
            renamed.update({name: kept for name in names if name != kept})
        if not renamed:
            return
        for name in renamed:
            del forms[name]
        _rename_refs(forms, renamed)
        _rename_refs(document["paths"], renamed)
        _rename_refs(document["components"].get("responses", {}), renamed)


def _document_bytes(app):
    """The served bytes, built once per app."""
    built = app.extensions.get("openapi-document")
    if built is None:
        with app.app_context():
            document = split_directions(api.spec.to_dict())
        built = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        app.extensions["openapi-document"] = built
    return built


def openapi_document(app):
    """The document as served, as a dict."""
    return json.loads(_document_bytes(app))


@blp.get(f"{API_PREFIX}/openapi.json")
def openapi_json():
    """The OpenAPI document, compact UTF-8 (astral characters in patterns stay literal:
    YAML loaders refuse JSON's surrogate-pair escapes)."""
    return current_app.response_class(_document_bytes(current_app._get_current_object()),
                                      mimetype="application/json")
