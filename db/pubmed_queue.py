"""PMIDs the PubMed crawl must fetch whatever the topics find.

Seed citations, trials' referencesModule and followed trials' ``[si]`` searches all name
papers that no topic query may ever return; they wait here until the PubMed spider has
stored them (``fetched_at``).  Adding a PMID twice keeps its first reason.
"""

from __future__ import annotations

from typing import Iterable

from litwatch.db.connection import transaction
from litwatch.vocab.ids import normalise_pmid
from litwatch.vocab.times import utcnow


def enqueue_pmids(db, items: Iterable[tuple[str, str]]) -> int:
    """Queue ``(pmid, reason)`` pairs (not PMIDs are skipped); returns how many were new."""
    now = utcnow()
    added = 0
    with transaction(db):
        for pmid, reason in items:
            pmid = normalise_pmid(str(pmid))
            if pmid is None:
                continue
            cur = db.execute(
                "INSERT OR IGNORE INTO pubmed_queue (pmid, reason, added_at, attempts) VALUES (?, ?, ?, 0)",
                [pmid, reason, now],
            )
            added += cur.rowcount
    return added
