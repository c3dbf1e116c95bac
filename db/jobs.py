"""The scheduler's tables: ``job_state`` (one cursor per job) and ``job_runs`` (one row per run).

Every statement the scheduler's ledger (``litwatch.jobledger``) runs lives here.  Times go
in and come out as aware datetimes; the stored form is the one UTC text of
``litwatch.vocab.times`` (it sorts as text, so ``<`` on the column is ``<`` in time).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import TYPE_CHECKING

from litwatch.db.connection import transaction
from litwatch.vocab.times import format_timestamp, parse_timestamp

if TYPE_CHECKING:
    from litwatch.db.connection import ReadOnlyDatabase, WriterDatabase

ABANDONED_DETAIL = "the scheduler stopped without finishing this run"


def register_job(db: WriterDatabase, job: str, now: dt.datetime) -> None:
    """Remember when ``job`` was first scheduled (a second call keeps the first time)."""
    with transaction(db):
        db.execute("INSERT OR IGNORE INTO job_state (job, registered_at) VALUES (?, ?)", [job, format_timestamp(now)])


def handled_until(db: ReadOnlyDatabase, job: str) -> dt.datetime | None:
    """The last due time handled, else the registration time; None for an unknown job."""
    row = db.execute("SELECT coalesce(last_due_at, registered_at) FROM job_state WHERE job = ?", [job]).fetchone()
    return parse_timestamp(row[0]) if row else None


def claim_due(db: WriterDatabase, job: str, due_at: dt.datetime, reason: str, now: dt.datetime) -> int | None:
    """Mark ``due_at`` handled and open its ``running`` row, atomically: the new run's id,
    or None when that due time (or a later one) was handled already."""
    due_text = format_timestamp(due_at)
    try:
        with transaction(db):
            moved = db.execute(
                "UPDATE job_state SET last_due_at = ? WHERE job = ? AND coalesce(last_due_at, registered_at) < ?",
                [due_text, job, due_text],
            ).rowcount
            if not moved:
                return None
            cur = db.execute(
                "INSERT INTO job_runs (job, due_at, reason, started_at, status) VALUES (?, ?, ?, ?, 'running')",
                [job, due_text, reason, format_timestamp(now)],
            )
    except sqlite3.IntegrityError:  # the UNIQUE (job, due_at) backstop
        return None
    return cur.lastrowid


def finish_job_run(db: WriterDatabase, run_id: int, status: str, *, exit_code: int | None, seconds: float,
                   detail: str, now: dt.datetime) -> None:
    with transaction(db):
        db.execute(
            "UPDATE job_runs SET finished_at = ?, status = ?, exit_code = ?, seconds = ?, detail = ? WHERE id = ?",
            [format_timestamp(now), status, exit_code, round(seconds, 1), detail, run_id],
        )


def abandon_running(db: WriterDatabase, now: dt.datetime) -> list[tuple[str, str]]:
    """Close every run still ``running`` as ``abandoned``; returns their (job, due_at text)."""
    with transaction(db):
        rows = db.execute("SELECT id, job, due_at FROM job_runs WHERE status = 'running'").fetchall()
        db.conn.executemany(
            "UPDATE job_runs SET status = 'abandoned', finished_at = ?, detail = ? WHERE id = ?",
            [(format_timestamp(now), ABANDONED_DETAIL, r[0]) for r in rows],
        )
    return [(r[1], r[2]) for r in rows]


def job_runs(db: ReadOnlyDatabase, job: str | None = None) -> list[dict]:
    """Runs (of ``job``, or all), oldest first, as column -> value."""
    sql = "SELECT * FROM job_runs" + (" WHERE job = ?" if job else "") + " ORDER BY id"
    cur = db.execute(sql, [job] if job else [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]
