"""End to end with Singer plugins nobody here wrote, installed from PyPI into virtualenvs of their
own (pinned; cached under /tmp by pin, so reruns are fast): tap-postgres and tap-jsonl into
target-ar-ingest, tap-ar-ingest into target-csv."""
import csv
import glob
import hashlib
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("singer_sdk")

from live_server import GunicornServer  # noqa: E402
from singer_helpers import TAP, TARGET, write_config  # noqa: E402

pytestmark = pytest.mark.slow
PLUGINS = {"tap-postgres": "meltanolabs-tap-postgres==0.10.0", "tap-jsonl": "tap-jsonl==0.3.1",
           "target-csv": "meltanolabs-target-csv==0.5.0"}
CACHE = os.environ.get("SINGER_PLUGIN_CACHE", "/tmp/ar-ingest-singer-plugins")
SOURCE_DSN = "postgresql://postgres@127.0.0.1:5432/singer_source"


def plugin(command):
    """The path of a third-party plugin's executable, installed on first use."""
    pin = PLUGINS[command]
    home = os.path.join(CACHE, f"{command}-{hashlib.sha256(pin.encode()).hexdigest()[:12]}")
    if not os.path.exists(os.path.join(home, ".installed")):
        subprocess.run([sys.executable, "-m", "venv", "--clear", home], check=True)
        subprocess.run([os.path.join(home, "bin", "pip"), "install", "--quiet", pin],
                       check=True, timeout=600)
        open(os.path.join(home, ".installed"), "w").close()
    return os.path.join(home, "bin", command)


@pytest.fixture(scope="module")
def server(database_url, _schema):
    with GunicornServer(database_url, workers=2, threads=2) as running:
        yield running


def pipe(tap_command, target_command, timeout=300):
    """tap | target; the target's completed process (the tap must succeed)."""
    tap = subprocess.Popen(tap_command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    target = subprocess.run(target_command, stdin=tap.stdout, capture_output=True, text=True,
                            timeout=timeout)
    tap.stdout.close()
    tap_errors = tap.stderr.read().decode(errors="replace")
    assert tap.wait(timeout=60) == 0, tap_errors[-3000:]
    return target


@pytest.fixture
def source():
    psycopg = pytest.importorskip("psycopg")
    try:
        server = psycopg.connect(SOURCE_DSN.rsplit("/", 1)[0] + "/postgres", autocommit=True,
                                 connect_timeout=5)
    except psycopg.OperationalError as refused:
        pytest.skip(f"PostgreSQL does not answer at {SOURCE_DSN}: {refused}")
    with server:  # the tap's source database, made on a fresh machine (CI's)
        if not server.execute("SELECT 1 FROM pg_database WHERE datname = 'singer_source'"
                              ).fetchone():
            try:
                server.execute("CREATE DATABASE singer_source")
            except psycopg.errors.DuplicateDatabase:
                pass  # a suite beside this one made it first
    connection = psycopg.connect(SOURCE_DSN, autocommit=True, connect_timeout=5)
    connection.execute("DROP TABLE IF EXISTS ar_contacts, ar_accounts")
    connection.execute("CREATE TABLE ar_accounts (account_number text PRIMARY KEY, "
                       "name text NOT NULL, currency text)")
    connection.execute("CREATE TABLE ar_contacts (reference text PRIMARY KEY, account_number "
                       "text REFERENCES ar_accounts, name text, email text)")
    for n in range(1, 6):
        connection.execute("INSERT INTO ar_accounts VALUES (%s, %s, 'USD')",
                           (f"A-{n}", f"Customer {n}"))
        connection.execute("INSERT INTO ar_contacts VALUES (%s, %s, %s, %s)",
                           (f"C-{n}", f"A-{n}", f"Person {n}", f"p{n}@customer.example"))
    yield connection
    connection.execute("DROP TABLE IF EXISTS ar_contacts, ar_accounts")
    connection.close()


def test_tap_postgres_full_tables_carry_deletions(server, api, api_key, source, tmp_path):
    tap = plugin("tap-postgres")
    conf = write_config(tmp_path / "tap.json", {
        "host": "127.0.0.1", "port": 5432, "user": "postgres", "password": "",
        "database": "singer_source", "filter_schemas": ["public"],
        "emit_activate_version_messages": True})
    catalog = json.loads(subprocess.run([tap, "--config", conf, "--discover"], check=True,
                                        capture_output=True, text=True).stdout)
    wanted = {"public-ar_accounts", "public-ar_contacts"}
    catalog["streams"] = [entry for entry in catalog["streams"]
                          if entry["tap_stream_id"] in wanted]
    for entry in catalog["streams"]:
        next(m for m in entry["metadata"] if m["breadcrumb"] == [])["metadata"]["selected"] = True
    catalog_path = write_config(tmp_path / "catalog.json", catalog)
    target_conf = write_config(tmp_path / "target.json", {
        "url": server.url, "api_key": api_key, "max_removal_ratio": 0.5,
        # tap-postgres (Singer SDK) announces each full table at its start, never its end.
        "finish_tables_at_end": True,
        "streams": {"public-ar_accounts": "accounts", "public-ar_contacts": "contacts"}})
    command = [tap, "--config", conf, "--catalog", catalog_path]
    first = pipe(command, [TARGET, "--config", target_conf])
    assert first.returncode == 0, first.stderr[-3000:]
    assert api.get("/contacts/C-3").get_json()["email"] == "p3@customer.example"
    cursor = api.get("/contacts?limit=1000").get_json()["next_cursor"]
    source.execute("DELETE FROM ar_contacts WHERE reference = 'C-3'")
    source.execute("UPDATE ar_accounts SET name = 'Renamed' WHERE account_number = 'A-1'")
    second = pipe(command, [TARGET, "--config", target_conf])
    assert second.returncode == 0, second.stderr[-3000:]
    assert api.get("/contacts/C-3").status_code == 404
    assert api.get("/accounts/A-1").get_json()["name"] == "Renamed"
    changes = api.get(f"/contacts?cursor={cursor}").get_json()["items"]
    assert [(c["reference"], c.get("deleted")) for c in changes] == [("C-3", True)]


def test_tap_jsonl_bad_rows_go_to_the_reject_file(server, api, api_key, tmp_path):
    rows = [{"account_number": "J-1", "name": "Good", "currency": "eur"},
            {"account_number": "J-2", "name": "Bad currency", "currency": "zzz"},
            {"account_number": "J-3", "name": "Also good"},
            {"account_number": "J-4", "name": "", "credit_limit": "-5"}]
    source = tmp_path / "accounts.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    conf = write_config(tmp_path / "tap.json", {"path": str(source), "stream_name": "accounts",
                                                "primary_keys": ["account_number"]})
    rejects = tmp_path / "rejects.ndjson"
    target_conf = write_config(tmp_path / "target.json", {
        "url": server.url, "api_key": api_key, "reject_file": str(rejects)})
    done = pipe([plugin("tap-jsonl"), "--config", conf], [TARGET, "--config", target_conf])
    assert done.returncode == 0, done.stderr[-3000:]
    assert api.get("/accounts/J-1").get_json()["currency"] == "EUR"
    assert api.get("/accounts/J-3").status_code == 200
    assert api.get("/accounts/J-2").status_code == 404
    refused = {r["record"]["account_number"]: r for r in map(json.loads, rejects.open())}
    assert sorted(refused) == ["J-2", "J-4"]
    assert [e["pointer"] for e in refused["J-2"]["errors"]] == ["#/currency"]
    assert {e["pointer"] for e in refused["J-4"]["errors"]} == {"#/name", "#/credit_limit"}
    assert all(e["detail"] for r in refused.values() for e in r["errors"])


def test_tap_ar_ingest_into_target_csv_twice_with_state(server, api, api_key, tmp_path):
    for n in range(1, 4):
        api.put(f"/accounts/A-{n}", json={"name": f"Customer {n}"})
    tap_conf = write_config(tmp_path / "tap.json", {"url": server.url, "api_key": api_key,
                                                    "collections": ["accounts"]})
    target_csv = plugin("target-csv")

    def run(name, state=None):
        out = tmp_path / name
        out.mkdir()
        # Without record metadata an SDK target drops the `_sdc_deleted_at` column.
        conf = write_config(tmp_path / f"{name}.json", {"output_path": str(out),
                                                        "add_record_metadata": True})
        command = [TAP, "--config", tap_conf]
        if state:
            command += ["--state", write_config(tmp_path / f"{name}-state.json", state)]
        done = pipe(command, [target_csv, "--config", conf])
        assert done.returncode == 0, done.stderr[-3000:]
        (written,) = glob.glob(str(out / "*.csv"))
        with open(written, newline="") as handle:
            rows = list(csv.DictReader(handle))
        return rows, json.loads(done.stdout.strip().splitlines()[-1])

    first, state = run("first")
    assert [row["account_number"] for row in first] == ["A-1", "A-2", "A-3"]
    api.patch("/accounts/A-2", json={"name": "Changed"})
    api.delete("/accounts/A-3")
    second, _ = run("second", state)
    assert [(row["account_number"], row["name"], bool(row["_sdc_deleted_at"]))
            for row in second] == [("A-2", "Changed", False), ("A-3", "", True)]
