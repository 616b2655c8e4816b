"""The OpenAPI document is generated from the schemas and served without a key."""
import re


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
    assert {"200", "201", "412", "422"} <= set(put["responses"])
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
