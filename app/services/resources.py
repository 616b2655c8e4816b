"""What a resource is: its model, schema, key, references and rules.

The four verbs are written once (services/records.py) against this
description; a resource module declares only what is its own.
"""
from typing import NamedTuple, Optional

from marshmallow import fields, missing
from peewee import SQL, fn

from app.db import database
from app.errors import field_error
from app.models import JSONTextField, declare_record_table
from app.services import statements
from schemas.common import CustomFields, Key
from schemas.custom_fields import CUSTOM_FIELDS_MAX_KEYS

_CHUNK = 500  # keys per IN (...) list


class Reference(NamedTuple):
    """A field naming a record of `model`, by its `key`, in the same tenant.

    Declared once, on the referring resource: its table gets the composite
    foreign key, and the target counts the records that name it as its
    dependents (`dependent`/`dependents`, by default the referring
    resource's label and name).
    """

    model: type
    key: str
    dependent: Optional[str] = None
    dependents: Optional[str] = None

    def dependent_labels(self, resource):
        """(singular, plural) of the records of `resource` that name a target this way."""
        return self.dependent or resource.label, self.dependents or resource.name


class Resource:
    """A tenant-scoped collection of records keyed by the caller's reference.

    A resource declares data (the attributes below) and may override hooks.
    The write engine (services/writes.py, apply_writes) calls them, for all
    the items of one write transaction, in this order:

    1. `rule_locks(ctx, entries)`: after the items' keys are locked and their
       rows read; names the cross-record rules the items touch (PostgreSQL
       holds them, then the rows are read again). Reads only.
    2. `prefetch_for(ctx, entries)`: loads in bulk what the rules will read
       (referenced keys, hierarchy chains, current primaries) into the
       context. Reads only.
    Then per item, in order, against the context as earlier items left it:
    3. `merge(current, patch)` (PATCH only) and `normalise(values)`: the
       item's full values. Pure.
    4. `check(ctx, key, values, row)`, which calls `check_own_rules`: field
       errors of the merged record; the item fails alone. Reads only.
    5. `is_unchanged(row, values)`: an unchanged item writes nothing.
    6. `before_write(ctx, key, values, row)`: changes to other records in the
       same transaction (`ctx.change_other`), e.g. taking the primary flag.
    7. `derived_values(ctx, values, row)`: read-only stored columns that
       follow from the values (email status, matching keys). Reads only what
       `prefetch_for` loaded.
    Finally the context flushes every changed row in one statement per group
    (rows giving up an exclusive flag first, then new rows, then the rest),
    and leaves feed exits for rows whose `feed_state` changed.
    """

    name = None            # collection name in URLs: "accounts"
    label = None           # singular, for messages: "account"
    description = None     # one line, for the API document
    own_routes = None      # a module adding routes of its own: register_routes(blueprints)
    model = None
    schema_class = None
    # field -> Reference: the record it must name in the same tenant
    references = {}
    # a reference to the same collection that must not loop back (parent, supervisor)
    hierarchy_field = None
    # flag -> the field it is exclusive within: at most one record per value of that field
    # holds the flag (a primary contact per account); the engine hands it over
    exclusive_flags = {}
    # (model, field, singular, plural): records whose field names this one; derived from the
    # other resources' references by the registry, never declared
    dependents = ()
    # columns the feed's `q` searches, and its filters: "exact", "email" (compared as
    # matching compares addresses), "bool" or choices
    search_fields = ()
    feed_filters = {}

    def __init__(self):
        self.key_field = self.model.KEY_FIELD  # "account_number": declared once, on the model
        declare_record_table(self.model, {field: (reference.model, reference.key)
                                          for field, reference in self.references.items()})
        self.schema = self.schema_class()
        # A field the schema loads but the model cannot store would be echoed on create,
        # then lost, and break the next PUT: refuse to start instead.
        unstored = sorted(set(self.schema.load_fields) - set(self.model._meta.fields))
        if unstored:
            raise TypeError(f"{self.schema_class.__name__} loads {', '.join(unstored)}, which "
                            f"{self.model.__name__} has no column for")
        # A batch item carries its key in the body; elsewhere the key is read-only there.
        # Derived from the declaration (a class of its own names it apart in the OpenAPI
        # document), so that no resource has to declare it a second time.
        self.batch_item_schema = self.schema_class.from_dict(
            {self.key_field: Key(required=True)},
            name=self.schema_class.__name__.replace("Schema", "BatchItemSchema"))()
        self.writable_fields = tuple(self.schema.load_fields)
        item_fields = self.batch_item_schema.fields
        self._item_names = frozenset(name for name, field in item_fields.items()
                                     if not field.dump_only)
        self._item_known = frozenset(item_fields)
        self._item_required = frozenset(name for name, field in item_fields.items()
                                        if field.required)
        self._item_defaults = tuple((name, field.load_default) for name, field in
                                    item_fields.items()
                                    if not field.dump_only and field.load_default is not missing)
        self._item_schemas = {}
        self.object_fields = {
            name: (tuple(field.schema.load_fields) if isinstance(field, fields.Nested) else None)
            for name, field in self.schema.load_fields.items()
            if isinstance(field, (fields.Nested, CustomFields))}
        # is_unchanged: plain fields first, so a changed record is told before any JSON is made
        self._compared_fields = tuple(sorted(self.writable_fields,
                                             key=lambda name: name in self.object_fields))

    def load_batch_item(self, raw):
        """A batch item, loaded by a schema of only the fields it carries; the rest get their
        defaults here. Same values and errors as the full schema, at a fraction of the cost
        for sparse items (the full schema visits every field of every item)."""
        schema = self._item_schema_for(raw)
        data = schema.load(raw)
        if schema is not self.batch_item_schema:
            for name, default in self._item_defaults:
                if name not in data:
                    data[name] = default() if callable(default) else default
        return data

    def _item_schema_for(self, raw):
        if not isinstance(raw, dict):
            return self.batch_item_schema
        shape = frozenset(raw)
        schema = self._item_schemas.get(shape)
        if schema is None:
            # Unknown or missing required fields: the full schema says so, as it always has.
            if not shape <= self._item_known or not self._item_required <= shape:
                return self.batch_item_schema
            schema = type(self.batch_item_schema)(only=shape & self._item_names)
            if len(self._item_schemas) < 256:  # shapes are few; never grow without bound
                self._item_schemas[shape] = schema
        return schema

    @property
    def key_column(self):
        return getattr(self.model, self.key_field)

    def select(self, tenant_id):
        """Every record of the tenant."""
        return self.model.select().where(self.model.tenant == tenant_id)

    def find(self, tenant_id, key):
        """The tenant's record with this key, or None."""
        return statements.find_one(self.model, self.key_field, tenant_id, key)

    def defaults(self):
        """Every writable field a PUT may leave out, at the value it then gets."""
        return {name: field.load_default() if callable(field.load_default) else field.load_default
                for name, field in self.schema.load_fields.items()
                if field.load_default is not missing}

    def values_of(self, row):
        """The writable fields of a stored record, as a PUT body would give them."""
        return {name: getattr(row, name) for name in self.writable_fields}

    def normalise(self, values):
        """Give object fields their stored shape: every sub-field present, {} or None when empty.

        A custom field set to null is absent, in PUT as in PATCH, so a record
        read with GET and sent back changes nothing.
        """
        for name, sub_fields in self.object_fields.items():
            value = values.get(name)
            if sub_fields is None:  # custom fields
                values[name] = {k: v for k, v in value.items() if v is not None} if value else {}
            elif value is not None:
                shaped = {sub: value.get(sub) for sub in sub_fields}
                values[name] = shaped if any(v is not None for v in shaped.values()) else None
        return values

    def is_unchanged(self, row, values):
        """True when storing `values` would change nothing; a boolean never equals a number."""
        data = statements.row_data(row)  # plain columns: the descriptors return the same
        for name in self._compared_fields:
            stored, new = data.get(name), values[name]
            if stored != new:
                return False
            # {"a": true} == {"a": 1} in Python; their stored JSON tells them apart.
            if name in self.object_fields and _as_json(stored) != _as_json(new):
                return False
        return True

    def merge(self, current, patch):
        """Apply a PATCH body: fields present replace, objects merge key by key (null removes)."""
        merged = dict(current)
        for name, value in patch.items():
            if name in self.object_fields and value is not None:
                combined = dict(current.get(name) or {})
                for sub, sub_value in value.items():
                    if sub_value is None:
                        combined.pop(sub, None)
                    else:
                        combined[sub] = sub_value
                merged[name] = combined
            else:
                merged[name] = value
        return merged

    def prefetch_for(self, ctx, entries):
        """Load, in bulk, what the rules of these (key, values) items will read (a key of
        None: an item whose record is not known yet, as a batch warms its context)."""
        for name, (target_model, target_key, *_) in self.references.items():
            # A reference the record already holds is not checked again (check): not read.
            ctx.prefetch_keys(target_model, target_key, [
                values.get(name) for key, values in entries
                if key is None or values.get(name) != self._stored(ctx, key, name)])
        if self.hierarchy_field:
            field = self.hierarchy_field
            moved = set()  # new parents of existing records: only these can close a loop
            for key, values in entries:
                row = ctx.record(self.model, self.key_field, key) if key is not None else None
                if row is not None and values.get(field) not in (None, getattr(row, field)):
                    moved.add(values[field])
            ctx.prefetch(self.model, self.key_field, self._stored_chains(ctx.tenant_id, moved))
        for flag, scope in self.exclusive_flags.items():
            self._flag_holders(ctx, flag, scope, {
                values[scope] for _, values in entries if values.get(flag) and values.get(scope)})

    def _stored(self, ctx, key, name):
        row = ctx.record(self.model, self.key_field, key)
        return None if row is None else statements.row_data(row).get(name)

    def _flag_holders(self, ctx, flag, scope, scope_values):
        """{scope value: key of the record holding the flag there, or None}, as this
        transaction knows it; the scope values not known yet are read, 500 per query."""
        holders = ctx.state(("flag_holders", flag), dict)
        wanted = [value for value in scope_values if value not in holders]
        flag_column, scope_column = getattr(self.model, flag), getattr(self.model, scope)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            rows = (self.model.select(self.key_column, scope_column)
                    .where(self.model.tenant == ctx.tenant_id, flag_column == True,  # noqa: E712
                           scope_column.in_(chunk)).tuples())
            holders.update({value: None for value in chunk})
            holders.update({value: key for key, value in rows})
        return holders

    def rule_locks(self, ctx, entries):
        """Names of the cross-record rules these (key, values) items touch.

        On PostgreSQL the engine holds them (services/transactions.py) before the
        rules read other records, so concurrent writers see each other's work.
        """
        names = set()
        flags = self.exclusive_flags
        for key, values in entries:
            row = ctx.record(self.model, self.key_field, key)
            if self.hierarchy_field and row is not None and \
                    values.get(self.hierarchy_field) not in (None, getattr(row, self.hierarchy_field)):
                names.add("hierarchy")
            for flag, scope in flags.items():
                if values.get(flag) and values.get(scope) is not None:
                    names.add(f"{flag}:{values[scope]}")
                if row is not None and getattr(row, flag):
                    names.add(f"{flag}:{getattr(row, scope)}")
        return names

    def check(self, ctx, key, values, row):
        """Rules that need the whole record or other records; returns field errors."""
        errors = [field_error(name, f"At most {CUSTOM_FIELDS_MAX_KEYS} keys are allowed; with "
                                    f"the stored ones this makes {len(values[name])}.")
                  for name, sub_fields in self.object_fields.items()
                  if sub_fields is None and len(values.get(name) or ()) > CUSTOM_FIELDS_MAX_KEYS]
        for name, (target_model, target_key, *_) in self.references.items():
            value = values.get(name)
            if value is None or (row is not None and getattr(row, name) == value):
                continue
            if name == self.hierarchy_field and value == key:
                errors.append(field_error(name, f"Cannot name the {self.label} itself."))
            elif not ctx.exists(target_model, target_key, value):
                errors.append(field_error(name, f"No {target_key.replace('_', ' ')} {value!r} exists."))
            elif name == self.hierarchy_field and row is not None and \
                    self.ancestors_include(ctx, value, key):
                errors.append(field_error(
                    name, f"{value!r} is below {key!r} in the hierarchy; this would make a cycle."))
        reported = {error["pointer"] for error in errors}
        return errors + [error for error in self.check_own_rules(ctx, key, values, row)
                         if error["pointer"] not in reported]

    def check_own_rules(self, ctx, key, values, row):
        """Cross-field rules of this resource on the merged record; returns field errors."""
        return []

    def ancestors_include(self, ctx, start, key):
        """True when `key` is `start` or above it, as the hierarchy stands in this transaction.

        prefetch_for loaded the stored chains above every new parent; a step the
        batch itself changed is read from the context, anything else fetched.
        """
        seen, current = set(), start
        while current is not None and current not in seen:
            if current == key:
                return True
            seen.add(current)
            row = ctx.record(self.model, self.key_field, current)
            current = getattr(row, self.hierarchy_field) if row is not None else None
        return False

    def _stored_chains(self, tenant_id, starts):
        """Keys from each start up its stored chain of parents, in one recursive query."""
        starts = list(starts)
        if not starts:
            return []
        table = self.model._meta.table_name
        key_column, parent_column = self.key_field, self.hierarchy_field
        p = database.param
        sql = (
            f"WITH RECURSIVE chain(k, depth) AS ("
            f" SELECT {key_column}, 0 FROM {table} WHERE tenant_id = {p} AND {key_column} IN "
            f"({', '.join([p] * len(starts))})"
            f" UNION"
            f" SELECT t.{parent_column}, chain.depth + 1 FROM {table} t"
            f" JOIN chain ON t.tenant_id = {p} AND t.{key_column} = chain.k"
            f" WHERE t.{parent_column} IS NOT NULL AND chain.depth < 100000"
            f") SELECT DISTINCT k FROM chain")
        return [row[0] for row in database.execute_sql(sql, (tenant_id, *starts, tenant_id))]

    def derived_values(self, ctx, values, row):
        """Stored, read-only columns that follow from the written values."""
        return {}

    def feed_state(self, data):
        """What the feed's field filters read of a record (`q` needs no kept state: feed.py)."""
        return {name: data.get(name) for name in self.feed_filters}

    def before_write(self, ctx, key, values, row):
        """Changes to other records that must happen in the same transaction: taking an
        exclusive flag takes it from the record that held it in the same scope."""
        for flag, scope in self.exclusive_flags.items():
            holders = self._flag_holders(ctx, flag, scope, [values[scope]] if values[flag] else [])
            if row is not None and getattr(row, flag):
                holders[getattr(row, scope)] = None  # given up, or taken again below
            if not values[flag]:
                continue
            current = holders.get(values[scope])
            if current is not None and current != key:
                ctx.change_other(self.model, self.key_field, current, **{flag: False})
            holders[values[scope]] = key

    def with_related(self, tenant_id, row):
        """The record as it is returned: subclasses attach what GET embeds."""
        return row

    def dependents_of(self, tenant_id, keys):
        """{key: [(count, singular, plural)]} for those of these keys other records still name
        (each kind of dependent counted in one query per 500 keys)."""
        keys, found = list(keys), {}
        for model, field, singular, plural in self.dependents:
            column = getattr(model, field)
            for start in range(0, len(keys), _CHUNK):
                counts = (model.select(column, fn.COUNT(SQL("*")))
                          .where(model.tenant == tenant_id, column.in_(keys[start:start + _CHUNK]))
                          .group_by(column).tuples())
                for key, count in counts:
                    found.setdefault(key, []).append((count, singular, plural))
        return found


_as_json = JSONTextField().db_value
