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
    # Held by a running scheduler (see scheduler.py): owner pid, host, heartbeat.
    db["locks"].create(
        {"name": str, "owner": str, "pid": int, "host": str, "acquired_at": str, "heartbeat_at": str},
        pk="name",
        if_not_exists=True,
    )


MIGRATIONS = [("001_crawl_state", m001_crawl_state), ("002_locks", m002_locks)]
