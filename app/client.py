"""A Python client for ETL jobs: one method per endpoint, retries, batching and feed helpers.

Needs only the standard library, `requests` and `urllib3` (importing it builds
no Flask app and touches no database):

    from app.client import IngestClient

    client = IngestClient("https://ingest.example.com", api_key)
    for result in client.accounts.batch_upsert(rows_from_erp()):
        if result["errors"]:
            print(result)

Retries (urllib3's Retry, exponential backoff with jitter) cover connection
errors, 429 (after its Retry-After) and 502/503/504, for idempotent calls
only: GET, PUT, DELETE, and POST when it carries an Idempotency-Key, which
the client adds to every POST unless told not to. Errors raise ApiError
subclasses carrying the problem details; GET of a missing record returns None.
"""
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Optional
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

API_PREFIX = "/api/v1/ingest"
MAX_BATCH = 1000
MAX_LOOKUP = 100
# The client runs without the server's code, so it carries the registry's collections and
# key fields itself (services/registry.py); tests/test_client.py keeps the two equal.
KEY_FIELDS = {"accounts": "account_number", "contacts": "reference",
              "documents": "document_number", "representatives": "reference"}


class ApiError(Exception):
    """An answer the API gave as problem details (or a non-JSON failure)."""

    def __init__(self, response):
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        if not isinstance(problem, dict):
            problem = {}
        self.response = response
        self.status = response.status_code
        self.code = problem.get("code")
        self.title = problem.get("title")
        self.detail = problem.get("detail") or response.reason
        self.errors = problem.get("errors") or []
        self.request_id = problem.get("request_id") or response.headers.get("X-Request-Id")
        self.problem = problem
        super().__init__(f"{self.status} {self.code or response.reason}: {self.detail}")


class Unauthorized(ApiError):
    """401: the key is missing, unknown, revoked or expired."""


class Forbidden(ApiError):
    """403: the key may not do this (a read key writing)."""


class NotFound(ApiError):
    """404."""


class Conflict(ApiError):
    """409: the key exists, dependants remain, a tie among matches, or a key in use."""


class PreconditionFailed(ApiError):
    """412: If-Match / If-None-Match did not hold."""


class ValidationError(ApiError):
    """422: `errors` lists each field with a JSON pointer."""


class RateLimited(ApiError):
    """429 after the retries; `retry_after` seconds."""

    @property
    def retry_after(self):
        return int(self.response.headers.get("Retry-After", "1"))


class ServerError(ApiError):
    """5xx after the retries."""


_ERRORS = {401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
           412: PreconditionFailed, 422: ValidationError, 429: RateLimited}


def error_for(response):
    """The ApiError subclass instance for a failed response."""
    kind = _ERRORS.get(response.status_code,
                       ServerError if response.status_code >= 500 else ApiError)
    return kind(response)


def chunked(iterable: Iterable, size: int) -> Iterator[list]:
    """Lists of up to `size` items, consuming the iterable lazily."""
    iterator = iter(iterable)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


@dataclass
class Feed:
    """A change feed being followed: iterate it for items; `cursor` is what to store.

    Iteration stops at the end (has_more false); `cursor` is then the position
    to resume from later, and each page's cursor is kept as it is read.
    """

    client: "IngestClient"
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
        self.client, self.name, self.key_field = client, name, KEY_FIELDS[name]

    def _path(self, key, suffix=""):
        return f"/{self.name}/{quote(key, safe='')}{suffix}"

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

        The iterable is read lazily, one chunk at a time (constant memory). With
        `sync_run`, every batch marks its records seen by that run (see full_sync).
        """
        for chunk in chunked(records, min(chunk_size, MAX_BATCH)):
            yield from self.batch(chunk, atomic, sync_run=sync_run)["results"]

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


class IngestClient:
    """The ar-ingest API over a pooled requests Session."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 60.0,
                 retries: int = 5, backoff_factor: float = 0.5, backoff_max: float = 30.0,
                 idempotency_keys: bool = True, session: Optional[requests.Session] = None):
        self.base_url = base_url.rstrip("/") + API_PREFIX
        self.timeout = timeout
        self.idempotency_keys = idempotency_keys
        retry = Retry(total=retries, connect=retries, read=retries, status=retries,
                      backoff_factor=backoff_factor, backoff_max=backoff_max,
                      backoff_jitter=backoff_factor,
                      status_forcelist=(429, 502, 503, 504), respect_retry_after_header=True,
                      allowed_methods=frozenset({"GET", "PUT", "DELETE", "POST", "HEAD"}),
                      raise_on_status=False)
        self.session = session or requests.Session()
        self.session.headers.update({"X-API-Key": api_key, "User-Agent": "ar-ingest-client"})
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        # A POST without an Idempotency-Key is retried only when it never reached the server.
        self._unsafe = requests.Session()
        self._unsafe.headers.update(self.session.headers)
        once = Retry(total=retries, connect=retries, read=0, status=0, other=0,
                     backoff_factor=backoff_factor, raise_on_status=False)
        self._unsafe.mount("http://", HTTPAdapter(max_retries=once))
        self._unsafe.mount("https://", HTTPAdapter(max_retries=once))
        self.accounts = Collection(self, "accounts")
        self.contacts = Collection(self, "contacts")
        self.documents = Collection(self, "documents")
        self.representatives = Collection(self, "representatives")

    def collection(self, name: str) -> Collection:
        """A collection by name ("accounts", "contacts", "documents", "representatives")."""
        return getattr(self, name)

    def request(self, method: str, path: str, *, json=None, params=None, headers=None,
                missing_ok: bool = False, idempotency_key: Optional[str] = None):
        """Send one request; the decoded answer (None for 204, or 404 with missing_ok)."""
        headers = dict(headers or {})
        if method == "POST" and self.idempotency_keys:
            headers.setdefault("Idempotency-Key", idempotency_key or uuid.uuid4().hex)
        session = self._unsafe if method == "POST" and "Idempotency-Key" not in headers \
            else self.session
        response = session.request(method, self.base_url + path, json=json, params=params,
                                   headers=headers, timeout=self.timeout)
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 400:
            raise error_for(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # -- links -------------------------------------------------------------------------------
    def link(self, representative: str, *, account_number: Optional[str] = None,
             document_number: Optional[str] = None) -> dict:
        """Link a representative to an account or a document (linking twice is fine)."""
        kind, key = _target(account_number, document_number)
        return self.request("PUT", f"/representatives/{quote(representative, safe='')}/{kind}/"
                                   f"{quote(key, safe='')}")

    def unlink(self, representative: str, *, account_number: Optional[str] = None,
               document_number: Optional[str] = None) -> None:
        """Remove a link; NotFound when there is none."""
        kind, key = _target(account_number, document_number)
        self.request("DELETE", f"/representatives/{quote(representative, safe='')}/{kind}/"
                               f"{quote(key, safe='')}")

    def linked(self, representative: str, kind: str = "accounts") -> Iterator[str]:
        """Every account number (or document number) a representative is linked to."""
        number = 1
        while True:
            page = self.request("GET", f"/representatives/{quote(representative, safe='')}/"
                                       f"{kind}", params={"page": number, "limit": 100})
            yield from page["items"]
            if number * page["limit"] >= page["total"]:
                return
            number += 1

    def link_many(self, links: Iterable[dict], unlink: bool = False) -> Iterator[dict]:
        """POST :link (or :unlink) in chunks of 1,000; yields each pair's result."""
        action = "unlink" if unlink else "link"
        for chunk in chunked(links, MAX_BATCH):
            yield from self.request("POST", f"/representatives:{action}",
                                    json={"links": chunk})["results"]

    # -- people without references -----------------------------------------------------------
    def _upsert(self, kind, account_number, person, dry_run):
        params = {"dry_run": "true"} if dry_run else None
        return self.request("PUT", f"/accounts/{quote(account_number, safe='')}/{kind}/upsert",
                            json=person, params=params)

    def upsert_contact(self, account_number: str, person: dict, dry_run: bool = False) -> dict:
        """Find the account's contact by email or name and update it, or create it."""
        return self._upsert("contacts", account_number, person, dry_run)

    def upsert_representative(self, account_number: str, person: dict,
                              dry_run: bool = False) -> dict:
        """Find a representative by email or name, update or create it, link it to the account."""
        return self._upsert("representatives", account_number, person, dry_run)

    def upsert_party(self, account_number: str, person: dict, dry_run: bool = False) -> dict:
        """A contact or, for the tenant's internal email domains, a representative."""
        return self._upsert("party", account_number, person, dry_run)

    def email_events(self, events: Iterable[dict]) -> dict:
        """POST /email-events in chunks of 1,000; the counts added up, and every result."""
        total = {"results": [], "applied": 0, "stale": 0, "unmatched": 0, "failed": 0}
        for chunk in chunked(events, MAX_BATCH):
            answer = self.request("POST", "/email-events", json={"events": chunk})
            total["results"].extend(answer["results"])
            for name in ("applied", "stale", "unmatched", "failed"):
                total[name] += answer[name]
        return total

    def close(self):
        self.session.close()
        self._unsafe.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _target(account_number, document_number):
    if (account_number is None) == (document_number is None):
        raise TypeError("give exactly one of account_number and document_number")
    return ("accounts", account_number) if account_number is not None \
        else ("documents", document_number)
