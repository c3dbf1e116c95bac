"""The scheduler's memory in the database: which due time of each job was handled.

Why our own ledger and not APScheduler's persistent job store:

* The database is already the single source of truth (crawl watermarks, the digest
  ledger); the schedule's state belongs beside them, backed up and copied with them.
* APScheduler 3.x's only SQL store is ``SQLAlchemyJobStore``, which needs SQLAlchemy (not
  a dependency) and pickles jobs, so a code change can leave unpicklable rows behind.
* A job store remembers the *next* run time; what must survive a restart is which due
  time was *already handled*.  ``job_runs`` is UNIQUE (job, due_at) and a run claims its
  due time before it starts, so a restart, or a second trigger for the same fire time,
  never even tries one due time twice; in particular a digest is never re-sent because
  the scheduler restarted right after delivering it.

Catch-up is computed from it: a job is due when its trigger has a fire time after the
last handled one (or, before the first run ever, after the job was first registered: a
fresh install does not send a digest the minute it starts) and not after now.  However
many fire times were missed, the job runs once, for the latest of them.

Times are stored in UTC as ``YYYY-MM-DDTHH:MM:SSZ`` (CONTRACT's format), which sorts as
text.  Each call opens its own short connection: jobs run on a worker thread, and a
sqlite3 connection belongs to the thread that made it.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from litwatch.db import open_db
from litwatch.vocab.times import format_timestamp, parse_timestamp

UTC = dt.timezone.utc
# Cron fires on whole seconds; "strictly after t" is "at or after t + 1 s".
ONE_SECOND = dt.timedelta(seconds=1)
# First window of the backward search in latest_fire(); it doubles until it holds a fire.
FIRST_WINDOW = dt.timedelta(minutes=1)


to_text = format_timestamp
from_text = parse_timestamp


def latest_fire(trigger, after: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """The latest fire time ``t`` of ``trigger`` with ``after < t <= now``, or None.

    Walking forward from ``after`` could take millions of steps (an every-minute cron and
    a database idle for a year), so first search backwards from ``now`` with a doubling
    window until it holds a fire time, then walk forward inside that window only.
    """
    lower = after + ONE_SECOND
    first = trigger.get_next_fire_time(None, lower)
    if first is None or first > now:
        return None
    window = FIRST_WINDOW
    while True:
        start = max(now - window, lower)
        found = trigger.get_next_fire_time(None, start)
        if found is not None and found <= now:
            break
        window *= 2
    while True:
        following = trigger.get_next_fire_time(found, found + ONE_SECOND)
        if following is None or following > now:
            return found
        found = following


@dataclass(frozen=True)
class Claim:
    run_id: int
    job: str
    due_at: dt.datetime
    reason: str


class JobLedger:
    """``job_state`` (one cursor per job) and ``job_runs`` (one row per attempt)."""

    def __init__(self, db_path: str | Path):
        self.db_path = str(db_path)

    def _connect(self):
        return closing(open_db(self.db_path, migrate=False).conn)

    def migrate(self) -> None:
        """Run pending migrations once, from the thread that starts the scheduler."""
        open_db(self.db_path).conn.close()

    def register(self, job: str, now: dt.datetime) -> None:
        """Remember when a job was first scheduled: catch-up never reaches before it."""
        with self._connect() as conn, conn:
            conn.execute("INSERT OR IGNORE INTO job_state (job, registered_at) VALUES (?, ?)", (job, to_text(now)))

    def handled_until(self, job: str) -> dt.datetime | None:
        """The last due time handled, else the registration time; None if unknown job."""
        with self._connect() as conn:
            row = conn.execute("SELECT last_due_at, registered_at FROM job_state WHERE job = ?", (job,)).fetchone()
        if row is None:
            return None
        return from_text(row[0] or row[1])

    def due(self, job: str, trigger, now: dt.datetime) -> dt.datetime | None:
        after = self.handled_until(job)
        return None if after is None else latest_fire(trigger, after, now)

    def claim(self, job: str, due_at: dt.datetime, reason: str, now: dt.datetime) -> Claim | None:
        """Mark ``due_at`` handled and open its run row, atomically; None if already handled."""
        due_text = to_text(due_at)
        with self._connect() as conn:
            try:
                with conn:
                    moved = conn.execute(
                        "UPDATE job_state SET last_due_at = ? WHERE job = ? AND coalesce(last_due_at, registered_at) < ?",
                        (due_text, job, due_text),
                    ).rowcount
                    if not moved:
                        return None
                    cur = conn.execute(
                        "INSERT INTO job_runs (job, due_at, reason, started_at, status) VALUES (?, ?, ?, ?, 'running')",
                        (job, due_text, reason, to_text(now)),
                    )
            except sqlite3.IntegrityError:  # the UNIQUE (job, due_at) backstop
                return None
        return Claim(cur.lastrowid, job, due_at, reason)

    def finish(self, claim: Claim, status: str, *, exit_code: int | None, seconds: float, detail: str, now: dt.datetime) -> None:
        with self._connect() as conn, conn:
            conn.execute(
                "UPDATE job_runs SET finished_at = ?, status = ?, exit_code = ?, seconds = ?, detail = ? WHERE id = ?",
                (to_text(now), status, exit_code, round(seconds, 1), detail, claim.run_id),
            )

    def abandon_running(self, now: dt.datetime) -> list[tuple[str, str]]:
        """Close runs left 'running' by a scheduler that died; returns their (job, due_at).

        Only called with the lock held, so no live scheduler can own such a row.  Their
        due times stay handled: like any failed run, the next scheduled run retries.
        """
        with self._connect() as conn, conn:
            rows = conn.execute("SELECT id, job, due_at FROM job_runs WHERE status = 'running'").fetchall()
            conn.executemany(
                "UPDATE job_runs SET status = 'abandoned', finished_at = ?, "
                "detail = 'the scheduler stopped without finishing this run' WHERE id = ?",
                [(to_text(now), r[0]) for r in rows],
            )
        return [(r[1], r[2]) for r in rows]

    def runs(self, job: str | None = None) -> list[dict]:
        """Attempts, oldest first (for tests and for whoever inspects the database)."""
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            sql = "SELECT * FROM job_runs" + (" WHERE job = ?" if job else "") + " ORDER BY id"
            return [dict(r) for r in conn.execute(sql, (job,) if job else ())]
