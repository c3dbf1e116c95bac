"""Citations found in the seed documents: where each was found and what it resolved to.

A citation is never dropped silently: it is ``pending`` until its identifier is looked up,
then ``resolved`` (to a PMID or an NCT number) or ``unresolved`` with the reason, and
``litwatch citations`` lists them all.
"""

from __future__ import annotations

from typing import Iterable

from litwatch.db.connection import transaction
from litwatch.vocab.records import Citation
from litwatch.vocab.times import utcnow

KEY = ("document", "line", "kind", "value")
LIST_KEYS = ("document", "line", "kind", "value", "raw", "status", "resolved_kind", "resolved_id", "reason")


def sync_citations(db, citations: Iterable[Citation], documents: Iterable[str], present: Iterable[str] | None = None) -> dict:
    """Store the citations just read from ``documents``.

    Citations still in a document keep their resolution; those gone from it are deleted,
    and so are all citations of documents no longer ``present`` in the seeds folder (a
    document that could not be read this time keeps its old citations).
    Returns counts: citations_new, citations_removed.
    """
    now = utcnow()
    documents = set(documents)
    present = None if present is None else set(present)
    found = {(c.document, c.line, c.kind, c.value): c for c in citations}
    stored = {tuple(r[:4]): r for r in db.execute("SELECT document, line, kind, value FROM citations")}
    counts = {"citations_new": 0, "citations_removed": 0}
    with transaction(db):
        for key, c in found.items():
            if key not in stored:
                db.execute(
                    "INSERT INTO citations (document, line, kind, value, raw, status, first_seen_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                    [*key, c.raw, now, now],
                )
                counts["citations_new"] += 1
        for key in stored:
            gone_from_read_doc = key[0] in documents and key not in found
            gone_doc = present is not None and key[0] not in present
            if gone_from_read_doc or gone_doc:
                db.execute("DELETE FROM citations WHERE document = ? AND line = ? AND kind = ? AND value = ?", list(key))
                counts["citations_removed"] += 1
    return counts


def resolved_map(db) -> dict[tuple[str, str], str]:
    """(kind, value) -> resolved id, for identifiers already resolved by an earlier crawl."""
    return {
        (kind, value): rid
        for kind, value, rid in db.execute("SELECT DISTINCT kind, value, resolved_id FROM citations WHERE status = 'resolved'")
    }


def first_place(db, kind: str, value: str) -> str | None:
    """``document:line`` of the first citation of an identifier (for queue/follow reasons)."""
    row = db.execute(
        "SELECT document, line FROM citations WHERE kind = ? AND value = ? ORDER BY document, line LIMIT 1", [kind, value]
    ).fetchone()
    return f"{row[0]}:{row[1]}" if row else None


def mark_resolved(db, kind: str, value: str, resolved_kind: str, resolved_id: str) -> int:
    with transaction(db):
        cur = db.execute(
            "UPDATE citations SET status = 'resolved', resolved_kind = ?, resolved_id = ?, reason = NULL, updated_at = ? WHERE kind = ? AND value = ?",
            [resolved_kind, resolved_id, utcnow(), kind, value],
        )
    return cur.rowcount


def mark_unresolved(db, kind: str, value: str, reason: str) -> int:
    with transaction(db):
        cur = db.execute(
            "UPDATE citations SET status = 'unresolved', resolved_kind = NULL, resolved_id = NULL, reason = ?, updated_at = ? WHERE kind = ? AND value = ?",
            [reason, utcnow(), kind, value],
        )
    return cur.rowcount


def list_citations(db, status: str | None = None) -> list[dict]:
    """Every citation (or those with ``status``), by document and line, in the JSON shape of
    ``litwatch citations --json`` (the fields of ``Citation``)."""
    sql = f"SELECT {', '.join(LIST_KEYS)} FROM citations"
    params = []
    if status:
        sql += " WHERE status = ?"
        params.append(status)
    sql += " ORDER BY document, line, kind, value"
    return [dict(zip(LIST_KEYS, row)) for row in db.execute(sql, params)]
