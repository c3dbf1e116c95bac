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
* a claim records the claiming process (host, pid, its start time) and, before anything is
  sent, the exact message with its Message-ID.  The next ``digest --send`` resumes at once
  a claim whose process is gone (same host, pid gone or reused) by sending that same
  message again; a claim from another host is taken for dead after ``CLAIM_TIMEOUT``.
  So a crash loses nothing, and at worst the reader's server sees one message twice with
  one Message-ID, never two different messages carrying the same items.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from litwatch.db.connection import transaction
from litwatch.vocab.times import format_timestamp

if TYPE_CHECKING:
    from litwatch.db.connection import ReadOnlyDatabase, WriterDatabase

log = logging.getLogger(__name__)

# Longer than any delivery can take (SMTP timeout plus retries is a minute or two); after
# this a ``sending`` digest is taken for a crashed run and its items are pending again.
CLAIM_TIMEOUT = dt.timedelta(hours=1)

ITEM_KINDS = ("publication", "trial", "trial_change", "correction", "feed_item")


iso = format_timestamp  # CONTRACT's instant format, the one every ``*_at`` column holds


# The store's one transaction convention (``db.connection.transaction``: BEGIN IMMEDIATE
# outermost, a savepoint inside a caller's transaction): selection and claim see one
# state, no writer in between.
write_transaction = transaction


def last_delivered(db: WriterDatabase) -> dict | None:
    """The most recent delivered digest (its ``created_at`` starts the next digest's window)."""
    rows = list(db["digests"].rows_where("status = 'delivered'", order_by="created_at DESC, id DESC", limit=1))
    return rows[0] if rows else None


def record_digest(
    db: WriterDatabase,
    *,
    created_at: str,
    week: str,
    subject: str,
    recipients: Iterable[str],
    items: Iterable[tuple[str, str]],
    status: str,
    warnings: Iterable[str] = (),
    claim: tuple[str, int, str] | None = None,
) -> int:
    """Insert a digest and its items; call inside ``write_transaction`` when claiming.

    ``claim`` is the claiming process as (host, pid, process start) for a ``sending`` digest.
    """
    if status not in ("sending", "preview"):
        raise ValueError(f"a new digest is 'sending' or 'preview', not {status!r}")
    conn = db.conn
    host, pid, started = claim or (None, None, None)
    cur = conn.execute(
        "INSERT INTO digests (created_at, week, subject, recipients, status, warnings, claim_host, claim_pid, claim_start) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (created_at, week, subject, json.dumps(list(recipients)), status, json.dumps(list(warnings)), host, pid, started),
    )
    digest_id = cur.lastrowid
    conn.executemany(
        "INSERT OR IGNORE INTO digest_items (digest_id, kind, item_key) VALUES (?, ?, ?)",
        ((digest_id, kind, key) for kind, key in items),  # streamed: a first digest may claim a million
    )
    return digest_id


def mark_delivered(db: WriterDatabase, digest_id: int, *, sent_at: str, delivered_to: str, message_id: str) -> None:
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


def mark_failed(db: WriterDatabase, digest_id: int, error: str, *, message_id: str | None = None) -> None:
    """Delivery failed: the digest stays in the ledger for the record, its items are pending."""
    with write_transaction(db):
        db.conn.execute(
            "UPDATE digests SET status = 'failed', error = ?, message_id = COALESCE(?, message_id) WHERE id = ?",
            (error[:1000], message_id, digest_id),
        )


def get_digest(db: WriterDatabase, digest_id: int) -> dict | None:
    rows = list(db["digests"].rows_where("id = ?", [digest_id]))
    if not rows:
        return None
    row = dict(rows[0])
    row["recipients"] = json.loads(row["recipients"] or "[]")
    return row


def digest_items(db: ReadOnlyDatabase, digest_id: int) -> list[tuple[str, str]]:
    return [
        (r[0], r[1])
        for r in db.execute(
            "SELECT kind, item_key FROM digest_items WHERE digest_id = ? ORDER BY kind, item_key", [digest_id]
        ).fetchall()
    ]


def iter_item_keys(db: ReadOnlyDatabase, digest_id: int, kind: str, *, page: int = 5000) -> Iterator[str]:
    """The keys of one kind a digest carries, in the order it recorded them, streamed (a first
    digest may carry a million papers)."""
    cur = db.conn.execute("SELECT item_key FROM digest_items WHERE digest_id = ? AND kind = ? ORDER BY rowid",
                          [digest_id, kind])
    while batch := cur.fetchmany(page):
        for (key,) in batch:
            yield key


def store_message(db: WriterDatabase, digest_id: int, message_id: str, message: bytes) -> None:
    """Keep the exact message of a claim before it is sent: a resumed claim sends these bytes."""
    with write_transaction(db):
        db.conn.execute("UPDATE digests SET message_id = ?, message = ? WHERE id = ?", (message_id, message, digest_id))


def open_claims(db: ReadOnlyDatabase) -> list[dict]:
    """Digests still ``sending``, oldest first: id, created_at, subject, claim_*, message_id, message."""
    cur = db.conn.execute(
        "SELECT id, created_at, subject, recipients, claim_host, claim_pid, claim_start, message_id, message "
        "FROM digests WHERE status = 'sending' ORDER BY created_at, id"
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def take_over(db: WriterDatabase, digest_id: int, old: tuple, new: tuple[str, int, str]) -> bool:
    """Move a dead process's claim to this one; False if another process took it first.
    Call inside ``write_transaction``."""
    cur = db.conn.execute(
        "UPDATE digests SET claim_host = ?, claim_pid = ?, claim_start = ? WHERE id = ? AND status = 'sending' "
        "AND claim_host IS ? AND claim_pid IS ? AND claim_start IS ?",
        (*new, digest_id, *old),
    )
    return cur.rowcount == 1


def claim_count(db: ReadOnlyDatabase, digest_id: int) -> dict[str, int]:
    """{kind: number of items} of one digest (what a failure line names)."""
    return dict(db.conn.execute(
        "SELECT kind, COUNT(*) FROM digest_items WHERE digest_id = ? GROUP BY kind", (digest_id,)
    ).fetchall())


def abandon_claim(db: WriterDatabase, digest_id: int, error: str) -> None:
    """A dead claim that never got as far as a message: failed, its items pending again.
    Call inside ``write_transaction``."""
    db.conn.execute(
        "UPDATE digests SET status = 'failed', error = ? WHERE id = ? AND status = 'sending'", (error[:1000], digest_id)
    )
