"""Open the database file: WAL, foreign keys, busy timeout, migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

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
