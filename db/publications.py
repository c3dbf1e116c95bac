"""PubMed publications in the store: save parsed records, read them back as CONTRACT shapes.

``save_publications`` takes the plain dicts of ``crawler.pubmed_parse`` and stores a batch in
one transaction with ``executemany`` (the benchmark's end-to-end rate depends on it): an
upsert keyed by PMID that leaves an unchanged record (same ``record_hash``) untouched, the
topic that found it, its corrections, the trials it cites (``trial_links`` source
"databank" / "abstract"), and ``pubmed_queue.fetched_at``.  The raw record is kept
zlib-compressed in ``publication_raw`` so a better parser can re-derive fields later
without crawling again.

Reading: ``get_publication`` (PMID, PMC id or DOI), ``iter_publications`` (export) and
``search_publications`` (FTS5 bm25, used by ``db.search``) all return CONTRACT's shape.
"""

from __future__ import annotations

import json
import queue
import re
import sqlite3
import threading
import zlib
from collections import Counter
from typing import Iterable, Iterator

try:  # ISA-L writes the same zlib format 4-5x faster (and smaller); plain zlib reads it back
    from isal import isal_zlib as _deflate
except ImportError:  # pragma: no cover - optional speed-up: the package "isal"
    _deflate = zlib

from litwatch.vocab.errors import QueryError
from litwatch.vocab.times import utcnow

PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/{}/"
JSON_COLUMNS = ("authors", "publication_types", "mesh", "keywords", "abstract_sections")
COLUMNS = (
    "pmid", "title", "abstract", "abstract_sections", "journal", "journal_abbrev", "pub_date",
    "pub_date_text", "entrez_date", "doi", "pmcid", "pii", "authors", "publication_types", "mesh",
    "keywords", "language", "medline_status", "date_revised", "retracted", "record_hash",
)
# Level 1: PubMed XML still shrinks about 3x, at a fraction of level 6's CPU time
# (compression is the largest single cost of storing a record; see bench/bench_pubmed.py).
ZLIB_LEVEL = 1
# SQLite's default limit on host parameters is 999 in old builds: stay well below it.
IN_CHUNK = 500
# bm25 column weights for title, abstract, mesh, keywords: a word in the title or among
# the indexing terms says more about what a paper is about than one in the abstract.
BM25_WEIGHTS = (4.0, 1.0, 2.0, 2.0)

# Rows go first into a TEMP staging table, then into ``publications`` with ONE
# INSERT … SELECT.  The FTS triggers still keep publications_fts current, but FTS5 then
# flushes its pending index once per batch instead of once per row (per statement): a 2.5x
# faster save (see bench/bench_pubmed.py).  ``WHERE true`` is SQLite's way to tell an
# upsert's ON CONFLICT from a join constraint after a SELECT.
_STAGE = "temp.publications_stage"
_STAGE_SQL = (
    f"CREATE TEMP TABLE IF NOT EXISTS publications_stage "
    f"({', '.join(COLUMNS)}, first_seen_at, updated_at)"
)
_STAGE_INSERT_SQL = f"INSERT INTO {_STAGE} VALUES ({', '.join('?' for _ in COLUMNS)}, ?, ?)"
_UPSERT_SQL = (
    f"INSERT INTO publications ({', '.join(COLUMNS)}, first_seen_at, updated_at) "
    f"SELECT {', '.join(COLUMNS)}, first_seen_at, updated_at FROM {_STAGE} WHERE true "
    "ON CONFLICT(pmid) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "pmid")
    + ", updated_at = excluded.updated_at"
)


def _chunks(items: list, size: int = IN_CHUNK):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def stored_hashes(db, pmids: Iterable[str]) -> dict[str, str]:
    """{pmid: record_hash} for the PMIDs already stored."""
    out: dict[str, str] = {}
    for chunk in _chunks(list(dict.fromkeys(str(p) for p in pmids))):
        marks = ",".join("?" * len(chunk))
        out.update(db.execute(f"SELECT pmid, record_hash FROM publications WHERE pmid IN ({marks})", chunk).fetchall())
    return out


def known_pmids(db, pmids: Iterable[str]) -> set[str]:
    """The subset of ``pmids`` already stored."""
    return set(stored_hashes(db, pmids))


def _row(rec: dict) -> tuple:
    values = []
    for col in COLUMNS:
        value = rec.get(col)
        if col in JSON_COLUMNS:
            value = json.dumps(value or [], ensure_ascii=False)
        elif col == "retracted":
            value = 1 if value else 0
        values.append(value)
    return tuple(values)


def save_publications(db, records: Iterable[dict], topic: str | None = None, *, now: str | None = None) -> Counter:
    """Store parsed records in one transaction; returns counts new / updated / unchanged.

    A record whose ``record_hash`` equals the stored one is not rewritten (no FTS churn);
    its topic link and queue entry are still recorded.
    """
    records = [r for r in records if r.get("pmid")]
    counts: Counter = Counter()
    if not records:
        return counts
    now = now or utcnow()
    existing = stored_hashes(db, [r["pmid"] for r in records])
    rows, raw_rows, topic_rows, correction_rows, link_rows = [], [], [], [], []
    seen: set[str] = set()
    for rec in records:
        pmid = rec["pmid"]
        old = existing.get(pmid)
        if pmid in seen:
            continue
        seen.add(pmid)
        if old is None:
            counts["new"] += 1
        elif old != rec.get("record_hash"):
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
        if old != rec.get("record_hash"):
            rows.append(_row(rec) + (now, now))
            if rec.get("raw_xml") is not None:
                raw_rows.append((pmid, _deflate.compress(rec["raw_xml"], ZLIB_LEVEL)))
        if topic:
            topic_rows.append((pmid, topic, now))
        for c in rec.get("corrections") or ():
            correction_rows.append((pmid, c["ref_type"], c.get("other_pmid") or "", c.get("note"), now))
        for nct in rec.get("databank_nct_ids") or ():
            link_rows.append((nct, pmid, "databank", now))
        for nct in rec.get("abstract_nct_ids") or ():
            link_rows.append((nct, pmid, "abstract", now))
    pmids = [(p,) for p in seen]
    with db.conn:
        if rows:
            db.conn.execute(_STAGE_SQL)
            db.conn.executemany(_STAGE_INSERT_SQL, rows)
            db.conn.execute(_UPSERT_SQL)
            db.conn.execute(f"DELETE FROM {_STAGE}")
        db.conn.executemany("INSERT OR REPLACE INTO publication_raw (pmid, raw_xml) VALUES (?, ?)", raw_rows)
        db.conn.executemany("INSERT OR IGNORE INTO publication_topics (pmid, topic, first_seen_at) VALUES (?, ?, ?)", topic_rows)
        db.conn.executemany(
            "INSERT OR IGNORE INTO corrections (pmid, ref_type, other_pmid, note, first_seen_at) VALUES (?, ?, ?, ?, ?)",
            correction_rows,
        )
        db.conn.executemany(
            "INSERT OR IGNORE INTO trial_links (nct_id, pmid, source, ref_type, first_seen_at) VALUES (?, ?, ?, NULL, ?)",
            link_rows,
        )
        # Queue and quarantine are usually empty: one look saves a statement per record.
        if db.conn.execute("SELECT 1 FROM pubmed_queue WHERE fetched_at IS NULL LIMIT 1").fetchone():
            db.conn.executemany(
                "UPDATE pubmed_queue SET fetched_at = ?, error = NULL WHERE pmid = ? AND fetched_at IS NULL",
                [(now, p) for (p,) in pmids],
            )
        if db.conn.execute("SELECT 1 FROM quarantine WHERE source = 'pubmed' LIMIT 1").fetchone():
            db.conn.executemany("DELETE FROM quarantine WHERE source = 'pubmed' AND key = ?", pmids)
    return counts


def save_stream(db, records: Iterable[dict], topic: str | None = None, *, batch_size: int = 200) -> Counter:
    """Bulk load: store a stream of parsed records (a backfill, a re-parse, the benchmark).

    The caller's thread keeps parsing while a writer thread compresses and stores the
    previous batch on its own connection (compression and SQLite release the GIL, so the
    two overlap on a machine with a core to spare).  The queue between them is short, so
    memory stays flat.
    Error markers (``_error``) are skipped and counted as ``errors``.
    """

    path = db.execute("PRAGMA database_list").fetchone()[2]
    batches: queue.Queue = queue.Queue(maxsize=2)
    counts: Counter = Counter()
    failure: list[BaseException] = []

    def writer() -> None:
        from litwatch.db.connection import open_db

        conn = open_db(path, migrate=False)
        # WAL's recommended durability for bulk writes: commits are not fsynced one by
        # one (a crash loses at most the last batches, which a re-run stores again; the
        # database itself cannot be corrupted).
        conn.execute("PRAGMA synchronous = NORMAL")
        try:
            while True:
                batch = batches.get()
                if batch is None:
                    return
                if not failure:
                    try:
                        counts.update(save_publications(conn, batch, topic))
                    except BaseException as exc:  # reported in the caller's thread
                        failure.append(exc)
        finally:
            conn.conn.close()

    thread = threading.Thread(target=writer, name="litwatch-store", daemon=True)
    thread.start()
    batch: list[dict] = []
    try:
        for rec in records:
            if "_error" in rec:
                counts["errors"] += 1
                continue
            batch.append(rec)
            if len(batch) >= batch_size:
                batches.put(batch)
                batch = []
                if failure:
                    break
        if batch and not failure:
            batches.put(batch)
    finally:
        batches.put(None)
        thread.join()
    if failure:
        raise failure[0]
    return counts


def add_topic(db, pmids: Iterable[str], topic: str) -> None:
    """Record that ``topic`` found these (already stored) PMIDs."""
    now = utcnow()
    with db.conn:
        db.conn.executemany(
            "INSERT OR IGNORE INTO publication_topics (pmid, topic, first_seen_at) VALUES (?, ?, ?)",
            [(p, topic, now) for p in pmids],
        )


def link_trial(db, nct_id: str, pmids: Iterable[str], source: str = "si_search") -> int:
    """Link a trial to papers (e.g. PubMed's ``NCT…[si]`` answer); returns links added."""
    now = utcnow()
    with db.conn:
        cur = db.conn.executemany(
            "INSERT OR IGNORE INTO trial_links (nct_id, pmid, source, ref_type, first_seen_at) VALUES (?, ?, ?, NULL, ?)",
            [(nct_id, p, source, now) for p in pmids],
        )
    return cur.rowcount


def mark_queue_stored(db, pmids: Iterable[str]) -> None:
    """Queued PMIDs that turned out to be stored already."""
    now = utcnow()
    with db.conn:
        db.conn.executemany(
            "UPDATE pubmed_queue SET fetched_at = ?, error = NULL WHERE pmid = ? AND fetched_at IS NULL",
            [(now, p) for p in pmids],
        )


def mark_queue_missing(db, pmids: Iterable[str], error: str) -> None:
    """Queued PMIDs PubMed did not return: count the attempt, keep the reason."""
    with db.conn:
        db.conn.executemany(
            "UPDATE pubmed_queue SET attempts = COALESCE(attempts, 0) + 1, error = ? WHERE pmid = ? AND fetched_at IS NULL",
            [(error, p) for p in pmids],
        )


def queue_pending(db, max_attempts: int) -> list[str]:
    """Queued PMIDs not stored yet and not given up on (tried fewer than ``max_attempts``)."""
    return [
        r[0]
        for r in db.execute(
            "SELECT pmid FROM pubmed_queue WHERE fetched_at IS NULL AND COALESCE(attempts, 0) < ? ORDER BY added_at, pmid",
            [max_attempts],
        )
    ]


def enqueue(db, pmids: Iterable[str], reason: str) -> None:
    """Queue PMIDs for the next crawl (e.g. ids efetch did not return this time)."""
    now = utcnow()
    with db.conn:
        db.conn.executemany(
            "INSERT OR IGNORE INTO pubmed_queue (pmid, reason, added_at, attempts) VALUES (?, ?, ?, 0)",
            [(p, reason, now) for p in pmids],
        )


# ------------------------------------------------------------------- reading
_PMC_RE = re.compile(r"^pmc\d+$", re.IGNORECASE)
_DOI_PREFIX_RE = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)
_SHAPE_SQL = (
    "SELECT rowid AS _rowid, pmid, title, abstract, journal, journal_abbrev, pub_date, pub_date_text, entrez_date, "
    "doi, pmcid, pii, authors, publication_types, mesh, keywords, language, retracted, first_seen_at, updated_at "
    "FROM publications"
)


def _shape(db, row: sqlite3.Row | dict) -> dict:
    row = dict(row)
    pmid = row["pmid"]
    topics = [r[0] for r in db.execute("SELECT topic FROM publication_topics WHERE pmid = ? ORDER BY topic", [pmid])]
    ncts = [r[0] for r in db.execute("SELECT DISTINCT nct_id FROM trial_links WHERE pmid = ? ORDER BY nct_id", [pmid])]
    corrections = [
        {"ref_type": r[0], "pmid": r[1] or None, "note": r[2]}
        for r in db.execute("SELECT ref_type, other_pmid, note FROM corrections WHERE pmid = ? ORDER BY ref_type, other_pmid", [pmid])
    ]
    return {
        "kind": "publication",
        "pmid": pmid,
        "title": row["title"],
        "abstract": row["abstract"],
        "journal": row["journal"],
        "pub_date": row["pub_date"],
        "entrez_date": row["entrez_date"],
        "doi": row["doi"],
        "pmcid": row["pmcid"],
        "authors": json.loads(row["authors"] or "[]"),
        "publication_types": json.loads(row["publication_types"] or "[]"),
        "mesh": json.loads(row["mesh"] or "[]"),
        "nct_ids": ncts,
        "topics": topics,
        "retracted": bool(row["retracted"]),
        "url": PUBMED_URL.format(pmid),
        # Beyond CONTRACT's keys (allowed: "add to it freely").
        "journal_abbrev": row["journal_abbrev"],
        "pub_date_text": row["pub_date_text"],
        "pii": row["pii"],
        "keywords": json.loads(row["keywords"] or "[]"),
        "language": row["language"],
        "corrections": corrections,
        "first_seen_at": row["first_seen_at"],
    }


def _query(db, sql: str, params=()) -> Iterator[dict]:
    cur = db.execute(sql, params)
    names = [d[0] for d in cur.description]
    for values in cur:
        yield dict(zip(names, values))


def normalise_ident(ident: str) -> tuple[str, str]:
    """("pmid"|"pmcid"|"doi", value) for what a user typed."""
    ident = ident.strip()
    bare = re.sub(r"^pmid:\s*", "", ident, flags=re.IGNORECASE)
    if bare.isdigit():
        return "pmid", bare
    if _PMC_RE.match(ident):
        return "pmcid", ident.upper()
    return "doi", _DOI_PREFIX_RE.sub("", ident).strip().lower()


def get_publication(db, ident: str) -> dict | None:
    """One publication by PMID, PMC id (any case) or DOI (bare, ``doi:`` or a doi.org URL)."""
    kind, value = normalise_ident(ident)
    if kind == "pmid":
        where = "pmid = ?"
    elif kind == "pmcid":
        where = "pmcid = ?"
    else:
        if not value.startswith("10."):
            return None
        where = "lower(doi) = ?"
    rows = list(_query(db, f"{_SHAPE_SQL} WHERE {where} LIMIT 1", [value]))
    return _shape(db, rows[0]) if rows else None


def iter_publications(db, since: str | None = None) -> Iterator[dict]:
    """Every stored publication (or those first seen on/after ``since``), by PMID."""
    sql, params = _SHAPE_SQL, []
    if since:
        sql += " WHERE first_seen_at >= ?"
        params.append(since)
    sql += " ORDER BY CAST(pmid AS INTEGER)"
    for row in _query(db, sql, params):
        yield _shape(db, row)


def search_publications(
    db, fts_query: str, *, since: str | None = None, pub_type: str | None = None, topic: str | None = None, limit: int = 20
) -> list[tuple[float, dict]]:
    """(bm25, shape) pairs, best (lowest bm25) first.

    ``since`` compares the PubMed entry date (the first-seen date when there is none);
    ``pub_type`` is a publication type, case-insensitive; ``topic`` a topic name.
    """
    weights = ", ".join(str(w) for w in BM25_WEIGHTS)
    sql = (
        f"SELECT bm25(publications_fts, {weights}) AS _score, p.rowid AS _rowid, p.* FROM publications_fts "
        "JOIN publications p ON p.rowid = publications_fts.rowid WHERE publications_fts MATCH ?"
    )
    params: list = [fts_query]
    if since:
        sql += " AND COALESCE(p.entrez_date, substr(p.first_seen_at, 1, 10)) >= ?"
        params.append(since)
    if pub_type:
        sql += " AND EXISTS (SELECT 1 FROM json_each(p.publication_types) WHERE lower(json_each.value) = lower(?))"
        params.append(pub_type.strip())
    if topic:
        sql += " AND EXISTS (SELECT 1 FROM publication_topics t WHERE t.pmid = p.pmid AND t.topic = ?)"
        params.append(topic)
    sql += " ORDER BY _score LIMIT ?"
    params.append(limit)
    try:
        rows = list(_query(db, sql, params))
    except sqlite3.OperationalError as exc:
        raise QueryError(f"search query not understood ({exc}): use words and \"quoted phrases\"") from None
    return [(row["_score"], _shape(db, row)) for row in rows]


def raw_xml(db, pmid: str) -> bytes | None:
    """The stored record as PubMed sent it (decompressed)."""
    row = db.execute("SELECT raw_xml FROM publication_raw WHERE pmid = ?", [pmid]).fetchone()
    return zlib.decompress(row[0]) if row and row[0] else None
