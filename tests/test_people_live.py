"""Concurrent matching upserts through gunicorn: a new person is created once."""
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app.models import RepresentativeAccount
from app.resources.contacts import Contact
from app.resources.representatives import Representative
from live_server import GunicornServer

pytestmark = pytest.mark.slow
BASE = "/api/v1/ingest"


@pytest.mark.parametrize("path, model", [
    ("/accounts/ACCT-1/contacts/upsert", Contact),
    ("/accounts/ACCT-1/representatives/upsert", Representative),
    ("/accounts/ACCT-1/party/upsert", Contact),
])
def test_32_identical_upserts_create_one_record(database_url, api, api_key, path, model):
    api.put("/accounts/ACCT-1", json={"name": "Acme"})
    body = {"name": "Pat Newcomer", "language": "en", "email": "pat@customer.example"}
    with GunicornServer(database_url, workers=4, threads=2) as server:
        def upsert(number):
            with requests.Session() as http:
                sent = dict(body, name="pat newcomer" if number % 2 else "Pat Newcomer")
                return http.put(server.url + BASE + path, json=sent,
                                headers={"X-API-Key": api_key}, timeout=60).status_code
        with ThreadPoolExecutor(32) as pool:
            statuses = list(pool.map(upsert, range(32)))
    assert statuses.count(201) == 1 and statuses.count(200) == 31, statuses
    assert model.select().count() == 1
    if model is Representative:
        assert RepresentativeAccount.select().count() == 1
