"""The Singer SDK's standard test suites for tap-ar-ingest and target-ar-ingest, on a live server.

The SDK builds these test classes when the module is imported, and the tap's streams (and so
the tests it generates) come from the live OpenAPI document then: so this module starts its own
server at import, on a database of its own (an SQLite file; the session's database is emptied
and rebuilt by other tests' fixtures, which must not touch this one).
"""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

pytest.importorskip("singer_sdk")

from singer_sdk.testing import SuiteConfig, get_tap_test_class, get_target_test_class  # noqa: E402,E501

from app.client import IngestClient  # noqa: E402
from app.singer.tap import TapArIngest  # noqa: E402
from app.singer.target import TargetArIngest  # noqa: E402
from live_server import GunicornServer  # noqa: E402

pytestmark = pytest.mark.slow
CLI = os.path.join(os.path.dirname(sys.executable), "ar-ingest")


def _start_server():
    folder = tempfile.mkdtemp(prefix="ar-singer-standard-")
    atexit.register(shutil.rmtree, folder, True)
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{folder}/standard.sqlite3")

    def cli(*args):
        return subprocess.run([CLI, *args], env=env, check=True, capture_output=True,
                              text=True).stdout.strip().splitlines()[-1]
    cli("db", "upgrade")
    keys = {}
    for tenant in ("source", "sink"):
        cli("tenants", "create", tenant)
        keys[tenant] = cli("keys", "create", tenant)
    server = GunicornServer(env["DATABASE_URL"], workers=1, threads=4).start()
    atexit.register(server.stop)
    with IngestClient(server.url, keys["source"]) as client:
        client.accounts.put("A-1", {"name": "Acme", "currency": "usd", "credit_limit": "10",
                                    "billing_address": {"address1": "1 Main St", "address2": None,
                                                        "city": "Atlanta", "state": "GA",
                                                        "zip": "30301", "country": "us"}})
        client.contacts.put("C-1", {"account_number": "A-1", "name": "Ann", "is_primary": True,
                                    "email": "ann@acme.example"})
        client.documents.put("D-1", {"account_number": "A-1", "invoice_date": "2026-01-01",
                                     "due_date": "2026-01-31", "amount": "12.50"})
        client.representatives.put("R-1", {"name": "Rep", "email": "rep@example.com"})
        client.accounts.put("A-2", {"name": "Gone"})
        client.accounts.delete("A-2")  # a tombstone among the records
    return server, keys


SERVER, KEYS = _start_server()

# The SDK's target test streams have their own names and fields; each is made an account with
# the SDK's stream maps (key from the stream's own key, every other column dropped).
_KEYS = {"test_array_data": "id", "TestCamelcase": "Id", "ForecastingTypeToCategory": "Id",
         "test_duplicate_records": "id", "test_strings": "id", "test_strings_in_objects": "id",
         "test_strings_in_arrays": "id", "test_no_pk": "id", "test_optional_attributes": "id",
         "example_stream": "id", "record_missing_fields": "id",
         "test_record_missing_required_property": "id",
         "test:SpecialChars!in?attributes": "_id", "test_schema_updates": "id"}
_MAPS = {stream: {"account_number": f"'{stream}-' + str(record.get('{key}'))",
                  "name": f"'{stream} ' + str(record.get('{key}'))",
                  "__key_properties__": ["account_number"], "__else__": None}
         for stream, key in _KEYS.items()}
for _stream in ("test_object_schema_with_properties", "test_object_schema_no_properties"):
    _MAPS[_stream] = {"account_number": f"'{_stream}-' + str(object_store.get('id'))",
                      "name": "'object ' + str(object_store.get('id'))",
                      "__key_properties__": ["account_number"], "__else__": None}
# Left unmapped so that the SDK's own key check runs (the standard test expects it to raise).
_STREAMS = dict.fromkeys([*_MAPS, "test_record_missing_key_property", "test_invalid_schema",
                          "test_record_before_schema"], "accounts")

TestTargetArIngest = get_target_test_class(
    TargetArIngest, config={"url": SERVER.url, "api_key": KEYS["sink"], "streams": _STREAMS,
                            "stream_maps": _MAPS, "max_rejects": 10})

TestTapArIngest = get_tap_test_class(
    TapArIngest, config={"url": SERVER.url, "api_key": KEYS["source"]},
    suite_config=SuiteConfig(max_records_limit=None))
# Nothing excluded: the answers' schemas give amounts as the strings they are ("12.50"), so
# the suite asks no "cast to float" of them.


def test_the_target_suite_stored_its_streams():
    """The standard streams reached the server as accounts (the suite itself only checks
    that the target did not fail)."""
    with IngestClient(SERVER.url, KEYS["sink"]) as client:
        keys = {item["account_number"] for item in client.accounts.versions()}
    assert {"test_array_data-1", "TestCamelcase-1", "test:SpecialChars!in?attributes-a2e98886",
            "test_object_schema_no_properties-2", "example_stream-1"} <= keys, sorted(keys)
