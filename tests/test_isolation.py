"""Every API route, generated from the URL map, called with another tenant's key and a read key.

A route this module cannot classify fails the test, so a new route must say
how it keeps tenants apart before CI passes.
"""
import re

import pytest

from app.api import API_PREFIX
from app.models import LINK_MODELS, SyncRun, Tenant
from app.resources.registry import RECORD_MODELS, RESOURCES
from helpers import assert_problem

KEYS = {"accounts": "ACCT", "contacts": "CON", "documents": "DOC", "representatives": "REP"}
KEY_FIELDS = {name: resource.key_field for name, resource in RESOURCES.items()}
BODIES = {
    "accounts": {"name": "x"},
    "contacts": {"name": "x"},
    "documents": {"account_number": "ACCT", "invoice_date": "2026-01-01",
                  "due_date": "2026-01-02"},
    "representatives": {"name": "x"},
}
LINK = {"links": [{"representative": "REP", "account_number": "ACCT"}]}
PERSON = {"name": "x", "language": "en", "email": "con@a.example"}  # tenant A's contact's address
EVENTS = {"events": [{"email": "con@a.example", "type": "bounced",
                      "occurred_at": "2026-01-01T00:00:00Z"}]}
WEBHOOKS = {  # later than EVENTS, so neither is stale
    "/email-events/sendgrid": [{"email": "con@a.example", "event": "bounce",
                                "timestamp": 1767229200}],
    "/email-events/postmark": {"RecordType": "Bounce", "Type": "HardBounce",
                               "Email": "con@a.example", "BouncedAt": "2026-01-01T02:00:00Z"}}


@pytest.fixture
def tenant_a(api):
    assert api.put("/accounts/ACCT", json={"name": "a"}).status_code == 201
    assert api.put("/contacts/CON", json={"name": "c", "account_number": "ACCT",
                                          "email": "con@a.example"}).status_code == 201
    assert api.put("/documents/DOC", json=BODIES["documents"]).status_code == 201
    assert api.put("/representatives/REP", json={"name": "r"}).status_code == 201
    assert api.put("/representatives/REP/accounts/ACCT").status_code == 200
    assert api.put("/representatives/REP/documents/DOC").status_code == 200
    api.run_ids = {collection: api.post(f"/{collection}:sync-runs").get_json()["id"]
                   for collection in KEYS}  # tenant A's own runs
    return api


def _snapshot(tenant_id):
    """Every record (version, update time) and link of one tenant."""
    records = {(model.__name__, getattr(row, model.KEY_FIELD)): (row.version, row.updated_at)
               for model in RECORD_MODELS
               for row in model.select().where(model.tenant == tenant_id)}
    links = sum(model.select().where(model.tenant == tenant_id).count() for model in LINK_MODELS)
    return records, links


def _creates_own_record(rule, method):
    path = rule.rule[len(API_PREFIX):]
    return path.endswith(":batch") or (method in ("PUT", "POST") and path.count("/") == 2)


def _routes(app):
    """Every (rule, method) of the API; those that create the caller's own records last,
    so every other route is tried while the caller has no record with tenant A's keys."""
    routes = [(rule, method) for rule in app.url_map.iter_rules()
              if rule.rule.startswith(API_PREFIX + "/") and not rule.rule.endswith("openapi.json")
              for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return sorted(routes, key=lambda route: _creates_own_record(*route))


def _call(client, rule, method, key):
    """(path, body) for a rule with tenant A's keys in it, then the response."""
    path = rule.rule[len(API_PREFIX):]
    collection = re.match(r"^/([a-z]+)", path).group(1)
    path = re.sub(r"<(?:[^:>]+:)?(\w+)>", lambda m: {
        "account_number": "ACCT", "document_number": "DOC", "run_id": client.run_ids.get(collection),
        "reference": KEYS[collection]}[m.group(1)], path)
    body = None
    if path.endswith(":batch"):
        body = {"items": [dict(BODIES[collection], **{KEY_FIELDS[collection]: KEYS[collection]})]}
    elif path.endswith(":lookup"):
        body = {"keys": [KEYS[collection]]}
    elif path.endswith((":link", ":unlink")):
        body = LINK
    elif ":sync-runs" in path:
        body = None  # start, finish and abort take an optional body
    elif path.endswith("/upsert"):
        body = PERSON
    elif path.endswith(":upsert"):
        body = {"items": [dict(PERSON, account_number="ACCT")]}  # tenant A's account
    elif path == "/email-events":
        body = EVENTS
    elif path in WEBHOOKS:
        body = WEBHOOKS[path]
    elif method in ("PUT", "POST", "PATCH") and path.count("/") == 2:
        body = BODIES[collection]
    return path, client.request(method, path, json=body, key=key)


def _only_own(collection, items, own_records):
    """Listed items are all records the caller wrote itself."""
    model_name = {model._meta.table_name: model.__name__ for model in RECORD_MODELS}[collection]
    for item in items:
        assert (model_name, item[KEY_FIELDS[collection]]) in own_records, (collection, item)


def _expect_other_tenant(path, method, response, own_records):
    """What another tenant must get; returns a label for the kind of route."""
    parts = path.strip("/").split("/")
    if ":" in parts[-1]:
        action = parts[-1].split(":")[1]
        body = response.get_json()
        if action in ("finish", "abort"):
            assert_problem(response, 404, "not-found")
            return "record"
        assert response.status_code in (200, 201), (method, path, response.status_code)
        if action == "versions":
            _only_own(parts[0].split(":")[0], body["items"], own_records)
        elif action == "lookup":
            _only_own(parts[0].split(":")[0], body["items"], own_records)
            assert len(body["items"]) + len(body["missing"]) == 1
        elif action == "batch":
            assert body["results"][0]["status"] in (200, 201, 422)  # its own record
        elif action in ("link", "unlink"):
            assert body["results"][0]["status"] == 404
        elif action == "upsert":  # tenant A's account is no account of the caller's
            assert [result["status"] for result in body["results"]] == [404]
        elif action == "sync-runs" and method == "GET":  # the caller's own runs only
            tenants = {run.tenant.name for run in SyncRun.select().where(
                SyncRun.run_id.in_([item["id"] for item in body["items"]]))}
            assert response.status_code == 200 and tenants <= {"globex"}, tenants
        elif action == "sync-runs":
            assert response.status_code == 201  # a run of the caller's own records
        else:
            pytest.fail(f"unclassified collection action {method} {path}")
        return "collection action"
    if parts[0] == "email-events":
        # an address only tenant A's records hold is no address of the caller's
        assert response.status_code == 200 and response.get_json()["unmatched"] == 1
        return "collection action"
    if len(parts) == 1 and method == "GET":
        assert response.status_code == 200
        _only_own(parts[0], response.get_json()["items"], own_records)
        return "feed"
    if len(parts) == 2 and method in ("PUT", "POST"):
        # creates (or, once created, replaces or conflicts with) the caller's own record
        assert response.status_code in (200, 201, 409, 422), (method, path, response.status_code)
        return "own write"
    if len(parts) in (2, 3, 4) and method in ("GET", "PATCH", "DELETE", "PUT") or \
            len(parts) == 3 and parts[-1] in ("archive", "unarchive"):
        assert_problem(response, 404, "not-found")
        return "record"
    pytest.fail(f"unclassified route {method} {path}: say how it keeps tenants apart")


def test_other_tenant_sees_and_changes_nothing(app, tenant, tenant_a, other_key):
    other = Tenant.get(Tenant.name == "globex")
    before = _snapshot(tenant.id)
    seen = set()
    for rule, method in _routes(app):
        path, response = _call(tenant_a, rule, method, other_key)
        seen.add(_expect_other_tenant(path, method, response, _snapshot(other.id)[0]))
        assert '"a"' not in response.get_data(as_text=True), (method, path)  # A's account name
    assert _snapshot(tenant.id) == before
    assert seen == {"collection action", "feed", "own write", "record"}


def test_read_key_reads_but_never_writes(app, tenant, tenant_a, read_key):
    before = _snapshot(tenant.id)
    for rule, method in _routes(app):
        path, response = _call(tenant_a, rule, method, read_key)
        if method == "GET" or path.endswith(":lookup"):
            assert response.status_code == 200, (method, path, response.status_code)
        else:
            assert_problem(response, 403, "forbidden")
    assert _snapshot(tenant.id) == before


def test_no_key_is_refused_everywhere(app, tenant_a):
    for rule, method in _routes(app):
        path, response = _call(tenant_a, rule, method, "")
        assert_problem(response, 401, "unauthorized")
