"""`ar-ingest import`: a CSV or NDJSON file streamed through the batch endpoint (with
--match, people without a reference through the batch matching upsert).

Rows become records as app.client.rows reads them (numbers exact, a bad row
rejected on its own with its line number). Batches go through the client
(retries with backoff on connection errors, 429, 409 idempotency-key-in-use
and 5xx, re-sending the same Idempotency-Key, which names the run and the
batch's lines, so a re-sent batch is never applied twice, also after
--resume). Rejected rows go to a file exactly as they were read, with the
reasons beside them (see RejectWriter). A checkpoint after each acknowledged
batch lets `--resume` continue.
"""
import hashlib
import json
import os
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field

from app.client import ApiError, IngestClient
from app.client.rows import RowsError  # noqa: F401 (the CLI catches it as importer.RowsError)
from app.client.rows import CountingLines, read_csv, read_ndjson
from app.import_rejects import RejectWriter

PROGRESS_EVERY_SECONDS = 10.0
DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


class ImportFailed(Exception):
    """The import cannot start or go on (bad arguments, unreadable file, a refused resume)."""


@dataclass
class Counts:
    """What the import did so far; also what its checkpoint keeps."""

    rows: int = 0
    created: int = 0
    replaced: int = 0
    updated: int = 0            # with --match: people found and changed
    unchanged: int = 0
    rejected: int = 0
    run: str = ""               # this import's id: in every batch's Idempotency-Key
    sync_run: str = ""          # with --full-sync: the server's sync run
    delimiter: str = ""         # the CSV delimiter in use (a resumed import keeps it)
    last_line: int = 0          # the last line whose batch the server acknowledged
    bytes_done: int = 0         # how far into the file that line ends
    rejects_bytes: int = 0      # the reject file's size at that point
    reasons_bytes: int = 0      # and the NDJSON reasons file's
    extra: dict = field(default_factory=dict)


class Progress:
    """A tqdm bar on a terminal (bytes with ETA, then rows, rows/s and rejects), a plain line
    every PROGRESS_EVERY_SECONDS otherwise. The rate is this run's: rows and bytes a
    resumed import skipped are not counted in it."""

    def __init__(self, total_bytes, out, done_bytes=0, done_rows=0, clock=time.monotonic):
        self.out, self.clock, self.done_rows = out, clock, done_rows
        self.started = self.last_line = clock()
        self.bar = None
        if getattr(out, "isatty", lambda: False)():
            from tqdm import tqdm
            self.bar = tqdm(total=total_bytes or None, initial=done_bytes, unit="B",
                            unit_scale=True, file=out, desc="importing")

    def text(self, counts):
        """`40,000 rows, 1,234 rows/s, 5 rejected` (whole numbers)."""
        rate = (counts.rows - self.done_rows) / max(self.clock() - self.started, 1e-9)
        return f"{counts.rows:,} rows, {rate:,.0f} rows/s, {counts.rejected:,} rejected"

    def update(self, bytes_read, counts):
        """Show how far the import is."""
        if self.bar is not None:
            self.bar.set_postfix_str(self.text(counts), refresh=False)
            self.bar.update(bytes_read - self.bar.n)
        elif self.clock() - self.last_line >= PROGRESS_EVERY_SECONDS:
            self.last_line = self.clock()
            print(self.text(counts), file=self.out, flush=True)

    def close(self):
        """End the bar."""
        if self.bar is not None:
            self.bar.close()


def _fingerprint(path, collection):
    if path == "-":
        return None
    status = os.stat(path)
    text = f"{os.path.abspath(path)}|{status.st_size}|{status.st_mtime_ns}|{collection}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _format_of(path, fmt):
    if fmt:
        return fmt
    extension = os.path.splitext(path)[1].lower()
    if extension in (".csv", ".tsv"):
        return "csv"
    if extension in (".ndjson", ".jsonl"):
        return "ndjson"
    raise ImportFailed("Give --format csv or ndjson (the file's name does not say which).")


def _delimiter(fmt, given):
    if given is None:
        return None
    if fmt != "csv":
        raise ImportFailed("--delimiter is for CSV files only.")
    delimiter = DELIMITER_NAMES.get(given.lower(), given)
    if len(delimiter) != 1 or delimiter in "\r\n\"":
        raise ImportFailed(f"--delimiter takes one character (or tab), not {given!r}.")
    return delimiter


def _resumed(checkpoint_path, fingerprint):
    if fingerprint is None or not os.path.exists(checkpoint_path):
        raise ImportFailed("Nothing to resume: no checkpoint beside this file.")
    with open(checkpoint_path) as handle:
        saved = json.load(handle)
    if saved.get("fingerprint") != fingerprint:
        raise ImportFailed("The file changed since the interrupted import; start afresh.")
    return Counts(**saved["counts"])


MATCHED_KINDS = ("contacts", "representatives", "parties")
_OUTCOMES = {False: ("created", "replaced", "unchanged"), True: ("created", "updated", "unchanged")}


def _without_empty_cells(record):
    """The record without the fields its empty cells made null (nested ones too)."""
    kept = {}
    for name, value in record.items():
        if isinstance(value, dict):
            value = _without_empty_cells(value)
            if not value:
                continue
        if value is not None:
            kept[name] = value
    return kept


def _checked_match(collection, match, full_sync):
    if not match:
        if collection == "parties":
            raise ImportFailed(f"{collection} can only be imported with --match.")
        return
    if collection not in MATCHED_KINDS:
        raise ImportFailed("--match is for contacts, representatives and parties (people "
                           "without a reference).")
    if full_sync and collection == "parties":
        raise ImportFailed("--full-sync needs one collection: import contacts and "
                           "representatives apart.")


def _key_field(collection, client):
    """The field holding each row's key, as the server's document states it."""
    key_field = client.key_fields().get(collection)
    if key_field is None:
        raise ImportFailed(f"The server has no collection {collection!r}.")
    return key_field


def import_file(collection, path, client, *, fmt=None, batch_size=1000, rejects=None,
                resume=False, full_sync=False, max_removal_ratio=None, max_removals=None,
                min_seen=None, delimiter=None, match=False, out=sys.stderr):
    """Import a file; returns the Counts. Rows are read and sent one batch at a time.

    With `match` the rows have no reference: each is a person with its
    account_number, sent through the batch matching upsert (found by email,
    then by name, else created), so a file sent twice creates nobody twice.

    With `full_sync` the file is the whole collection: a sync run is started
    (with `min_seen`), tagged on every batch, and finished at the end (with
    `max_removal_ratio` and `max_removals`; None: the server's defaults),
    removing the records the file did not have (the counts go to
    `extra["sync"]`). If any row was rejected the run is aborted instead: a
    rejected row's record would otherwise be removed.
    """
    _checked_match(collection, match, full_sync)
    fmt = _format_of(path, fmt)
    delimiter = _delimiter(fmt, delimiter)
    fingerprint = _fingerprint(path, collection)
    stem = "stdin" if path == "-" else path
    rejects = rejects or f"{stem}.rejects.{'csv' if fmt == 'csv' else 'ndjson'}"
    checkpoint_path = f"{stem}.checkpoint.json"
    counts = _resumed(checkpoint_path, fingerprint) if resume else Counts(run=uuid.uuid4().hex[:12])
    rows_before = counts.rows
    stream = sys.stdin.buffer if path == "-" else open(path, "rb")
    try:
        lines = CountingLines(stream)
        table = read_csv(lines, counts.delimiter or delimiter) if fmt == "csv" \
            else read_ndjson(lines)
        key_field = None if match else _key_field(collection, client)
    except BaseException:
        if stream is not sys.stdin.buffer:
            stream.close()
        raise
    counts.delimiter = table.delimiter or ""
    writer = RejectWriter(rejects, fmt, table, (counts.rejects_bytes, counts.reasons_bytes)
                          if resume else (0, 0))
    progress = Progress(None if path == "-" else os.path.getsize(path), out,
                        counts.bytes_done, counts.rows)
    outcomes = _OUTCOMES[match]
    window = []  # the rows read since the last acknowledged batch, bad ones included

    def send():
        """Send the window's good rows as one batch, keyed by this run and their lines (a
        resumed run re-sending a batch the server applied gets the stored answer; a new run
        of the same file is applied afresh); then write its rejects in the file's order."""
        if not window:
            return
        good = [row for row in window if row.error is None]
        answer = {"results": [], **dict.fromkeys(outcomes, 0), "failed": 0}
        if good:
            send_batch = client.upsert_batch if match else client.collection(collection).batch
            records = [row.record for row in good]
            if match and fmt == "csv":
                # A match is changed field by field: an empty cell says nothing about it.
                records = [_without_empty_cells(record) for record in records]
            answer = send_batch(*([collection] if match else []),
                                records, sync_run=counts.sync_run or None,
                                idempotency_key=f"import-{counts.run}-{good[0].line}-"
                                                f"{good[-1].line}")
        results = iter(answer["results"])
        for row in window:
            errors = [row.error] if row.error else [
                f"{_column(e['pointer'], key_field)}: {e['detail']}"
                for e in next(results)["errors"]]
            if errors:
                writer.write(row, errors)
        for outcome in outcomes:
            setattr(counts, outcome, getattr(counts, outcome) + answer[outcome])
        counts.rejected += answer["failed"] + len(window) - len(good)
        counts.last_line, counts.bytes_done = window[-1].line, lines.bytes_read
        counts.rejects_bytes, counts.reasons_bytes = writer.positions()
        if fingerprint is not None:
            _save_checkpoint(checkpoint_path, fingerprint, counts)
        window.clear()

    try:
        if full_sync and not counts.sync_run:
            counts.sync_run = client.request("POST", f"/{collection}:sync-runs",
                                             json=_stated(min_seen=min_seen))["id"]
        for row in table.rows:
            if row.line <= counts.last_line:
                continue  # acknowledged before the interruption
            counts.rows += 1
            window.append(row)
            if len(window) >= batch_size:
                send()
            progress.update(lines.bytes_read, counts)
        send()
    finally:
        progress.close()
        writer.close()
        if stream is not sys.stdin.buffer:
            stream.close()
    if counts.sync_run:
        counts.extra["sync"] = _end_sync(client, collection, counts, _stated(
            max_removal_ratio=max_removal_ratio, max_removals=max_removals))
    if fingerprint is not None and os.path.exists(checkpoint_path):
        os.remove(checkpoint_path)
    counts.extra["rejects_files"] = writer.files()
    counts.extra["rows_before_resume"] = rows_before
    return counts


def _column(pointer, key_field):
    """#/items/3/billing_address/city -> billing_address.city; the row as a whole: its key
    field, or "row" for a person without one."""
    parts = pointer.split("/")[3:]
    return ".".join(part.replace("~1", "/").replace("~0", "~") for part in parts) or \
        key_field or "row"


def _stated(**guards):
    """A sync-run body with the guards given (None: not stated, the server's default)."""
    return {name: value for name, value in guards.items() if value is not None}


def _end_sync(client, collection, counts, guards):
    """Finish the full sync (or abort it when rows were rejected); what happened."""
    path = f"/{collection}:sync-runs/{counts.sync_run}"
    if counts.rejected:
        client.request("POST", path + ":abort")
        return {"status": "aborted", "reason": "rows were rejected; nothing was removed"}
    try:
        run = client.request("POST", path + ":finish", json=guards)
    except ApiError as refused:
        if refused.status != 409:
            raise
        client.request("POST", path + ":abort")
        return {"status": "refused", "reason": refused.detail,
                **(refused.problem.get("would") or {})}
    return {"status": "finished", **run["result"]}


def _save_checkpoint(path, fingerprint, counts):
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        json.dump({"fingerprint": fingerprint, "counts": asdict(counts)}, handle)
    os.replace(temporary, path)


def summary(counts, seconds):
    """The closing line(s) of an import."""
    before = counts.extra.get("rows_before_resume", 0)
    done = f"{counts.rows:,} rows in {seconds:.1f} s" if not before else (
        f"{counts.rows:,} rows ({before:,} before --resume, {counts.rows - before:,} in "
        f"{seconds:.1f} s)")
    changed = f"{counts.updated:,} updated" if counts.updated else \
        f"{counts.replaced:,} replaced"
    text = (f"{done}: {counts.created:,} created, {changed}, "
            f"{counts.unchanged:,} unchanged, {counts.rejected:,} rejected")
    sync = counts.extra.get("sync")
    if sync and sync["status"] == "finished":
        text += (f"\nfull sync finished: {sync['deleted']:,} deleted, {sync['archived']:,} "
                 f"archived (others depend on them), {sync['kept']:,} kept")
    elif sync:
        text += f"\nfull sync {sync['status']}: {sync['reason']}"
    return text


def run(collection, path, url, api_key, *, retries=10, **options):
    """Import with a fresh client (`retries` per request, backing off to 30 s between
    tries); returns (counts, seconds)."""
    started = time.monotonic()
    with IngestClient(url, api_key, retries=retries) as client:
        counts = import_file(collection, path, client, **options)
    return counts, time.monotonic() - started
