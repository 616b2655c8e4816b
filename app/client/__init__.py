"""A Python client for ETL jobs: one method per endpoint, retries, batching and feed helpers.

Needs only the standard library, `requests` and `urllib3` (importing it builds
no Flask app and touches no database):

    from app.client import IngestClient

    client = IngestClient("https://ingest.example.com", api_key)
    for result in client.accounts.batch_upsert(rows_from_erp()):
        if result["errors"]:
            print(result)

Retries (urllib3's Retry, exponential backoff with jitter) cover connection
errors, 429 and 409 idempotency-key-in-use (waiting at least their
Retry-After) and 502/503/504, for idempotent calls only: GET, PUT, DELETE,
and POST when it carries an Idempotency-Key, which the client adds to every
POST unless told not to; a retry re-sends the same key. Bodies may hold
Decimals (sent digit for digit). Errors raise ApiError subclasses carrying the
problem details; GET of a missing record returns None.
"""
from app.client.collections import (COLLECTIONS, MAX_BATCH, MAX_LOOKUP, Collection, Feed,
                                    FullSync, chunked, in_chunks, shift_pointer)
from app.client.errors import (ApiError, Conflict, Forbidden, NotFound, PreconditionFailed,
                               RateLimited, ServerError, Unauthorized, ValidationError,
                               error_for)
from app.client.session import API_PREFIX, IngestClient, key_fields_of

__all__ = ["API_PREFIX", "COLLECTIONS", "MAX_BATCH", "MAX_LOOKUP", "ApiError", "Collection",
           "Conflict", "Feed", "Forbidden", "FullSync", "IngestClient", "NotFound",
           "PreconditionFailed", "RateLimited", "ServerError", "Unauthorized",
           "ValidationError", "chunked", "error_for", "in_chunks", "key_fields_of", "shift_pointer"]
