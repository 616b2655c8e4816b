"""Archive, and sync runs that carry deletions (seed 004)."""
import datetime

from app.models import FeedExit, SyncRun, utcnow
from app.resources.accounts import Account
from app.resources.contacts import Contact
from app.resources.documents import Document
from helpers import assert_problem

INVOICE = {"invoice_date": "2026-01-01", "due_date": "2026-01-31", "amount": "10"}


def start(api, collection="accounts", allow_overlap=False, min_seen=None, **scope):
    options = {"allow_overlap": allow_overlap or None, "min_seen": min_seen}
    body = {name: value for name, value in dict(options, scope=scope or None).items()
            if value is not None}
    answer = api.post(f"/{collection}:sync-runs", json=body or None)
    assert answer.status_code == 201, answer.get_json()
    run = answer.get_json()
    assert answer.headers["Location"].endswith(f"/{collection}:sync-runs/{run['id']}")
    return run["id"]


def batch(api, collection, items, run_id=None):
    headers = {"Sync-Run": run_id} if run_id else {}
    answer = api.post(f"/{collection}:batch", json={"items": items}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def accounts(numbers, **fields):
    return [{"account_number": f"A-{n:05d}", "name": f"Customer {n}", **fields} for n in numbers]


# -- archive ----------------------------------------------------------------------------------

def test_archive_and_unarchive_round_trip(api):
    api.put("/accounts/A", json={"name": "a"})
    cursor = api.get("/accounts").get_json()["next_cursor"]
    archived = api.post("/accounts/A/archive")
    body = archived.get_json()
    assert archived.status_code == 200 and body["archived_at"] and body["version"] == 2
    assert archived.headers["ETag"] == '"2"'
    again = api.post("/accounts/A/archive").get_json()
    assert again["version"] == 2 and again["archived_at"] == body["archived_at"]  # idempotent
    feed = api.get(f"/accounts?cursor={cursor}").get_json()["items"]
    assert [(i["account_number"], i["archived_at"] is not None) for i in feed] == [("A", True)]
    assert api.get("/accounts/A").get_json()["archived_at"] == body["archived_at"]
    assert api.post("/accounts:lookup", json={"keys": ["A"]}).get_json()["items"][0][
        "archived_at"]
    assert api.get("/accounts:versions").get_json()["items"][0]["version"] == 2
    active = api.post("/accounts/A/unarchive").get_json()
    assert active["archived_at"] is None and active["version"] == 3
    assert_problem(api.post("/accounts/NOPE/archive"), 404, "not-found")
    assert_problem(api.post("/accounts/A/archive", headers={"If-Match": '"1"'}), 412,
                   "precondition-failed")


def test_a_write_makes_an_archived_record_active_again(api):
    body = api.put("/accounts/A", json={"name": "a"}).get_json()
    api.post("/accounts/A/archive")
    again = api.put("/accounts/A", json={"name": "a"}).get_json()  # the same content
    assert again["archived_at"] is None and again["version"] == 3
    api.post("/accounts/A/archive")
    patched = api.patch("/accounts/A", json={"name": "a"}).get_json()
    assert patched["archived_at"] is None and patched["version"] == 5
    assert body["archived_at"] is None


def test_delete_archives_instead_of_409_when_asked(api):
    api.put("/accounts/A", json={"name": "a"})
    api.put("/contacts/C", json={"name": "c", "account_number": "A"})
    assert_problem(api.delete("/accounts/A"), 409, "conflict")
    archived = api.delete("/accounts/A?archive_if_referenced=true")
    assert archived.status_code == 200 and archived.get_json()["archived_at"]
    assert Account.get().archived_at is not None and Contact.select().count() == 1
    assert api.delete("/contacts/C?archive_if_referenced=true").status_code == 204
    assert Contact.select().count() == 0  # nothing depended on it: deleted


def test_archived_records_leave_lists_unless_asked(api):
    api.put("/accounts/A", json={"name": "a"})
    api.put("/accounts/B", json={"name": "b"})
    api.put("/contacts/C1", json={"name": "c", "account_number": "A"})
    api.put("/contacts/C2", json={"name": "c", "account_number": "A"})
    api.put("/documents/D1", json=dict(INVOICE, account_number="A"))
    api.put("/documents/D2", json=dict(INVOICE, account_number="A"))
    api.put("/representatives/R1", json={"name": "r"})
    api.put("/representatives/R2", json={"name": "r"})
    for rep in ("R1", "R2"):
        for account in ("A", "B"):
            api.put(f"/representatives/{rep}/accounts/{account}")
        api.put(f"/representatives/{rep}/documents/D1")
        api.put(f"/representatives/{rep}/documents/D2")
    for path in ("/contacts/C2", "/documents/D2", "/representatives/R2", "/accounts/B"):
        api.post(path + "/archive")
    views = {
        "/accounts/A/contacts": ("reference", ["C1"], ["C1", "C2"]),
        "/accounts/A/documents": ("document_number", ["D1"], ["D1", "D2"]),
        "/accounts/A/representatives": ("reference", ["R1"], ["R1", "R2"]),
        "/documents/D1/representatives": ("reference", ["R1"], ["R1", "R2"]),
        "/representatives/R1/accounts": (None, ["A"], ["A", "B"]),
        "/representatives/R1/documents": (None, ["D1"], ["D1", "D2"]),
    }
    for path, (key, active, everything) in views.items():
        for query, expected in (("", active), ("?include_archived=true", everything)):
            page = api.get(path + query).get_json()
            keys = [item[key] if key else item for item in page["items"]]
            assert keys == expected and page["total"] == len(expected), (path, query)
    summary = api.get("/representatives/R1").get_json()
    assert summary["accounts"] == {"total": 1, "items": ["A"]}


# -- sync runs --------------------------------------------------------------------------------

def test_a_second_full_sync_removes_what_it_no_longer_sends(api):
    for chunk in range(10):
        batch(api, "accounts", accounts(range(chunk * 1000, (chunk + 1) * 1000)))
    dependants = [5, 17, 9_999]  # missing from the next sync, but others still refer to them
    api.put("/contacts/C-5", json={"name": "c", "account_number": "A-00005"})
    api.put("/documents/D-17", json=dict(INVOICE, account_number="A-00017"))
    api.put("/accounts/CHILD", json={"name": "child", "parent_account_number": "A-09999"})
    missing = set(range(0, 10_000, 100)) | set(dependants)
    missing.discard(0)
    run = start(api)
    for chunk in range(10):
        rows = [n for n in range(chunk * 1000, (chunk + 1) * 1000) if n not in missing]
        result = batch(api, "accounts", accounts(rows), run)
        assert result["unchanged"] == len(rows)  # seen, yet no new version
    api.put("/accounts/CHILD", json={"name": "child", "parent_account_number": "A-09999"},
            headers={"Sync-Run": run})
    progress = api.get(f"/accounts:sync-runs/{run}").get_json()
    assert progress["status"] == "running" and progress["seen"] == 10_000 - len(missing) + 1
    finished = api.post(f"/accounts:sync-runs/{run}:finish")
    result = finished.get_json()["result"]
    assert finished.status_code == 200 and finished.get_json()["status"] == "finished"
    assert result == {"in_scope": 10_001, "seen": 10_001 - len(missing),
                      "deleted": len(missing) - 3, "archived": 3,
                      "kept": 10_001 - len(missing)}
    for n in dependants:
        assert Account.get(Account.account_number == f"A-{n:05d}").archived_at is not None
    assert Account.select().count() == 10_001 - len(missing) + 3
    assert Account.get(Account.account_number == "A-00000").version == 1
    deleted = {t.key for t in FeedExit.select().where(FeedExit.deleted == True)}  # noqa
    assert deleted == {f"A-{n:05d}" for n in missing} - {f"A-{n:05d}" for n in dependants}
    tombstones = [i for i in api.get("/accounts?limit=1000&cursor=" + _cursor_at(api, run))
                  .get_json()["items"] if i.get("deleted")]
    assert len(tombstones) == len(missing) - 3


def _cursor_at(api, run_id):
    """A feed cursor taken just before the finish (the feed's last record before it)."""
    from app.services.cursors import encode_cursor
    run = SyncRun.get(SyncRun.run_id == run_id)
    with api.client.application.app_context():  # cursors are sealed with the app's secret
        return encode_cursor(run.tenant_id, "accounts:feed", run.started_seq, 1, 2 ** 62)


def test_a_record_written_without_the_header_during_the_run_is_kept(api):
    batch(api, "accounts", accounts(range(10)))
    run = start(api)
    batch(api, "accounts", accounts(range(8)), run)
    api.patch("/accounts/A-00008", json={"name": "changed by someone else"})
    api.put("/accounts/NEW", json={"name": "created during the run"})
    result = api.post(f"/accounts:sync-runs/{run}:finish").get_json()["result"]
    assert result["deleted"] == 1  # A-00009 only
    assert {a.account_number for a in Account.select()} == {
        *(f"A-{n:05d}" for n in range(9)), "NEW"}


def test_the_guard_refuses_to_wipe_the_scope(api):
    batch(api, "accounts", accounts(range(20)))
    run = start(api)
    batch(api, "accounts", accounts(range(10)), run)
    refused = assert_problem(api.post(f"/accounts:sync-runs/{run}:finish"), 409, "conflict")
    assert refused["would"]["deleted"] == 10
    assert (refused["guard"], refused["limit"], refused["actual"]) == ("max_removal_ratio",
                                                                       0.2, 0.5)
    assert Account.select().count() == 20
    assert api.get(f"/accounts:sync-runs/{run}").get_json()["status"] == "running"
    empty = start(api, allow_overlap=True)  # an empty export
    assert_problem(api.post(f"/accounts:sync-runs/{empty}:finish"), 409, "conflict")
    assert Account.select().count() == 20
    allowed = api.post(f"/accounts:sync-runs/{run}:finish", json={"max_removal_ratio": 0.5})
    assert allowed.status_code == 200 and allowed.get_json()["result"]["deleted"] == 10
    assert_problem(api.post(f"/accounts:sync-runs/{run}:finish", json={
        "max_removal_ratio": 0.9}), 409, "conflict")  # finished already
    assert_problem(api.post(f"/accounts:sync-runs/{empty}:finish", json={
        "max_removal_ratio": 7}), 422, "validation-error", ["#/max_removal_ratio"])


def test_a_scoped_run_touches_only_its_scope(api):
    for number in ("A", "B"):
        api.put(f"/accounts/{number}", json={"name": number})
    for n in range(10):
        api.put(f"/documents/DA-{n}", json=dict(INVOICE, account_number="A"))
        api.put(f"/documents/DB-{n}", json=dict(INVOICE, account_number="B"))
    run = start(api, "documents", account_number="A")
    batch(api, "documents", [dict(INVOICE, account_number="A", document_number=f"DA-{n}")
                             for n in range(9)], run)
    result = api.post(f"/documents:sync-runs/{run}:finish").get_json()
    assert result["scope"] == {"account_number": "A"}
    assert result["result"] == {"in_scope": 10, "seen": 9, "deleted": 1, "archived": 0,
                                "kept": 9}
    assert Document.select().count() == 19
    assert_problem(api.post("/documents:sync-runs", json={"scope": {"colour": "red"}}), 422,
                   "validation-error", ["#/scope/colour"])
    assert_problem(api.post("/documents:sync-runs", json={"scope": {"status": "lost"}}), 422,
                   "validation-error", ["#/scope/status"])


def test_abort_and_expiry_remove_nothing(api):
    batch(api, "accounts", accounts(range(5)))
    aborted = start(api)
    assert api.post(f"/accounts:sync-runs/{aborted}:abort").get_json()["status"] == "aborted"
    assert_problem(api.post(f"/accounts:sync-runs/{aborted}:finish"), 409, "conflict")
    assert_problem(api.post(f"/accounts:sync-runs/{aborted}:abort"), 409, "conflict")
    stale = start(api)
    SyncRun.update(expires_at=utcnow() - datetime.timedelta(seconds=1)).where(
        SyncRun.run_id == stale).execute()
    assert api.get(f"/accounts:sync-runs/{stale}").get_json()["status"] == "expired"
    assert_problem(api.post(f"/accounts:sync-runs/{stale}:finish"), 409, "conflict")
    assert_problem(api.put("/accounts/A-00001", json={"name": "x"},
                           headers={"Sync-Run": stale}), 422, "validation-error")
    assert Account.select().count() == 5


def test_the_sync_run_header_is_checked(api, other_api):
    api.put("/accounts/A", json={"name": "a"})
    run = start(api, "contacts")
    for header in (run, "0" * 32, "not-a-run-id"):  # a contacts run on an account write...
        assert_problem(api.put("/accounts/A", json={"name": "changed"},
                               headers={"Sync-Run": header}), 422, "validation-error")
    assert Account.get().name == "a"  # nothing was written
    theirs = start(other_api)
    assert_problem(api.put("/accounts/A", json={"name": "x"}, headers={"Sync-Run": theirs}),
                   422, "validation-error")
    assert_problem(api.get(f"/accounts:sync-runs/{theirs}"), 404, "not-found")
    matched = api.put("/accounts/A/contacts/upsert", json={"name": "Ann Lee", "language": "en"},
                      headers={"Sync-Run": run})
    assert matched.status_code == 201
    assert api.get(f"/contacts:sync-runs/{run}").get_json()["seen"] == 1
