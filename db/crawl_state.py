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
import zlib

import sqlite_utils

from litwatch.db.connection import transaction
from litwatch.db.sql import insert_row, update_row, upsert_row
from litwatch.vocab.times import utcnow


def _one(db: sqlite_utils.Database, sql: str, params: list) -> dict | None:
    cur = db.execute(sql, params)
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row)) if row else None


def get_state(db: sqlite_utils.Database, source: str, topic: str = "") -> dict | None:
    return _one(db, "SELECT * FROM crawl_state WHERE source = ? AND topic = ?", [source, topic])


def get_watermark(db: sqlite_utils.Database, source: str, topic: str = "") -> dt.date | None:
    state = get_state(db, source, topic)
    if not state or not state.get("watermark"):
        return None
    return dt.date.fromisoformat(state["watermark"])


def set_watermark(
    db: sqlite_utils.Database,
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


def record_failure(db: sqlite_utils.Database, source: str, topic: str, error: str) -> None:
    """A failed crawl of (source, topic): the watermark stays where it was."""
    with transaction(db):
        upsert_row(db, "crawl_state",
                   {"source": source, "topic": topic, "last_run_at": utcnow(), "last_status": "failed", "last_error": error},
                   ("source", "topic"))


def start_run(db: sqlite_utils.Database, source: str) -> int:
    with transaction(db):
        return insert_row(db, "crawl_runs", {"source": source, "started_at": utcnow(), "status": "running"})


def finish_run(
    db: sqlite_utils.Database,
    run_id: int,
    status: str,
    counts: dict,
    warnings: list[str] = (),
    error: str | None = None,
) -> None:
    with transaction(db):
        update_row(
            db, "crawl_runs", {"id": run_id},
            {
                "finished_at": utcnow(),
                "status": status,
                "counts": json.dumps(counts, sort_keys=True),
                "warnings": json.dumps(list(warnings)),
                "error": error,
            },
        )


def quarantine(db: sqlite_utils.Database, source: str, key: str, reason: str, raw: bytes | str | None) -> None:
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
                "reason": reason[:1000],
                "raw": zlib.compress(raw) if raw is not None else None,
                "first_seen_at": existing["first_seen_at"] if existing else now,
                "last_seen_at": now,
                "attempts": (existing["attempts"] if existing else 0) + 1,
            },
            ("source", "key"),
        )


def get_quarantined(db: sqlite_utils.Database, source: str, key: str) -> dict | None:
    return _one(db, "SELECT * FROM quarantine WHERE source = ? AND key = ?", [source, key])


def release(db: sqlite_utils.Database, source: str, key: str) -> None:
    """A quarantined record was stored after all: forget it."""
    with transaction(db):
        db.execute("DELETE FROM quarantine WHERE source = ? AND key = ?", [source, key])


def quarantined_keys(db: sqlite_utils.Database, source: str, max_attempts: int | None = None) -> list[str]:
    """Keys of the records of ``source`` in quarantine (fewer than ``max_attempts`` tries)."""
    sql, params = "SELECT key FROM quarantine WHERE source = ?", [source]
    if max_attempts is not None:
        sql += " AND attempts < ?"
        params.append(max_attempts)
    return [row[0] for row in db.execute(sql + " ORDER BY key", params)]
