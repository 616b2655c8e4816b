"""target-ar-ingest against a live server: upserts, rejects, STATE, full tables, deletions."""
import json

import pytest

pytest.importorskip("singer_sdk")

from live_server import GunicornServer  # noqa: E402
from singer_helpers import activate, lines, record, run_target, schema, state  # noqa: E402

pytestmark = pytest.mark.slow
ACCOUNT = {"account_number": "string", "name": "string", "currency": "string"}


@pytest.fixture(scope="module")
def server(database_url, _schema):
    with GunicornServer(database_url, workers=2, threads=2) as running:
        yield running


def accounts(*numbers, version=None, stream="accounts", **fields):
    return [record(stream, {"account_number": f"A-{n}", "name": f"Customer {n}", **fields},
                   version) for n in numbers]


def stored(api, collection="accounts"):
    """Every live record's key, from the change feed."""
    items = api.get(f"/{collection}?limit=1000").get_json()["items"]
    key = {"accounts": "account_number", "contacts": "reference"}[collection]
    return sorted(item[key] for item in items if not item.get("deleted"))


def test_records_become_upserts_and_state_follows_them(server, api_key, api, tmp_path):
    text = lines(schema("accounts", ACCOUNT, "account_number"), *accounts(1, 2, 3),
                 state({"position": 3}), *accounts(4), state({"position": 4}),
                 schema("contacts", {"reference": "string", "account_number": "string",
                                     "name": "string"}, "reference"),
                 record("contacts", {"reference": "C-1", "account_number": "A-4",
                                     "name": "Ann"}),
                 state({"position": 5}))
    done, states = run_target(tmp_path, server.url, api_key, text, batch_size=2)
    assert done.returncode == 0, done.stderr[-3000:]
    assert stored(api) == ["A-1", "A-2", "A-3", "A-4"]
    # A contact naming an account of another stream, sent just before it, lands.
    assert api.get("/contacts/C-1").get_json()["account_number"] == "A-4"
    # Each STATE after a batch's worth of records, and the last at the end, in order.
    assert states == [{"position": 3}, {"position": 5}]
    again, _ = run_target(tmp_path, server.url, api_key, text)
    assert again.returncode == 0 and " 5 unchanged" in again.stderr


def test_a_refused_record_is_rejected_alone_with_the_servers_reasons(server, api_key, api,
                                                                     tmp_path):
    rejects = tmp_path / "rejects.ndjson"
    text = lines(schema("accounts", ACCOUNT, "account_number"), *accounts(1),
                 *accounts(2, currency="ZZZ"), *accounts(3), *accounts(4, name=""),
                 state({"done": True}))
    done, states = run_target(tmp_path, server.url, api_key, text, reject_file=str(rejects))
    assert done.returncode == 0, done.stderr[-3000:]
    assert stored(api) == ["A-1", "A-3"] and states == [{"done": True}]
    refused = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [r["record"]["account_number"] for r in refused] == ["A-2", "A-4"]
    assert refused[0]["stream"] == "accounts" and refused[0]["record"]["currency"] == "ZZZ"
    assert [e["pointer"] for e in refused[0]["errors"]] == ["#/currency"]
    assert [e["pointer"] for e in refused[1]["errors"]] == ["#/name"]


def test_more_rejects_than_max_rejects_fail_the_load(server, api_key, api, tmp_path):
    text = lines(schema("accounts", ACCOUNT, "account_number"),
                 *accounts(1, 2, currency="ZZZ"), *accounts(3), state({"done": True}))
    done, states = run_target(tmp_path, server.url, api_key, text, max_rejects=1)
    assert done.returncode != 0 and "max_rejects (1)" in done.stderr
    assert states == []  # nothing after the failure is confirmed
    assert stored(api) == ["A-3"]  # the batch's good record was stored before the count ran out


def test_an_unmapped_stream_is_refused_at_its_schema(server, api_key, api, tmp_path):
    text = lines(schema("customers", ACCOUNT, "account_number"),
                 *accounts(1, stream="customers"))
    done, _ = run_target(tmp_path, server.url, api_key, text)
    assert done.returncode != 0
    assert "Stream 'customers' maps to no collection" in done.stderr
    assert stored(api) == []
    mapped, _ = run_target(tmp_path, server.url, api_key, text,
                           streams={"customers": "accounts"})
    assert mapped.returncode == 0, mapped.stderr[-3000:]
    assert stored(api) == ["A-1"]


def test_stream_maps_rename_keys_and_drop_unknown_columns(server, api_key, api, tmp_path):
    people = {"type": "SCHEMA", "stream": "people", "key_properties": ["id"], "schema": {
        "type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                                         "colour": {"type": "string"}}}}
    text = lines(people, record("people", {"id": 7, "name": "Ann Lee", "colour": "red"}))
    maps = {"people": {"__alias__": "contacts", "reference": "str(id)", "name": "name",
                       "__key_properties__": ["reference"], "__else__": None}}
    done, _ = run_target(tmp_path, server.url, api_key, text, stream_maps=maps)
    assert done.returncode == 0, done.stderr[-3000:]
    contact = api.get("/contacts/7").get_json()
    assert contact["name"] == "Ann Lee" and "colour" not in contact


def seed(api, count=5):
    for number in range(1, count + 1):
        api.put(f"/accounts/A-{number}", json={"name": f"Customer {number}"})
    api.put("/contacts/C-5", json={"account_number": "A-5", "name": "Depends on A-5"})


def test_a_full_table_removes_what_it_lacks_at_activate_version(server, api_key, api,
                                                                tmp_path):
    seed(api)
    cursor = api.get("/accounts?limit=1000").get_json()["next_cursor"]
    text = lines(schema("accounts", ACCOUNT, "account_number"),
                 activate("accounts", 1),  # the first full sync's announcement: removes nothing
                 *accounts(1, 2, 3, version=1), activate("accounts", 1))
    done, _ = run_target(tmp_path, server.url, api_key, text, max_removal_ratio=0.5)
    assert done.returncode == 0, done.stderr[-3000:]
    assert stored(api) == ["A-1", "A-2", "A-3", "A-5"]
    assert api.get("/accounts/A-5").get_json()["archived_at"]  # a contact depends on it
    changes = api.get(f"/accounts?cursor={cursor}").get_json()["items"]
    assert {"account_number": "A-4", "deleted": True} in [
        {"account_number": c["account_number"], "deleted": c.get("deleted")} for c in changes]
    runs = api.get("/accounts:sync-runs").get_json()["items"]
    assert [run["status"] for run in runs] == ["finished"]


def test_an_announcement_alone_removes_nothing(server, api_key, api, tmp_path):
    seed(api)
    text = lines(schema("accounts", ACCOUNT, "account_number"), activate("accounts", 9))
    done, _ = run_target(tmp_path, server.url, api_key, text, max_removal_ratio=1)
    assert done.returncode == 0 and len(stored(api)) == 5
    assert api.get("/accounts:sync-runs").get_json()["items"] == []


def test_a_refused_finish_fails_loudly_and_removes_nothing(server, api_key, api, tmp_path):
    seed(api)
    text = lines(schema("accounts", ACCOUNT, "account_number"),
                 *accounts(1, version=2), activate("accounts", 2), state({"after": "finish"}))
    done, states = run_target(tmp_path, server.url, api_key, text)  # the default guard, 0.2
    assert done.returncode != 0 and "full table of accounts was refused" in done.stderr
    assert states == [] and len(stored(api)) == 5
    runs = api.get("/accounts:sync-runs").get_json()["items"]
    assert [run["status"] for run in runs] == ["aborted"]


def test_a_rejected_record_keeps_its_table_from_removing_anything(server, api_key, api,
                                                                  tmp_path):
    seed(api)
    text = lines(schema("accounts", ACCOUNT, "account_number"),
                 *accounts(1, 2, version=3), *accounts(3, version=3, currency="ZZZ"),
                 activate("accounts", 3))
    done, _ = run_target(tmp_path, server.url, api_key, text, max_removal_ratio=1)
    assert done.returncode == 0 and "nothing was removed" in done.stderr
    assert len(stored(api)) == 5  # A-3 existed: removing it would lose it


def test_a_table_never_activated_removes_nothing_unless_asked(server, api_key, api, tmp_path):
    seed(api)
    # A tap on the Singer SDK: the version announced before its records, no end marker.
    text = lines(schema("accounts", ACCOUNT, "account_number"), activate("accounts", 4),
                 *accounts(1, 2, 3, 4, version=4))
    done, _ = run_target(tmp_path, server.url, api_key, text, max_removal_ratio=1)
    assert done.returncode == 0 and len(stored(api)) == 5
    assert [r["status"] for r in api.get("/accounts:sync-runs").get_json()["items"]] == \
        ["aborted"]  # left open, it would block the next full table
    text = text.replace('"version": 4', '"version": 5')
    done, _ = run_target(tmp_path, server.url, api_key, text, max_removal_ratio=1,
                         finish_tables_at_end=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert stored(api) == ["A-1", "A-2", "A-3", "A-4", "A-5"]
    assert api.get("/accounts/A-5").get_json()["archived_at"]


def test_records_without_a_version_are_plain_upserts(server, api_key, api, tmp_path):
    seed(api)
    text = lines(schema("accounts", ACCOUNT, "account_number"), *accounts(1, 6))
    done, _ = run_target(tmp_path, server.url, api_key, text)
    assert done.returncode == 0 and len(stored(api)) == 6
    assert api.get("/accounts:sync-runs").get_json()["items"] == []


def test_soft_deletes_delete_or_archive(server, api_key, api, tmp_path):
    seed(api)
    deleted = {"_sdc_deleted_at": "2026-01-02T03:04:05Z"}
    text = lines({**schema("accounts", ACCOUNT, "account_number"), "schema": {
                     "type": "object", "properties": {
                         **{name: {"type": ["string", "null"]} for name in ACCOUNT},
                         "_sdc_deleted_at": {"type": ["string", "null"],
                                             "format": "date-time"}}}},
                 *accounts(4, 5, 9, **deleted), *accounts(1, _sdc_deleted_at=None))
    done, _ = run_target(tmp_path, server.url, api_key, text)
    assert done.returncode == 0, done.stderr[-3000:]
    assert api.get("/accounts/A-4").status_code == 404
    assert api.get("/accounts/A-5").get_json()["archived_at"]
    assert "2 deleted (1 already absent)" in done.stderr
