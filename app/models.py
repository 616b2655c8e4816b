"""Peewee models: tenants, API keys, what every record has, links, feeds and sync runs."""
from peewee import (SQL, BigIntegerField, BooleanField, CharField, DateTimeField,
                    ForeignKeyField, IntegerField, Model, TextField)

from app.db import database
from app.fields import AmountField, JSONTextField, utcnow  # noqa: F401 (also imported from here)

class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class Tenant(BaseModel):
    name = CharField(max_length=255, unique=True)
    internal_domains = JSONTextField(default=list)
    change_seq = BigIntegerField(default=0)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "tenants"


class ApiKey(BaseModel):
    key_id = CharField(max_length=32, unique=True)
    tenant = ForeignKeyField(Tenant, backref="api_keys", on_delete="CASCADE")
    name = CharField(max_length=255, null=True)
    scope = CharField(max_length=16, default="write")
    secret_hash = CharField(max_length=64)
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField(null=True)
    revoked_at = DateTimeField(null=True)

    class Meta:
        table_name = "api_keys"


class Record(BaseModel):
    """Columns every tenant-scoped record has; subclasses add the key and fields."""

    # No index of its own: every table's unique (tenant_id, key) leads with it.
    tenant = ForeignKeyField(Tenant, on_delete="RESTRICT", index=False)
    custom_fields = JSONTextField(default=dict)
    version = IntegerField(default=1)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    change_seq = BigIntegerField(default=0)
    # The searchable fields, casefolded and joined by U+001F: what the feed's `q` reads,
    # the same Unicode rules on both databases (SQLite's LOWER() knows only ASCII).
    search_text = TextField(null=True)
    archived_at = DateTimeField(null=True)  # set while archived (read-only to callers)
    # "<version>:<digest of the batch item that made it>" (services/write_context.py): a re-sent
    # item with the same digest at the same version is unchanged without being loaded.
    input_digest = TextField(null=True)


class PersonRecord(Record):
    """Columns of people (contacts, representatives) that matching upserts and email events read."""

    email_key = CharField(max_length=254, null=True)   # services/emails.py: email_key()
    name_key = CharField(max_length=511, null=True)    # casefolded full name
    name_length = IntegerField(null=True)


def _references(column, table, key_column, on_delete=""):
    """A composite foreign key (tenant_id, column) to another table's unique key."""
    action = f" ON DELETE {on_delete}" if on_delete else ""
    return SQL(f"FOREIGN KEY (tenant_id, {column}) REFERENCES {table} (tenant_id, {key_column})"
               + action)


_DECLARED_TABLES = set()


def declare_record_table(model, references):
    """What a resource's table has from its declaration: the caller's key unique per tenant
    (a table constraint, so foreign keys can name it), a foreign key per reference
    ({field: (model, key field)}), and an index of the archived records (they are few: it
    finds them without reading the active ones). Declaring twice adds nothing."""
    if model in _DECLARED_TABLES:
        return
    _DECLARED_TABLES.add(model)
    meta = model._meta
    meta.constraints = [*(meta.constraints or ()), SQL(f"UNIQUE (tenant_id, {model.KEY_FIELD})"),
                        *(_references(field, target._meta.table_name, key)
                          for field, (target, key) in references.items())]
    model.add_index(model.index(model.tenant, getattr(model, model.KEY_FIELD),
                                where=SQL("archived_at IS NOT NULL"),
                                name=f"{meta.table_name}_archived"))


class Link(BaseModel):
    """A representative looking after a record; both sides named by key, one row per pair."""

    tenant = ForeignKeyField(Tenant, on_delete="RESTRICT", index=False)
    representative = CharField(max_length=128)
    created_at = DateTimeField(default=utcnow)


def _link_constraints(target_field, target_table):
    """A link table's rules: one row per (representative, target) pair of a tenant, and both
    sides cascade, so deleting either drops the link."""
    return [SQL(f"UNIQUE (tenant_id, representative, {target_field})"),
            _references("representative", "representatives", "reference", "CASCADE"),
            _references(target_field, target_table, target_field, "CASCADE")]


class RepresentativeAccount(Link):
    """A representative looking after an account. The unique pair serves the
    representative's side in key order, the index the account's side."""

    account_number = CharField(max_length=128)

    class Meta:
        table_name = "representative_accounts"
        indexes = ((("tenant", "account_number", "representative"), False),)
        constraints = _link_constraints("account_number", "accounts")


class RepresentativeDocument(Link):
    """A representative looking after a document (an invoice, a credit note)."""

    document_number = CharField(max_length=128)

    class Meta:
        table_name = "representative_documents"
        indexes = ((("tenant", "document_number", "representative"), False),)
        constraints = _link_constraints("document_number", "documents")


class FeedExit(BaseModel):
    """A record leaving a view of its collection's change feed, kept 30 days (the table is
    still named `tombstones`, and `left_at` is stored as `deleted_at`, for existing databases).

    `deleted`: the record was deleted, a tombstone every view shows. Otherwise a
    change moved a field the feed filters on: `before` and `after` hold those
    fields (and the search text) on either side, and filtered feeds report
    the record to followers whose filter matched before and not after.
    """

    tenant = ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
    collection = CharField(max_length=32)
    key = CharField(max_length=128)
    version = IntegerField()
    left_at = DateTimeField(default=utcnow, column_name="deleted_at")  # deleted or changed
    change_seq = BigIntegerField()
    deleted = BooleanField(default=True)
    before = JSONTextField(null=True)
    after = JSONTextField(null=True)

    class Meta:
        table_name = "tombstones"
        indexes = (
            (("tenant", "collection", "change_seq", "id"), False),
            (("tenant", "left_at"), False),
        )


class EmailStatus(BaseModel):
    """The last delivery event applied to an address of a tenant (POST /email-events)."""

    tenant = ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
    email_key = CharField(max_length=254)
    status = CharField(max_length=16)
    occurred_at = DateTimeField()

    class Meta:
        table_name = "email_statuses"
        constraints = [SQL("UNIQUE (tenant_id, email_key)")]


class SyncRun(BaseModel):
    """A full sync of one collection (or a scope of it): what it saw, and what it removed."""

    run_id = CharField(max_length=32, unique=True)
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
    collection = CharField(max_length=32)
    scope = JSONTextField(default=dict)
    status = CharField(max_length=16, default="running")  # running finished aborted expired
    started_at = DateTimeField()
    started_seq = BigIntegerField()   # the change sequence when the run began
    started_snapshot = TextField(null=True)  # PostgreSQL: which transactions had committed
    expires_at = DateTimeField()
    ended_at = DateTimeField(null=True)
    result = JSONTextField(null=True)  # counts of the finish
    started_by = TextField(null=True)  # the API key id that started it (migration 13)
    guards = JSONTextField(null=True)  # the start's min_seen; the finish's guards once finished

    class Meta:
        table_name = "sync_runs"
        indexes = (((("tenant", "collection", "status"), False),))


class SyncRunSeen(BaseModel):
    """A key a sync run's writes carried: seen, so the finish keeps it."""

    run = ForeignKeyField(SyncRun, on_delete="CASCADE", index=False)
    key = CharField(max_length=128)

    class Meta:
        table_name = "sync_run_seen"
        primary_key = False
        constraints = [SQL("UNIQUE (run_id, key)")]


class ChangeClock(BaseModel):
    """PostgreSQL: what is added to transaction ids to make change numbers
    (services/transactions.py).

    It keeps new numbers above every stored one: numbers from the tenant
    counters used before migration 9, or from another cluster after a restore.
    """

    xid_offset = BigIntegerField(default=0)

    class Meta:
        table_name = "change_clock"


class IdempotencyKey(BaseModel):
    """The first answer to a POST sent with an Idempotency-Key, kept 24 hours."""

    tenant = ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
    key = CharField(max_length=255)
    fingerprint = CharField(max_length=64)
    claimed_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    status = IntegerField(null=True)       # null while the first request is still running
    holder = TextField(null=True)          # the connection or process running it (app.db.holder)
    headers = JSONTextField(null=True)
    body = TextField(null=True)

    class Meta:
        table_name = "idempotency_keys"
        indexes = (((("tenant", "expires_at"), False),))
        constraints = [SQL("UNIQUE (tenant_id, key)")]


# The resources' tables live in their modules (app/resources/); the registry lists them all.
TENANT_MODELS = [Tenant, ApiKey]
LINK_MODELS = [RepresentativeAccount, RepresentativeDocument]
SYNC_MODELS = [FeedExit, IdempotencyKey, EmailStatus, SyncRun, SyncRunSeen]
