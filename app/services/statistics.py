"""Planner statistics on PostgreSQL: a table that bulk writes changed a lot is ANALYZEd.

autovacuum analyses a table once about a tenth of it changed, but only
after its naptime, and never where it is off; a first bulk load into an
empty table outruns it, and the planner keeps planning for an empty table
(issue 21 measured 463 rows/s for an import into a never-analysed table,
2,478 after ANALYZE). So after a write transaction commits, each process
adds the rows it wrote to a count per table, and every CHECK_EVERY_ROWS
rows it asks PostgreSQL whether the table changed by more than autovacuum's
own share since its last analysis (or was never analysed); if so it runs
ANALYZE, which reads a sample (about 30,000 rows), not the table.
"""
import logging
import threading

from app.db import database, is_postgresql

log = logging.getLogger("ar_ingest.statistics")

CHECK_EVERY_ROWS = 10_000
# As autovacuum_analyze_scale_factor and _threshold (PostgreSQL's defaults: 0.1 and 50).
STALE_SHARE, STALE_ROWS = 0.1, 1_000

_written = {}
_lock = threading.Lock()


def after_commit(rows_by_table):
    """Count what a committed transaction wrote; ANALYZE the tables whose statistics are stale."""
    if not rows_by_table or not is_postgresql():
        return
    due = []
    with _lock:
        for table, rows in rows_by_table.items():
            total = _written.get(table, 0) + rows
            if total >= CHECK_EVERY_ROWS:
                due.append((table, total))
                total = 0
            _written[table] = total
    for table, rows in due:
        try:
            analyse_if_stale(table, rows)
        except Exception:  # statistics help the planner; a failure here must not fail the write
            log.warning("Could not refresh the statistics of %s.", table, exc_info=True)


def analyse_if_stale(table, rows_written=0):
    """ANALYZE `table` if it was never analysed or changed past autovacuum's share since; True
    when it ran. `rows_written`: what this process wrote since it last looked, which the
    server's counts may not show yet (a backend reports them about once a second)."""
    estimated, modified = database.execute_sql(
        "SELECT c.reltuples, COALESCE(s.n_mod_since_analyze, 0) FROM pg_class c "
        "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = %s::regclass",
        (table,)).fetchone()
    modified = max(modified, rows_written)
    if estimated >= 0 and modified <= STALE_SHARE * estimated + STALE_ROWS:
        return False
    with database.atomic():
        # Another process analysing it already holds the lock: its statistics will do.
        database.execute_sql("SET LOCAL lock_timeout = '200ms'")
        try:
            with database.atomic():
                database.execute_sql(f'ANALYZE "{table}"')
        except Exception as error:  # Peewee's error wraps the driver's
            if getattr(error.__cause__ or error, "sqlstate", None) != "55P03":
                raise
            return False
    log.info("Refreshed the planner statistics of %s.", table)
    return True
