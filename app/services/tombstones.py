"""Tombstones: what the change feed reports for a deleted record, kept 30 days."""
import datetime

from app.models import Tombstone
from app.services import statements

TOMBSTONE_DAYS = 30


def leave_tombstones(txn, resource, rows):
    """Leave a tombstone for each deleted record and purge the tenant's expired ones."""
    statements.insert_plain(Tombstone, [{
        "tenant": txn.tenant_id, "collection": resource.name,
        "key": getattr(row, resource.key_field), "version": row.version + 1,
        "deleted_at": txn.now, "change_seq": txn.change_seq(), "deleted": True,
        "before": resource.feed_state(statements.row_data(row)), "after": None}
        for row in rows])
    oldest = txn.now - datetime.timedelta(days=TOMBSTONE_DAYS)
    Tombstone.delete().where(Tombstone.tenant == txn.tenant_id,
                             Tombstone.deleted_at < oldest).execute()
