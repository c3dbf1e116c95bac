"""db.prefetch: a long read's pages come from a second thread, in order, and nothing leaks."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from litwatch.db import open_db
from litwatch.db.prefetch import prefetched_rows


def _numbers(db_path, n: int):
    db = open_db(db_path)
    db.execute("CREATE TABLE IF NOT EXISTS numbers (n INTEGER)")
    with db.conn:
        db.conn.executemany("INSERT INTO numbers VALUES (?)", [(i,) for i in range(n)])
    return db


def _threads() -> int:
    return sum(t.name == "litwatch-prefetch" for t in threading.enumerate())


def test_rows_come_in_order_through_the_second_thread(db_path):
    db = _numbers(db_path, 2500)
    assert [r[0] for r in prefetched_rows(db, "SELECT n FROM numbers ORDER BY n", page=100)] == list(range(2500))
    assert _threads() == 0


def test_a_caller_that_stops_early_stops_the_thread(db_path):
    db = _numbers(db_path, 5000)
    rows = prefetched_rows(db, "SELECT n FROM numbers ORDER BY n", page=10, depth=2)
    assert next(rows) == (0,)
    rows.close()
    assert _threads() == 0


def test_an_error_in_the_thread_is_raised_in_the_caller(db_path):
    db = _numbers(db_path, 10)
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        list(prefetched_rows(db, "SELECT * FROM missing"))
    assert _threads() == 0


def test_a_database_without_a_file_is_read_in_the_callers_thread():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)])
    assert list(prefetched_rows(conn, "SELECT x FROM t ORDER BY x")) == [(1,), (2,)]
