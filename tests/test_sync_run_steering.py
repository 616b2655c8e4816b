"""Sync runs an operator can steer: the listing, overlap refusal, guards and dry runs."""
import datetime
import threading

import jsonschema_rs
import pytest

from app.models import FeedExit, SyncRun, SyncRunSeen, utcnow
from app.resources.accounts import Account
from app.resources.contacts import Contact
from helpers import ApiClient, assert_problem, key_parts
from test_sync_runs import accounts, batch, start

PREFIX = "/api/v1/ingest"
NO_GUARDS = {"min_seen": None, "max_removals": None, "max_removal_ratio": None}


def parameters_at_fault(body):
    return sorted(error["parameter"] for error in body["errors"])


def stored(run_id):
    return SyncRun.get(SyncRun.run_id == run_id)


def conforms(api, schema_name, body):
    spec = api.client.get(f"{PREFIX}/openapi.json").get_json()
    return jsonschema_rs.validator_for({"$ref": f"#/components/schemas/{schema_name}",
                                        "components": spec["components"]}).is_valid(body)


def expire(run_id):
    SyncRun.update(expires_at=utcnow() - datetime.timedelta(seconds=1)).where(
        SyncRun.run_id == run_id).execute()


def sync_a_subset(api, total, sent, dependent=None):
    """`total` accounts, a run that saw the first `sent` of them; `dependent` has a contact."""
    batch(api, "accounts", accounts(range(total)))
    if dependent is not None:
        api.put("/contacts/DEP", json={"name": "d", "account_number": f"A-{dependent:05d}"})
    run = start(api)
    if sent:
        batch(api, "accounts", accounts(range(sent)), run)
    return run


# -- the listing ------------------------------------------------------------------------------

def test_the_listing_shows_running_runs_first_then_the_newest(api, api_key, other_api):
    finished = start(api)
    assert api.post(f"/accounts:sync-runs/{finished}:finish").status_code == 200
    aborted = start(api)
    api.post(f"/accounts:sync-runs/{aborted}:abort")
    lost = start(api)
    expire(lost)  # still stored as running: it shows, and filters, as expired
    running = start(api, min_seen=3)
    newest = start(api, "accounts", allow_overlap=True, account_group="north")
    newest_aborted = start(api, "accounts", allow_overlap=True, account_group="south")
    api.post(f"/accounts:sync-runs/{newest_aborted}:abort")
    start(api, "contacts")
    start(other_api)
    page = api.get("/accounts:sync-runs")
    assert page.status_code == 200 and conforms(api, "SyncRunPage", page.get_json())
    body = page.get_json()
    assert [run["id"] for run in body["items"]] == [newest, running, newest_aborted, lost,
                                                    aborted, finished]
    assert body["next_cursor"] is None
    by_id = {run["id"]: run for run in body["items"]}
    assert [by_id[i]["status"] for i in (running, lost, aborted, finished)] == [
        "running", "expired", "aborted", "finished"]
    key_id = key_parts(api_key)[0]
    assert {run["started_by"] for run in body["items"]} == {key_id}
    assert stored(running).started_by == key_id
    assert by_id[running]["guards"] == dict(NO_GUARDS, min_seen=3)
    assert by_id[finished]["guards"] == dict(NO_GUARDS, max_removal_ratio=0.2)
    assert by_id[finished]["result"]["deleted"] == 0 and by_id[running]["result"] is None
    assert by_id[newest]["scope"] == {"account_group": "north"}
    for status, expected in (("running", [newest, running]), ("expired", [lost]),
                             ("aborted", [newest_aborted, aborted]), ("finished", [finished])):
        listed = api.get(f"/accounts:sync-runs?status={status}").get_json()["items"]
        assert [run["id"] for run in listed] == expected, status
    assert stored(lost).status == "running"  # a GET of the list writes nothing


def test_the_listing_pages_by_cursor(api, other_api):
    ids = [start(api, "documents", allow_overlap=True, account_number=f"A-{n}")
           for n in range(7)]
    for run_id in ids[:3]:
        api.post(f"/documents:sync-runs/{run_id}:abort")
    seen, cursor, pages = [], "", 0
    while cursor is not None:
        page = api.get(f"/documents:sync-runs?limit=2&cursor={cursor}").get_json()
        assert len(page["items"]) <= 2
        seen += [run["id"] for run in page["items"]]
        cursor, pages = page["next_cursor"], pages + 1
    assert pages == 4
    assert seen == ids[3:][::-1] + ids[:3][::-1]  # running, newest first; then the others
    first = api.get("/documents:sync-runs?limit=3").get_json()
    assert len(first["items"]) == 3 and first["next_cursor"]
    aborted = api.get("/documents:sync-runs?status=aborted&limit=1").get_json()["next_cursor"]
    for bad in (first["next_cursor"][:-2], "not!a-cursor", aborted):  # another filter's too
        refused = assert_problem(api.get(f"/documents:sync-runs?cursor={bad}"), 422,
                                 "validation-error")
        assert parameters_at_fault(refused) == ["cursor"]
    mine = first["next_cursor"]
    assert parameters_at_fault(assert_problem(other_api.get(
        f"/documents:sync-runs?cursor={mine}"), 422, "validation-error")) == ["cursor"]
    assert api.get(f"/accounts:sync-runs?cursor={mine}").status_code == 422  # another listing


@pytest.mark.parametrize("query, at_fault", [
    ("status=lost", ["status"]), ("limit=0", ["limit"]), ("limit=101", ["limit"]),
    ("limit=x", ["limit"]), ("state=running", ["state"]), ("status=", ["status"])])
def test_the_listing_refuses_bad_parameters(api, query, at_fault):
    refused = assert_problem(api.get(f"/accounts:sync-runs?{query}"), 422, "validation-error")
    assert parameters_at_fault(refused) == at_fault


# -- overlapping runs -------------------------------------------------------------------------

def test_a_run_overlapping_a_running_one_is_refused_naming_it(api):
    first = start(api)
    refused = assert_problem(api.post("/accounts:sync-runs"), 409, "conflict")
    assert refused["running_run"] == first and first in refused["detail"]
    assert_problem(api.post("/accounts:sync-runs", json={"scope": {"account_group": "x"}}), 409,
                   "conflict")  # a scope inside the whole collection
    assert SyncRun.select().count() == 1
    second = start(api, allow_overlap=True)
    assert {run.run_id for run in SyncRun.select()} == {first, second}
    api.post(f"/accounts:sync-runs/{first}:abort")
    api.post(f"/accounts:sync-runs/{second}:finish", json={"max_removal_ratio": 1})
    start(api)  # nothing running any more: an aborted or finished run does not count
    assert start(api, "contacts")  # another collection never overlaps


def test_scopes_overlap_unless_a_filter_both_name_differs(api):
    api.put("/accounts/A", json={"name": "a"})
    api.put("/accounts/B", json={"name": "b"})
    start(api, "documents", account_number="A")
    start(api, "documents", account_number="B")  # disjoint
    start(api, "documents", account_number=None)  # records with no account: disjoint too
    for scope in ({}, {"account_number": "A"}, {"status": "open"},
                  {"account_number": "B", "document_type": "invoice"}):
        refused = assert_problem(api.post("/documents:sync-runs", json={"scope": scope}), 409,
                                 "conflict")
        assert stored(refused["running_run"]).status == "running", scope
    start(api, "documents", account_number="C", status="open")
    ann = start(api, "contacts", email="Ann@Example.com")
    refused = assert_problem(api.post("/contacts:sync-runs", json={"scope": {
        "email": "ann@example.com"}}), 409, "conflict")  # the same address, as filters match
    assert refused["running_run"] == ann
    start(api, "contacts", email="bob@example.com")
    assert SyncRun.select().where(SyncRun.status == "running").count() == 6


def test_an_expired_run_does_not_block_a_new_one(api):
    lost = start(api)
    expire(lost)
    fresh = start(api)
    assert fresh != lost
    assert api.get(f"/accounts:sync-runs/{lost}").get_json()["status"] == "expired"


def test_of_concurrent_overlapping_starts_one_wins(app, api_key):
    threads, outcomes = 4, []
    ready = threading.Barrier(threads)

    def start_one():
        client = ApiClient(app.test_client(), api_key)
        ready.wait()
        outcomes.append(client.post("/accounts:sync-runs").status_code)

    workers = [threading.Thread(target=start_one) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert sorted(outcomes) == [201] + [409] * (threads - 1)
    assert SyncRun.select().where(SyncRun.status == "running").count() == 1


# -- guards ----------------------------------------------------------------------------------

def assert_refused_by(answer, guard, limit, actual):
    refused = assert_problem(answer, 409, "conflict")
    assert (refused["guard"], refused["limit"], refused["actual"]) == (guard, limit, actual)
    assert guard in refused["detail"] and "nothing was removed" in refused["detail"]
    return refused


def assert_nothing_removed(run_id, total):
    assert Account.select().count() == total and FeedExit.select().count() == 0
    assert stored(run_id).status == "running" and stored(run_id).result is None


def test_max_removals_refuses_and_alone_replaces_the_ratio(api):
    run = sync_a_subset(api, 10, 7)
    refused = assert_refused_by(api.post(f"/accounts:sync-runs/{run}:finish", json={
        "max_removals": 2}), "max_removals", 2, 3)
    assert refused["would"]["deleted"] == 3
    assert_nothing_removed(run, 10)
    assert_refused_by(api.post(f"/accounts:sync-runs/{run}:finish", json={  # both apply
        "max_removals": 5, "max_removal_ratio": 0.2}), "max_removal_ratio", 0.2, 0.3)
    assert_nothing_removed(run, 10)
    finished = api.post(f"/accounts:sync-runs/{run}:finish", json={"max_removals": 3})
    assert finished.status_code == 200  # 30 % > 0.2, but only an absolute count was stated
    assert finished.get_json()["result"]["deleted"] == 3 and Account.select().count() == 7
    assert finished.get_json()["guards"] == dict(NO_GUARDS, max_removals=3)
    assert stored(run).guards == dict(NO_GUARDS, max_removals=3)


def test_min_seen_from_the_start_or_the_finish(api):
    batch(api, "accounts", accounts(range(10)))
    run = start(api, min_seen=9)
    batch(api, "accounts", accounts(range(8)), run)
    assert api.get(f"/accounts:sync-runs/{run}").get_json()["guards"]["min_seen"] == 9
    assert_refused_by(api.post(f"/accounts:sync-runs/{run}:finish", json={
        "max_removal_ratio": 1}), "min_seen", 9, 8)
    assert_nothing_removed(run, 10)
    assert_refused_by(api.post(f"/accounts:sync-runs/{run}:finish", json={
        "min_seen": 10, "max_removals": 5}), "min_seen", 10, 8)
    finished = api.post(f"/accounts:sync-runs/{run}:finish", json={"min_seen": 8})
    assert finished.status_code == 200 and finished.get_json()["result"]["deleted"] == 2
    assert stored(run).guards == dict(NO_GUARDS, min_seen=8, max_removal_ratio=0.2)


@pytest.mark.parametrize("guard", [{"max_removal_ratio": 0.5}, {"max_removals": 1}])
def test_three_contacts_of_an_account_one_missing(api, guard):
    api.put("/accounts/A", json={"name": "a"})
    api.put("/accounts/B", json={"name": "b"})
    for reference, account in (("C1", "A"), ("C2", "A"), ("C3", "A"), ("OTHER", "B")):
        api.put(f"/contacts/{reference}", json={"name": reference, "account_number": account})
    run = start(api, "contacts", account_number="A")
    batch(api, "contacts", [{"reference": r, "name": r, "account_number": "A"}
                            for r in ("C1", "C2")], run)
    refused = assert_refused_by(api.post(f"/contacts:sync-runs/{run}:finish"),
                                "max_removal_ratio", 0.2, 0.333333)
    assert refused["would"] == {"in_scope": 3, "seen": 2, "deleted": 1, "archived": 0, "kept": 2}
    assert Contact.select().count() == 4
    finished = api.post(f"/contacts:sync-runs/{run}:finish", json=guard)
    assert finished.status_code == 200, finished.get_json()
    assert finished.get_json()["result"]["deleted"] == 1
    assert {c.reference for c in Contact.select()} == {"C1", "C2", "OTHER"}


@pytest.mark.parametrize("path, body, pointer", [
    ("finish", {"max_removals": -1}, "max_removals"),
    ("finish", {"max_removals": "3"}, "max_removals"),
    ("finish", {"max_removals": True}, "max_removals"),
    ("finish", {"max_removals": 1.5}, "max_removals"),
    ("finish", {"max_removals": 10 ** 400}, "max_removals"),
    ("finish", {"min_seen": -1}, "min_seen"),
    ("finish", {"max_removal_ratio": 1.5}, "max_removal_ratio"),
    ("finish", {"max_remove": 1}, "max_remove"),
    ("start", {"min_seen": -1}, "min_seen"),
    ("start", {"min_seen": "many"}, "min_seen"),
    ("start", {"allow_overlap": "yes"}, "allow_overlap"),
])
def test_bad_guards_are_refused_naming_the_field(api, path, body, pointer):
    run = sync_a_subset(api, 2, 2)
    url = f"/accounts:sync-runs/{run}:finish" if path == "finish" else "/accounts:sync-runs"
    assert_problem(api.post(url, json=body), 422, "validation-error", [f"#/{pointer}"])
    assert_nothing_removed(run, 2)
    assert SyncRun.select().count() == 1


def test_a_whole_number_written_with_a_point_is_a_count(api):
    run = sync_a_subset(api, 10, 7)
    finished = api.post(f"/accounts:sync-runs/{run}:finish", data=b'{"max_removals": 3.0}',
                        headers={"Content-Type": "application/json"})
    assert finished.status_code == 200 and finished.get_json()["guards"]["max_removals"] == 3


# -- dry runs ---------------------------------------------------------------------------------

def test_a_dry_run_changes_nothing_and_lists_what_it_would_remove(api):
    run = sync_a_subset(api, 10, 6, dependent=9)
    before = {(a.account_number, a.version, a.archived_at) for a in Account.select()}
    refused = api.post(f"/accounts:sync-runs/{run}:finish?dry_run=true")
    body = refused.get_json()
    assert refused.status_code == 200 and conforms(api, "SyncRunDryRun", body)
    assert body == {"dry_run": True, "would": "refuse",
                    "refused_by": {"guard": "max_removal_ratio", "limit": 0.2, "actual": 0.4},
                    "counts": {"in_scope": 10, "seen": 6, "deleted": 3, "archived": 1,
                               "kept": 6},
                    "would_delete": ["A-00006", "A-00007", "A-00008"],
                    "would_archive": ["A-00009"]}
    allowed = api.post(f"/accounts:sync-runs/{run}:finish?dry_run=true",
                       json={"max_removals": 4}).get_json()
    assert allowed["would"] == "finish" and allowed["refused_by"] is None
    assert {(a.account_number, a.version, a.archived_at) for a in Account.select()} == before
    assert FeedExit.select().count() == 0 and Contact.select().count() == 1
    assert api.get(f"/accounts:sync-runs/{run}").get_json()["status"] == "running"
    assert stored(run).result is None and stored(run).guards == {"min_seen": None}
    finished = api.post(f"/accounts:sync-runs/{run}:finish", json={"max_removals": 4})
    assert finished.get_json()["result"] == allowed["counts"]
    assert_problem(api.post(f"/accounts:sync-runs/{run}:finish?dry_run=true"), 409, "conflict")
    assert_problem(api.post(f"/accounts:sync-runs/{run}:finish?dry_run=maybe"), 422,
                   "validation-error")


def test_a_dry_run_lists_at_most_100_keys_of_each_kind(api):
    run = sync_a_subset(api, 150, 0)
    body = api.post(f"/accounts:sync-runs/{run}:finish?dry_run=true",
                    json={"min_seen": 1}).get_json()
    assert body["refused_by"] == {"guard": "min_seen", "limit": 1, "actual": 0}
    assert body["counts"]["deleted"] == 150 and body["would_archive"] == []
    assert body["would_delete"] == [f"A-{n:05d}" for n in range(100)]
    assert SyncRunSeen.select().count() == 0 and Account.select().count() == 150
