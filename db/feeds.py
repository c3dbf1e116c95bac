"""Feed items: store them once, link them to what litwatch already holds, read them back.

One piece of evidence, one item (docs/feeds.md):
- an item already stored (same key, same DOI, or same link) is the same item: a second
  feed or topic only adds a ``feed_item_topics`` row;
- an item whose DOI or PMID is a stored publication gets ``pmid``: it stays recorded (so
  it is never reported again) but the digest and ``search`` show the publication instead;
- a preprint whose title equals a stored journal article's gets ``published_as_pmid``;
- a ClinicalTrials.gov item carries its ``nct_id``; the trial is not followed (a search
  feed may name hundreds), but when ``trials`` holds it, the item's shape shows it.

Linking runs when items are saved (DOI/PMID) and in full (titles too) at the end of each
feeds crawl; ``link_feed_items`` is public so the PubMed pipeline can call it after
storing publications.  Every write runs in ``transaction(db)``; reads of a page of items
run a fixed number of statements whatever the page size.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Iterable, Iterator

from litwatch.db.connection import transaction
from litwatch.vocab.ids import ctgov_url, doi_url, normalise_doi, normalise_link, normalise_nct, normalise_pmid
from litwatch.vocab.records import FeedItem
from litwatch.vocab.text import normalise_title
from litwatch.vocab.times import utcnow

# Columns refreshed when a feed shows an item again (a corrected title, a longer summary).
REFRESHED = ("title", "link", "summary", "authors", "published")
# Columns filled in only when still empty: the first value seen is kept.
FILLED = ("doi", "feed_pmid", "nct_id")

# A title of fewer words than this is too generic ("Ketamine for depression",
# "Correction") to link a preprint to a journal article on the title alone.
MIN_TITLE_WORDS = 5

# How long a feed that answered 404/410 is left alone (unless the topics reading it change):
# a week is one digest cycle, so a feed that was only briefly missing is back by the next
# digest, and a dead one costs one request a week while the warning asks the user to fix it.
GONE_RECHECK_DAYS = 7

# Rows read (and shaped) at a time by ``iter_feed_items``; also under SQLite's 999 host
# parameters of one ``IN (...)``.
PAGE = 500


# --- feeds (HTTP state) ------------------------------------------------------------

def topics_signature(topics: Iterable[tuple[str, Iterable[str]]]) -> str:
    """A short hash of which topics read a feed and with which keywords.

    When it changes, the next fetch is unconditional (a topic that starts reading a feed,
    or new keywords, must see the feed's current items, which a 304 would hide) and a
    gone feed is asked again.
    """
    canon = sorted((name, sorted(k.casefold() for k in keywords)) for name, keywords in topics)
    return hashlib.sha1(json.dumps(canon).encode("utf-8")).hexdigest()[:16]


def feed_states(db) -> dict[str, dict]:
    """Every known feed's row, by URL."""
    return {row["url"]: row for row in _rows(db, "SELECT * FROM feeds")}


def record_feed_state(db, url: str, **fields) -> None:
    """Upsert a feed's row (validators, status, gone, error, ...)."""
    fields = dict(fields)
    fields["url"] = url
    columns = list(fields)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "url")
    sql = (
        f"INSERT INTO feeds ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)}) "
        f"ON CONFLICT(url) DO UPDATE SET {updates}"
    )
    with transaction(db):
        db.execute(sql, [fields[c] for c in columns])


# --- items -------------------------------------------------------------------------

def _find_existing(conn, item: dict) -> dict | None:
    """The stored row this item is: same key, else same DOI, else same link."""
    for column, value in (("id", item.get("id")), ("doi", item.get("doi")), ("link", item.get("link"))):
        if value:
            rows = _rows(conn, f"SELECT * FROM feed_items WHERE {column} = ? ORDER BY first_seen_at LIMIT 1", [value])
            if rows:
                return rows[0]
    return None


def _row_values(item: FeedItem) -> dict:
    return {
        "title": item.title,
        "link": item.link,
        "summary": item.summary,
        "authors": json.dumps(item.authors or [], ensure_ascii=False),
        "published": item.published,
        "doi": normalise_doi(item.doi),
        "feed_pmid": item.feed_pmid,
        "nct_id": item.nct_id,
    }


def _save_one(conn, item: FeedItem, topic: str | None, now: str, counts: Counter, refresh: bool) -> str:
    values = _row_values(item)
    existing = _find_existing(conn, {"id": item.id, "doi": values["doi"], "link": values["link"]})
    if existing is None:
        row = {"id": item.id, "feed_url": item.feed_url, "kind": item.kind or "journal", **values,
               "pmid": None, "published_as_pmid": None, "first_seen_at": now, "updated_at": now}
        conn.execute(f"INSERT INTO feed_items ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))
        counts["feed_items_new"] += 1
        item_id = item.id
    else:
        item_id = existing["id"]
        changes = {c: values[c] for c in REFRESHED if refresh and values[c] is not None and values[c] != existing[c]}
        changes.update({c: values[c] for c in FILLED if values[c] and not existing[c]})
        if changes:
            changes["updated_at"] = now
            conn.execute(
                f"UPDATE feed_items SET {', '.join(f'{c} = ?' for c in changes)} WHERE id = ?",
                [*changes.values(), item_id],
            )
            counts["feed_items_updated"] += 1
        else:
            counts["feed_items_seen"] += 1
    if topic:
        cur = conn.execute(
            "INSERT OR IGNORE INTO feed_item_topics (item_id, topic, first_seen_at) VALUES (?, ?, ?)", [item_id, topic, now]
        )
        if cur.rowcount and existing is not None:
            counts["feed_items_new_for_topic"] += 1
    return item_id


def save_feed_items(db, items: Iterable[FeedItem], topic: str | None = None, *, refresh: bool = True) -> Counter:
    """Store items found for ``topic``; link them by DOI/PMID.

    Items without a key or a title are skipped (the validation pipeline drops them first).
    ``refresh=False`` (items recovered from a malformed feed) stores new items and topics
    but never overwrites a stored item's fields with possibly cut-short ones.
    Returns counts: feed_items_new / _updated / _seen / _new_for_topic / _linked.
    """
    counts: Counter = Counter()
    now = utcnow()
    with transaction(db):
        ids = [_save_one(db.conn, item, topic, now, counts, refresh) for item in items if item.id and item.title]
        counts += link_by_identifiers(db, ids)
    return counts


# --- linking -----------------------------------------------------------------------

def _publication_dois(conn, dois: list[str]) -> dict[str, str]:
    """{lower-case DOI: PMID} for the stored publications among ``dois`` (one statement per
    500, through the index on ``lower(doi)``)."""
    found: dict[str, str] = {}
    wanted = sorted({d.lower() for d in dois if d})
    for i in range(0, len(wanted), 500):
        chunk = wanted[i: i + 500]
        sql = f"SELECT lower(doi), pmid FROM publications WHERE lower(doi) IN ({', '.join('?' for _ in chunk)})"
        found.update(conn.execute(sql, chunk))
    return found


def link_by_identifiers(db, item_ids: list[str] | None = None) -> Counter:
    """Set ``pmid`` on unlinked items whose DOI or named PMID is a stored publication."""
    conn = db.conn
    where = "pmid IS NULL AND (doi IS NOT NULL OR feed_pmid IS NOT NULL)"
    rows = conn.execute(f"SELECT id, doi, feed_pmid FROM feed_items WHERE {where}").fetchall()
    if item_ids is not None:
        wanted = set(item_ids)
        rows = [r for r in rows if r[0] in wanted]
    counts: Counter = Counter()
    if not rows:
        return counts
    dois = _publication_dois(conn, [r[1] for r in rows])
    stored = _stored_pmids(conn, [r[2] for r in rows if r[2]])
    now = utcnow()
    with transaction(db):
        for item_id, doi, feed_pmid in rows:
            pmid = dois.get(doi.lower()) if doi else None
            if pmid is None and feed_pmid in stored:
                pmid = feed_pmid
            if pmid:
                conn.execute("UPDATE feed_items SET pmid = ?, updated_at = ? WHERE id = ?", [pmid, now, item_id])
                counts["feed_items_linked"] += 1
    return counts


def _stored_pmids(conn, pmids: list[str]) -> set[str]:
    """Which of ``pmids`` are stored publications (one statement per 500)."""
    found: set[str] = set()
    for i in range(0, len(pmids), 500):
        chunk = pmids[i: i + 500]
        sql = f"SELECT pmid FROM publications WHERE pmid IN ({', '.join('?' for _ in chunk)})"
        found.update(r[0] for r in conn.execute(sql, chunk))
    return found


def _publication_titles(conn) -> dict[str, list[tuple[str, bool]]]:
    """normalised title -> [(pmid, is PubMed's record of a preprint)]"""
    titles: dict[str, list[tuple[str, bool]]] = {}
    for pmid, title, types in conn.execute("SELECT pmid, title, publication_types FROM publications WHERE title IS NOT NULL"):
        key = normalise_title(title)
        if len(key.split()) >= MIN_TITLE_WORDS:
            titles.setdefault(key, []).append((pmid, "Preprint" in (types or "")))
    return titles


def link_published_preprints(db) -> Counter:
    """Link items to stored publications by exact normalised title (see docs/feeds.md).

    - a preprint whose title equals a journal article's: ``published_as_pmid`` (the
      journal version; the preprint is not reported again);
    - a preprint whose title equals PubMed's own record of that preprint, or a journal
      item whose title equals a publication's: ``pmid`` (the same document).
    The rule is exact equality after dropping tags, accents, case and punctuation, for
    titles of at least MIN_TITLE_WORDS words, with exactly one candidate: journals often
    retitle a preprint, so some links are missed, but a wrong link would hide evidence.
    """
    conn = db.conn
    rows = conn.execute(
        "SELECT id, kind, title FROM feed_items WHERE pmid IS NULL AND published_as_pmid IS NULL "
        "AND kind IN ('preprint', 'journal') AND title IS NOT NULL"
    ).fetchall()
    counts: Counter = Counter()
    if not rows:
        return counts
    titles = _publication_titles(conn)
    now = utcnow()
    with transaction(db):
        for item_id, kind, title in rows:
            matches = titles.get(normalise_title(title)) or []
            if len(matches) != 1:
                continue
            pmid, pub_is_preprint = matches[0]
            if kind == "preprint" and not pub_is_preprint:
                conn.execute("UPDATE feed_items SET published_as_pmid = ?, updated_at = ? WHERE id = ?", [pmid, now, item_id])
                counts["preprints_published"] += 1
            else:
                conn.execute("UPDATE feed_items SET pmid = ?, updated_at = ? WHERE id = ?", [pmid, now, item_id])
                counts["feed_items_linked"] += 1
    return counts


def link_feed_items(db) -> Counter:
    """All linking, in one transaction: DOI/PMID -> ``pmid``, titles -> ``published_as_pmid``/``pmid``.

    Run at the end of every feeds crawl; cheap enough for the PubMed pipeline (or the
    digest) to call after storing publications, so an item indexed later is caught.
    """
    with transaction(db):
        counts = link_by_identifiers(db)
        counts += link_published_preprints(db)
    return counts


# --- reading: CONTRACT-style shape -------------------------------------------------

def _in(values) -> str:
    return ", ".join("?" for _ in values)


def _shapes(db, rows: list[dict]) -> list[dict]:
    """The JSON shapes of ``rows``: topics, feed titles and trials read in one statement each."""
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    topics: dict[str, list[str]] = {}
    for item_id, topic in db.execute(
        f"SELECT item_id, topic FROM feed_item_topics WHERE item_id IN ({_in(ids)}) ORDER BY topic", ids
    ):
        topics.setdefault(item_id, []).append(topic)
    urls = sorted({row["feed_url"] for row in rows if row.get("feed_url")})
    titles = dict(db.execute(f"SELECT url, title FROM feeds WHERE url IN ({_in(urls)})", urls).fetchall()) if urls else {}
    ncts = sorted({row["nct_id"] for row in rows if row.get("nct_id")})
    trials = {
        nct: {"nct_id": nct, "title": title, "status": status, "url": ctgov_url(nct)}
        for nct, title, status in (
            db.execute(f"SELECT nct_id, title, status FROM trials WHERE nct_id IN ({_in(ncts)})", ncts).fetchall() if ncts else []
        )
    }
    return [_shape(row, topics.get(row["id"], []), titles.get(row.get("feed_url")), trials.get(row.get("nct_id")))
            for row in rows]


def _shape(row: dict, topics: list[str], feed_title: str | None, trial: dict | None) -> dict:
    url = row.get("link") or (doi_url(row["doi"]) if row.get("doi") else None)
    return {
        "kind": "feed_item",
        "id": row["id"],
        "feed_kind": row.get("kind"),
        "feed_url": row.get("feed_url"),
        "feed_title": feed_title,
        "title": row.get("title"),
        "link": row.get("link"),
        "url": url,
        "summary": row.get("summary"),
        "authors": json.loads(row["authors"]) if row.get("authors") else [],
        "published": row.get("published"),
        "doi": row.get("doi"),
        "pmid": row.get("pmid"),
        "feed_pmid": row.get("feed_pmid"),
        "nct_id": row.get("nct_id"),
        "published_as_pmid": row.get("published_as_pmid"),
        "trial": trial,
        "topics": topics,
        "first_seen_at": row.get("first_seen_at"),
        "updated_at": row.get("updated_at"),
    }


def _rows(db, sql: str, params=()) -> list[dict]:
    cur = db.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def get_feed_item(db, ident: str) -> dict | None:
    """A feed item by its id (or link), the DOI of an unlinked item, an NCT number, or the
    PMID a PubMed feed named when that PMID is not a stored publication."""
    ident = (ident or "").strip()
    if not ident:
        return None
    for candidate in dict.fromkeys([ident, ident.upper(), normalise_link(ident)]):
        rows = _rows(db, "SELECT * FROM feed_items WHERE id = ?", [candidate]) if candidate else []
        if rows:
            return _shapes(db, rows)[0]
    queries = []
    doi = normalise_doi(ident)
    if doi:
        queries.append(("doi = ? AND pmid IS NULL", doi))
    nct = normalise_nct(ident)
    if nct:
        queries.append(("nct_id = ?", nct))
    pmid = normalise_pmid(ident) if ident.isdigit() else None
    if pmid:
        queries.append(("feed_pmid = ? AND pmid IS NULL", pmid))
    for where, value in queries:
        rows = _rows(db, f"SELECT * FROM feed_items WHERE {where} ORDER BY first_seen_at DESC LIMIT 1", [value])
        if rows:
            return _shapes(db, rows)[0]
    return None


def iter_feed_items(db, since: str | None = None, topic: str | None = None) -> Iterator[dict]:
    """Every stored item (linked ones too: export is everything), oldest first."""
    clauses, params = [], []
    if since:
        clauses.append("first_seen_at >= ?")
        params.append(since)
    if topic:
        clauses.append("id IN (SELECT item_id FROM feed_item_topics WHERE topic = ?)")
        params.append(topic)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    cur = db.execute(f"SELECT * FROM feed_items {where} ORDER BY first_seen_at, id", params)
    names = [d[0] for d in cur.description]
    while True:  # a page at a time: export may hold many thousands
        page = [dict(zip(names, r)) for r in cur.fetchmany(PAGE)]
        if not page:
            return
        yield from _shapes(db, page)


def search_feed_items(db, fts_query: str, since: str | None = None, topic: str | None = None, limit: int = 20) -> list[tuple[str, dict]]:
    """(first_seen_at, shape) for items matching ``fts_query``, newest first; items linked to a stored publication
    are left out (the publication is the hit).  ``since`` compares the item's published
    date, else the day it was first seen."""
    clauses, params = ["feed_items_fts MATCH ?", "fi.pmid IS NULL"], [fts_query]
    if since:
        clauses.append("coalesce(fi.published, substr(fi.first_seen_at, 1, 10)) >= ?")
        params.append(since)
    if topic:
        clauses.append("fi.id IN (SELECT item_id FROM feed_item_topics WHERE topic = ?)")
        params.append(topic)
    sql = (
        "SELECT fi.* FROM feed_items_fts "
        "JOIN feed_items fi ON fi.rowid = feed_items_fts.rowid "
        f"WHERE {' AND '.join(clauses)} ORDER BY feed_items_fts.rowid DESC LIMIT ?"
    )
    params.append(limit)
    rows = _rows(db, sql, params)
    return [(row["first_seen_at"] or "", shape) for row, shape in zip(rows, _shapes(db, rows))]
