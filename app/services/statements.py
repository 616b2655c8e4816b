"""The hot single-record statements, as SQL compiled once per model and database.

Peewee builds a 30-column statement in about 0.3 ms, several times what
SQLite needs to run it; these statements never change shape, so their text
is built once and only the parameters are bound per call.
"""
from peewee import (AutoField, BigIntegerField, BooleanField, CharField, DateField,
                    DateTimeField, DecimalField, Field, IntegerField, TextField)

from app.db import compiled_sql, database, is_postgresql
from app.library_internals import bare_row, driver_errors_as_peewee_errors, row_data
from app.services.transactions import CHANGE_SEQ_SQL


def _quote(name):
    # Both databases quote identifiers with double quotes; names here are our own.
    return f'"{name}"'


def find_one(model, key_field, tenant_id, key):
    """The tenant's record with this key, or None."""
    sql = compiled_sql(("find", model), lambda: (
        model.select().where(model.tenant == 0, getattr(model, key_field) == "").limit(1)
        .sql()[0]))
    row = database.execute_sql(sql, (tenant_id, key, 1)).fetchone()
    if row is None:
        return None
    return load_row(model, row)


def load_row(model, row):
    """A model instance from a full row in field order, as Peewee's own cursor wrapper builds
    it (`Model(__no_default__=1, **data)`) but without a descriptor call per column."""
    steps = _readers.get((model, database.param)) or _row_readers(model)
    return new_row(model, {name: value if value is None or read is None else read(value)
                           for (name, read), value in zip(steps, row)})


# psycopg hands these columns over as the Python values Peewee's python_value would make
# (str, int, bool, datetime, date, Decimal): converting them again is a call per column.
_NATIVE_ON_POSTGRESQL = (CharField, TextField, IntegerField, BigIntegerField, AutoField,
                         BooleanField, DateTimeField, DateField, DecimalField)
_readers = {}


def _row_readers(model):
    """[(field name, python_value or None)] per column of `model`, for this database."""
    steps = []
    for field in model._meta.sorted_fields:
        # Subclasses (JSON text, custom fields) convert: only these exact types are native.
        native = type(field) in (_NATIVE_ON_POSTGRESQL if is_postgresql()
                                 else (CharField, TextField, IntegerField, BigIntegerField,
                                       AutoField))
        steps.append((field.name, None if native else field.python_value))
    _readers[(model, database.param)] = steps
    return steps


# A model instance holding {field name: value} (absent fields read as None), without the
# per-field descriptors and defaults Peewee's constructor runs: the engine always gives every
# column it writes. The library's own function, not a wrapper: it runs once per row.
new_row = bare_row


def exists(model, key_field, tenant_id, key):
    """True when the tenant has a record of this model with this key."""
    sql = compiled_sql(("exists", model), lambda: (
        model.select(model.id).where(model.tenant == 0, getattr(model, key_field) == "")
        .limit(1).sql()[0]))
    return database.execute_sql(sql, (tenant_id, key, 1)).fetchone() is not None


_CHUNK = 500


def _column_names(model):
    return [field.column_name for field in model._meta.sorted_fields]


def find_many(model, key_field, tenant_id, keys):
    """The tenant's records with these keys (any order), 500 keys per query."""
    keys = list(keys)
    if len(keys) == 1:
        row = find_one(model, key_field, tenant_id, keys[0])
        return [] if row is None else [row]
    return [load_row(model, row) for row in _rows_by_key(
        "find_many", model, key_field, tenant_id, keys, _column_names(model))]


def _rows_by_key(name, model, key_field, tenant_id, keys, columns, condition=""):
    """Rows (tuples of `columns`) of the tenant's records with these keys, 500 keys per
    prepared query; `condition`: more SQL ANDed to it."""
    found = []
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start:start + _CHUNK]
        sql = compiled_sql((name, model, len(chunk)), lambda: (
            f"SELECT {', '.join(map(_quote, columns))} "
            f"FROM {_quote(model._meta.table_name)} WHERE {_quote('tenant_id')} = "
            f"{database.param} AND {_quote(key_field)} IN "
            f"({', '.join([database.param] * len(chunk))}){condition}"))
        found.extend(database.execute_sql(sql, [tenant_id, *chunk]).fetchall())
    return found


def _executemany(sql, params):
    # Peewee has no public executemany; its exception wrapper is what turns the driver's
    # errors into Peewee's (IntegrityError...), which the error handlers know.
    with driver_errors_as_peewee_errors:
        cursor = database.cursor()
        if len(params) == 1:  # psycopg runs executemany as a pipeline: more round trips
            cursor.execute(sql, params[0])
        else:
            cursor.executemany(sql, params)
        return cursor.rowcount


def _value_sql(field):
    """A column's value in a prepared row statement: a parameter, except the change number on
    PostgreSQL, which the statement takes itself (services/transactions.py)."""
    if field.name == "change_seq" and is_postgresql():
        return CHANGE_SEQ_SQL
    return database.param


def _bound(fields):
    return [field for field in fields if _value_sql(field) == database.param]


def insert_rows(model, rows):
    """INSERT new rows with one prepared statement; returns how many were inserted.

    ON CONFLICT DO NOTHING keeps a concurrent insert of the same key from
    failing the statement; the caller compares the count.
    """
    fields = [field for field in model._meta.sorted_fields if field.name != "id"]

    def build():
        return (f"INSERT INTO {_quote(model._meta.table_name)} "
                f"({', '.join(_quote(field.column_name) for field in fields)}) "
                f"VALUES ({', '.join(_value_sql(field) for field in fields)}) "
                f"ON CONFLICT ({_quote('tenant_id')}, {_quote(model.KEY_FIELD)}) DO NOTHING")

    sql = compiled_sql(("insert_rows", model), build)
    to_parameters = _parameters(("insert", model, database.param), lambda: _bound(fields))
    return _executemany(sql, [to_parameters(row_data(row)) for row in rows])


def insert_plain(model, rows):
    """INSERT rows given as {field name: value} (every field but the id) with one prepared
    statement: at a thousand rows Peewee's insert_many spends more building the statement
    than the database spends running it."""
    if not rows:
        return
    fields = [field for field in model._meta.sorted_fields if field.name != "id"]
    sql = compiled_sql(("insert_plain", model), lambda: (
        f"INSERT INTO {_quote(model._meta.table_name)} "
        f"({', '.join(_quote(field.column_name) for field in fields)}) "
        f"VALUES ({', '.join(_value_sql(field) for field in fields)})"))
    to_parameters = _parameters(("insert", model, database.param), lambda: _bound(fields))
    _executemany(sql, [to_parameters(row) for row in rows])


def update_rows(model, rows):
    """UPDATE changed rows by id, every mutable column, with one prepared statement."""
    fixed = {"id", "tenant", "created_at", model.KEY_FIELD}
    fields = [field for field in model._meta.sorted_fields if field.name not in fixed]

    def build():
        assignments = ", ".join(f"{_quote(field.column_name)} = {_value_sql(field)}"
                                for field in fields)
        return (f"UPDATE {_quote(model._meta.table_name)} SET {assignments} "
                f"WHERE {_quote('id')} = {database.param}")

    sql = compiled_sql(("update_rows", model), build)
    to_parameters = _parameters(("update", model, database.param),
                                lambda: _bound(fields) + [model.id])
    _executemany(sql, [to_parameters(row_data(row)) for row in rows])


_converters = {}


def _parameters(name, bound_fields):
    """A function from a row's data to the statement's parameters, for the fields
    `bound_fields()` lists, in order.

    Built once per statement: a string column's value is passed as it is (what
    Peewee's db_value would return), every other one through its db_value.
    """
    convert = _converters.get(name)
    if convert is None:
        fields = bound_fields()
        plain = [type(field).db_value is Field.db_value
                 and type(field).adapt in (CharField.adapt, TextField.adapt) for field in fields]
        steps = [(field.name, None if is_plain else field.db_value)
                 for field, is_plain in zip(fields, plain)]

        def convert(data):
            values = []
            for field_name, db_value in steps:
                value = data.get(field_name)
                if db_value is not None:
                    value = db_value(value)
                elif value is not None and type(value) is not str:
                    value = str(value)
                values.append(value)
            return values
        _converters[name] = convert
    return convert


def input_stamps(model, key_field, tenant_id, keys):
    """{key: (version, input_digest)} of the tenant's active records among these keys that
    carry a digest (models.Record.input_digest), 500 keys per query."""
    rows = _rows_by_key("input_stamps", model, key_field, tenant_id, list(keys),
                        [key_field, "version", "input_digest"],
                        f" AND {_quote('archived_at')} IS NULL "
                        f"AND {_quote('input_digest')} IS NOT NULL")
    return {key: (version, stamp) for key, version, stamp in rows}


def set_input_digests(model, stamps):
    """Store digests of records whose version they describe, [(id, stamp)]: no new version."""
    sql = compiled_sql(("set_input_digests", model), lambda: (
        f"UPDATE {_quote(model._meta.table_name)} SET {_quote('input_digest')} = "
        f"{database.param} WHERE {_quote('id')} = {database.param}"))
    _executemany(sql, [(stamp, row_id) for row_id, stamp in stamps])


def existing_keys(model, key_field, tenant_id, keys):
    """Which of these keys the tenant has records for."""
    keys, found = list(keys), set()
    if len(keys) == 1:
        return set(keys) if exists(model, key_field, tenant_id, keys[0]) else set()
    column = getattr(model, key_field)
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start:start + _CHUNK]
        found.update(key for (key,) in model.select(column).where(
            model.tenant == tenant_id, column.in_(chunk)).tuples())
    return found


def existing_links(model, target_field, tenant_id, pairs):
    """Which of these (representative, target) pairs are linked."""
    pairs = set(pairs)
    if not pairs:
        return set()
    target = getattr(model, target_field)
    representatives = sorted({rep for rep, _ in pairs})
    found = set()
    for start in range(0, len(representatives), _CHUNK):
        query = model.select(model.representative, target).where(
            model.tenant == tenant_id,
            model.representative.in_(representatives[start:start + _CHUNK]))
        found.update(pair for pair in query.tuples() if pair in pairs)
    return found


def insert_links(model, target_field, tenant_id, pairs, now):
    """Link many pairs with one prepared statement; pairs already linked are left alone."""
    sql = compiled_sql(("insert_links", model), lambda: (
        f"INSERT INTO {_quote(model._meta.table_name)} "
        f"({_quote('tenant_id')}, {_quote('representative')}, {_quote(target_field)}, "
        f"{_quote('created_at')}) VALUES ({', '.join([database.param] * 4)}) "
        f"ON CONFLICT ({_quote('tenant_id')}, {_quote('representative')}, "
        f"{_quote(target_field)}) DO NOTHING"))
    created_at = model.created_at.db_value(now)
    _executemany(sql, [(tenant_id, rep, target, created_at) for rep, target in pairs])


def delete_links(model, target_field, tenant_id, pairs):
    """Unlink many pairs with one prepared statement."""
    sql = compiled_sql(("delete_links", model), lambda: (
        f"DELETE FROM {_quote(model._meta.table_name)} WHERE {_quote('tenant_id')} = "
        f"{database.param} AND {_quote('representative')} = {database.param} AND "
        f"{_quote(target_field)} = {database.param}"))
    _executemany(sql, [(tenant_id, rep, target) for rep, target in pairs])


def insert_seen(run_pk, keys):
    """Mark keys seen by a sync run, with one prepared statement (a key seen twice is fine)."""
    sql = compiled_sql("insert_seen", lambda: (
        f"INSERT INTO {_quote('sync_run_seen')} ({_quote('run_id')}, {_quote('key')}) "
        f"VALUES ({database.param}, {database.param}) "
        f"ON CONFLICT ({_quote('run_id')}, {_quote('key')}) DO NOTHING"))
    _executemany(sql, [(run_pk, key) for key in keys])
