"""The search text behind the feed's `q`: casefolded fields, one column, one rule everywhere."""
from app.db import database

SEPARATOR = "\x1f"  # a control character: `q` cannot hold one, so no match spans two fields


def search_text(resource, key, values):
    """The record's searchable fields, casefolded (Unicode: STRASSE finds Straße) and joined."""
    parts = [key if name == resource.key_field else values.get(name)
             for name in resource.search_fields]
    return SEPARATOR.join(part.casefold() for part in parts if part)


def contains_pattern(q):
    """A LIKE pattern (escape character \\) for a casefolded substring of the search text."""
    escaped = q.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def matches(text, q):
    """Python's reading of the same pattern, for states kept outside the table."""
    return q.casefold() in (text or "")


def backfill_search_text(resource, chunk=1000):
    """Compute the search text of stored records that lack it (migration 6)."""
    model = resource.model
    columns = [model.id] + [getattr(model, name) for name in resource.search_fields]
    table, p = model._meta.table_name, database.param
    sql = f'UPDATE "{table}" SET "search_text" = {p} WHERE "id" = {p}'
    last_id = 0
    while True:
        rows = list(model.select(*columns).where(model.id > last_id, model.search_text.is_null())
                    .order_by(model.id).limit(chunk).tuples())
        if not rows:
            return
        updates = []
        for row in rows:
            values = dict(zip(resource.search_fields, row[1:]))
            updates.append((search_text(resource, values.get(resource.key_field), values), row[0]))
        database.cursor().executemany(sql, updates)
        last_id = rows[-1][0]
