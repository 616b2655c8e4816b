"""IngestClient: the API over a pooled requests Session, with urllib3's retries."""
import re
import time
import uuid
from typing import Iterable, Iterator, Optional

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from app.client.collections import COLLECTIONS, MAX_BATCH, Collection, in_chunks, key_segment
from app.client.errors import error_for
from app.client.wire import dumps

API_PREFIX = "/api/v1/ingest"
_RECORD_PATH = re.compile(re.escape(API_PREFIX) + r"/([a-z][a-z0-9_-]*)/\{([a-z_]+)\}")


def key_fields_of(document: dict) -> dict:
    """{collection: key field} of every collection an OpenAPI document of the API serves:
    its record path `/accounts/{account_number}` names both."""
    found = {}
    for path, operations in (document.get("paths") or {}).items():
        match = _RECORD_PATH.fullmatch(path)
        if match and {"get", "put"} <= set(operations):
            found[match.group(1)] = match.group(2)
    return found


class _Retry(Retry):
    """urllib3's Retry, also retrying a 409 that carries Retry-After (the server's
    idempotency-key-in-use: the first request with the key is still running), and waiting
    the longer of the Retry-After and the backoff, so repeated answers back off."""

    RETRY_AFTER_STATUS_CODES = Retry.RETRY_AFTER_STATUS_CODES | {409}

    def sleep(self, response=None):
        waited = self.get_retry_after(response) if response and \
            self.respect_retry_after_header else None
        pause = max(waited or 0.0, self.get_backoff_time())
        if pause > 0:
            time.sleep(pause)


class IngestClient:
    """The ar-ingest API over a pooled requests Session."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 60.0,
                 retries: int = 5, backoff_factor: float = 0.5, backoff_max: float = 30.0,
                 retry_after_max: int = 300, idempotency_keys: bool = True,
                 session: Optional[requests.Session] = None):
        self.base_url = base_url.rstrip("/") + API_PREFIX
        self.timeout = timeout
        self.idempotency_keys = idempotency_keys
        retry = _Retry(total=retries, connect=retries, read=retries, status=retries,
                       backoff_factor=backoff_factor, backoff_max=backoff_max,
                       backoff_jitter=backoff_factor, retry_after_max=retry_after_max,
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
        self._key_fields = None
        for name in COLLECTIONS:
            setattr(self, name, Collection(self, name))

    def key_fields(self) -> dict:
        """{collection: key field} of every collection the server has, read once from its
        OpenAPI document."""
        if self._key_fields is None:
            self._key_fields = key_fields_of(self.request("GET", "/openapi.json"))
        return self._key_fields

    def collection(self, name: str) -> Collection:
        """A collection by name: "accounts", "contacts", "documents", "representatives", or one
        the server has that this client does not know yet ("payments")."""
        known = self.__dict__.get(name)
        if isinstance(known, Collection):
            return known
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", name or ""):
            raise ValueError(f"{name!r} is not a collection name (lower case, as in its URL)")
        if name not in self.key_fields():  # a typo would read as missing records
            raise ValueError(f"The server has no collection {name!r}; it has "
                             f"{', '.join(sorted(self.key_fields()))}.")
        return Collection(self, name)

    def request(self, method: str, path: str, *, json=None, params=None, headers=None,
                missing_ok: bool = False, idempotency_key: Optional[str] = None):
        """Send one request; the decoded answer (None for 204, or 404 with missing_ok).

        A `json` body may hold Decimals: they are sent digit for digit.
        """
        headers = dict(headers or {})
        if method == "POST" and self.idempotency_keys:
            headers.setdefault("Idempotency-Key", idempotency_key or uuid.uuid4().hex)
        body = None
        if json is not None:
            body = dumps(json).encode("ascii")
            headers.setdefault("Content-Type", "application/json")
        session = self._unsafe if method == "POST" and "Idempotency-Key" not in headers \
            else self.session
        response = session.request(method, self.base_url + path, data=body, params=params,
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
        return self.request("PUT", f"/representatives/{key_segment(representative)}/{kind}/"
                                   f"{key_segment(key)}")

    def unlink(self, representative: str, *, account_number: Optional[str] = None,
               document_number: Optional[str] = None) -> None:
        """Remove a link; NotFound when there is none."""
        kind, key = _target(account_number, document_number)
        self.request("DELETE", f"/representatives/{key_segment(representative)}/{kind}/"
                               f"{key_segment(key)}")

    def linked(self, representative: str, kind: str = "accounts") -> Iterator[str]:
        """Every account number (or document number) a representative is linked to."""
        number = 1
        while True:
            page = self.request("GET", f"/representatives/{key_segment(representative)}/"
                                       f"{kind}", params={"page": number, "limit": 100})
            yield from page["items"]
            if number * page["limit"] >= page["total"]:
                return
            number += 1

    def link_many(self, links: Iterable[dict], unlink: bool = False) -> Iterator[dict]:
        """POST :link (or :unlink) in chunks of 1,000; yields each pair's result (pointers
        count from the first link given)."""
        path = f"/representatives:{'unlink' if unlink else 'link'}"
        for _, answer in in_chunks(lambda chunk: self.request("POST", path, json={"links": chunk}),
                                   links, MAX_BATCH, "links"):
            yield from answer["results"]

    # -- people without references -----------------------------------------------------------
    def _upsert(self, kind, account_number, person, dry_run):
        params = {"dry_run": "true"} if dry_run else None
        return self.request("PUT", f"/accounts/{key_segment(account_number)}/{kind}/upsert",
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

    def upsert_many(self, kind: str, people: Iterable[dict], chunk_size: int = MAX_BATCH,
                    atomic: bool = False, dry_run: bool = False, update_name: bool = False,
                    sync_run: Optional[str] = None) -> Iterator[dict]:
        """Batch matching upserts (`kind`: contacts, representatives or parties), each person
        with its account_number, in chunks; yields each person's result (pointers count from
        the first person given). Read lazily, one chunk at a time."""
        def send(chunk):
            return self.upsert_batch(kind, chunk, atomic, dry_run, update_name, sync_run)
        for _, answer in in_chunks(send, people, min(chunk_size, MAX_BATCH), "items"):
            yield from answer["results"]

    def upsert_batch(self, kind: str, people: list, atomic: bool = False,
                     dry_run: bool = False, update_name: bool = False,
                     sync_run: Optional[str] = None,
                     idempotency_key: Optional[str] = None) -> dict:
        """One POST /{kind}:upsert of up to 1,000 people: results and counts (a fresh
        Idempotency-Key unless one is given)."""
        if kind not in ("contacts", "representatives", "parties"):
            raise ValueError("kind is contacts, representatives or parties")
        flags = {"atomic": atomic, "dry_run": dry_run, "update_name": update_name}
        params = {name: "true" for name, value in flags.items() if value} or None
        return self.request("POST", f"/{kind}:upsert", json={"items": people}, params=params,
                            headers={"Sync-Run": sync_run} if sync_run else None,
                            idempotency_key=idempotency_key)

    def email_events(self, events: Iterable[dict]) -> dict:
        """POST /email-events in chunks of 1,000; the counts added up, and every result
        (pointers count from the first event given)."""
        counted = ("applied", "stale", "unmatched", "ignored", "failed")
        total = {"results": [], **dict.fromkeys(counted, 0)}
        for _, answer in in_chunks(
                lambda chunk: self.request("POST", "/email-events", json={"events": chunk}),
                events, MAX_BATCH, "events"):
            total["results"].extend(answer["results"])
            for name in counted:
                total[name] += answer[name]
        return total

    def close(self):
        """Close both pooled sessions."""
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
