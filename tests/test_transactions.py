"""The store's one transaction convention: ``litwatch.db.transaction``.

Outermost: BEGIN IMMEDIATE ... COMMIT, ROLLBACK on an exception; nested (or inside a
caller's open transaction): a SAVEPOINT, and the caller's transaction is never committed.
"""

from __future__ import annotations

import sqlite3

import pytest

from litwatch.db import open_db, transaction


@pytest.fixture
def db(tmp_path):
    db = open_db(tmp_path / "t.db")
    db.execute("CREATE TABLE t (x INTEGER)")
    db.conn.commit()
    yield db
    db.conn.close()


def values(path) -> list[int]:
    """What another connection sees: only committed rows."""
    with sqlite3.connect(path) as other:
        return [r[0] for r in other.execute("SELECT x FROM t ORDER BY x")]


def test_outermost_commits(db, tmp_path):
    with transaction(db):
        db.execute("INSERT INTO t VALUES (1)")
        assert values(tmp_path / "t.db") == []
    assert not db.conn.in_transaction and values(tmp_path / "t.db") == [1]


def test_exception_rolls_back_everything(db, tmp_path):
    with pytest.raises(RuntimeError):
        with transaction(db):
            db.execute("INSERT INTO t VALUES (1)")
            with transaction(db):
                db.execute("INSERT INTO t VALUES (2)")
            raise RuntimeError("boom")
    assert not db.conn.in_transaction and values(tmp_path / "t.db") == []


def test_nested_failure_rolls_back_only_the_inner_part(db, tmp_path):
    with transaction(db):
        db.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(ValueError):
            with transaction(db):
                db.execute("INSERT INTO t VALUES (2)")
                raise ValueError("inner")
        db.execute("INSERT INTO t VALUES (3)")
    assert values(tmp_path / "t.db") == [1, 3]


def test_never_commits_a_callers_open_transaction(db, tmp_path):
    db.execute("INSERT INTO t VALUES (1)")  # the sqlite3 module opened a transaction
    assert db.conn.in_transaction
    with transaction(db):
        db.execute("INSERT INTO t VALUES (2)")
    assert db.conn.in_transaction and values(tmp_path / "t.db") == []
    db.conn.rollback()
    assert values(tmp_path / "t.db") == []


def test_takes_a_plain_connection(db, tmp_path):
    with transaction(db.conn):
        db.conn.execute("INSERT INTO t VALUES (5)")
    assert values(tmp_path / "t.db") == [5]
