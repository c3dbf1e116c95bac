"""Open the database file (WAL, foreign keys, busy timeout, migrations) and the one
transaction convention every write in ``db/`` follows (``transaction``)."""

from __future__ import annotations

import itertools
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlite_utils

from litwatch.db.migrations import apply_migrations
from litwatch.vocab.errors import LitwatchError

# A crawl child and the CLI may write at the same moment; wait this long for the other's
# transaction instead of failing with "database is locked".
BUSY_TIMEOUT_MS = 30_000


def open_db(path: str | Path, *, migrate: bool = True) -> sqlite_utils.Database:
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise LitwatchError(f"{path}: folder {path.parent} does not exist (set LITWATCH_DB)")
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db = sqlite_utils.Database(conn)
        db.enable_wal()
        conn.execute("PRAGMA foreign_keys = ON")
        if migrate:
            apply_migrations(db)
    except sqlite3.DatabaseError as exc:
        raise LitwatchError(f"{path}: not a usable litwatch database: {exc}") from None
    return db


# --- the one transaction convention (README, "Development") -----------------------------

_savepoints = itertools.count(1)


@contextmanager
def transaction(db: sqlite_utils.Database | sqlite3.Connection) -> Iterator[None]:
    """All statements inside commit together or not at all.

    Outermost: ``BEGIN IMMEDIATE`` (the write lock is taken up front, so two writers wait
    on the busy timeout instead of failing half-way), then COMMIT, or ROLLBACK on any
    exception.  Inside an open transaction (an outer ``transaction``, or a caller's own
    uncommitted statements): a SAVEPOINT, released on success and rolled back to on an
    exception; the caller's transaction is never committed from here.

    sqlite-utils' own write methods (``insert``, ``upsert``, ``update``, ``delete``)
    commit by themselves (``with conn:``); inside a transaction write with ``db.execute``.
    """
    conn = db.conn if isinstance(db, sqlite_utils.Database) else db
    if conn.in_transaction:
        name = f"lw_sp{next(_savepoints)}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back everything already
                conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        if conn.in_transaction:  # (a sqlite-utils write inside may have committed it all)
            conn.execute(f"RELEASE SAVEPOINT {name}")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def database_path(db) -> str:
    """The file a connection has open, for messages ("database" when it cannot say)."""
    try:
        return db.execute("PRAGMA database_list").fetchone()[2] or "database"
    except Exception:
        return "database"
