"""The watchlist's topics in the database: what the ``topics`` table holds."""

from __future__ import annotations

import json
from typing import Iterable

from litwatch.db.connection import transaction
from litwatch.vocab.times import utcnow


def sync_topics(db, topics: Iterable[dict]) -> int:
    """Upsert each topic ({name, title, pubmed, ctgov, feeds, keywords}); returns how many.

    Topics gone from the watchlist stay: the papers they found still name them.
    """
    now = utcnow()
    rows = [
        (t["name"], t.get("title"), t.get("pubmed"), json.dumps(t.get("ctgov") or {}, ensure_ascii=False),
         json.dumps(list(t.get("feeds") or ()), ensure_ascii=False), json.dumps(list(t.get("keywords") or ()), ensure_ascii=False), now)
        for t in topics
    ]
    with transaction(db):
        db.conn.executemany(
            "INSERT INTO topics (name, title, pubmed, ctgov, feeds, keywords, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET title = excluded.title, pubmed = excluded.pubmed, ctgov = excluded.ctgov, "
            "feeds = excluded.feeds, keywords = excluded.keywords, updated_at = excluded.updated_at",
            rows,
        )
    return len(rows)
