"""The search text behind the feed's `q`: folded fields, one column, one rule everywhere.

Text and `q` compare in Unicode NFC, casefolded (STRASSE finds Straße, and
`Zoe` + U+0308 finds `Zoë`): folding suits a substring search, which finds
and never identifies. The stored fields keep what the caller sent.
"""
import unicodedata

from app.db import database

SEPARATOR = "\x1f"  # a control character: `q` cannot hold one, so no match spans two fields


def fold(text):
    """Text as `q` compares it: NFC, casefolded, NFC again (folding may decompose)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())


def search_text(resource, key, values):
    """The record's searchable fields, folded (see fold) and joined."""
    parts = [key if name == resource.key_field else values.get(name)
             for name in resource.search_fields]
    return SEPARATOR.join(fold(part) for part in parts if part)


def contains_pattern(q):
    """A LIKE pattern (escape character \\) for a folded substring of the search text."""
    escaped = fold(q).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def matches(text, q):
    """Python's reading of the same pattern, for states kept outside the table."""
    return fold(q) in (text or "")


def backfill_search_text(resource, chunk=1000, every_row=False):
    """Compute the search text of stored records that lack it (migration 6), or of every
    record (migration 11: the rule changed)."""
    model = resource.model
    columns = [model.id] + [getattr(model, name) for name in resource.search_fields]
    table, p = model._meta.table_name, database.param
    sql = f'UPDATE "{table}" SET "search_text" = {p} WHERE "id" = {p}'
    last_id = 0
    while True:
        query = model.select(*columns).where(model.id > last_id)
        if not every_row:
            query = query.where(model.search_text.is_null())
        rows = list(query.order_by(model.id).limit(chunk).tuples())
        if not rows:
            return
        updates = []
        for row in rows:
            values = dict(zip(resource.search_fields, row[1:]))
            updates.append((search_text(resource, values.get(resource.key_field), values), row[0]))
        database.cursor().executemany(sql, updates)
        last_id = rows[-1][0]
