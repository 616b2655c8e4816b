"""Versioned schema migrations: `ar-ingest db upgrade` applies the ones not yet applied."""
from peewee import BooleanField, DateTimeField, IntegerField, TextField
from playhouse.migrate import SchemaMigrator, migrate

from app.db import database, is_postgresql
from app.models import (ApiKey, BaseModel, ChangeClock, EmailStatus, FeedExit, IdempotencyKey,
                        RepresentativeAccount, RepresentativeDocument, SyncRun, SyncRunSeen,
                        Tenant, utcnow)
from app.resources.accounts import ACCOUNTS, Account
from app.resources.contacts import CONTACTS, Contact
from app.resources.documents import DOCUMENTS, Document
from app.resources.registry import record_models
from app.resources.representatives import REPRESENTATIVES, Representative
from app.services.cursors import (CursorSecret, LegacyCursorMark, create_cursor_secret,
                                  mark_legacy_cursors)
from app.services.transactions import align_change_clock


class SchemaVersion(BaseModel):
    version = IntegerField(primary_key=True)
    description = TextField()
    applied_at = TextField()

    class Meta:
        table_name = "schema_version"


def create_tables(*models):
    """A step creating these tables as their models stand (and their indexes)."""
    def apply():
        database.create_tables(models, safe=True)
    return apply


def _sequence(*steps):
    def apply():
        for step in steps:
            step()
    return apply


def _run_sql(*statements):
    def apply():
        for sql in statements:
            database.execute_sql(sql)
    return apply


def _add_columns(table, **columns):
    """Add columns a table lacks (tables created by an earlier step already have them)."""
    def apply():
        existing = {column.name for column in database.get_columns(table)}
        migrator = SchemaMigrator.from_database(database)
        migrate(*(migrator.add_column(table, name, field) for name, field in columns.items()
                  if name not in existing))
    return apply


# What a released migration reads and changes: the tables it was released with, never a
# resource registered later (whose table a later migration creates).
_RELEASED_WITH = (ACCOUNTS, CONTACTS, DOCUMENTS, REPRESENTATIVES)
_PEOPLE_RELEASED_WITH = (CONTACTS, REPRESENTATIVES)
_TABLES_RELEASED_WITH = [resource.model for resource in _RELEASED_WITH]


def _backfill_search_text():
    from app.services.search import backfill_search_text

    for resource in _RELEASED_WITH:
        backfill_search_text(resource)


def _backfill_person_keys():
    from app.services.people import backfill_person_keys

    for resource in _PEOPLE_RELEASED_WITH:
        backfill_person_keys(resource)


# Append only: a released migration is never edited, a new one is added.
MIGRATIONS = [
    (1, "tenants, api keys, accounts and contacts",
     create_tables(Tenant, ApiKey, Account, Contact)),
    (2, "documents, representatives and their links",
     create_tables(Document, Representative, RepresentativeAccount, RepresentativeDocument)),
    (3, "tombstones for the change feed, idempotency keys",
     create_tables(FeedExit, IdempotencyKey)),
    (4, "an open_amount equal to amount follows amount (stored as null)",
     _run_sql("UPDATE documents SET open_amount = NULL WHERE open_amount = amount")),
    (5, "tenant names unique whatever their case",
     _run_sql("CREATE UNIQUE INDEX IF NOT EXISTS tenants_name_ci ON tenants (LOWER(name))")),
    (6, "search text for q; filtered feeds report records that leave them",
     _sequence(*(_add_columns(table, search_text=TextField(null=True))
                 for table in ("accounts", "contacts", "documents", "representatives")),
               _add_columns("tombstones", deleted=BooleanField(default=True),
                            before=TextField(null=True), after=TextField(null=True)),
               _backfill_search_text)),
    (7, "matching keys of people, and the last email event per address",
     _sequence(*(_add_columns(table, email_key=TextField(null=True), name_key=TextField(null=True),
                              name_length=IntegerField(null=True))
                 for table in ("contacts", "representatives")),
               _run_sql(
                   "CREATE INDEX IF NOT EXISTS contacts_tenant_id_email_key "
                   "ON contacts (tenant_id, email_key)",
                   "CREATE INDEX IF NOT EXISTS "
                   "contacts_tenant_id_account_number_name_length_name_key_reference "
                   "ON contacts (tenant_id, account_number, name_length, name_key, reference)",
                   "CREATE INDEX IF NOT EXISTS representatives_tenant_id_email_key "
                   "ON representatives (tenant_id, email_key)",
                   "CREATE INDEX IF NOT EXISTS "
                   "representatives_tenant_id_name_length_name_key_reference "
                   "ON representatives (tenant_id, name_length, name_key, reference)"),
               create_tables(EmailStatus),
               _backfill_person_keys)),
    (8, "archive, and sync runs that remove what a full sync did not send",
     _sequence(*(_add_columns(table, archived_at=DateTimeField(null=True))
                 for table in ("accounts", "contacts", "documents", "representatives")),
               create_tables(SyncRun, SyncRunSeen),
               _run_sql(*(f"CREATE INDEX IF NOT EXISTS {table}_archived ON {table} "
                          f"(tenant_id, {key}) WHERE archived_at IS NOT NULL"
                          for table, key in (("accounts", "account_number"),
                                             ("documents", "document_number"),
                                             ("contacts", "reference"),
                                             ("representatives", "reference")))))),
    (9, "PostgreSQL: change numbers from transaction ids, no per-tenant write lock",
     _sequence(create_tables(ChangeClock),
               lambda: ChangeClock.insert(id=1, xid_offset=0).on_conflict_ignore().execute(),
               _add_columns("sync_runs", started_snapshot=TextField(null=True)))),
    (10, "idempotency claim holders: a claim whose worker died is taken over at once",
     _add_columns("idempotency_keys", holder=TextField(null=True))),
    (11, "matching keys and search text in NFC; email local parts case-insensitive, unfolded",
     lambda: __import__("app.services.people", fromlist=["rederive_matching_keys"])
     .rederive_matching_keys(_RELEASED_WITH, _PEOPLE_RELEASED_WITH)),
    (12, "opaque cursors: a random secret encrypts them; readable ones handed out stay valid",
     _sequence(create_tables(CursorSecret, LegacyCursorMark), create_cursor_secret,
               lambda: mark_legacy_cursors(_TABLES_RELEASED_WITH))),
    (13, "sync runs: the key that started each, and the guards it was started or finished with",
     _add_columns("sync_runs", started_by=TextField(null=True), guards=TextField(null=True))),
    (14, "unchanged batch items recognised by the digest of the item that made the version",
     _sequence(*(_add_columns(table, input_digest=TextField(null=True))
                 for table in ("accounts", "contacts", "documents", "representatives")))),
]


def current_version():
    """The highest applied migration, 0 on an empty database."""
    if not database.table_exists(SchemaVersion._meta.table_name):
        return 0
    row = SchemaVersion.select(SchemaVersion.version).order_by(
        SchemaVersion.version.desc()).first()
    return row.version if row else 0


def upgrade(migrations=MIGRATIONS):
    """Apply every pending migration in one transaction; return the versions applied."""
    applied = []
    with database.atomic():
        if is_postgresql():
            # Two deploys upgrading at once wait for each other instead of racing.
            database.execute_sql("SELECT pg_advisory_xact_lock(4242001)")
        database.create_tables([SchemaVersion], safe=True)
        done = current_version()
        for version, description, apply in migrations:
            if version <= done:
                continue
            apply()
            SchemaVersion.create(version=version, description=description,
                                 applied_at=utcnow().isoformat() + "Z")
            applied.append(version)
        align_change_clock(record_models())
    return applied
