"""Reading records back by key: lookup of a few keys, and every key's version (reconciliation)."""
from app.services import statements
from app.services.cursors import CursorPage, decode_cursor, encode_cursor


def read_versions(resource, tenant_id, limit=1000, cursor=None):
    """Keys, versions and update times of live records, in key order after `cursor`."""
    model = resource.model
    query = (model.select(resource.key_column, model.version, model.updated_at)
             .where(model.tenant == tenant_id))
    listing = f"{resource.name}:versions"  # a cursor is bound to it and to the tenant
    after = decode_cursor(cursor, (str,), tenant_id, listing)[0] if cursor else None
    if after is not None:
        query = query.where(resource.key_column > after)
    rows = list(query.order_by(resource.key_column).limit(limit + 1).tuples())
    page = rows[:limit]
    items = [{resource.key_field: key, "version": version, "updated_at": updated_at}
             for key, version, updated_at in page]
    last = page[-1][0] if page else after
    next_cursor = encode_cursor(tenant_id, listing, last if last is not None else "")
    return CursorPage(items, next_cursor, len(rows) > limit)


def lookup(resource, tenant_id, keys):
    """(records found, in the order asked, and the keys not found)."""
    unique = list(dict.fromkeys(keys))
    found = {getattr(row, resource.key_field): row
             for row in statements.find_many(resource.model, resource.key_field, tenant_id,
                                             unique)}
    return ([found[key] for key in unique if key in found],
            [key for key in unique if key not in found])
