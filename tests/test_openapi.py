"""The OpenAPI document is generated from the schemas and served without a key."""
import re

from helpers import operation_parameters


def test_openapi_document(app):
    response = app.test_client().get("/api/v1/ingest/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.1")
    assert spec["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert spec["security"] == [{"ApiKey": []}]
    paths = spec["paths"]
    account = paths["/api/v1/ingest/accounts/{account_number}"]
    assert set(account) >= {"get", "put", "post", "patch", "delete"}
    assert set(paths["/api/v1/ingest/contacts/{reference}"]) >= {"get", "put", "patch"}
    put = account["put"]
    assert {"200", "201", "422"} <= set(put["responses"])
    # 412 is the conditional headers' answer: each says when it comes.
    conditional = [p for p in operation_parameters(spec, put) if p["name"].startswith("If-")]
    assert {p["name"] for p in conditional} == {"If-Match", "If-None-Match"}
    assert all("412" in p["description"] for p in conditional)
    problem = spec["components"]["responses"]["UNPROCESSABLE_ENTITY"]["content"]
    assert "application/problem+json" in problem
    schemas = spec["components"]["schemas"]
    account_schema = schemas["Account"]["properties"]
    assert account_schema["version"]["readOnly"] is True
    assert "name" in schemas["Account"]["required"]
    assert "required" not in schemas["AccountPatch"]
    assert "full_name" in schemas["Contact"]["properties"]


def test_docs_page_is_served_locally(app):
    client = app.test_client()
    assert client.get("/docs").status_code in (301, 308)
    page = client.get("/docs/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "/api/v1/ingest/openapi.json" in html
    assert "swagger-ui-bundle.js" in html and "://" not in html.split("<body")[0].replace(
        "http://www.w3.org", "")
    script = client.get("/docs/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.get_data()) > 100_000


def test_every_api_route_is_documented(app):
    spec = app.test_client().get("/api/v1/ingest/openapi.json").get_json()
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/ingest/") or rule.rule.endswith("openapi.json"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule.rule)  # converters are not named
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, (path, method)


def _operations(spec):
    return [(path, method, operation) for path, operations in spec["paths"].items()
            for method, operation in operations.items()
            if method in ("get", "put", "post", "patch", "delete")]


def test_every_operation_has_its_own_readable_operation_id(app):
    spec = app.test_client().get("/api/v1/ingest/openapi.json").get_json()
    ids = [operation.get("operationId") for _, _, operation in _operations(spec)]
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)+", name or "") for name in ids), ids
    assert len(ids) == len(set(ids))
    contact = spec["paths"]["/api/v1/ingest/contacts/{reference}"]
    assert {method: op["operationId"] for method, op in contact.items()
            if method != "parameters"} == {
        "get": "getContact", "post": "createContact", "put": "putContact",
        "patch": "patchContact", "delete": "deleteContact"}
    assert spec["paths"]["/api/v1/ingest/contacts"]["get"]["operationId"] == "listContactChanges"
    assert spec["paths"]["/api/v1/ingest/contacts:batch"]["post"]["operationId"] == \
        "batchUpsertContacts"


def test_every_operation_declares_what_any_route_can_answer(app, api, read_key):
    """A problem+json `default` on every operation for what any route alike can answer,
    each status named in the description with when it comes: 401, 403 (a read key on a
    write), 422 (a path key or header), 409 (a race on a write), 400, 413 and 415 (a body),
    414, 429, 431, 503; and 422 listed wherever a body or a query is read."""
    spec = app.test_client().get("/api/v1/ingest/openapi.json").get_json()
    for status in ("400", "401", "403", "409", "413", "414", "415", "422", "429", "431",
                   "503"):
        assert f"`{status}`" in spec["info"]["description"]
    default = {"$ref": "#/components/responses/Problem"}
    for path, method, operation in _operations(spec):
        if path.endswith("openapi.json"):
            continue
        assert operation["responses"]["default"] == default, (path, method)
        named = [spec["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]
                 if "$ref" in p else p for p in operation.get("parameters", [])]
        if "requestBody" in operation or any(p["in"] == "query" for p in named):
            assert "422" in operation["responses"], (path, method)
    # What the document says is what the server does: a read key on a write, a lookup.
    assert api.put("/accounts/A", json={"name": "a"}, key=read_key).status_code == 403
    assert api.post("/accounts:lookup", json={"keys": ["A"]}, key=read_key).status_code == 200
    problem = spec["components"]["responses"]["Problem"]["content"]
    assert "application/problem+json" in problem


def test_the_document_explains_the_api(app):
    info = app.test_client().get("/api/v1/ingest/openapi.json").get_json()["info"]
    for topic in ("X-API-Key", "problem+json", "Idempotency-Key", "If-Match", "next_cursor",
                  "atomic=true", "Retry-After"):
        assert topic in info["description"], topic


def test_email_fields_say_idn_email_as_the_server_takes_and_returns_them(app, api):
    """`format: email` is ASCII only; the server stores internationalised addresses."""
    spec = app.test_client().get("/api/v1/ingest/openapi.json").get_json()
    found = []

    def walk(node, path):
        if isinstance(node, dict):
            if "format" in node and "mail" in node["format"]:
                found.append((path, node["format"]))
            for name, value in node.items():
                walk(value, f"{path}/{name}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}/{index}")

    walk(spec, "#")
    assert found and {form for _, form in found} == {"idn-email"}, found
    assert api.put("/contacts/IDN-1", json={"name": "Zoë", "email": "zoë@bücher.example"}
                   ).get_json()["email"] == "zoë@bücher.example"
