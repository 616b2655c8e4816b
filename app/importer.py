"""`ar-ingest import`: a CSV or NDJSON file streamed through the batch endpoint.

Rows become records: CSV headers name fields, dotted ones nested fields
(`billing_address.city`, `custom_fields.region`); empty cells are null,
boolean fields take true/false/1/0/yes/no, every other value stays text
(amounts are never floats). A bad row is rejected on its own with its line
number. Batches go through the client (retries, an Idempotency-Key of the run
and the batch, so a re-sent batch is never applied twice, also after --resume).
Rejected rows go to a file in the input's format, with an `_errors` column
(key) the importer ignores when reading, so the fixed file imports as is.
A checkpoint after each acknowledged batch lets `--resume` continue.
"""
import csv
import hashlib
import io
import json
import os
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field

from app.client import KEY_FIELDS, ApiError, IngestClient

ERRORS_COLUMN = "_errors"
TRUE_WORDS, FALSE_WORDS = {"true", "1", "yes", "y"}, {"false", "0", "no", "n"}
BOOLEAN_FIELDS = frozenset({"is_primary"})
PROGRESS_EVERY_SECONDS = 10.0


class ImportError_(Exception):
    """The import cannot start or go on (bad arguments, unreadable file, a refused resume)."""


@dataclass
class Row:
    line: int                  # where the row starts in the file (1 = first line)
    raw: object                # the row as read: a list of cells (CSV) or the line's text
    record: dict = None        # what is sent, or None when the row is bad
    error: str = None


@dataclass
class Counts:
    rows: int = 0
    created: int = 0
    replaced: int = 0
    unchanged: int = 0
    rejected: int = 0
    run: str = ""               # this import's id: in every batch's Idempotency-Key
    sync_run: str = ""          # with --full-sync: the server's sync run
    last_line: int = 0          # the last line whose batch the server acknowledged
    rejects_bytes: int = 0      # the reject file's size at that point
    extra: dict = field(default_factory=dict)


class CountingLines:
    """The file's lines, decoded, counting the bytes read (for progress and ETA)."""

    def __init__(self, stream):
        self.stream, self.bytes_read, self.first = stream, 0, True

    def __iter__(self):
        for raw in self.stream:
            self.bytes_read += len(raw)
            line = raw.decode("utf-8")
            if self.first:
                line, self.first = line.lstrip("\ufeff"), False
            yield line


def _set_dotted(record, name, value):
    parts = name.split(".")
    target = record
    for part in parts[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise ValueError(f"column {name!r} nests under a column that has a value")
    target[parts[-1]] = value


def _cell(name, text):
    if text == "":
        return None
    if name.rpartition(".")[2] in BOOLEAN_FIELDS:
        word = text.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ValueError(f"{name}: {text!r} is not true/false/1/0/yes/no")
    return text


def read_csv(lines):
    """Rows of a CSV file (header first); rows with the wrong column count are bad."""
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as error:
        raise ImportError_(f"line 1: the header is not valid CSV: {error}") from None
    columns = [name.strip() for name in header]
    yield header
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield Row(line, [], error=f"not valid CSV: {error}")
            line = reader.line_num + 1
            continue
        start, line = line, reader.line_num + 1
        if not cells:
            continue
        if len(cells) != len(columns):
            yield Row(start, cells, error=f"{len(cells)} cells where the header has "
                                          f"{len(columns)} columns")
            continue
        record = {}
        try:
            for name, text in zip(columns, cells):
                if name != ERRORS_COLUMN:
                    _set_dotted(record, name, _cell(name, text))
        except ValueError as error:
            yield Row(start, cells, error=str(error))
            continue
        yield Row(start, cells, record)


def read_ndjson(lines):
    """Rows of an NDJSON file: one JSON object per line; blank lines are skipped."""
    yield None
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except ValueError as error:
            yield Row(number, text, error=f"not valid JSON: {error}")
            continue
        if not isinstance(record, dict):
            yield Row(number, text, error="not a JSON object")
            continue
        record.pop(ERRORS_COLUMN, None)
        yield Row(number, text, record)


def _column(pointer, key_field):
    """#/items/3/billing_address/city -> billing_address.city."""
    parts = pointer.split("/")[3:]
    return ".".join(part.replace("~1", "/").replace("~0", "~") for part in parts) or key_field


class RejectWriter:
    """Rejected rows, in the input's format, with the reasons in `_errors`.

    The file is created with the first reject (none: no file); a resumed
    import cuts it back to what was written when the last batch was acknowledged.
    """

    def __init__(self, path, fmt, header, keep_bytes=0):
        self.path, self.fmt, self.header, self.keep_bytes = path, fmt, header, keep_bytes
        self.handle = None

    def _open(self):
        if self.keep_bytes and os.path.exists(self.path):
            self.handle = open(self.path, "r+b")
            self.handle.truncate(self.keep_bytes)
            self.handle.seek(self.keep_bytes)
            return
        self.handle = open(self.path, "wb")
        if self.fmt == "csv" and self.header is not None:
            self._write_csv(self.header if ERRORS_COLUMN in self.header
                            else [*self.header, ERRORS_COLUMN])

    def _write_csv(self, cells):
        text = io.StringIO()
        csv.writer(text, lineterminator="\r\n").writerow(cells)
        self.handle.write(text.getvalue().encode("utf-8"))

    def write(self, row, reasons):
        if self.handle is None:
            self._open()
        message = f"line {row.line}: " + "; ".join(reasons)
        if self.fmt == "csv":
            cells = list(row.raw)
            if self.header and ERRORS_COLUMN in self.header and len(cells) == len(self.header):
                cells[self.header.index(ERRORS_COLUMN)] = message
            else:
                cells.append(message)
            self._write_csv(cells)
        else:
            try:
                record = json.loads(row.raw)
            except ValueError:
                record = None
            if not isinstance(record, dict):
                record = {"_raw": row.raw.rstrip("\r\n")}
            record[ERRORS_COLUMN] = message
            self.handle.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))

    def position(self):
        if self.handle is None:
            return self.keep_bytes
        self.handle.flush()
        return self.handle.tell()

    def close(self):
        if self.handle is not None:
            self.handle.close()


class Progress:
    """A tqdm bar on a terminal (bytes, with rows and rejects); plain lines otherwise."""

    def __init__(self, total_bytes, out):
        self.out, self.started, self.last_line = out, time.monotonic(), time.monotonic()
        self.bar = None
        if getattr(out, "isatty", lambda: False)():
            from tqdm import tqdm
            self.bar = tqdm(total=total_bytes or None, unit="B", unit_scale=True, file=out,
                            desc="importing")

    def update(self, bytes_read, counts):
        rate = counts.rows / max(time.monotonic() - self.started, 1e-9)
        if self.bar is not None:
            self.bar.update(bytes_read - self.bar.n)
            self.bar.set_postfix(rows=counts.rows, rejected=counts.rejected,
                                 rows_s=f"{rate:.0f}", refresh=False)
        elif time.monotonic() - self.last_line >= PROGRESS_EVERY_SECONDS:
            self.last_line = time.monotonic()
            print(f"{counts.rows:,} rows, {rate:,.0f} rows/s, {counts.rejected:,} rejected",
                  file=self.out, flush=True)

    def close(self):
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
    if extension == ".csv":
        return "csv"
    if extension in (".ndjson", ".jsonl"):
        return "ndjson"
    raise ImportError_("Give --format csv or ndjson (the file's name does not say which).")


def import_file(collection, path, client, *, fmt=None, batch_size=1000, rejects=None,
                resume=False, full_sync=False, max_removal_ratio=0.2, out=sys.stderr):
    """Import a file; returns the Counts. Rows are read and sent one batch at a time.

    With `full_sync` the file is the whole collection: a sync run is started,
    tagged on every batch, and finished at the end, removing the records the
    file did not have (the counts go to `extra["sync"]`). If any row was
    rejected the run is aborted instead: a rejected row's record would
    otherwise be removed.
    """
    fmt = _format_of(path, fmt)
    fingerprint = _fingerprint(path, collection)
    stem = "stdin" if path == "-" else path
    rejects = rejects or f"{stem}.rejects.{'csv' if fmt == 'csv' else 'ndjson'}"
    checkpoint_path = f"{stem}.checkpoint.json"
    counts = Counts(run=uuid.uuid4().hex[:12])
    if resume:
        if fingerprint is None or not os.path.exists(checkpoint_path):
            raise ImportError_("Nothing to resume: no checkpoint beside this file.")
        with open(checkpoint_path) as handle:
            saved = json.load(handle)
        if saved.get("fingerprint") != fingerprint:
            raise ImportError_("The file changed since the interrupted import; start afresh.")
        counts = Counts(**saved["counts"])
    stream = sys.stdin.buffer if path == "-" else open(path, "rb")
    total = None if path == "-" else os.path.getsize(path)
    lines = CountingLines(stream)
    rows = (read_csv if fmt == "csv" else read_ndjson)(lines)
    header = next(rows, None)
    writer = RejectWriter(rejects, fmt, header, counts.rejects_bytes if resume else 0)
    progress = Progress(total, out)
    target = client.collection(collection)
    key_field = KEY_FIELDS[collection]
    if full_sync and not counts.sync_run:
        counts.sync_run = client.request("POST", f"/{collection}:sync-runs")["id"]
    batch = []

    def send():
        """Send the pending rows as one batch, keyed by this run and the batch's first line:
        a resumed run that re-sends a batch the server already applied gets the stored
        answer, while a new run of the same file is applied afresh."""
        if not batch:
            return
        key = f"import-{counts.run}-{batch[0].line}"
        answer = target.batch([row.record for row in batch], idempotency_key=key,
                              sync_run=counts.sync_run or None)
        for row, result in zip(batch, answer["results"]):
            if result["errors"]:
                writer.write(row, [f"{_column(e['pointer'], key_field)}: {e['detail']}"
                                   for e in result["errors"]])
        for outcome in ("created", "replaced", "unchanged"):
            setattr(counts, outcome, getattr(counts, outcome) + answer[outcome])
        counts.rejected += answer["failed"]
        counts.last_line = batch[-1].line
        counts.rejects_bytes = writer.position()
        if fingerprint is not None:
            _save_checkpoint(checkpoint_path, fingerprint, counts)
        batch.clear()

    try:
        for row in rows:
            if row.line <= counts.last_line:
                continue  # acknowledged before the interruption
            counts.rows += 1
            if row.error:
                writer.write(row, [row.error])
                counts.rejected += 1
            else:
                batch.append(row)
                if len(batch) >= batch_size:
                    send()
            progress.update(lines.bytes_read, counts)
        send()
    finally:
        progress.close()
        writer.close()
        if stream is not sys.stdin.buffer:
            stream.close()
    if counts.sync_run:
        counts.extra["sync"] = _end_sync(client, collection, counts, max_removal_ratio)
    if fingerprint is not None and os.path.exists(checkpoint_path):
        os.remove(checkpoint_path)
    counts.extra["rejects_file"] = rejects if writer.handle is not None or (
        resume and counts.rejects_bytes) else None
    return counts


def _end_sync(client, collection, counts, max_removal_ratio):
    """Finish the full sync (or abort it when rows were rejected); what happened."""
    path = f"/{collection}:sync-runs/{counts.sync_run}"
    if counts.rejected:
        client.request("POST", path + ":abort")
        return {"status": "aborted", "reason": "rows were rejected; nothing was removed"}
    try:
        run = client.request("POST", path + ":finish",
                             json={"max_removal_ratio": max_removal_ratio})
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
    text = (f"{counts.rows:,} rows in {seconds:.1f} s: {counts.created:,} created, "
            f"{counts.replaced:,} replaced, {counts.unchanged:,} unchanged, "
            f"{counts.rejected:,} rejected")
    sync = counts.extra.get("sync")
    if sync and sync["status"] == "finished":
        text += (f"\nfull sync finished: {sync['deleted']:,} deleted, {sync['archived']:,} "
                 f"archived (others depend on them), {sync['kept']:,} kept")
    elif sync:
        text += f"\nfull sync {sync['status']}: {sync['reason']}"
    return text


def run(collection, path, url, api_key, **options):
    """Import with a fresh client; returns (counts, seconds)."""
    started = time.monotonic()
    with IngestClient(url, api_key) as client:
        counts = import_file(collection, path, client, **options)
    return counts, time.monotonic() - started
