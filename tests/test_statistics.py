"""PostgreSQL: a table that bulk writes changed a lot gets fresh planner statistics."""
import pytest

from app.db import database, is_postgresql
from app.services import statistics


@pytest.fixture(autouse=True)
def _postgresql_only(app, monkeypatch):
    if not is_postgresql():
        pytest.skip("PostgreSQL only: SQLite plans from its indexes, without ANALYZE")
    monkeypatch.setattr(statistics, "_written", {})  # counts of earlier tests' writes


def _estimated_rows(table):
    return database.execute_sql("SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
                                (table,)).fetchone()[0]


def _batch(api, start, count=1000):
    items = [{"reference": f"C-{number}", "name": f"Contact {number}"}
             for number in range(start, start + count)]
    response = api.post("/contacts:batch", json={"items": items})
    assert response.status_code == 200 and response.get_json()["created"] == count


def test_a_bulk_load_into_an_unanalysed_table_analyses_it(api):
    database.execute_sql("TRUNCATE contacts CASCADE")  # a table as a first load finds it
    before = _estimated_rows("contacts")
    assert before <= 0
    for start in range(0, 12_000, 1000):
        _batch(api, start)
    # Analysed once 10,000 rows were written: the planner now knows about that many.
    assert 9_000 <= _estimated_rows("contacts") <= 12_000


def test_small_writes_leave_the_statistics_alone(api):
    database.execute_sql("TRUNCATE contacts CASCADE")
    before = _estimated_rows("contacts")
    for start in range(0, 5000, 1000):
        _batch(api, start)
    assert _estimated_rows("contacts") == before


def test_a_large_table_is_analysed_only_once_a_tenth_of_it_changed(api, monkeypatch):
    for start in range(0, 12_000, 1000):
        _batch(api, start)
    # The backend reports its counts when idle, at most once a second: flush them now, or they
    # would arrive after ANALYZE and count as changes since it.
    database.execute_sql("SELECT pg_stat_force_next_flush()")
    database.execute_sql("SELECT 1")
    database.execute_sql("ANALYZE contacts")
    assert _estimated_rows("contacts") >= 11_000
    # 10,000 rows written into a table of 12,000 are more than a tenth of it...
    assert statistics.analyse_if_stale("contacts", rows_written=10_000)
    # ...while 1,500 rows into 12,000 are not.
    assert not statistics.analyse_if_stale("contacts", rows_written=1_500)
