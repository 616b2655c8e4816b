"""tap-ar-ingest against a live server, and a target killed mid-stream then resumed."""
import copy
import json
import os
import signal
import subprocess
import time

import pytest

pytest.importorskip("singer_sdk")

from app.services import tenants as tenant_service  # noqa: E402
from app.singer.tap import record_schema  # noqa: E402
from live_server import GunicornServer  # noqa: E402
from singer_helpers import TARGET, records_of, run_tap, write_config  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(database_url, _schema):
    with GunicornServer(database_url, workers=2, threads=2) as running:
        yield running


def last_state(messages):
    return [m["value"] for m in messages if m["type"] == "STATE"][-1]


def test_schema_is_the_get_one_answer_whatever_its_component_is_called(app):
    document = app.test_client().get("/api/v1/ingest/openapi.json").get_json()
    renamed = copy.deepcopy(document)
    answer = renamed["paths"]["/api/v1/ingest/contacts/{reference}"]["get"]["responses"]["200"]
    name = answer["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    renamed["components"]["schemas"]["ContactRecordResponse"] = \
        renamed["components"]["schemas"].pop(name)
    answer["content"]["application/json"]["schema"]["$ref"] = \
        "#/components/schemas/ContactRecordResponse"
    schema = record_schema(renamed, "contacts")
    assert schema == record_schema(document, "contacts")
    assert "$ref" not in json.dumps(schema)  # inlined: a Singer SCHEMA stands alone
    assert {"reference", "email", "version", "updated_at", "_sdc_deleted_at"} <= \
        set(schema["properties"]) and schema["required"] == ["reference"]


def test_incremental_runs_emit_exactly_what_changed_with_tombstones(server, api, api_key,
                                                                   tmp_path):
    for number in range(1, 5):
        api.put(f"/accounts/A-{number}", json={"name": f"Customer {number}"})
    _, first = run_tap(tmp_path, server.url, api_key, collections=["accounts"], page_size=3)
    assert [r["account_number"] for r in records_of(first)] == ["A-1", "A-2", "A-3", "A-4"]
    schema = next(m for m in first if m["type"] == "SCHEMA")
    assert schema["key_properties"] == ["account_number"]
    api.patch("/accounts/A-2", json={"name": "Renamed"})
    api.delete("/accounts/A-3")
    _, second = run_tap(tmp_path, server.url, api_key, last_state(first),
                        collections=["accounts"])
    changed = records_of(second)
    assert [r["account_number"] for r in changed] == ["A-2", "A-3"]
    assert changed[0]["name"] == "Renamed" and changed[0]["_sdc_deleted_at"] is None
    assert changed[1]["_sdc_deleted_at"] == changed[1]["updated_at"]
    _, third = run_tap(tmp_path, server.url, api_key, last_state(second),
                       collections=["accounts"])
    assert records_of(third) == []


def test_a_filtered_feed_turns_exits_into_deletions(server, api, api_key, tmp_path):
    for number in (1, 2):
        api.put(f"/accounts/A-{number}", json={"name": f"Customer {number}"})
    api.put("/contacts/C-1", json={"account_number": "A-1", "name": "Ann"})
    api.put("/contacts/C-2", json={"account_number": "A-1", "name": "Bob"})
    api.put("/contacts/C-3", json={"account_number": "A-2", "name": "Cy"})
    options = {"collections": ["contacts"], "filters": {"contacts": {"account_number": "A-1"}}}
    _, first = run_tap(tmp_path, server.url, api_key, **options)
    assert [r["reference"] for r in records_of(first)] == ["C-1", "C-2"]
    api.patch("/contacts/C-2", json={"account_number": "A-2"})  # leaves the view
    _, second = run_tap(tmp_path, server.url, api_key, last_state(first), **options)
    (left,) = records_of(second)
    assert left["reference"] == "C-2" and left["_sdc_deleted_at"]


def test_a_target_killed_mid_stream_resumes_from_its_last_state(server, app, api, api_key,
                                                                tmp_path):
    """STATE from the target means every earlier record is stored: killed after one, the tap
    resumed from it delivers the rest, and the copy ends equal to the source."""
    copy_key = tenant_service.create_api_key(tenant_service.create_tenant("copy"))[1]
    records = [{"account_number": f"A-{n:04d}", "name": f"Customer {n}"} for n in range(1200)]
    for start in range(0, len(records), 400):
        assert api.post("/accounts:batch", json={"items": records[start:start + 400]}) \
            .status_code == 200
    _, source = run_tap(tmp_path, server.url, api_key, collections=["accounts"], page_size=100)
    messages = [json.dumps(m) + "\n" for m in source]
    conf = write_config(tmp_path / "target.json", {"url": server.url, "api_key": copy_key,
                                                   "batch_size": 100})
    target = subprocess.Popen([TARGET, "--config", conf], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    cut = next(i for i, m in enumerate(source) if m["type"] == "STATE" and
               sum(1 for x in source[:i] if x["type"] == "RECORD") >= 650)
    target.stdin.writelines(messages[:cut + 1] + messages[cut + 1:cut + 40])
    target.stdin.flush()
    emitted = None
    while emitted != source[cut]["value"]:  # the STATEs the target confirmed, in order
        emitted = json.loads(target.stdout.readline())
    time.sleep(0.5)
    os.kill(target.pid, signal.SIGKILL)
    target.wait()
    # Every record before that STATE in the tap's output is on the server now.
    position = next(i for i, m in enumerate(source) if m["type"] == "STATE" and
                    m["value"] == emitted)
    before = [r["account_number"] for r in records_of(source[:position])]
    copy_api = type(api)(app.test_client(), copy_key)
    held = copy_api.get("/accounts:versions?limit=10000").get_json()["items"]
    assert len(before) >= 650 and set(before) <= {item["account_number"] for item in held}
    # The tap resumed from the emitted state sends the rest, and nothing before it.
    _, rest = run_tap(tmp_path, server.url, api_key, emitted, collections=["accounts"],
                      page_size=100)
    again = [r["account_number"] for r in records_of(rest)]
    assert not set(again) & set(before) and sorted(before + again) == \
        [r["account_number"] for r in records]
    resumed = subprocess.run([TARGET, "--config", conf], input="".join(
        json.dumps(m) + "\n" for m in rest), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    held = copy_api.get("/accounts:versions?limit=10000").get_json()["items"]
    assert [item["account_number"] for item in held] == [r["account_number"] for r in records]
    assert {item["version"] for item in held} == {1}  # nothing written twice with a change
