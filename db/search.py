"""One full-text search over publications, trials and feed items, in the documented order.

The default order (README, "Search"):
1. the record an identifier names, when the query is one (PMID, PMC id, DOI, NCT number,
   Bookshelf NBK id; ``vocab.ids.identify``);
2. papers whose title is the query (a pasted title), as a phrase;
3. then every match, newest first: each kind's ``search_*`` returns its newest ``limit``
   matches as ``(first_seen_at, shape)`` pairs, merged here by when litwatch first saw
   them.  Newest first is what a watch is read for, and it stays fast at a million
   records: FTS5 reads its index in row order and stops at the limit, where ranking by
   bm25 must score every match first (a second for the commonest words at 1M).
"""

from __future__ import annotations

from litwatch.db.fts import title_phrase_query, to_fts_query
from litwatch.vocab.errors import QueryError
from litwatch.vocab.ids import identify

KINDS = ("publication", "trial", "feed_item")


def _key(shape: dict) -> tuple[str, str]:
    return shape.get("kind") or "", shape.get("pmid") or shape.get("nct_id") or shape.get("id") or ""


def find_by_identifier(db, text: str) -> list[dict]:
    """The stored records an identifier names (a paper, a trial, a feed item), or []."""
    from litwatch.db import feeds, publications, trials

    found = identify(text.strip())
    if found is None:
        return []
    kind, value = found
    records = []
    if kind == "nct":
        trial = trials.get_trial(db, value)
        records.append(trial.to_dict() if trial is not None else None)
    else:
        try:
            records.append(publications.get_publication(db, value))
        except (QueryError, ValueError):
            pass
    if kind in ("nct", "doi", "pmid"):
        records.append(feeds.get_feed_item(db, value))
    return [r for r in records if r]


def search_all(db, query: str, *, since: str | None = None, kind: str | None = None, topic: str | None = None, limit: int = 20) -> list[dict]:
    """``kind`` is publication / trial / feed_item, or a PubMed publication type."""
    from litwatch.db import feeds, publications, trials

    fts = to_fts_query(query)  # validates (length, quotes, operators) before anything runs
    pub_type = None
    kinds = KINDS
    if kind:
        normalised = kind.strip().lower().replace(" ", "_").rstrip("s")
        if normalised in KINDS:
            kinds = (normalised,)
        else:  # a publication type: "Randomized Controlled Trial", "meta-analysis"
            kinds = ("publication",)
            pub_type = kind.strip()
    first: list[dict] = []
    if not (since or topic or pub_type):  # an identifier names one record, whatever it is
        first += [r for r in find_by_identifier(db, query) if r.get("kind") in kinds or r.get("kind") not in KINDS]
    title = title_phrase_query(query)
    if title and "publication" in kinds:
        first += [shape for _, shape in
                  publications.search_publications(db, title, since=since, pub_type=pub_type, topic=topic, limit=limit)]
    hits: list[tuple[str, dict]] = []
    if "publication" in kinds:
        hits += publications.search_publications(db, fts, since=since, pub_type=pub_type, topic=topic, limit=limit)
    if "trial" in kinds:
        hits += [(score, t.to_dict()) for score, t in trials.search_trials(db, fts, since=since, topic=topic, limit=limit)]
    if "feed_item" in kinds:
        hits += feeds.search_feed_items(db, fts, since=since, topic=topic, limit=limit)
    hits.sort(key=lambda pair: pair[0], reverse=True)  # newest first; a tie keeps each kind's order
    out: list[dict] = []
    seen: set[tuple[str, str]] = set()
    for shape in first + [shape for _, shape in hits]:
        key = _key(shape)
        if key not in seen:
            seen.add(key)
            out.append(shape)
    return out[:limit]


def publication_type_counts(db) -> dict[str, int]:
    """{publication type: papers} over the store, for "no paper has type X; stored: ..." messages."""
    rows = db.execute(
        "SELECT j.value, count(*) FROM publications p, json_each(p.publication_types) j GROUP BY j.value ORDER BY 2 DESC"
    ).fetchall()
    return {value: n for value, n in rows}
