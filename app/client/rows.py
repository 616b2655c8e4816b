"""Rows of CSV and NDJSON files as the records the API takes (what `ar-ingest import` sends).

CSV: the header names the fields, dotted names nest (`billing_address.city`,
`custom_fields.region`); empty cells are null; `is_primary` takes
true/false/1/0/yes/no; every other value stays text. The delimiter is sniffed
among `, ; TAB |` unless given. NDJSON: one object a line, parsed as the
server parses a body (numbers exact, NaN and a key given twice refused). A
UTF-8 BOM is dropped. A bad row is a Row with `error` set, never an
exception; only a header that cannot be used raises RowsError.
"""
import csv
import itertools
from collections import Counter
from dataclasses import dataclass
from typing import Iterator, Optional

from app.client.wire import loads

ERRORS_COLUMN = "_errors"
DELIMITERS = ",;\t|"
SNIFF_LINES, SNIFF_CHARACTERS = 50, 64 * 1024
BOM = b"\xef\xbb\xbf"
NOT_UTF8 = "not UTF-8 text (save the file as UTF-8)"
TRUE_WORDS, FALSE_WORDS = {"true", "1", "yes", "y"}, {"false", "0", "no", "n"}
BOOLEAN_FIELDS = frozenset({"is_primary"})


class RowsError(Exception):
    """The file cannot be read as rows: its header names a column twice, or not at all."""


@dataclass
class Row:
    """One row: where it starts, what was read, and the record to send or why not."""

    line: int                       # where the row starts in the file (1 = first line)
    raw: object                     # as read: the cells (CSV) or the line's bytes (NDJSON)
    record: Optional[dict] = None   # what is sent, or None when the row is bad
    error: Optional[str] = None


@dataclass
class Table:
    """A file open for reading: the CSV header and delimiter (None for NDJSON), and the rows."""

    header: Optional[list]
    delimiter: Optional[str]
    rows: Iterator[Row]
    bom: bool = False               # the file began with a UTF-8 BOM (Excel's "CSV UTF-8")


class CountingLines:
    """The file's lines as bytes (a leading UTF-8 BOM dropped), counting the bytes read."""

    def __init__(self, stream):
        self.stream, self.bytes_read, self.bom = stream, 0, False

    def __iter__(self):
        first = True
        for raw in self.stream:
            self.bytes_read += len(raw)
            if first:
                self.bom, first = raw.startswith(BOM), False
                raw = raw.removeprefix(BOM)
            yield raw


def _decoded(lines, undecodable):
    """Text lines; a line that is not UTF-8 keeps its bytes (surrogateescape) and its number
    (1 = the first line) is added to `undecodable`."""
    for number, raw in enumerate(lines, start=1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            undecodable.add(number)
            yield raw.decode("utf-8", "surrogateescape")


def _any_undecodable(undecodable, through):
    """Whether a line up to number `through` was not UTF-8; those numbers are forgotten."""
    found = [number for number in undecodable if number <= through]
    undecodable.difference_update(found)
    return bool(found)


def sniff_delimiter(sample: str) -> str:
    """The delimiter among `, ; TAB |` that splits the sample's lines alike (`,` if none does)."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def _columns(header):
    """The header's field names; RowsError when one is empty, named twice or nests under another."""
    columns = [name.strip() for name in header]
    problems = [f"column {number} has no name"
                for number, name in enumerate(columns, start=1) if not name]
    problems += [f"names {name!r} {count} times"
                 for name, count in Counter(columns).items() if name and count > 1]
    names = set(columns)
    problems += [f"has {name!r} and {outer!r}, which holds it" for name in sorted(names)
                 for outer in sorted(names) if outer and name.startswith(outer + ".")]
    if problems:
        raise RowsError("line 1: the header " + "; ".join(problems)
                        + ". Nothing was sent; correct the header and import again.")
    return columns


def read_csv(lines, delimiter: Optional[str] = None) -> Table:
    """Open a CSV file: its header is read (and checked) at once, its rows as they are iterated."""
    undecodable = set()  # numbers of lines read ahead (the sniffer's sample) that were not UTF-8
    text = _decoded(lines, undecodable)
    sample, size = [], 0
    for line in text:
        sample.append(line)
        size += len(line)
        if len(sample) >= SNIFF_LINES or size >= SNIFF_CHARACTERS:
            break
    delimiter = delimiter or sniff_delimiter("".join(sample))
    # strict: a quote opened and never closed is an error at the end of the file, not a cell
    # that silently holds every line after it.
    reader = csv.reader(itertools.chain(sample, text), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return Table(None, delimiter, iter(()))
    except csv.Error as error:
        raise RowsError(f"line 1: the header is not valid CSV: {error}") from None
    if _any_undecodable(undecodable, reader.line_num):
        raise RowsError(f"line 1: the header is {NOT_UTF8}")
    return Table(header, delimiter, _csv_rows(reader, _columns(header), undecodable),
                 getattr(lines, "bom", False))


def _csv_rows(reader, columns, undecodable):
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            problem = (f"a quoted cell opened on line {line} is never closed: every line after it "
                       "was read into it" if "unexpected end of data" in str(error)
                       else f"not valid CSV: {error}")
            cells = []
        else:
            problem = NOT_UTF8 if _any_undecodable(undecodable, reader.line_num) else None
        start, line = line, reader.line_num + 1
        _any_undecodable(undecodable, reader.line_num)
        if problem or not cells:
            if problem:
                yield Row(start, cells, error=problem)
            continue
        if len(cells) != len(columns):
            yield Row(start, cells, error=_width_error(len(cells), columns))
            continue
        try:
            yield Row(start, cells, _record(columns, cells))
        except ValueError as error:
            yield Row(start, cells, error=str(error))


def _width_error(count, columns):
    text = f"{count} cells where the header has {len(columns)} columns"
    if count < len(columns):
        return text + f" (no cell for {', '.join(columns[count:])})"
    return text + f" ({count - len(columns)} past the last column, {columns[-1]})"


def _record(columns, cells):
    record = {}
    for name, text in zip(columns, cells):
        if name == ERRORS_COLUMN:
            continue
        *outer, last = name.split(".")
        target = record
        for part in outer:
            target = target.setdefault(part, {})
        target[last] = _cell(last, name, text)
    return record


def _cell(field_name, column, text):
    if text == "":
        return None
    if field_name in BOOLEAN_FIELDS:
        word = text.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ValueError(f"{column}: {text!r} is not true/false/1/0/yes/no")
    return text


def read_ndjson(lines) -> Table:
    """Open an NDJSON file: one JSON object a line; blank lines are skipped."""
    return Table(None, None, _ndjson_rows(lines))


def _ndjson_rows(lines):
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            yield Row(number, raw, error=NOT_UTF8)
            continue
        except ValueError as error:
            yield Row(number, raw, error=f"not valid JSON: {error}")
            continue
        if not isinstance(record, dict):
            yield Row(number, raw, error="not a JSON object")
            continue
        record.pop(ERRORS_COLUMN, None)
        yield Row(number, raw, record)
