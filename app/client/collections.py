"""One collection's endpoints, its change feed and full syncs; chunking that keeps the caller's
positions."""
import itertools
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Optional
from urllib.parse import quote

from app.client.errors import ApiError

MAX_BATCH = 1000
MAX_LOOKUP = 100
# The collections the client names as attributes (`client.accounts`); their key fields, and
# any collection the server has beyond these, come from the server's OpenAPI document
# (`IngestClient.key_fields()`), so nothing here copies the server's registry.
COLLECTIONS = ("accounts", "contacts", "documents", "representatives")


def key_segment(key: str) -> str:
    """A key as one URL path segment. A key no path can carry ("", ".", "..", or one holding
    "/") is a ValueError here: sent, the URL would name another route, and a GET would read
    as a missing record."""
    if not isinstance(key, str) or key in ("", ".", "..") or "/" in key:
        raise ValueError(f"{key!r} is not a key: a key is not empty, not . or .., and holds "
                         "no /")
    return quote(key, safe="")


def chunked(iterable: Iterable, size: int) -> Iterator[list]:
    """Lists of up to `size` items, consuming the iterable lazily."""
    iterator = iter(iterable)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def shift_pointer(pointer: str, member: str, offset: int) -> str:
    """`#/items/3/email` of a chunk starting at `offset` -> `#/items/{3 + offset}/email`."""
    prefix = f"#/{member}/"
    if not offset or not pointer.startswith(prefix):
        return pointer
    index, slash, rest = pointer[len(prefix):].partition("/")
    return f"{prefix}{int(index) + offset}{slash}{rest}" if index.isdigit() else pointer


def _shift_errors(errors, member, offset):
    for error in errors or ():
        if isinstance(error.get("pointer"), str):
            error["pointer"] = shift_pointer(error["pointer"], member, offset)


def in_chunks(send, iterable: Iterable, size: int, member: str) -> Iterator[tuple[int, dict]]:
    """(offset, answer) of `send(chunk)` for each chunk, every pointer in the answer's results'
    errors (or a refusal's errors) counted from the caller's first item, not the chunk's."""
    offset = 0
    for chunk in chunked(iterable, size):
        try:
            answer = send(chunk)
        except ApiError as refused:
            _shift_errors(refused.errors, member, offset)
            raise
        for result in answer.get("results") or ():
            _shift_errors(result.get("errors"), member, offset)
        yield offset, answer
        offset += len(chunk)


@dataclass
class Feed:
    """A change feed being followed: iterate it for items; `cursor` is what to store.

    Iteration stops at the end (has_more false); `cursor` is then the position
    to resume from later, and each page's cursor is kept as it is read.
    """

    client: "IngestClient"  # noqa: F821 (app.client.session)
    collection: str
    cursor: Optional[str] = None
    filters: dict = field(default_factory=dict)
    limit: int = 1000

    def pages(self) -> Iterator[dict]:
        """Each page as the API sends it; `cursor` moves on after each."""
        while True:
            params = dict(self.filters, limit=self.limit)
            if self.cursor:
                params["cursor"] = self.cursor
            page = self.client.request("GET", f"/{self.collection}", params=params)
            self.cursor = page["next_cursor"]
            yield page
            if not page["has_more"]:
                return

    def __iter__(self):
        for page in self.pages():
            yield from page["items"]


class Collection:
    """One collection's endpoints: `client.accounts.put("A-1", {...})`."""

    def __init__(self, client, name):
        self.client, self.name = client, name

    @property
    def key_field(self) -> Optional[str]:
        """The field holding this collection's key ("account_number"), as the server states it;
        None when the server has no such collection."""
        return self.client.key_fields().get(self.name)

    def _path(self, key, suffix=""):
        return f"/{self.name}/{key_segment(key)}{suffix}"

    def get(self, key: str) -> Optional[dict]:
        """The record, or None when it does not exist."""
        return self.client.request("GET", self._path(key), missing_ok=True)

    def put(self, key: str, record: dict, if_match: Optional[int] = None) -> dict:
        """Create or replace (PUT semantics); returns the stored record."""
        return self.client.request("PUT", self._path(key), json=record,
                                   headers=_if_match(if_match))

    def create(self, key: str, record: dict) -> dict:
        """Create only (POST); Conflict when the key exists."""
        return self.client.request("POST", self._path(key), json=record)

    def patch(self, key: str, changes: dict, if_match: Optional[int] = None) -> dict:
        """Change the fields given; returns the record."""
        return self.client.request("PATCH", self._path(key), json=changes,
                                   headers=_if_match(if_match))

    def delete(self, key: str, if_match: Optional[int] = None) -> None:
        """Delete; NotFound when it does not exist, Conflict while others depend on it."""
        self.client.request("DELETE", self._path(key), headers=_if_match(if_match))

    def lookup(self, keys: Iterable[str]) -> dict:
        """{"items": [records found], "missing": [keys]}, asked 100 keys at a time."""
        found = {"items": [], "missing": []}
        for chunk in chunked(keys, MAX_LOOKUP):
            page = self.client.request("POST", f"/{self.name}:lookup", json={"keys": chunk})
            found["items"].extend(page["items"])
            found["missing"].extend(page["missing"])
        return found

    def versions(self, limit: int = 10_000) -> Iterator[dict]:
        """Every {key, version, updated_at}, in key order, across all pages."""
        cursor = None
        while True:
            params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
            page = self.client.request("GET", f"/{self.name}:versions", params=params)
            yield from page["items"]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                return

    def feed(self, cursor: Optional[str] = None, limit: int = 1000, **filters) -> Feed:
        """The change feed from `cursor` (None: the beginning), optionally filtered."""
        return Feed(self.client, self.name, cursor, filters, limit)

    def batch_upsert(self, records: Iterable[dict], chunk_size: int = MAX_BATCH,
                     atomic: bool = False, sync_run: Optional[str] = None) -> Iterator[dict]:
        """PUT every record (each with its key field) in batches; yields each item's result.

        The iterable is read lazily, one chunk at a time (constant memory). Error
        pointers count from the first record given (`#/items/1007/email`), across
        chunks. With `sync_run`, every batch marks its records seen by that run.
        """
        def send(chunk):
            return self.batch(chunk, atomic, sync_run=sync_run)

        for _, answer in in_chunks(send, records, min(chunk_size, MAX_BATCH), "items"):
            yield from answer["results"]

    def batch(self, records: list, atomic: bool = False,
              idempotency_key: Optional[str] = None, sync_run: Optional[str] = None) -> dict:
        """One POST /{collection}:batch: results and counts (a fresh Idempotency-Key unless
        one is given: the same key for the same batch makes a re-send safe)."""
        params = {"atomic": "true"} if atomic else None
        headers = {"Sync-Run": sync_run} if sync_run else None
        return self.client.request("POST", f"/{self.name}:batch", json={"items": records},
                                   params=params, headers=headers,
                                   idempotency_key=idempotency_key)

    def full_sync(self, scope: Optional[dict] = None,
                  max_removal_ratio: float = 0.2) -> "FullSync":
        """A full sync: records not sent through it are removed when it finishes.

            with client.accounts.full_sync() as sync:
                for result in sync.batch_upsert(all_accounts()):
                    ...
            print(sync.result)   # {"deleted": ..., "archived": ..., "kept": ...}

        It finishes when the block ends normally and aborts (removing nothing)
        when it raises; a finish the guard refuses raises Conflict.
        """
        return FullSync(self, scope or {}, max_removal_ratio)

    def sync_run(self, run_id: str) -> dict:
        """A sync run's status and counts."""
        return self.client.request("GET", f"/{self.name}:sync-runs/{run_id}")

    def archive(self, key: str) -> dict:
        """Archive a record (kept, left out of lists); returns it."""
        return self.client.request("POST", self._path(key, "/archive"))

    def unarchive(self, key: str) -> dict:
        """Make an archived record active again; returns it."""
        return self.client.request("POST", self._path(key, "/unarchive"))

    def page(self, key: str, related: str, page: int = 1, limit: int = 100) -> dict:
        """One page of a reverse view: /accounts/{n}/contacts and the like."""
        return self.client.request("GET", self._path(key, f"/{related}"),
                                   params={"page": page, "limit": limit})

    def related(self, key: str, related: str) -> Iterator[dict]:
        """Every record of a reverse view (contacts, documents, representatives), all pages."""
        number = 1
        while True:
            page = self.page(key, related, number, 100)
            yield from page["items"]
            if number * page["limit"] >= page["total"]:
                return
            number += 1


class FullSync:
    """A running sync run of one collection (Collection.full_sync)."""

    def __init__(self, collection, scope, max_removal_ratio):
        self.collection, self.scope = collection, scope
        self.max_removal_ratio = max_removal_ratio
        self.run_id, self.result = None, None

    def __enter__(self):
        run = self.collection.client.request(
            "POST", f"/{self.collection.name}:sync-runs", json={"scope": self.scope})
        self.run_id = run["id"]
        return self

    def batch_upsert(self, records: Iterable[dict], chunk_size: int = MAX_BATCH) -> Iterator[dict]:
        """Like Collection.batch_upsert, each batch marking its records seen by this run."""
        return self.collection.batch_upsert(records, chunk_size, sync_run=self.run_id)

    def finish(self) -> dict:
        """Remove what the run did not see; returns the counts."""
        run = self.collection.client.request(
            "POST", f"/{self.collection.name}:sync-runs/{self.run_id}:finish",
            json={"max_removal_ratio": self.max_removal_ratio})
        self.result = run["result"]
        return self.result

    def abort(self) -> None:
        """End the run without removing anything."""
        self.collection.client.request(
            "POST", f"/{self.collection.name}:sync-runs/{self.run_id}:abort")

    def __exit__(self, kind, error, traceback):
        if kind is None:
            self.finish()
        else:
            self.abort()


def _if_match(version):
    return {"If-Match": f'"{version}"'} if version is not None else None
