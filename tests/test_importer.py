"""`ar-ingest import` against the real server: formats, rejects, resume, transient failures."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from app.resources.accounts import Account
from app.resources.contacts import Contact
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
                   "BAD-4,Short\n"
                   "OK-2,Fine too,eur,\n")
    result = run_import(server.url, api_key, "accounts", source)
    assert result.returncode == 1 and "4 rejected" in result.stdout
    rejects = source + ".rejects.csv"
    with open(rejects, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["account_number", "name", "currency", "credit_limit", "_errors"]
    by_key = {row[0]: row for row in rows[1:]}
    assert by_key["BAD-1"][4].startswith("line 3: currency:")
    assert by_key["BAD-2"][4].startswith("line 4: name:")
    # the reason always sits under _errors: a long row's extra cell follows it, a short row
    # is padded up to it
    assert by_key["BAD-3"] == ["BAD-3", "Too", "many", "cells", "line 5: 5 cells where the "
                               "header has 4 columns (1 past the last column, credit_limit)",
                               "here"]
    assert by_key["BAD-4"] == ["BAD-4", "Short", "", "", "line 6: 2 cells where the header has "
                               "4 columns (no cell for currency, credit_limit)"]
    # fix the reject file as a person would, and import exactly the rejected rows
    fixed = [rows[0]] + [["BAD-1", "Bad currency", "usd", "10", rows[1][4]],
                         ["BAD-2", "Named now", "usd", "10", rows[2][4]],
                         ["BAD-3", "Fixed", "usd", "5", rows[3][4]],
                         ["BAD-4", "Long now", "eur", "", rows[4][4]]]
    with open(rejects, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(fixed)
    again = run_import(server.url, api_key, "accounts", rejects)
    assert again.returncode == 0 and "4 created" in again.stdout, again.stdout + again.stderr
    assert Account.select().where(Account.account_number.in_(
        ["OK-1", "OK-2", "BAD-1", "BAD-2", "BAD-3", "BAD-4"])).count() == 6


def test_ndjson_rejects_are_the_lines_as_they_were(server, api_key, tmp_path):
    lines = [b'{"account_number": "N-1", "name": "ok"}\n',
             b"{not json\r\n",
             b"[1, 2]\n",
             b'{"account_number": "N-2",  "name": "x", "colour": "red", "credit_limit": 1.50}\n',
             b'{"account_number": "N-3", "name": "Caf\xc3\xa9", "currency": "zzz"}']  # no EOL
    source = tmp_path / "accounts.ndjson"
    source.write_bytes(b"".join(lines))
    result = run_import(server.url, api_key, "accounts", str(source))
    assert result.returncode == 1 and "4 rejected" in result.stdout
    rejects = str(source) + ".rejects.ndjson"
    assert open(rejects, "rb").read() == b"".join(lines[1:]) + b"\n"  # byte for byte
    reasons = [json.loads(line) for line in open(str(source) + ".rejects.errors.ndjson")]
    assert [reason["line"] for reason in reasons] == [2, 3, 4, 5]
    assert reasons[0]["errors"][0].startswith("not valid JSON: Expecting property name")
    assert reasons[1]["errors"] == ["not a JSON object"]
    assert reasons[2]["errors"][0].startswith("colour:")
    assert reasons[3]["errors"][0].startswith("currency:")
    assert "reasons, line for line" in result.stderr
    # the reject file, fixed, imports as it is
    open(rejects, "wb").write(b'{"account_number": "N-2", "name": "x", "credit_limit": 1.50}\n'
                              b'{"account_number": "N-3", "name": "Caf\xc3\xa9"}\n')
    again = run_import(server.url, api_key, "accounts", rejects)
    assert again.returncode == 0 and "2 created" in again.stdout, again.stdout + again.stderr
    assert Account.get(Account.account_number == "N-3").name == "Café"


def test_ndjson_numbers_reach_the_server_exactly_as_written(server, api_key, tmp_path, api):
    lines = [b'{"account_number": "X-1", "name": "a", "credit_limit": 1234567890123.4567}\n',
             b'{"account_number": "X-2", "name": "b", "credit_limit": 9999999999999.9999}\n',
             b'{"account_number": "X-3", "name": "c", "credit_limit": 0.1000, '
             b'"custom_fields": {"score": 0.30000000000000004, "count": 12345678901234567}}\n',
             b'{"account_number": "X-4", "name": "d", "currency": "zzz", '
             b'"credit_limit": 1234567890123.4567}\n']
    source = tmp_path / "exact.ndjson"
    source.write_bytes(b"".join(lines))
    result = run_import(server.url, api_key, "accounts", str(source))
    assert result.returncode == 1 and "3 created" in result.stdout, result.stdout + result.stderr
    for number, line in enumerate(lines[:3], start=1):
        direct = api.put(f"/accounts/D-{number}", data=line.replace(b'"X-', b'"D-'),
                         headers={"Content-Type": "application/json"})
        assert direct.status_code == 201  # a direct PUT stores them exactly; so does the import
        imported = api.get(f"/accounts/X-{number}").get_json()
        for name in ("credit_limit", "custom_fields"):
            assert imported[name] == direct.get_json()[name]
    assert api.get("/accounts/X-1").get_json()["credit_limit"] == "1234567890123.4567"
    assert api.get("/accounts/X-2").get_json()["credit_limit"] == "9999999999999.9999"
    assert open(str(source) + ".rejects.ndjson", "rb").read() == lines[3]


def test_a_bad_ndjson_line_is_a_rejected_row_never_the_end(server, api_key, tmp_path, api):
    lines = [b'{"account_number": "G-1", "name": "good"}\n',
             b'{"account_number": "B-NAN", "name": "x", "credit_limit": NaN}\n',
             b'{"account_number": "B-INF", "name": "x", "credit_limit": -Infinity}\n',
             b'{"account_number": "B-HUGE", "name": "x", "credit_limit": 1e999999}\n',
             b'{"account_number": "B-CF", "name": "x", "custom_fields": {"n": 1e999999}}\n',
             b'{"account_number": "B-DUP", "name": "x", "name": "y"}\n',
             b'{"account_number": "B-LATIN", "name": "M\xfcller"}\n',
             b"[" * 100_000 + b"\n",
             b'{"account_number": "G-2", "name": "good too"}\n']
    source = tmp_path / "bad.ndjson"
    source.write_bytes(b"".join(lines))
    result = run_import(server.url, api_key, "accounts", str(source), "--batch-size", "2",
                        "--allow-rejects")
    assert result.returncode == 0, result.stderr
    assert "9 rows" in result.stdout and "2 created" in result.stdout
    assert "7 rejected" in result.stdout
    assert {a.account_number for a in Account.select()} == {"G-1", "G-2"}
    assert open(str(source) + ".rejects.ndjson", "rb").read() == b"".join(lines[1:8])
    reasons = {r["line"]: r["errors"] for r in map(json.loads, open(
        str(source) + ".rejects.errors.ndjson"))}
    assert reasons[2] == ["not valid JSON: NaN is not valid JSON"]
    assert reasons[3] == ["not valid JSON: -Infinity is not valid JSON"]
    assert reasons[4][0].startswith("credit_limit:") and reasons[5][0].startswith("custom_fields")
    assert reasons[6] == ["not valid JSON: duplicate key 'name'"]  # as the server refuses it:
    assert api.put("/accounts/B-DUP", data=lines[5], headers={
        "Content-Type": "application/json"}).get_json()["code"] == "malformed-json"
    assert reasons[7] == ["not UTF-8 text (save the file as UTF-8)"]
    assert reasons[8] == ["not valid JSON: nested too deeply"]
    assert not os.path.exists(str(source) + ".checkpoint.json")  # the run finished


def test_excel_csv_with_semicolons_is_read_as_excel_wrote_it(server, api_key, tmp_path, api):
    text = ("\ufeffaccount_number;name;credit_limit;billing_address.city\r\n"
            "E-1;Müller, Schmidt & Co;1234567890123.4567;Köln\r\n"
            'E-2;"Semi; colon";;Zürich\r\n'
            "E-3;Decimal comma;12,50;Wien\r\n")
    source = write(tmp_path / "excel.csv", text)
    result = run_import(server.url, api_key, "accounts", source)
    assert result.returncode == 1 and "2 created" in result.stdout and "1 rejected" in result.stdout
    first = api.get("/accounts/E-1").get_json()
    assert first["name"] == "Müller, Schmidt & Co" and first["billing_address"]["city"] == "Köln"
    assert first["credit_limit"] == "1234567890123.4567"
    assert api.get("/accounts/E-2").get_json()["name"] == "Semi; colon"
    rejects = open(source + ".rejects.csv", "rb").read()
    assert rejects.startswith(b"\xef\xbb\xbfaccount_number;name;credit_limit;"
                              b"billing_address.city;_errors\r\nE-3;Decimal comma;12,50;Wien;"
                              b"line 4: credit_limit: ")  # Excel's own format back
    tabs = write(tmp_path / "tabs.csv", "account_number\tname\nT-1\tTab, separated\n")
    assert run_import(server.url, api_key, "accounts", tabs, "--delimiter", "tab").returncode == 0
    assert api.get("/accounts/T-1").get_json()["name"] == "Tab, separated"
    wrong = run_import(server.url, api_key, "accounts", tabs, "--delimiter", "ab")
    assert wrong.returncode == 1 and "--delimiter takes one character" in wrong.stderr


@pytest.mark.parametrize("header, problem", [
    ("account_number,name,currency,name", "the header names 'name' 2 times"),
    ("account_number,name,,currency", "the header column 3 has no name"),
    ("account_number,name,billing_address,billing_address.city",
     "has 'billing_address.city' and 'billing_address', which holds it"),
])
def test_a_header_that_cannot_be_used_is_refused_before_anything_is_sent(
        server, api_key, tmp_path, header, problem):
    source = write(tmp_path / "twice.csv", header + "\nA-1,Name,usd,Other\n")
    with FlakyProxy(server.url) as proxy:
        result = run_import(proxy.url, api_key, "accounts", source, "--full-sync")
    assert result.returncode == 1 and problem in result.stderr, result.stderr
    assert "Nothing was sent" in result.stderr
    assert proxy.seen == [] and Account.select().count() == 0
    assert not os.path.exists(source + ".rejects.csv")
    assert not os.path.exists(source + ".checkpoint.json")


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
        seen_before = len(proxy.seen)
        proxy.delay = 0
        resumed = run_import(proxy.url, api_key, "accounts", source, "--batch-size", "100",
                             "--resume")
        # Batches, not requests: a retry of one (a slow answer on a loaded machine) reuses
        # its Idempotency-Key.
        sent_after = len({key for method, _, key in proxy.seen[seen_before:] if method == "POST"})
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


def test_full_sync_guards_by_count_and_by_rows_seen(server, api_key, tmp_path, api):
    from app.models import SyncRun

    for number in range(10):
        api.put(f"/accounts/MR-{number}", json={"name": f"n{number}"})
    seven = write(tmp_path / "seven.csv", "account_number,name\n" + "".join(
        f"MR-{n},n{n}\n" for n in range(7)))
    refused = run_import(server.url, api_key, "accounts", seven, "--full-sync",
                         "--max-removals", "2")
    assert refused.returncode == 1 and "full sync refused" in refused.stdout
    assert "more than max_removals 2" in refused.stdout and Account.select().count() == 10
    counted = run_import(server.url, api_key, "accounts", seven, "--full-sync",
                         "--max-removals", "3")  # 30 %: no ratio guard beside a stated count
    assert counted.returncode == 0, counted.stdout + counted.stderr
    assert "full sync finished: 3 deleted" in counted.stdout and Account.select().count() == 7
    short = run_import(server.url, api_key, "accounts", seven, "--full-sync", "--min-seen", "8")
    assert short.returncode == 1 and "fewer than min_seen 8" in short.stdout
    assert Account.select().count() == 7
    runs = [(run.status, run.guards) for run in SyncRun.select().order_by(SyncRun.id)]
    assert runs == [("aborted", {"min_seen": None}),  # refused, then aborted: nothing removed
                    ("finished", {"min_seen": None, "max_removals": 3,
                                  "max_removal_ratio": None}),
                    ("aborted", {"min_seen": 8})]
