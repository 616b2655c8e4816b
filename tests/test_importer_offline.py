"""The importer without a server: progress as rendered (whole numbers, this run's rate), and
the README documenting every option."""
import io
import os
import re
import time

import click
import pytest

from app import importer
from app.cli import import_command

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


class Terminal(io.StringIO):
    """What tqdm draws on, as a terminal."""

    def isatty(self):
        return True


class StubClient:
    """Takes every batch as the server takes valid rows (all created), after `pause` seconds;
    the network goes down after `fail_after` batches."""

    def __init__(self, pause=0.0, fail_after=None):
        self.pause, self.fail_after, self.keys = pause, fail_after, []

    def collection(self, name):
        return self

    def key_fields(self):
        return {"accounts": "account_number", "contacts": "reference"}

    def batch(self, records, idempotency_key=None, sync_run=None):
        if self.fail_after is not None and len(self.keys) >= self.fail_after:
            raise ConnectionError("the network is down")
        self.keys.append(idempotency_key)
        time.sleep(self.pause)
        return {"results": [{"errors": []} for _ in records], "created": len(records),
                "replaced": 0, "unchanged": 0, "failed": 0}


def test_the_bar_shows_whole_numbers_and_the_rate_of_this_run():
    now = [100.0]
    out = Terminal()
    progress = importer.Progress(1_000_000, out, done_bytes=400_000, done_rows=40_000,
                                 clock=lambda: now[0])
    now[0] += 10
    progress.update(450_000, importer.Counts(rows=40_500, rejected=1_234))
    progress.close()
    text = out.getvalue()
    assert "40,500 rows, 50 rows/s, 1,234 rejected" in text  # 500 rows in 10 s, not 40,500
    assert "e+" not in text and "45%" in text


def test_a_resumed_import_shows_the_rate_of_its_own_rows(tmp_path):
    source = tmp_path / "big.csv"
    source.write_text("account_number,name\n" + "".join(f"R-{n},n\n" for n in range(40_010)))
    interrupted = StubClient(fail_after=40)
    try:
        importer.import_file("accounts", str(source), interrupted, out=io.StringIO())
    except ConnectionError:
        pass
    assert os.path.exists(f"{source}.checkpoint.json")
    out = Terminal()
    resumed = StubClient(pause=0.5)
    counts = importer.import_file("accounts", str(source), resumed, batch_size=5, resume=True,
                                  out=out)
    assert counts.rows == 40_010 and counts.created == 40_010 and len(resumed.keys) == 2
    shown = re.findall(r"([\d,]+) rows, ([\d,]+) rows/s, ([\d,]+) rejected", out.getvalue())
    assert shown and shown[-1][0] == "40,010" and shown[-1][2] == "0"
    assert int(shown[-1][1].replace(",", "")) <= 20  # 10 rows in at least 1 s of this run
    assert "e+" not in out.getvalue()
    assert importer.summary(counts, 1.0).startswith(
        "40,010 rows (40,000 before --resume, 10 in 1.0 s): 40,010 created")


def test_plain_progress_lines_off_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "PROGRESS_EVERY_SECONDS", 0)
    source = tmp_path / "p.csv"
    source.write_text("account_number,name\n" + "".join(f"P-{n},n\n" for n in range(20_000)))
    out = io.StringIO()
    importer.import_file("accounts", str(source), StubClient(), out=out)
    assert "20,000 rows, " in out.getvalue() and "e+" not in out.getvalue()


def test_the_readme_documents_every_import_option():
    text = open(README, encoding="utf-8").read()
    section = text.split("## For ETL jobs", 1)[1].split("\n## ", 1)[0]
    options = [name for param in import_command.params if isinstance(param, click.Option)
               for name in param.opts if name.startswith("--")]
    assert "--full-sync" in options and "--delimiter" in options
    assert [name for name in options if f"`{name}" not in section] == []


def test_a_row_that_is_not_utf8_fails_alone_also_among_the_sniffed_lines():
    from app.client.rows import NOT_UTF8, CountingLines, read_csv

    raw = b"\xef\xbb\xbfaccount_number;name\r\nCP1;ok\r\nCP2;Caf\xe9\r\nCP3;ok3\r\n"
    table = read_csv(CountingLines(io.BytesIO(raw)))
    assert table.delimiter == ";" and table.bom
    rows = list(table.rows)
    assert [(row.line, row.error) for row in rows] == [(2, None), (3, NOT_UTF8), (4, None)]
    assert [row.record["name"] for row in rows if row.record] == ["ok", "ok3"]


def test_a_header_that_is_not_utf8_is_refused():
    from app.client.rows import CountingLines, RowsError, read_csv

    with pytest.raises(RowsError, match="header is not UTF-8"):
        read_csv(CountingLines(io.BytesIO(b"account_number,n\xe9me\nA,x\n")))


def test_a_quote_never_closed_rejects_the_rest_of_the_file_instead_of_swallowing_it(tmp_path):
    source = tmp_path / "truncated.csv"
    source.write_text('account_number,name,description\nQ-1,a,b\nQ-3,x,"never closed\n'
                      'Q-4,y,z\nQ-5,w,v\n')
    client = StubClient()
    counts = importer.import_file("accounts", str(source), client, out=io.StringIO())
    assert (counts.created, counts.rejected) == (1, 1)  # Q-1 only; nothing of Q-3 is sent
    reasons = open(str(source) + ".rejects.csv", encoding="utf-8-sig").read()
    assert "a quoted cell opened on line 3 is never closed" in reasons
