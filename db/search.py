"""One full-text search over publications, trials and feed items, best match first.

Each kind has its own FTS5 table; each module's ``search_*`` returns ``(bm25, shape)``
pairs (lower bm25 is better, as SQLite ranks), which are merged here.  bm25 scores of
different tables are on comparable scales for short queries, which is what users type.
"""

from __future__ import annotations

from litwatch.db.fts import to_fts_query

KINDS = ("publication", "trial", "feed_item")


def search_all(db, query: str, *, since: str | None = None, kind: str | None = None, topic: str | None = None, limit: int = 20) -> list[dict]:
    """``kind`` is publication / trial / feed_item, or a PubMed publication type."""
    from litwatch.db import feeds, publications, trials

    fts = to_fts_query(query)
    pub_type = None
    kinds = KINDS
    if kind:
        normalised = kind.strip().lower().replace(" ", "_").rstrip("s")
        if normalised in KINDS:
            kinds = (normalised,)
        else:  # a publication type: "Randomized Controlled Trial", "meta-analysis"
            kinds = ("publication",)
            pub_type = kind.strip()
    hits: list[tuple[float, dict]] = []
    if "publication" in kinds:
        hits += publications.search_publications(db, fts, since=since, pub_type=pub_type, topic=topic, limit=limit)
    if "trial" in kinds:
        hits += [(score, t.to_dict()) for score, t in trials.search_trials(db, fts, since=since, topic=topic, limit=limit)]
    if "feed_item" in kinds:
        hits += feeds.search_feed_items(db, fts, since=since, topic=topic, limit=limit)
    hits.sort(key=lambda pair: pair[0])
    return [shape for _, shape in hits[:limit]]
