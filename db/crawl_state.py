"""Per-source, per-topic crawl state: watermarks, run records, quarantine.

The watermark is the crawl's promise "everything up to this date is stored".  It is moved
only by ``set_watermark`` after the caller has committed the records, so a crawl killed
half-way is simply repeated from the old watermark (saves are upserts, so nothing doubles).
Spiders read what they need at start through the named functions here (no SQL of their
own); every write runs in ``transaction(db)``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sqlite3
import zlib
from typing import TYPE_CHECKING, Callable

from litwatch.db.connection import transaction
from litwatch.db.sql import insert_row, update_row, upsert_row
from litwatch.vocab.text import redact
from litwatch.vocab.times import utcnow

if TYPE_CHECKING:
    from litwatch.db.connection import ReadOnlyDatabase, WriterDatabase


def _one(db: ReadOnlyDatabase, sql: str, params: list) -> dict | None:
    cur = db.execute(sql, params)
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row)) if row else None


def get_state(db: ReadOnlyDatabase, source: str, topic: str = "") -> dict | None:
    return _one(db, "SELECT * FROM crawl_state WHERE source = ? AND topic = ?", [source, topic])


def get_watermark(db: ReadOnlyDatabase, source: str, topic: str = "") -> dt.date | None:
    state = get_state(db, source, topic)
    if not state or not state.get("watermark"):
        return None
    return dt.date.fromisoformat(state["watermark"])


def set_watermark(
    db: WriterDatabase,
    source: str,
    topic: str,
    watermark: dt.date,
    *,
    counts: dict | None = None,
    result_count: int | None = None,
) -> None:
    """Record a successful crawl of (source, topic) up to ``watermark`` (inclusive)."""
    now = utcnow()
    row = {
        "source": source,
        "topic": topic,
        "watermark": watermark.isoformat(),
        "last_success_at": now,
        "last_run_at": now,
        "last_status": "ok",
        "last_error": None,
    }
    if counts is not None:
        row["last_counts"] = json.dumps(counts, sort_keys=True)
    if result_count is not None:
        row["last_result_count"] = result_count
    with transaction(db):
        upsert_row(db, "crawl_state", row, ("source", "topic"))


def record_failure(db: WriterDatabase, source: str, topic: str, error: str) -> None:
    """A failed crawl of (source, topic): the watermark stays where it was."""
    with transaction(db):
        upsert_row(db, "crawl_state",
                   {"source": source, "topic": topic, "last_run_at": utcnow(), "last_status": "failed", "last_error": redact(error)},
                   ("source", "topic"))


def start_run(db: WriterDatabase, source: str, *, now: str | None = None) -> int:
    """A ``running`` row owned by this process (host, pid), closed by ``finish_run``.
    ``now``: the start time to record (default: the clock; the demo world passes one)."""
    with transaction(db):
        run_id = insert_row(db, "crawl_runs", {"source": source, "started_at": now or utcnow(), "status": "running"})
        upsert_row(db, "crawl_run_owners", {"run_id": run_id, "pid": os.getpid(), "host": socket.gethostname()}, ("run_id",))
    return run_id


def close_interrupted_runs(db: WriterDatabase, alive: Callable[[int], bool]) -> list[dict]:
    """Close as ``interrupted`` the ``running`` rows of this host whose process is gone
    (``alive(pid)`` false; rows from before pids were recorded count as gone).  Returns
    the rows closed (id, source, started_at, pid), for the caller to report."""
    host = socket.gethostname()
    rows = db.execute(
        "SELECT r.id, r.source, r.started_at, o.pid, o.host FROM crawl_runs r "
        "LEFT JOIN crawl_run_owners o ON o.run_id = r.id WHERE r.status = 'running'"
    ).fetchall()
    closed = []
    for run_id, source, started_at, pid, row_host in rows:
        if row_host not in (None, host) or (pid is not None and alive(pid)):
            continue
        closed.append({"id": run_id, "source": source, "started_at": started_at, "pid": pid})
    if closed:
        now = utcnow()
        with transaction(db):
            for row in closed:
                who = f" (process {row['pid']})" if row["pid"] else ""
                update_row(db, "crawl_runs", {"id": row["id"]}, {
                    "finished_at": now, "status": "interrupted",
                    "error": f"interrupted: the crawl started {row['started_at']}{who} ended without finishing; "
                             "its topics' watermarks stayed, so a later crawl fetched the same window again",
                })
    return closed


def integrity_problems(db: ReadOnlyDatabase, limit: int = 3) -> list[str]:
    """SQLite's ``quick_check``: [] for a sound file, else its first problems (a file
    damaged mid-way may still answer the few pages a crawl reads, and fail later)."""
    try:
        rows = [r[0] for r in db.execute(f"PRAGMA quick_check({int(limit)})").fetchall()]
    except sqlite3.DatabaseError as exc:  # damage that stops the check itself
        return [str(exc)]
    if rows == ["ok"]:
        return []
    lines = [line.strip() for row in rows for line in str(row).splitlines()]
    return [line for line in lines if line and not line.startswith("***")][:limit] or ["quick_check failed"]


def finish_run(
    db: WriterDatabase,
    run_id: int,
    status: str,
    counts: dict,
    warnings: list[str] = (),
    error: str | None = None,
    *,
    now: str | None = None,
) -> None:
    with transaction(db):
        update_row(
            db, "crawl_runs", {"id": run_id},
            {
                "finished_at": now or utcnow(),
                "status": status,
                "counts": json.dumps(counts, sort_keys=True),
                "warnings": json.dumps([redact(w) for w in warnings]),
                "error": redact(error),
            },
        )


def quarantine(db: WriterDatabase, source: str, key: str, reason: str, raw: bytes | str | None) -> None:
    """Keep a record that could not be parsed or stored, with its raw bytes, for a later try."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    now = utcnow()
    existing = get_quarantined(db, source, key)
    with transaction(db):
        upsert_row(
            db, "quarantine",
            {
                "source": source,
                "key": key,
                "reason": redact(reason)[:1000],
                "raw": zlib.compress(raw) if raw is not None else None,
                "first_seen_at": existing["first_seen_at"] if existing else now,
                "last_seen_at": now,
                "attempts": (existing["attempts"] if existing else 0) + 1,
            },
            ("source", "key"),
        )


def get_quarantined(db: ReadOnlyDatabase, source: str, key: str) -> dict | None:
    return _one(db, "SELECT * FROM quarantine WHERE source = ? AND key = ?", [source, key])


def release(db: WriterDatabase, source: str, key: str) -> None:
    """A quarantined record was stored after all: forget it."""
    with transaction(db):
        db.execute("DELETE FROM quarantine WHERE source = ? AND key = ?", [source, key])


def quarantined_keys(db: ReadOnlyDatabase, source: str, max_attempts: int | None = None) -> list[str]:
    """Keys of the records of ``source`` in quarantine (fewer than ``max_attempts`` tries)."""
    sql, params = "SELECT key FROM quarantine WHERE source = ?", [source]
    if max_attempts is not None:
        sql += " AND attempts < ?"
        params.append(max_attempts)
    return [row[0] for row in db.execute(sql + " ORDER BY key", params)]
