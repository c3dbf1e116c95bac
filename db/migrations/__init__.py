"""Schema migrations, one module per area, applied in order and recorded by name.

Each area module exposes ``MIGRATIONS``: a list of ``(name, function(db))``.  A migration
never changes after it has landed; a schema change is a new entry at the end of its area's
list.  Every migration is also written to be safe to run twice (``if_not_exists``), so a
crash between the change and its record does not wedge the database.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from litwatch.db.migrations import browse, core, digest, feeds, follows, publications, seeds, trials

if TYPE_CHECKING:  # written against sqlite-utils' table API (``WriterDatabase`` hands it on)
    import sqlite_utils

# browse last: it declares the links between the other areas' tables.
AREAS = (core, publications, trials, seeds, digest, feeds, follows, browse)


def all_migrations():
    for area in AREAS:
        prefix = area.__name__.rsplit(".", 1)[-1]
        for name, fn in area.MIGRATIONS:
            yield f"{prefix}:{name}", fn


def apply_migrations(db: sqlite_utils.Database) -> list[str]:
    """Apply what has not been applied yet; returns the names applied now."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in db.execute("SELECT name FROM _migrations").fetchall()}
    applied = []
    for name, fn in all_migrations():
        if name in done:
            continue
        with db.conn:
            fn(db)
            db.conn.execute(
                "INSERT OR IGNORE INTO _migrations (name, applied_at) VALUES (?, ?)",
                (name, dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")),
            )
        applied.append(name)
    return applied
