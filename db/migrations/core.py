"""Crawl bookkeeping shared by every source: watermarks, runs, quarantined records."""


def m001_crawl_state(db):
    # One row per (source, topic); topic "" for source-wide state (seeds, followed trials).
    # ``watermark`` is the last date whose records are all committed: it moves only after
    # the records up to it are stored.
    db["crawl_state"].create(
        {
            "source": str,
            "topic": str,
            "watermark": str,
            "last_success_at": str,
            "last_run_at": str,
            "last_status": str,
            "last_counts": str,  # JSON
            "last_error": str,
            "last_result_count": int,
        },
        pk=("source", "topic"),
        if_not_exists=True,
    )
    db["crawl_runs"].create(
        {
            "id": int,
            "source": str,
            "started_at": str,
            "finished_at": str,
            "status": str,  # running | ok | partial | failed
            "counts": str,  # JSON
            "warnings": str,  # JSON list of one-line warnings
            "error": str,
        },
        pk="id",
        if_not_exists=True,
    )
    # A record that could not be parsed or stored: kept with its raw bytes so nothing is
    # lost, and retried by a later crawl.
    db["quarantine"].create(
        {
            "source": str,
            "key": str,
            "reason": str,
            "raw": bytes,  # zlib-compressed
            "first_seen_at": str,
            "last_seen_at": str,
            "attempts": int,
        },
        pk=("source", "key"),
        if_not_exists=True,
    )


def m002_locks(db):
    # Reserved for named locks held in the database.  The scheduler does NOT use it: its
    # lock is an flock on ``<db>.lock`` (litwatch/joblock.py says why).  Kept because a
    # landed migration never changes and the empty table costs nothing.
    db["locks"].create(
        {"name": str, "owner": str, "pid": int, "host": str, "acquired_at": str, "heartbeat_at": str},
        pk="name",
        if_not_exists=True,
    )


def m003_job_runs(db):
    # The scheduler's memory (litwatch/jobledger.py): which scheduled due time of each job
    # has been handled, so a restart catches up what was missed and never runs one due
    # time twice.  ``job_state`` holds one cursor row per job; ``job_runs`` one row per
    # attempt, UNIQUE (job, due_at) as the hard "never twice" guarantee.
    db["job_state"].create(
        {"job": str, "registered_at": str, "last_due_at": str},
        pk="job",
        if_not_exists=True,
    )
    db["job_runs"].create(
        {
            "id": int,
            "job": str,
            "due_at": str,  # the scheduled fire time this run handles (UTC)
            "reason": str,  # schedule | catch-up
            "started_at": str,
            "finished_at": str,
            "status": str,  # running | ok | failed | timeout | crashed | interrupted | abandoned
            "exit_code": int,
            "seconds": float,
            "detail": str,  # one line: counts, or the reason of a failure
        },
        pk="id",
        if_not_exists=True,
    )
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS job_runs_job_due ON job_runs (job, due_at)")


def m004_crawl_run_owner(db):
    """Which process runs a crawl (host, pid): a run left ``running`` by a process that is
    gone is closed as ``interrupted`` by the next crawl (crawl_state.close_interrupted_runs).
    A table of its own, so crawl_runs keeps its columns."""
    db["crawl_run_owners"].create({"run_id": int, "pid": int, "host": str}, pk="run_id", if_not_exists=True)


MIGRATIONS = [("001_crawl_state", m001_crawl_state), ("002_locks", m002_locks), ("003_job_runs", m003_job_runs),
              ("004_crawl_run_owner", m004_crawl_run_owner)]
