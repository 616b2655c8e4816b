"""Peewee models: tenants, API keys and the tenant-scoped records."""
from peewee import (SQL, BigIntegerField, BooleanField, CharField, DateField,
                    DateTimeField, ForeignKeyField, IntegerField, Model, TextField)

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
    # "<version>:<digest of the batch item that made it>" (services/writes.py): a re-sent
    # item with the same digest at the same version is unchanged without being loaded.
    input_digest = TextField(null=True)


class PersonRecord(Record):
    """Columns of people (contacts, representatives) that matching upserts and email events read."""

    email_key = CharField(max_length=254, null=True)   # services/emails.py: email_key()
    name_key = CharField(max_length=511, null=True)    # casefolded full name
    name_length = IntegerField(null=True)


def _unique_key(column):
    """The caller's key is unique per tenant: a table constraint, so foreign keys can name it."""
    return SQL(f"UNIQUE (tenant_id, {column})")


def _references(column, table, key_column, on_delete=""):
    """A composite foreign key (tenant_id, column) to another table's unique key."""
    action = f" ON DELETE {on_delete}" if on_delete else ""
    return SQL(f"FOREIGN KEY (tenant_id, {column}) REFERENCES {table} (tenant_id, {key_column})"
               + action)


class Account(Record):
    KEY_FIELD = "account_number"
    account_number = CharField(max_length=128)
    name = CharField(max_length=255)
    display_reference = CharField(max_length=255, null=True)
    currency = CharField(max_length=3, null=True)
    language = CharField(max_length=2, null=True)
    email = CharField(max_length=254, null=True)
    phone = CharField(max_length=50, null=True)
    mobile_phone = CharField(max_length=50, null=True)
    fax = CharField(max_length=50, null=True)
    billing_address = JSONTextField(null=True)
    payment_terms = CharField(max_length=100, null=True)
    credit_limit = AmountField(null=True)
    account_group = CharField(max_length=100, null=True)
    parent_account_number = CharField(max_length=128, null=True)
    description = TextField(null=True)
    vat = CharField(max_length=255, null=True)
    company_registration_number = CharField(max_length=255, null=True)

    class Meta:
        table_name = "accounts"
        indexes = (
            (("tenant", "change_seq", "id"), False),
            (("tenant", "parent_account_number"), False),
        )
        constraints = [_unique_key("account_number"),
                       _references("parent_account_number", "accounts", "account_number")]


class Contact(PersonRecord):
    KEY_FIELD = "reference"
    reference = CharField(max_length=128)
    account_number = CharField(max_length=128, null=True)
    name = CharField(max_length=255, null=True)
    first_name = CharField(max_length=255, null=True)
    last_name = CharField(max_length=255, null=True)
    function = CharField(max_length=100, null=True)
    email = CharField(max_length=254, null=True)
    email_status = CharField(max_length=16, null=True)
    phone = CharField(max_length=50, null=True)
    mobile_phone = CharField(max_length=50, null=True)
    fax = CharField(max_length=50, null=True)
    title = CharField(max_length=100, null=True)
    department = CharField(max_length=100, null=True)
    contact_type = CharField(max_length=100, null=True)
    language = CharField(max_length=2, null=True)
    address1 = CharField(max_length=255, null=True)
    address2 = CharField(max_length=255, null=True)
    city = CharField(max_length=255, null=True)
    state = CharField(max_length=255, null=True)
    zip = CharField(max_length=50, null=True)
    country = CharField(max_length=2, null=True)
    notes = TextField(null=True)
    is_primary = BooleanField(default=False)

    @property
    def full_name(self):
        """`name`, or first and last name joined."""
        if self.name:
            return self.name
        joined = " ".join(part for part in (self.first_name, self.last_name) if part)
        return joined or None

    class Meta:
        table_name = "contacts"
        indexes = (
            (("tenant", "change_seq", "id"), False),
            (("tenant", "account_number"), False),
            (("tenant", "email_key"), False),
            (("tenant", "account_number", "name_length", "name_key", "reference"), False),
        )
        constraints = [_unique_key("reference"),
                       _references("account_number", "accounts", "account_number")]


# At most one primary contact per account, enforced by the database itself.
Contact.add_index(
    Contact.index(Contact.tenant, Contact.account_number, unique=True,
                  where=SQL("is_primary"), name="contacts_one_primary"))

# Archived records are few: this index finds them without reading the active ones.
for _model in (Account, Contact):
    _model.add_index(_model.index(_model.tenant, getattr(_model, _model.KEY_FIELD),
                                  where=SQL("archived_at IS NOT NULL"),
                                  name=f"{_model._meta.table_name}_archived"))


class Document(Record):
    KEY_FIELD = "document_number"
    document_number = CharField(max_length=128)
    account_number = CharField(max_length=128)
    document_type = CharField(max_length=16, default="invoice")
    invoice_date = DateField()
    due_date = DateField()
    currency = CharField(max_length=3, null=True)
    amount = AmountField(null=True)
    open_amount = AmountField(null=True)
    status = CharField(max_length=8, default="closed")
    applies_to_invoice = CharField(max_length=128, null=True)
    po_number = CharField(max_length=100, null=True)
    description = TextField(null=True)

    class Meta:
        table_name = "documents"
        indexes = (
            (("tenant", "change_seq", "id"), False),
            (("tenant", "account_number", "document_number"), False),
            (("tenant", "applies_to_invoice"), False),
        )
        constraints = [_unique_key("document_number"),
                       _references("account_number", "accounts", "account_number"),
                       _references("applies_to_invoice", "documents", "document_number")]


class Representative(PersonRecord):
    KEY_FIELD = "reference"
    reference = CharField(max_length=128)
    name = CharField(max_length=255, null=True)
    email = CharField(max_length=254, null=True)
    email_status = CharField(max_length=16, null=True)
    phone = CharField(max_length=50, null=True)
    mobile_phone = CharField(max_length=50, null=True)
    fax = CharField(max_length=50, null=True)
    language = CharField(max_length=2, null=True)
    title = CharField(max_length=100, null=True)
    department = CharField(max_length=100, null=True)
    representative_type = CharField(max_length=100, null=True)
    supervisor_representative_reference = CharField(max_length=128, null=True)
    extra_info = TextField(null=True)

    class Meta:
        table_name = "representatives"
        indexes = (
            (("tenant", "change_seq", "id"), False),
            (("tenant", "supervisor_representative_reference"), False),
            (("tenant", "email_key"), False),
            (("tenant", "name_length", "name_key", "reference"), False),
        )
        constraints = [_unique_key("reference"),
                       _references("supervisor_representative_reference", "representatives",
                                   "reference")]


for _model in (Document, Representative):
    _model.add_index(_model.index(_model.tenant, getattr(_model, _model.KEY_FIELD),
                                  where=SQL("archived_at IS NOT NULL"),
                                  name=f"{_model._meta.table_name}_archived"))


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


class Tombstone(BaseModel):
    """A record leaving a view of its collection's change feed, kept 30 days.

    `deleted`: the record was deleted (every view shows it). Otherwise a
    change moved a field the feed filters on: `before` and `after` hold those
    fields (and the search text) on either side, and filtered feeds report
    the record to followers whose filter matched before and not after.
    """

    tenant = ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
    collection = CharField(max_length=32)
    key = CharField(max_length=128)
    version = IntegerField()
    deleted_at = DateTimeField(default=utcnow)  # when it left: deleted or changed
    change_seq = BigIntegerField()
    deleted = BooleanField(default=True)
    before = JSONTextField(null=True)
    after = JSONTextField(null=True)

    class Meta:
        table_name = "tombstones"
        indexes = (
            (("tenant", "collection", "change_seq", "id"), False),
            (("tenant", "deleted_at"), False),
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
    """PostgreSQL: what is added to transaction ids to make change numbers (services/changes.py).

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


TENANT_MODELS = [Tenant, ApiKey]
RECORD_MODELS = [Account, Contact, Document, Representative]
LINK_MODELS = [RepresentativeAccount, RepresentativeDocument]
SYNC_MODELS = [Tombstone, IdempotencyKey, EmailStatus, SyncRun, SyncRunSeen]
ALL_MODELS = TENANT_MODELS + RECORD_MODELS + LINK_MODELS + SYNC_MODELS
