"""Crash safety: SIGKILL every gunicorn process during a stream of batch writes."""
import threading
import time

import pytest
import requests

from app.db import database, is_sqlite
from app.models import Contact, Tenant
from live_server import GunicornServer

pytestmark = pytest.mark.slow
BASE = "/api/v1/ingest"


def _stream(url, api_key, writer, answered, stop):
    """Batches of new contacts and replacements of earlier ones, until the server dies."""
    http = requests.Session()
    http.headers["X-API-Key"] = api_key
    batch_number = 0
    while not stop.is_set():
        items = [{"reference": f"K{writer}-{batch_number}-{n}", "account_number": "A",
                  "name": f"new {n}"} for n in range(20)]
        if batch_number:  # replace the previous batch's contacts too
            items += [{"reference": f"K{writer}-{batch_number - 1}-{n}", "account_number": "A",
                       "name": f"replaced {n}"} for n in range(20)]
        for item in items:
            answered.setdefault(item["reference"], {"attempted": 0, "answered": 0})
            answered[item["reference"]]["attempted"] += 1
        try:
            response = http.post(f"{url}/contacts:batch", json={"items": items}, timeout=10)
        except requests.RequestException:
            return
        if response.status_code == 200:
            for result in response.json()["results"]:
                answered[result["reference"]]["answered"] = result["version"]
        batch_number += 1


def test_answered_writes_survive_sigkill(app, database_url, tenant, api_key):
    answered = [{} for _ in range(3)]
    stop = threading.Event()
    server = GunicornServer(database_url, workers=3).start()
    requests.put(f"{server.url}{BASE}/accounts/A", json={"name": "a"},
                 headers={"X-API-Key": api_key})
    writers = [threading.Thread(target=_stream, args=(server.url + BASE, api_key, n,
                                                      answered[n], stop)) for n in range(3)]
    for writer in writers:
        writer.start()
    time.sleep(2.0)
    server.kill()
    stop.set()
    for writer in writers:
        writer.join()

    database.close()  # reopen as a fresh process would, after the crash
    with GunicornServer(database_url, workers=2) as restarted:
        assert requests.get(f"{restarted.url}/readyz").status_code == 200
        stored = {c.reference: c.version for c in Contact.select()}
        checked = 0
        for per_writer in answered:
            for reference, versions in per_writer.items():
                if not versions["answered"]:
                    continue
                checked += 1
                # exactly what was answered, or one later write that committed unanswered
                assert stored.get(reference) in (
                    versions["answered"], versions["answered"] + 1), (reference, versions)
                assert versions["attempted"] - versions["answered"] in (0, 1)
        assert checked > 100
        response = requests.put(f"{restarted.url}{BASE}/contacts/AFTER",
                                json={"account_number": "A", "name": "after"},
                                headers={"X-API-Key": api_key})
        assert response.status_code == 201

    if is_sqlite():
        assert database.execute_sql("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert database.execute_sql("PRAGMA foreign_key_check").fetchall() == []
    else:
        checks = database.execute_sql("""
            SELECT (SELECT count(*) FROM contacts c LEFT JOIN accounts a
                      ON a.tenant_id = c.tenant_id AND a.account_number = c.account_number
                     WHERE c.account_number IS NOT NULL AND a.id IS NULL),
                   (SELECT count(*) FROM (SELECT tenant_id, reference FROM contacts
                     GROUP BY 1, 2 HAVING count(*) > 1) d),
                   (SELECT count(*) FROM contacts c WHERE c.change_seq >=
                      pg_snapshot_xmax(pg_current_snapshot())::text::bigint
                      + (SELECT xid_offset FROM change_clock))""").fetchone()
        assert checks == (0, 0, 0)
    if is_sqlite():  # the counter hands out every number (PostgreSQL: transaction ids, above)
        assert Tenant.get_by_id(tenant.id).change_seq >= max(
            c.change_seq for c in Contact.select(Contact.change_seq))
