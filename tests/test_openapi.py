"""The OpenAPI document is generated from the schemas and served without a key."""


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
