"""Preparing the benchmark's databases: tenants, keys, bulk-loaded rows, storage ceilings."""
import os
import tempfile
import time

from scenarios import BATCH_SIZE, LINKS_PER_REPRESENTATIVE, contact_body


def prepare_database(url, clients, per_client):
    """Schema, tenant, key; per client an account and a representative linked to 10,000 accounts.

    Written with bulk inserts: setting up is not what is measured.
    """
    from app import create_app
    from app.db import database
    from app.migrations import upgrade
    from app.models import RepresentativeAccount
    from app.resources.accounts import Account
    from app.resources.representatives import Representative
    from app.services.tenants import create_api_key, create_tenant

    create_app({"DATABASE_URL": url})
    upgrade()
    tenant = create_tenant(f"bench-{int(time.time() * 1000)}")
    key = create_api_key(tenant, name="bench")[1]
    accounts = LINKS_PER_REPRESENTATIVE + clients * per_client
    with database.atomic():
        for start in range(0, accounts, 500):
            Account.insert_many([{"tenant": tenant.id, "account_number": f"L{n:06d}",
                                  "name": f"Linked {n}"}
                                 for n in range(start, min(accounts, start + 500))]).execute()
        Account.insert_many([{"tenant": tenant.id, "account_number": f"ACCT-{c}",
                              "name": f"Client {c}"} for c in range(clients)]).execute()
        Representative.insert_many([{"tenant": tenant.id, "reference": f"REP-{c}"}
                                    for c in range(clients)]).execute()
        for c in range(clients):
            for start in range(0, LINKS_PER_REPRESENTATIVE, 500):
                RepresentativeAccount.insert_many([
                    {"tenant": tenant.id, "representative": f"REP-{c}",
                     "account_number": f"L{n:06d}"}
                    for n in range(start, start + 500)]).execute()
    database.close()
    return key, tenant.id


def storage_ceiling(url, rows_wanted):
    """Rows/s of the same contact rows written by Peewee's insert_many in one transaction,
    one process: no HTTP, no validation, no rules."""
    from app import create_app
    from app.db import database
    from app.resources.accounts import Account
    from app.resources.contacts import Contact
    from app.services.tenants import create_tenant

    create_app({"DATABASE_URL": url})
    tenant = create_tenant(f"ceiling-{int(time.time() * 1000)}")
    Account.create(tenant=tenant.id, account_number="ACCT-0", name="ceiling")
    rows = []
    for index in range(rows_wanted):
        body = contact_body(0, index, "ceiling")
        body.update(tenant=tenant.id, reference=f"CEIL-{index}", version=1,
                    email_status="valid")
        rows.append(body)
    started = time.perf_counter()
    with database.atomic():
        for start in range(0, len(rows), BATCH_SIZE):
            Contact.insert_many(rows[start:start + BATCH_SIZE]).execute()
    peewee_rate = rows_wanted / (time.perf_counter() - started)

    # The same rows again as plain tuples through one prepared INSERT: storage alone.
    fields = [field for field in Contact._meta.sorted_fields if field.name != "id"]
    sql = (f"INSERT INTO contacts ({', '.join(field.column_name for field in fields)}) "
           f"VALUES ({', '.join([database.param] * len(fields))})")
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    tuples = [[field.db_value(dict(row, reference="RAW-" + row["reference"], created_at=now,
                                   updated_at=now, change_seq=0, is_primary=False)
                              .get(field.name, field.default if not callable(field.default)
                                   else None))
               for field in fields] for row in rows]
    started = time.perf_counter()
    with database.atomic():
        cursor = database.cursor()
        for start in range(0, len(tuples), BATCH_SIZE):
            cursor.executemany(sql, tuples[start:start + BATCH_SIZE])
    raw_rate = rows_wanted / (time.perf_counter() - started)
    database.close()
    return round(peewee_rate, 1), round(raw_rate, 1)


def pgbench_upsert(url, tenant_id, clients, seconds=10):
    """PostgreSQL's own ceiling for single-record writes: pgbench running, at the bench's
    concurrency, the single-row upsert a contact PUT comes down to (every column of the row,
    ON CONFLICT DO UPDATE), one transaction each. Transactions/s."""
    import subprocess

    script = os.path.join(tempfile.mkdtemp(prefix="pgbench-"), "upsert.sql")
    with open(script, "w") as out:
        out.write(
            "\\set n random(1, 1000000000)\n"
            "INSERT INTO contacts (tenant_id, reference, custom_fields, version, created_at, "
            "updated_at, change_seq, search_text, account_number, first_name, last_name, email, "
            "email_status, phone, language, country, notes, is_primary, email_key, name_key, "
            "name_length) VALUES (:tenant, 'PGB-' || :n, '{\"crm_id\":\"0-1\",\"score\":1}', 1, "
            "now(), now(), pg_current_xact_id()::text::bigint, 'pgb', 'ACCT-' || :client_id, 'Pat', "
            "'Bench ' || :n, 'pat.' || :n || '@customer.example', 'valid', '+1 404 555 0100', "
            "'en', 'US', 'pgbench', false, 'pat.' || :n || '@customer.example', "
            "'pat bench ' || :n, 12) ON CONFLICT (tenant_id, reference) DO UPDATE SET "
            "custom_fields = EXCLUDED.custom_fields, version = contacts.version + 1, "
            "updated_at = EXCLUDED.updated_at, change_seq = EXCLUDED.change_seq, "
            "notes = EXCLUDED.notes;\n")
    command = ["pgbench", "-n", "-c", str(clients), "-j", str(min(clients, os.cpu_count() or 1)),
               "-T", str(seconds), "-f", script, "-D", f"tenant={tenant_id}", url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    tps = next(line for line in output.splitlines() if line.startswith("tps = "))
    return round(float(tps.split()[2]), 1)


def fill_contacts(url, tenant_id, count):
    """Bulk-load `count` contacts (F0000000...) into the tenant, then ANALYZE; returns a
    cursor 150 changes before the end of its contacts feed."""
    from app import create_app
    from app.db import database, is_postgresql
    from app.models import Tenant, utcnow
    from app.resources.contacts import Contact
    from app.resources.registry import RESOURCES
    from app.services import statements
    from app.services.cursors import encode_cursor
    from app.services.feed import feed_listing
    from app.services.transactions import CHANGE_SEQ_SQL

    app = create_app({"DATABASE_URL": url})
    now = utcnow()
    chunk = 10_000
    with database.atomic():
        if is_postgresql():  # one transaction's rows: its number, as the app would stamp them
            first_seq, step = database.execute_sql(f"SELECT {CHANGE_SEQ_SQL}").fetchone()[0], 0
        else:                # SQLite's counter numbers each write transaction
            first_seq, step = Tenant.get_by_id(tenant_id).change_seq + 1, 1
        for start in range(0, count, chunk):
            rows = [Contact(tenant=tenant_id, reference=f"F{n:07d}", account_number="ACCT-0",
                            name=f"Stored {n}", email=f"f{n}@example.com", email_status="valid",
                            version=1, created_at=now, updated_at=now,
                            change_seq=first_seq + n * step, custom_fields={},
                            is_primary=False)
                    for n in range(start, min(count, start + chunk))]
            for row in rows:
                _derive_person_columns(row)
            if is_postgresql():
                _copy_rows(Contact, rows)  # COPY: the pipelined INSERT takes minutes for 1M
            else:
                statements.insert_rows(Contact, rows)
        if not is_postgresql():
            Tenant.update(change_seq=first_seq + count).where(Tenant.id == tenant_id).execute()
    deep = next(iter(Contact.select(Contact.change_seq, Contact.id)
                     .where(Contact.tenant == tenant_id)
                     .order_by(Contact.change_seq.desc(), Contact.id.desc())
                     .limit(1).offset(150)))  # .get() would drop the offset
    # After a bulk load, as an operator would: without fresh statistics PostgreSQL may plan
    # the run's lookups as scans of the rows it does not know about yet.
    database.execute_sql("ANALYZE")
    with app.app_context():  # cursors are encrypted with the app's secret, for the tenant
        cursor = encode_cursor(tenant_id, feed_listing(RESOURCES["contacts"]),
                               deep.change_seq, 0, deep.id)
    database.close()
    return cursor


class _NoEvents:
    """A write context's state as derived_values reads it, before any email event."""

    @staticmethod
    def state(name, factory):
        return factory()


_NO_EVENTS = _NoEvents()


def _derive_person_columns(row):
    """What the write engine derives for a person: search text and the matching keys."""
    from app.resources.contacts import CONTACTS
    from app.resources.representatives import REPRESENTATIVES
    from app.library_internals import row_data
    from app.services.matching import name_key
    from app.services.search import search_text

    resource = CONTACTS if row._meta.table_name == "contacts" else REPRESENTATIVES
    data = row_data(row)
    key = name_key(resource.full_name(data))
    derived = resource.derived_values(
        _NO_EVENTS, {name: data.get(name) for name in resource.writable_fields}, None)
    derived.update(name_key=key, name_length=len(key) if key else None)
    for name, value in derived.items():
        setattr(row, name, value)
    row.search_text = search_text(resource, getattr(row, resource.key_field), row_data(row))


def fill_people(url, tenant_id):
    """An account with 1,000 contacts and 100,000 representatives, for the matching runs."""
    from app import create_app
    from app.db import database, is_postgresql
    from app.models import utcnow
    from app.resources.accounts import Account
    from app.resources.contacts import Contact
    from app.resources.representatives import Representative
    from app.services import statements
    from scenarios import MATCH_ACCOUNT, MATCH_CONTACTS, MATCH_REPRESENTATIVES, person_name

    create_app({"DATABASE_URL": url})
    now = utcnow()
    with database.atomic():
        Account.insert(tenant=tenant_id, account_number=MATCH_ACCOUNT, name="Matching").execute()
        for model, count, prefix, extra in (
                (Contact, MATCH_CONTACTS, "MC", {"account_number": MATCH_ACCOUNT}),
                (Representative, MATCH_REPRESENTATIVES, "MR", {})):
            for start in range(0, count, 10_000):
                rows = [model(tenant=tenant_id, reference=f"{prefix}{n:06d}",
                              name=person_name(n), email=f"{prefix.lower()}{n}@people.example",
                              version=1, created_at=now, updated_at=now, change_seq=0,
                              custom_fields={}, **extra)
                        for n in range(start, min(count, start + 10_000))]
                for row in rows:
                    _derive_person_columns(row)
                if is_postgresql():
                    _copy_rows(model, rows)
                else:
                    statements.insert_rows(model, rows)
    database.execute_sql("ANALYZE")
    database.close()


def _copy_rows(model, rows):
    """Bulk-load rows with PostgreSQL's COPY (psycopg 3)."""
    from app.db import database

    fields = [field for field in model._meta.sorted_fields if field.name != "id"]
    columns = ", ".join(f'"{field.column_name}"' for field in fields)
    with database.cursor().copy(
            f'COPY "{model._meta.table_name}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([field.db_value(row.__data__.get(field.name)) for field in fields])


def search_sql_times(url, tenant_id, term, repeats=5):
    """Median ms of the feed's q query for a rare term: the previous form (LOWER(column) LIKE
    on each searchable column) against the stored search text, on the same rows."""
    import statistics

    from app import create_app
    from app.db import database
    from app.resources.contacts import CONTACTS
    from app.services.search import contains_pattern

    create_app({"DATABASE_URL": url})
    p = database.param
    pattern = contains_pattern(term)
    previous = " OR ".join(f"LOWER({name}) LIKE {p} ESCAPE '\\'" for name in CONTACTS.search_fields)
    queries = {
        "previous": (f"SELECT id FROM contacts WHERE tenant_id = {p} AND ({previous}) "
                     f"ORDER BY change_seq, id LIMIT 101",
                     [tenant_id] + [pattern] * len(CONTACTS.search_fields)),
        "search_text": (f"SELECT id FROM contacts WHERE tenant_id = {p} AND search_text LIKE {p} "
                        f"ESCAPE '\\' ORDER BY change_seq, id LIMIT 101", [tenant_id, pattern]),
    }
    times = {}
    for name, (sql, params) in queries.items():
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            rows = database.execute_sql(sql, params).fetchall()
            samples.append(time.perf_counter() - started)
            assert len(rows) == 1, (name, len(rows))
        times[name] = round(statistics.median(samples) * 1000, 1)
    database.close()
    return times


def mark_seen_bulk(url, run_id, tenant_id, unseen):
    """Mark every contact of the tenant seen by the run but those `unseen(reference)` picks,
    directly (bench setup: a million marks through the API would be the batch scenario)."""
    from app import create_app
    from app.db import database, is_postgresql
    from app.models import SyncRun
    from app.resources.contacts import Contact

    create_app({"DATABASE_URL": url})
    run = SyncRun.get(SyncRun.run_id == run_id)
    keys = [key for (key,) in Contact.select(Contact.reference).where(
        Contact.tenant == tenant_id).tuples() if not unseen(key)]
    with database.atomic():
        if is_postgresql():
            with database.cursor().copy('COPY "sync_run_seen" ("run_id", "key") FROM STDIN') \
                    as copy:
                for key in keys:
                    copy.write_row((run.id, key))
        else:
            database.cursor().executemany(
                'INSERT INTO "sync_run_seen" ("run_id", "key") VALUES (?, ?)',
                [(run.id, key) for key in keys])
    database.execute_sql("ANALYZE")
    database.close()


def standalone_runs(databases, fill=None, env=None):
    """For a bench module run on its own: per database ("sqlite" or a URL), a fresh store
    (`fill(url, tenant_id)` adds rows first) served with the production configuration.
    Yields (scratch folder, server, key), after printing which database it is; the server
    also tells its `database_url` and `tenant_id`."""
    from live_server import GunicornServer

    for database in databases or ["sqlite"]:
        with tempfile.TemporaryDirectory() as scratch:
            url = f"sqlite:///{scratch}/bench.sqlite3" if database == "sqlite" else database
            key, tenant_id = prepare_database(url, 1, 1)
            if fill is not None:
                fill(url, tenant_id)
            with GunicornServer(url, workers=None, threads=None, worker_class=None,
                                env=env) as server:
                server.database_url, server.tenant_id = url, tenant_id
                print(f"=== {database}")
                yield scratch, server, key
