"""The digest ledger: which items went out in which digest, and which are still pending.

An item is *pending* until a digest holding it is ``delivered``.  The ledger is the only
memory of what a reader has seen, so the rules are strict:

* a digest is first written as ``sending`` (its items *claimed*) inside the same write
  transaction that selected them, so two ``digest --send`` running at once cannot both
  take the same items;
* it becomes ``delivered`` only after the SMTP server accepted the message or the outbox
  files are on disk; a failure marks it ``failed`` and its items are pending again;
* a ``preview`` (``digest`` without ``--send``, or ``--out``) is recorded for reference
  but never blocks selection;
* a claim whose process died mid-delivery stops blocking after ``CLAIM_TIMEOUT``, so a
  crash loses nothing (at worst the reader gets an item twice, never zero times).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from collections.abc import Iterable, Iterator

import sqlite_utils

from litwatch.vocab.times import format_timestamp

log = logging.getLogger(__name__)

# Longer than any delivery can take (SMTP timeout plus retries is a minute or two); after
# this a ``sending`` digest is taken for a crashed run and its items are pending again.
CLAIM_TIMEOUT = dt.timedelta(hours=1)

ITEM_KINDS = ("publication", "trial", "trial_change", "correction", "feed_item")


iso = format_timestamp  # CONTRACT's instant format, the one every ``*_at`` column holds


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT: selection and claim see one state, no writer in between."""
    conn = db.conn
    if conn.in_transaction:
        conn.commit()
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.rollback()
        raise
    else:
        conn.commit()


def taken_keys(db: sqlite_utils.Database, kind: str, now: dt.datetime) -> set[str]:
    """Item keys of ``kind`` that are delivered, or claimed by a delivery still under way."""
    fresh_claim = iso(now - CLAIM_TIMEOUT)
    rows = db.execute(
        """
        SELECT di.item_key FROM digest_items di JOIN digests d ON d.id = di.digest_id
        WHERE di.kind = ? AND (d.status = 'delivered' OR (d.status = 'sending' AND d.created_at > ?))
        """,
        [kind, fresh_claim],
    ).fetchall()
    return {r[0] for r in rows}


def last_delivered(db: sqlite_utils.Database) -> dict | None:
    """The most recent delivered digest (its ``created_at`` starts the next digest's window)."""
    rows = list(db["digests"].rows_where("status = 'delivered'", order_by="created_at DESC, id DESC", limit=1))
    return rows[0] if rows else None


def record_digest(
    db: sqlite_utils.Database,
    *,
    created_at: str,
    week: str,
    subject: str,
    recipients: Iterable[str],
    items: Iterable[tuple[str, str]],
    status: str,
    warnings: Iterable[str] = (),
) -> int:
    """Insert a digest and its items; call inside ``write_transaction`` when claiming."""
    if status not in ("sending", "preview"):
        raise ValueError(f"a new digest is 'sending' or 'preview', not {status!r}")
    conn = db.conn
    cur = conn.execute(
        "INSERT INTO digests (created_at, week, subject, recipients, status, warnings) VALUES (?, ?, ?, ?, ?, ?)",
        (created_at, week, subject, json.dumps(list(recipients)), status, json.dumps(list(warnings))),
    )
    digest_id = cur.lastrowid
    conn.executemany(
        "INSERT OR IGNORE INTO digest_items (digest_id, kind, item_key) VALUES (?, ?, ?)",
        [(digest_id, kind, key) for kind, key in items],
    )
    return digest_id


def mark_delivered(db: sqlite_utils.Database, digest_id: int, *, sent_at: str, delivered_to: str, message_id: str) -> None:
    """The server accepted it (or the outbox files are flushed): its items are no longer pending.

    Guards the ledger's promise even after a stale claim was re-taken: an item already in
    another delivered digest is dropped from this one, so it counts as delivered once.
    """
    with write_transaction(db):
        dup = db.conn.execute(
            """
            DELETE FROM digest_items WHERE digest_id = ? AND EXISTS (
              SELECT 1 FROM digest_items o JOIN digests d ON d.id = o.digest_id
              WHERE o.kind = digest_items.kind AND o.item_key = digest_items.item_key
                AND o.digest_id != digest_items.digest_id AND d.status = 'delivered')
            """,
            (digest_id,),
        ).rowcount
        if dup:
            log.warning("digest %s: %d items were already delivered by another digest", digest_id, dup)
        db.conn.execute(
            "UPDATE digests SET status = 'delivered', sent_at = ?, delivered_to = ?, message_id = ?, error = NULL WHERE id = ?",
            (sent_at, delivered_to, message_id, digest_id),
        )


def mark_failed(db: sqlite_utils.Database, digest_id: int, error: str, *, message_id: str | None = None) -> None:
    """Delivery failed: the digest stays in the ledger for the record, its items are pending."""
    with write_transaction(db):
        db.conn.execute(
            "UPDATE digests SET status = 'failed', error = ?, message_id = COALESCE(?, message_id) WHERE id = ?",
            (error[:1000], message_id, digest_id),
        )


def get_digest(db: sqlite_utils.Database, digest_id: int) -> dict | None:
    rows = list(db["digests"].rows_where("id = ?", [digest_id]))
    if not rows:
        return None
    row = dict(rows[0])
    row["recipients"] = json.loads(row["recipients"] or "[]")
    return row


def digest_items(db: sqlite_utils.Database, digest_id: int) -> list[tuple[str, str]]:
    return [
        (r[0], r[1])
        for r in db.execute(
            "SELECT kind, item_key FROM digest_items WHERE digest_id = ? ORDER BY kind, item_key", [digest_id]
        ).fetchall()
    ]


def pending_clause(kind: str, key_expr: str, now: dt.datetime) -> tuple[str, list]:
    """SQL condition (and its parameters) "the item ``key_expr`` of ``kind`` is pending"."""
    sql = (
        f"{key_expr} NOT IN (SELECT di.item_key FROM digest_items di JOIN digests d ON d.id = di.digest_id "
        "WHERE di.kind = ? AND (d.status = 'delivered' OR (d.status = 'sending' AND d.created_at > ?)))"
    )
    return sql, [kind, iso(now - CLAIM_TIMEOUT)]
