"""Each tenant runs at most BULK_REQUESTS_PER_TENANT bulk requests at once: the next is 429."""
import os
import signal
import subprocess
import sys
import threading

import pytest

from app.resources.contacts import Contact
from app.services.bulk_slots import BulkSlots

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = {"items": [{"reference": "C-1", "name": "Jane"}]}


class HeldElsewhere:
    """Slots of a tenant held by another thread (another database connection) until closed."""

    def __init__(self, app, tenant_id, count):
        self.ready, self.done, self.held = threading.Event(), threading.Event(), []
        self.thread = threading.Thread(target=self._hold, args=(app, tenant_id, count))
        self.thread.start()
        assert self.ready.wait(30)

    def _hold(self, app, tenant_id, count):
        slots = BulkSlots(app.config["BULK_REQUESTS_PER_TENANT"])
        with app.app_context():
            self.held = [slots.acquire(tenant_id) for _ in range(count)]
            self.ready.set()
            self.done.wait(60)
            for slot in self.held:
                slots.release(slot)

    def close(self):
        self.done.set()
        self.thread.join()


def _refused(response):
    assert response.status_code == 429, response.text
    assert response.headers["Retry-After"] == "1"
    problem = response.get_json()
    assert (problem["code"], problem["status"]) == ("rate-limited", 429)
    assert "2 bulk requests in progress" in problem["detail"]


def test_a_tenant_with_every_slot_taken_is_refused_and_others_are_not(app, api, other_api,
                                                                      tenant):
    held = HeldElsewhere(app, tenant.id, 2)
    try:
        assert all(held.held)
        _refused(api.post("/contacts:batch", json=BATCH))
        _refused(api.post("/representatives:link", json={"items": []}))
        assert Contact.select().count() == 0
        # Single-record writes and reads are not bulk requests; other tenants have their own.
        assert api.put("/contacts/C-2", json={"name": "Jo"}).status_code == 201
        assert api.get("/contacts").status_code == 200
        assert other_api.post("/contacts:batch", json=BATCH).status_code == 200
    finally:
        held.close()
    assert api.post("/contacts:batch", json=BATCH).status_code == 200


def test_one_free_slot_lets_one_in_and_a_request_gives_its_slot_back(app, api, tenant):
    held = HeldElsewhere(app, tenant.id, 1)
    try:
        for _ in range(3):  # each request gives back the slot it took, failed or not
            assert api.post("/contacts:batch", json=BATCH).status_code == 200
            assert api.post("/contacts:batch", json={"items": "no"}).status_code == 422
    finally:
        held.close()


def test_the_cap_is_a_setting_and_zero_disables_it(app):
    from flask import Flask

    from app.config import from_environment
    from app.ratelimit import init_bulk_slots
    assert app.extensions["ar_ingest_bulk_slots"].limit == 2  # the default
    uncapped = Flask("uncapped")
    uncapped.config.update(from_environment({"BULK_REQUESTS_PER_TENANT": "0"}))
    init_bulk_slots(uncapped)
    assert "ar_ingest_bulk_slots" not in uncapped.extensions
    assert not uncapped.before_request_funcs


HOLDER = """
import sys, time
from app import create_app
from app.services.bulk_slots import BulkSlots
app = create_app({"DATABASE_URL": sys.argv[1]})
with app.app_context():
    slots = BulkSlots(2)
    held = [slots.acquire(int(sys.argv[2])) for _ in range(2)]
    print("held" if all(held) else "refused", flush=True)
    time.sleep(120)
"""


@pytest.mark.slow
def test_slots_of_a_killed_process_are_free_at_once(app, api, tenant, database_url):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, database_url, str(tenant.id)],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        _refused(api.post("/contacts:batch", json=BATCH))
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # No count was left behind: the kernel (flock) or the server (session lock) let go.
    for _ in range(50):
        response = api.post("/contacts:batch", json=BATCH)
        if response.status_code != 429:
            break
        threading.Event().wait(0.1)  # PostgreSQL ends the killed session asynchronously
    assert response.status_code == 200, response.text


_IN_MEMORY_BATCH = """
from app import create_app
from app.migrations import upgrade
from app.services import tenants
app = create_app({"DATABASE_URL": "sqlite:///:memory:", "LOG_LEVEL": "WARNING"})
upgrade()
key = tenants.create_api_key(tenants.create_tenant("a"))[1]
answer = app.test_client().post("/api/v1/ingest/accounts:batch", headers={"X-API-Key": key},
                                json={"items": [{"account_number": "A", "name": "x"}]})
print(answer.status_code, answer.get_json()["results"][0]["status"])
"""


def test_an_in_memory_database_leaves_no_slot_directory_where_it_runs(tmp_path):
    """An in-memory SQLite database has no file to put its slots beside: they go to a
    private temporary place, not to a `:memory:-bulk-slots` directory in the working one."""
    done = subprocess.run([sys.executable, "-c", _IN_MEMORY_BATCH], cwd=tmp_path, text=True,
                          capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": ROOT})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["200", "201"]
    assert list(tmp_path.iterdir()) == []
