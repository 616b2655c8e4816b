"""The prose of the OpenAPI document: the rules many operations share, stated once.

The info description holds what every collection's operations do alike (the
five verbs, the feed, batches, sync runs); the people tag holds the matching
rules and the email-event rules. An operation's own description keeps what
is its own and names the section (`**Records**`) that holds the rest.
"""


def _flowed(text):
    """Markdown paragraphs as one line each (a line break inside one is a space anyway)."""
    return "\n\n".join(" ".join(paragraph.split("\n"))
                         for paragraph in text.strip().split("\n\n"))


API_DESCRIPTION = _flowed("""Multi-tenant ingest API for accounts-receivable data: customer accounts,
their invoices and credit notes (documents), contacts, and the tenant's representatives with
their links to accounts and documents. Every record is keyed by the caller's own reference.

**Authentication.** Send an API key in the `X-API-Key` header. A key belongs to one tenant and
sees only that tenant's records. A key of scope `read` may call GET and the `:lookup` POSTs;
anything else is `403`. A missing, unknown, revoked or expired key is `401`.

**Field values.** Bodies are JSON objects; unknown fields are `422`, read-only fields (the
key, `version`, timestamps, computed fields) are ignored, so a record fetched with GET can be
sent back unchanged. Strings are stripped; a blank string means null for every optional
field, whatever its type (the schemas list it as `Blank`), and gives a field with a default
its default. In a PUT or a create, an optional field left out is null (or its default); in
a PATCH it is left as it is. Request bodies use the `...Input` schemas where answers differ.
Keys (`Key`) are never stripped or changed. Amounts are a JSON number or a
numeric string on input and a string on output. The schemas state every rule the server
checks; where a rule depends on other records (a reference that must exist and belong to
the same tenant, a cycle of parents) the answer is `422` naming the field.

Each operation lists the errors of its own (a body or query that is not valid, a missing
record, a stale version, the conflicts it names). What any operation alike can answer is
its `default` answer: `401` (no valid key), `403` (a read key on a write), `422` (a path
key or header that breaks its rule), `409` on a write (a concurrent change: retry), `400`,
`413` and `415` where it reads a body (not JSON, over the route's size limit, not
`application/json`), `414` (a URL over 8 KiB), `431` (headers too large), `429` (rate
limited) or `503` (the database does not answer).

**Errors** are `application/problem+json` (RFC 9457) with `type`, `title`, `status`,
`detail`, `instance`, `request_id` (also the `X-Request-Id` header) and a stable `code`:
`malformed-json` (400), `unauthorized` (401), `forbidden` (403), `not-found` (404),
`method-not-allowed` (405), `conflict` (409: a key taken, a record still referred to, a
concurrent change; retry), `idempotency-key-in-use` (409), `precondition-failed` (412),
`payload-too-large` (413, 414, 431), `unsupported-media-type` (415), `validation-error`
(422), `idempotency-key-reused` (422), `rate-limited` (429), `internal-error` (500, 503).
Validation errors list every problem in `errors`, each with a JSON Pointer into the body
(`#/items/3/email`) or, for a query, path or header parameter, `parameter`.

**Records.** Every collection (`/accounts`, `/contacts`, `/documents`, `/representatives`)
has the same five verbs on `/{collection}/{key}`. `POST` creates the record under the key in
the path; `409` when the key is taken (use PUT or PATCH to change it). `PUT` answers `201`
when it creates, `200` when it replaces; optional fields left out become null. Sending what
is stored already (a body fetched with GET, read-only fields included) changes nothing:
`200` with the same version and `updated_at`; safe to retry. `PATCH` changes only the fields
present: null (or a blank string) clears an optional field, a required field cannot be
cleared (`422`), `custom_fields` merge key by key (a null value removes its key), and
cross-field rules are checked on the merged record; a missing record is `404` whatever the
body. `DELETE` answers `204`, and the change feed reports a tombstone for 30 days; while
other records depend on it, `409` (the problem's `dependents` counts them by kind), unless
`archive_if_referenced=true`, which archives it instead (`200`).

**Idempotency.** PUT, PATCH and DELETE are idempotent by nature. A POST sent with an
`Idempotency-Key` header (1-255 printable characters) is run once; a retry with the same key
and the same request gets the first answer again, with `Idempotent-Replayed: true`, for 24
hours. The same key with another request is `422`; while the first request still runs, `409`.

**Conditional requests.** Every record has a `version` and an `ETag` (`"3"`). `If-Match`
makes a GET, PUT, PATCH, DELETE, archive or matching upsert fail with `412` unless the
record is at that version; `If-None-Match: *` makes a PUT or an upsert create only (`412`
otherwise). A GET with a matching `If-None-Match` is `304`. The conditional headers of each
operation say when it answers `412`.

**Change feed and cursors.** `GET /{collection}` returns every record in the order of its
latest committed change, with tombstones (`deleted: true`) for deletions, kept 30 days.
Start without a cursor, store `next_cursor` (present on every page) and ask again with
`cursor=`: a follower receives every committed change exactly once it is visible, also one
committed late by a slow writer or under concurrent writers; `has_more: false` means caught
up for now. Cursors are opaque. Filters and `q` narrow the feed, and a filtered feed reports
records that stop matching as tombstones with `deleted: false` and `matches_filter: false`,
so that applying the feed leaves exactly the matching records. `GET /{collection}:versions`
is for cheap reconciliation: compare versions with what you hold and fetch only what differs
(`:lookup`, which lists keys not found in `missing`); archived records are included, deleted
ones are not. Lists under a record (`/accounts/{a}/contacts`) are read by `page` and `limit`.

**Batches.** `:batch`, `:upsert`, `:link`, `:unlink` and `/email-events` take up to 1,000
items and answer `200` with one result per item, in input order: an invalid item fails alone,
its errors pointing into the body (`#/items/3/email`), while the others are stored, all in
one transaction. Counts of each outcome come with the results. Send an `Idempotency-Key` to
retry safely. On `:batch` each item has PUT semantics (`201` created, `200` replaced or
unchanged); the same key twice: the later item fails; `atomic=true` stores nothing if any
item fails, and the answer is `422` listing every item's errors.

**Sync runs.** A full sync starts a run (`POST /{collection}:sync-runs`), sends its writes
with the run's id in `Sync-Run`, and finishes it. A scope overlaps a running run's unless
some filter both name has different values in them (an empty scope overlaps every other):
starting a run that overlaps a running one is `409` naming it (`running_run`), since both
would decide what to remove, unless `allow_overlap` is true; runs past their 24 hours do not
count. `:finish` removes every record in the run's scope that no write carrying the run's id
marked seen and that has not changed since the run began: deleted, or archived when other
records depend on it. Guards refuse it (`409`, nothing removed, the run stays running; the
problem names the `guard`, its `limit`, the `actual` figure, and `would` gives the counts):
`min_seen` (fewer records seen; default the start's), `max_removals` (more records removed
than this) and `max_removal_ratio` (more than this share of the scope; default 0.2). When
max_removals is given and max_removal_ratio is not, the ratio guard is not applied: an
absolute count was stated. When both are given, both apply. `dry_run=true` answers what the
finish would do, with the first 100 keys it would delete and archive, and changes nothing.
Listing the runs finds one that was lost (an import that died) so that it can be aborted:
running runs first, then the others by start, newest first; `status=` keeps one state.
Follow `next_cursor` (null on the last page); a run that ends while you page may be listed
twice.

**Rate limits.** When the server has a limit, every answer carries `RateLimit-Policy` and
`RateLimit` headers; past it the answer is `429` with `Retry-After`. A batch costs 10 units.
""")

MATCHING = (
    "**Matching.** Finds the person by email (NFC; the local part "
    "case-insensitive but never folded: straße is not strasse), else by name (NFC, "
    "case-insensitive, Levenshtein distance at most min(2, 20% of the shorter name)). Active "
    "records match first; an archived one only when no active one does, and it is made "
    "active again (reactivated: true). One match is updated like a PATCH (200, matched_by "
    "says how); found by its name, it keeps its stored name (name_kept: true) unless "
    "update_name=true. None is created with a generated reference (201; creating needs a "
    "name and a language, else 422). Two or more equally close matches are 409 listing the "
    "candidates and saying how to tell them apart, and nothing changes. If-Match applies to "
    "the matched record (412 with its ETag when stale; 412 when nobody matched); "
    "If-None-Match: * only creates. dry_run=true answers what would happen and changes "
    "nothing.")

EMAIL_EVENTS = (
    "**Email events.** Each event gives its address a status (delivered: valid; bounced or "
    "dropped: bounced; complained) and moves every contact and representative of the tenant "
    "with the address (compared as matching compares addresses) to it. Events apply in "
    "occurred_at order per address; one older than the last applied is stale and changes "
    "nothing. The status belongs to the address: an address that bounced before any record "
    "had it gives a record created with it later, or changed to it, that status; an address "
    "never seen is valid. Types that say nothing lasting (deferred, opens, clicks, soft "
    "bounces) are answered ignored.")

BATCH_MATCHING = (
    "**Batch matching** (`:upsert`). "
    "Each item is one person with the single matching upsert's body plus its account, and "
    "is matched and written exactly as that upsert would, in input order, all in one "
    "transaction: an item sees what the items before it wrote, so an item naming a person "
    "an earlier item created (the same email, or a name within the rule on the same account) "
    "updates that record (same_as_item gives the earlier item's index) and one batch never "
    "creates a person twice. Ties are 409 for that item alone (candidates lists them), an "
    "unknown account 404, a bad item 422; the others are stored. The batch holds its "
    "collection for its tenant while it runs. dry_run=true runs every item and stores "
    "nothing (a would-be-created reference is null); atomic=true stores nothing unless "
    "every item succeeds. Sync-Run marks every record written as seen by that run (for "
    "parties, a run of the collection the person goes to; an item going to the other "
    "collection fails alone).")

PEOPLE_TAG = ("People without references: matching upserts (by email, then by fuzzy name), "
              "party routing by email domain, and email delivery events.\n\n"
              f"{MATCHING}\n\n{BATCH_MATCHING}\n\n{EMAIL_EVENTS}")


def see(*sections, where="the API description"):
    """The pointer an operation's description ends with: where its shared rules are."""
    return f"See {' and '.join(f'**{section}**' for section in sections)} in {where}."
