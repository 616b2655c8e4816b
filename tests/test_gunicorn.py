"""The real server under gunicorn, driven over HTTP the way an ETL job drives it."""
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app.models import RepresentativeAccount, RepresentativeDocument
from app.resources.accounts import Account
from app.resources.contacts import Contact
from app.resources.representatives import Representative
from live_server import GunicornServer

pytestmark = pytest.mark.slow
BASE = "/api/v1/ingest"


@pytest.fixture
def server(app, database_url):
    with GunicornServer(database_url, workers=3) as running:
        yield running


@pytest.fixture
def session(tenant, api_key):
    with requests.Session() as http:
        http.headers["X-API-Key"] = api_key
        yield http


def test_etl_job_against_gunicorn(server, session, other_key):
    url = server.url + BASE
    for n in range(20):
        response = session.put(f"{url}/accounts/ACCT-{n}", json={"name": f"Customer {n}",
                                                                 "currency": "eur"})
        assert response.status_code == 201, response.text
        assert response.headers["ETag"] == '"1"' and response.headers["X-Request-Id"]
    for n in range(20):
        contact = {"account_number": f"ACCT-{n}", "first_name": "Pat", "last_name": f"No {n}",
                   "email": f"pat{n}@customer.example", "is_primary": True}
        assert session.put(f"{url}/contacts/C-{n}", json=contact).status_code == 201
        retry = session.put(f"{url}/contacts/C-{n}", json=contact)
        assert retry.status_code == 200 and retry.json()["version"] == 1

    fetched = session.get(f"{url}/accounts/ACCT-3")
    assert fetched.json()["currency"] == "EUR"
    replaced = session.put(f"{url}/accounts/ACCT-3", json=fetched.json())
    assert replaced.status_code == 200 and replaced.json()["version"] == 1

    patched = session.patch(f"{url}/accounts/ACCT-3", json={"credit_limit": 5000},
                            headers={"If-Match": '"1"'})
    assert patched.status_code == 200 and patched.json()["credit_limit"] == "5000.00"
    stale = session.patch(f"{url}/accounts/ACCT-3", json={"credit_limit": 1},
                          headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.headers["ETag"] == '"2"'
    assert stale.headers["Content-Type"] == "application/problem+json"

    blocked = session.delete(f"{url}/accounts/ACCT-3")
    assert blocked.status_code == 409 and "1 contact" in blocked.json()["detail"]
    assert session.delete(f"{url}/contacts/C-3").status_code == 204
    assert session.delete(f"{url}/accounts/ACCT-3").status_code == 204

    other = requests.get(f"{url}/accounts/ACCT-4", headers={"X-API-Key": other_key})
    assert other.status_code == 404
    assert requests.get(f"{url}/accounts/ACCT-4").status_code == 401
    too_big = session.put(f"{url}/accounts/BIG", json={"name": "x", "notes": "n" * 2_000_000})
    assert too_big.status_code == 413
    assert Account.select().count() == 19 and Contact.select().count() == 19


def _hammer(calls, workers=64):
    """Run the calls at once from `workers` threads; their status codes in order."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda call: call().status_code, calls))


def test_concurrent_writers(server, tenant, api_key):
    url, headers = server.url + BASE, {"X-API-Key": api_key}
    requests.put(f"{url}/accounts/SHARED", json={"name": "shared"}, headers=headers)
    same = {"account_number": "SHARED", "name": "same"}

    puts = _hammer([lambda: requests.put(f"{url}/contacts/SAME", json=same, headers=headers)]
                   * 64)
    assert sorted(puts) == [200] * 63 + [201]
    assert Contact.get(Contact.reference == "SAME").version == 1

    posts = _hammer([lambda: requests.post(f"{url}/contacts/POSTED", json=same,
                                           headers=headers)] * 64)
    assert sorted(posts) == [201] + [409] * 63

    def writer(n):
        return lambda: [requests.put(f"{url}/contacts/W{n}-{i}", headers=headers,
                                     json={"account_number": "SHARED", "name": f"{n}-{i}"})
                        for i in range(25)][-1]
    assert _hammer([writer(n) for n in range(8)], workers=8) == [201] * 8
    assert Contact.select().where(Contact.reference.startswith("W")).count() == 200

    primaries = _hammer([
        (lambda n=n: requests.patch(f"{url}/contacts/W{n % 8}-{n // 8}", headers=headers,
                                    json={"is_primary": True})) for n in range(64)])
    assert primaries == [200] * 64
    assert Contact.select().where(Contact.account_number == "SHARED",
                                  Contact.is_primary).count() == 1


def test_concurrent_link_and_unlink(server, session):
    url = server.url + BASE
    session.put(f"{url}/accounts/A", json={"name": "a"})
    session.put(f"{url}/representatives/R", json={"name": "r"})
    headers = dict(session.headers)

    def toggle(n):
        method = requests.put if n % 2 == 0 else requests.delete
        return lambda: method(f"{url}/representatives/R/accounts/A", headers=headers)

    statuses = _hammer([toggle(n) for n in range(64)])
    assert set(statuses) <= {200, 204, 404}
    assert RepresentativeAccount.select().count() <= 1
    assert session.put(f"{url}/representatives/R/accounts/A").status_code == 200
    assert RepresentativeAccount.select().count() == 1


def test_documents_representatives_and_links_over_http(server, session):
    url = server.url + BASE
    assert session.put(f"{url}/accounts/ACCT", json={"name": "Acme"}).status_code == 201
    invoice = {"account_number": "ACCT", "invoice_date": "2026-03-01", "due_date": "2026-03-31",
               "amount": 1200.5}
    assert session.put(f"{url}/documents/INV", json=invoice).status_code == 201
    credit = dict(invoice, document_type="credit_note", applies_to_invoice="INV", amount="-200")
    assert session.put(f"{url}/documents/CN", json=credit).json()["status"] == "open"
    assert session.put(f"{url}/representatives/BOSS", json={"name": "Boss"}).status_code == 201
    for n in range(10):
        rep = {"name": f"Rep {n}", "supervisor_representative_reference": "BOSS"}
        assert session.put(f"{url}/representatives/R{n}", json=rep).status_code == 201

    def link(n):
        return (session.put(f"{url}/representatives/R{n % 10}/accounts/ACCT").status_code,
                session.put(f"{url}/representatives/R{n % 10}/documents/INV").status_code)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(link, range(40))) == {(200, 200)}
    assert RepresentativeAccount.select().count() == 10
    assert RepresentativeDocument.select().count() == 10

    listing = session.get(f"{url}/accounts/ACCT/representatives?limit=3&page=2").json()
    assert [r["reference"] for r in listing["items"]] == ["R3", "R4", "R5"]
    assert listing["total"] == 10
    rep = session.get(f"{url}/representatives/R1").json()
    assert rep["accounts"] == {"total": 1, "items": ["ACCT"]}

    assert session.delete(f"{url}/documents/INV").status_code == 409
    assert session.delete(f"{url}/documents/CN").status_code == 204
    assert session.delete(f"{url}/documents/INV").status_code == 204
    assert RepresentativeDocument.select().count() == 0
    assert session.delete(f"{url}/representatives/BOSS").status_code == 409


def test_concurrent_supervisor_changes_never_make_a_cycle(server, session):
    url = server.url + BASE
    chain = ["S0", "S1", "S2", "S3", "S4", "S5"]
    for ref in chain:
        session.put(f"{url}/representatives/{ref}", json={"name": ref})

    def point(pair):
        child, boss = pair
        return session.patch(f"{url}/representatives/{child}",
                             json={"supervisor_representative_reference": boss}).status_code

    # Every representative tries to report to the next one, and the last to the first:
    # all of them at once would be a loop, so at least one must be refused.
    pairs = [(chain[i], chain[(i + 1) % len(chain)]) for i in range(len(chain))] * 3
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(point, pairs))
    assert set(statuses) <= {200, 422} and 422 in statuses
    supervisors = {r.reference: r.supervisor_representative_reference
                   for r in Representative.select()}
    for start in chain:
        seen, current = set(), start
        while current is not None:
            assert current not in seen, f"cycle through {current}"
            seen.add(current)
            current = supervisors[current]


def test_the_production_configuration_limits_rates_by_default(app, database_url, api_key):
    """gunicorn.conf.py sets RATE_LIMIT when the environment does not (make run sets none)."""
    with GunicornServer(database_url, workers=1, threads=1, env={"RATE_LIMIT": None}) as live:
        response = requests.get(live.url + "/api/v1/ingest/contacts",
                                headers={"X-API-Key": api_key}, timeout=30)
    assert response.status_code == 200
    assert response.headers["RateLimit-Policy"] == '"minute";q=6000;w=60'


def test_workers_hand_the_gil_over_every_millisecond():
    """gunicorn.conf.py's post_fork sets the switch interval (GUNICORN_GIL_SWITCH_MS, 1 ms).
    In a process of its own: reading the settings also sets environment defaults."""
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = ("import runpy, sys; settings = runpy.run_path('gunicorn.conf.py'); "
              "settings['post_fork'](None, None); print(sys.getswitchinterval())")
    for given, expected in ((None, 0.001), ("3", 0.003)):
        env = {k: v for k, v in os.environ.items() if k != "GUNICORN_GIL_SWITCH_MS"}
        if given:
            env["GUNICORN_GIL_SWITCH_MS"] = given
        out = subprocess.run([sys.executable, "-c", script], cwd=root, env=env, check=True,
                             capture_output=True, text=True).stdout
        assert float(out) == pytest.approx(expected)
