"""Where `ar-ingest import` puts rejected rows: as they were read, with the reasons beside."""
import csv
import io
import json
import os

from app.client.rows import BOM, ERRORS_COLUMN


def reasons_path(rejects):
    """Where an NDJSON reject file's reasons go: `x.rejects.ndjson` -> `x.rejects.errors.ndjson`."""
    root, extension = os.path.splitext(rejects)
    return f"{root}.errors{extension or '.ndjson'}"


class RejectWriter:
    """Rejected rows as they were read, and why.

    CSV: each rejected row's cells, in the input's delimiter, with the reason in
    an `_errors` column the importer ignores, so the fixed file imports as is (a
    row with too few cells is padded so that its reason sits under `_errors`; a
    row with too many keeps its extra cells after it). NDJSON: each rejected
    line's bytes unchanged, and its reasons in the line of the same number of
    a second file (`{"line": 7, "errors": [...]}`). The files are created with
    the first reject (none: no file); a resumed import cuts them back to what
    was written when the last batch was acknowledged.
    """

    def __init__(self, path, fmt, table, keep=(0, 0)):
        self.path, self.fmt, self.delimiter, self.keep = path, fmt, table.delimiter, keep
        self.bom = table.bom
        self.reasons_path = reasons_path(path) if fmt == "ndjson" else None
        self.handle = self.reasons = None
        self.columns = None
        if table.header is not None:
            names = [name.strip() for name in table.header]
            self.columns = table.header if ERRORS_COLUMN in names else [*table.header,
                                                                        ERRORS_COLUMN]
            self.errors_at = [name.strip() for name in self.columns].index(ERRORS_COLUMN)
            self.had_errors = ERRORS_COLUMN in names

    @staticmethod
    def _open(path, keep):
        if keep and os.path.exists(path):
            handle = open(path, "r+b")
            handle.truncate(keep)
            handle.seek(keep)
            return handle
        return open(path, "wb")

    def _start(self):
        self.handle = self._open(self.path, self.keep[0])
        if self.reasons_path:
            self.reasons = self._open(self.reasons_path, self.keep[1])
        if self.fmt == "csv" and self.columns is not None and self.handle.tell() == 0:
            self.handle.write(BOM if self.bom else b"")  # Excel reads UTF-8 by the BOM
            self._write_csv(self.columns)

    def _write_csv(self, cells):
        text = io.StringIO()
        csv.writer(text, delimiter=self.delimiter, lineterminator="\r\n").writerow(cells)
        self.handle.write(text.getvalue().encode("utf-8", "surrogateescape"))

    def _with_reason(self, cells, message):
        cells = list(cells)
        if self.had_errors and len(cells) == len(self.columns):
            cells[self.errors_at] = message  # a reject file imported again: a fresh reason
            return cells
        cells += [""] * (self.errors_at - len(cells))
        cells.insert(self.errors_at, message)
        return cells

    def write(self, row, reasons):
        """Write one rejected row with its reasons."""
        if self.handle is None:
            self._start()
        if self.fmt == "csv":
            self._write_csv(self._with_reason(row.raw, f"line {row.line}: " + "; ".join(reasons)))
            return
        self.handle.write(row.raw if row.raw.endswith(b"\n") else row.raw + b"\n")
        self.reasons.write(json.dumps({"line": row.line, "errors": reasons},
                                      ensure_ascii=False).encode("utf-8") + b"\n")

    def positions(self):
        """The files' sizes now (what a resumed import keeps)."""
        if self.handle is None:
            return self.keep
        for handle in (self.handle, self.reasons):
            if handle is not None:
                handle.flush()
        return self.handle.tell(), self.reasons.tell() if self.reasons else 0

    def files(self):
        """The reject file (and reasons file) when anything was rejected."""
        if self.handle is None and not self.keep[0]:
            return []
        return [self.path] + ([self.reasons_path] if self.reasons_path else [])

    def close(self):
        """Close the files."""
        for handle in (self.handle, self.reasons):
            if handle is not None:
                handle.close()
