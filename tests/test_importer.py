"""`ar-ingest import` against the real server: formats, rejects, resume, transient failures."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from app.models import Account, Contact
from flaky_proxy import FlakyProxy
from live_server import GunicornServer

pytestmark = pytest.mark.slow
COMMAND = [os.path.join(os.path.dirname(sys.executable), "ar-ingest"), "import"]


@pytest.fixture(scope="module")
def server(database_url, _schema):
    with GunicornServer(database_url, workers=2, threads=2) as running:
        yield running


def run_import(url, key, *args, stdin=None, timeout=120):
    env = dict(os.environ, AR_INGEST_API_KEY=key)
    return subprocess.run(COMMAND + list(args) + ["--url", url], env=env, input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def write(path, text):
    path.write_bytes(text.encode("utf-8"))
    return str(path)


def test_csv_with_bom_crlf_dotted_headers_and_non_ascii(server, api_key, tmp_path):
    source = write(tmp_path / "accounts.csv", "\ufeffaccount_number,name,billing_address.city,"
                   "billing_address.country,custom_fields.region,credit_limit,currency\r\n"
                   "A-1,Bücher GmbH,Köln,de,West,1234567890123.1234,eur\r\n"
                   'A-2,"Smith, Jones & Co",Zürich,ch,,,\r\n'
                   "A-3,Ærøskøbing Fisk,,,,0.1,\r\n")
    result = run_import(server.url, api_key, "accounts", source)
    assert result.returncode == 0, result.stderr
    assert "3 rows" in result.stdout and "3 created" in result.stdout
    first = Account.get(Account.account_number == "A-1")
    assert first.name == "Bücher GmbH" and first.billing_address["city"] == "Köln"
    assert str(first.credit_limit) == "1234567890123.1234"  # never through a float
    assert first.custom_fields == {"region": "West"} and first.currency == "EUR"
    second = Account.get(Account.account_number == "A-2")
    assert second.name == "Smith, Jones & Co" and second.custom_fields == {}
    assert second.credit_limit is None  # an empty cell is null
    assert not os.path.exists(source + ".rejects.csv")
    again = run_import(server.url, api_key, "accounts", source)
    assert again.returncode == 0 and "3 unchanged" in again.stdout  # re-running is safe


def test_ndjson_and_booleans(server, api_key, tmp_path, api):
    api.put("/accounts/A-1", json={"name": "Acme"})
    source = write(tmp_path / "contacts.ndjson", "\n".join(json.dumps(row) for row in [
        {"reference": "C-1", "name": "Ann", "account_number": "A-1", "is_primary": True},
        {"reference": "C-2", "first_name": "Zoë", "last_name": "Ça", "language": "fr"},
    ]) + "\n")
    assert run_import(server.url, api_key, "contacts", source).returncode == 0
    assert Contact.get(Contact.reference == "C-1").is_primary is True
    csv_source = write(tmp_path / "flags.csv", "reference,name,account_number,is_primary\n"
                       "C-3,Bob,A-1,yes\nC-4,Cy,A-1,0\nC-5,Di,A-1,maybe\n")
    result = run_import(server.url, api_key, "contacts", csv_source, "--allow-rejects")
    assert result.returncode == 0 and "1 rejected" in result.stdout
    assert Contact.get(Contact.reference == "C-3").is_primary is True
    assert Contact.get(Contact.reference == "C-4").is_primary is False


def test_rejects_round_trip(server, api_key, tmp_path):
    source = write(tmp_path / "accounts.csv", "account_number,name,currency,credit_limit\n"
                   "OK-1,Fine,usd,10\n"
                   "BAD-1,Bad currency,zzz,10\n"
                   "BAD-2,,usd,10\n"
                   "BAD-3,Too,many,cells,here\n"
                   "OK-2,Fine too,eur,\n")
    result = run_import(server.url, api_key, "accounts", source)
    assert result.returncode == 1 and "3 rejected" in result.stdout
    rejects = source + ".rejects.csv"
    with open(rejects, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["account_number", "name", "currency", "credit_limit", "_errors"]
    reasons = {row[0]: row[-1] for row in rows[1:]}
    assert reasons["BAD-1"].startswith("line 3: currency:")
    assert reasons["BAD-2"].startswith("line 4: name:")
    assert "line 5" in reasons["BAD-3"] and "5 cells" in reasons["BAD-3"]
    # fix the reject file as a person would, and import exactly the rejected rows
    fixed = [rows[0]] + [["BAD-1", "Bad currency", "usd", "10", rows[1][-1]],
                         ["BAD-2", "Named now", "usd", "10", rows[2][-1]],
                         ["BAD-3", "Fixed", "usd", "5", rows[3][-1]]]
    with open(rejects, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(fixed)
    again = run_import(server.url, api_key, "accounts", rejects)
    assert again.returncode == 0 and "3 created" in again.stdout, again.stdout + again.stderr
    assert Account.select().where(Account.account_number.in_(
        ["OK-1", "OK-2", "BAD-1", "BAD-2", "BAD-3"])).count() == 5


def test_ndjson_rejects_keep_the_format(server, api_key, tmp_path):
    source = write(tmp_path / "accounts.ndjson",
                   '{"account_number": "N-1", "name": "ok"}\n{not json\n[1, 2]\n'
                   '{"account_number": "N-2", "name": "x", "colour": "red"}\n')
    result = run_import(server.url, api_key, "accounts", source, "--allow-rejects")
    assert result.returncode == 0 and "3 rejected" in result.stdout
    lines = [json.loads(line) for line in open(source + ".rejects.ndjson", encoding="utf-8")]
    assert lines[0]["_raw"] == "{not json" and lines[0]["_errors"].startswith("line 2:")
    assert lines[2]["account_number"] == "N-2" and "colour" in lines[2]["_errors"]


def test_standard_input_and_transient_failures(server, api_key, tmp_path):
    with FlakyProxy(server.url) as proxy:
        proxy.fail_next(2, 503)
        text = "account_number,name\n" + "".join(f"S-{n},Name {n}\n" for n in range(30))
        result = run_import(proxy.url, api_key, "accounts", "-", "--format", "csv",
                            "--batch-size", "10", stdin=text)
    assert result.returncode == 0, result.stderr
    assert "30 created" in result.stdout
    assert Account.select().where(Account.account_number.startswith("S-")).count() == 30


def test_resume_after_a_killed_import(server, api_key, tmp_path):
    rows = "".join(f"K-{n:04d},Name {n}\n" for n in range(2000))
    source = write(tmp_path / "big.csv", "account_number,name\n" + rows)
    checkpoint = source + ".checkpoint.json"
    with FlakyProxy(server.url) as proxy:
        proxy.delay = 0.3  # slow enough to be interrupted half way
        env = dict(os.environ, AR_INGEST_API_KEY=api_key)
        process = subprocess.Popen(COMMAND + ["accounts", source, "--url", proxy.url,
                                              "--batch-size", "100"],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not os.path.exists(checkpoint) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.7)
        process.send_signal(signal.SIGKILL)
        process.wait()
        acknowledged = json.load(open(checkpoint))["counts"]["created"]
        assert 0 < acknowledged < 2000
        sent_before = sum(1 for method, _, _ in proxy.seen if method == "POST")
        proxy.delay = 0
        resumed = run_import(proxy.url, api_key, "accounts", source, "--batch-size", "100",
                             "--resume")
        sent_after = sum(1 for method, _, _ in proxy.seen if method == "POST") - sent_before
    assert resumed.returncode == 0, resumed.stderr
    assert "2,000 rows" in resumed.stdout and "rejected" in resumed.stdout
    assert Account.select().where(Account.account_number.startswith("K-")).count() == 2000
    assert sent_after <= 20 - acknowledged // 100  # acknowledged batches were not sent again
    assert not os.path.exists(checkpoint)
    assert run_import(server.url, api_key, "accounts", source, "--resume").returncode != 0


def test_progress_lines_when_not_on_a_terminal(server, api_key, tmp_path, monkeypatch):
    from app import importer
    from app.client import IngestClient

    monkeypatch.setattr(importer, "PROGRESS_EVERY_SECONDS", 0)
    source = write(tmp_path / "p.csv", "account_number,name\n" + "".join(
        f"P-{n},n\n" for n in range(20)))
    lines = []

    class Out:
        def write(self, text):
            lines.append(text)

        def flush(self):
            pass

    with IngestClient(server.url, api_key) as client:
        counts = importer.import_file("accounts", source, client, batch_size=5, out=Out())
    assert counts.created == 20
    assert any("rows/s" in line and "rejected" in line for line in lines)


def test_full_sync_import_removes_what_the_file_lacks(server, api_key, tmp_path, api):
    for number in range(10):
        api.put(f"/accounts/FS-{number}", json={"name": f"n{number}"})
    api.put("/contacts/C-9", json={"name": "c", "account_number": "FS-9"})
    source = write(tmp_path / "all.csv", "account_number,name\n" + "".join(
        f"FS-{n},n{n}\n" for n in range(7)))
    result = run_import(server.url, api_key, "accounts", source, "--full-sync",
                        "--max-removal-ratio", "0.5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "full sync finished: 2 deleted, 1 archived" in result.stdout
    assert Account.select().count() == 8
    guarded = run_import(server.url, api_key, "accounts", write(
        tmp_path / "empty.csv", "account_number,name\n"), "--full-sync")
    assert guarded.returncode == 1 and "full sync refused" in guarded.stdout
    assert Account.select().count() == 8  # an empty export wipes nothing
    rejected = run_import(server.url, api_key, "accounts", write(
        tmp_path / "bad.csv", "account_number,name,currency\nFS-0,n0,\nFS-1,n1,zzz\n"),
        "--full-sync", "--max-removal-ratio", "1")
    assert rejected.returncode == 1 and "full sync aborted" in rejected.stdout
    assert Account.select().count() == 8  # a rejected row's record is not removed
