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

The SQL lives in ``litwatch.db.jobs``; this module holds the scheduling logic over it.
Each call opens its own short connection: jobs run on a worker thread, and a sqlite3
connection belongs to the thread that made it.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from litwatch.db import jobs, open_db

if TYPE_CHECKING:
    from litwatch.db.connection import WriterDatabase

# Cron fires on whole seconds; "strictly after t" is "at or after t + 1 s".
ONE_SECOND = dt.timedelta(seconds=1)
# First window of the backward search in latest_fire(); it doubles until it holds a fire.
FIRST_WINDOW = dt.timedelta(minutes=1)


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
    """Catch-up and claims over ``job_state`` and ``job_runs`` (``litwatch.db.jobs``)."""

    def __init__(self, db_path: str | Path):
        self.db_path = str(db_path)

    @contextmanager
    def _db(self) -> Iterator[WriterDatabase]:
        db = open_db(self.db_path, migrate=False)
        try:
            yield db
        finally:
            db.conn.close()

    def migrate(self) -> None:
        """Run pending migrations once, from the thread that starts the scheduler."""
        open_db(self.db_path).conn.close()

    def register(self, job: str, now: dt.datetime) -> None:
        """Remember when a job was first scheduled: catch-up never reaches before it."""
        with self._db() as db:
            jobs.register_job(db, job, now)

    def handled_until(self, job: str) -> dt.datetime | None:
        """The last due time handled, else the registration time; None if unknown job."""
        with self._db() as db:
            return jobs.handled_until(db, job)

    def due(self, job: str, trigger, now: dt.datetime) -> dt.datetime | None:
        after = self.handled_until(job)
        return None if after is None else latest_fire(trigger, after, now)

    def claim(self, job: str, due_at: dt.datetime, reason: str, now: dt.datetime) -> Claim | None:
        """Mark ``due_at`` handled and open its run row, atomically; None if already handled."""
        with self._db() as db:
            run_id = jobs.claim_due(db, job, due_at, reason, now)
        return None if run_id is None else Claim(run_id, job, due_at, reason)

    def finish(self, claim: Claim, status: str, *, exit_code: int | None, seconds: float, detail: str, now: dt.datetime) -> None:
        with self._db() as db:
            jobs.finish_job_run(db, claim.run_id, status, exit_code=exit_code, seconds=seconds, detail=detail, now=now)

    def abandon_running(self, now: dt.datetime) -> list[tuple[str, str]]:
        """Close runs left 'running' by a scheduler that died; returns their (job, due_at).

        Only called with the lock held, so no live scheduler can own such a row.  Their
        due times stay handled: like any failed run, the next scheduled run retries.
        """
        with self._db() as db:
            return jobs.abandon_running(db, now)

    def runs(self, job: str | None = None) -> list[dict]:
        """Attempts, oldest first (for tests and for whoever inspects the database)."""
        with self._db() as db:
            return jobs.job_runs(db, job)
