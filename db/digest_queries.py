"""The reads a digest needs, as named functions: every SQL statement of the digest lives here.

Each function returns plain values (dicts with JSON columns decoded, sets, lists), never
SQL for the caller to finish.  "Pending" means: not in a digest that was delivered or
that is claimed by a delivery still under way (``db.digests`` owns that rule; its SQL is
``_TAKEN`` below).  Reads are batched: a digest of N papers costs a constant number of
statements (one per table, in chunks of ``IN_CHUNK`` ids).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from typing import Callable, Iterator

from litwatch.db.digests import CLAIM_TIMEOUT, iso
from litwatch.db.publications import decode_sections

IN_CHUNK = 500

# Item keys of a kind that are delivered, or claimed by a delivery still under way.
_TAKEN = (
    "SELECT di.item_key FROM digest_items di JOIN digests d ON d.id = di.digest_id "
    "WHERE di.kind = ? AND (d.status = 'delivered' OR (d.status = 'sending' AND d.created_at > ?))"
)
_PUB_JSON = ("authors", "publication_types", "mesh", "keywords", "abstract_sections")
_TRIAL_JSON = ("phases", "conditions", "interventions", "references")


def _taken_params(kind: str, now: dt.datetime) -> list:
    return [kind, iso(now - CLAIM_TIMEOUT)]


def _chunks(values: list[str]):
    for i in range(0, len(values), IN_CHUNK):
        yield values[i : i + IN_CHUNK]


def _decode(value):
    if not value:
        return []
    try:
        out = json.loads(value)
    except ValueError:
        return [value]
    return out if isinstance(out, list) else [out]


def _rows(db, sql: str, params=()) -> list[dict]:
    cur = db.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _pairs(db, sql: str, ids: list[str]) -> dict[str, list[str]]:
    """Run ``sql`` (selecting key, value; ``IN ({ids})``) for ``ids`` in chunks."""
    out: dict[str, list[str]] = {}
    for chunk in _chunks(list(dict.fromkeys(ids))):
        for key, value in db.execute(sql.format(ids=",".join("?" * len(chunk))), chunk).fetchall():
            out.setdefault(key, []).append(value)
    return out


def taken_keys(db, kind: str, now: dt.datetime) -> set[str]:
    return {r[0] for r in db.execute(_TAKEN, _taken_params(kind, now)).fetchall()}


# --- publications --------------------------------------------------------------------

# What placing a pending paper needs (topic, evidence group, order, marks): read for every
# pending paper.  The rest (abstract, authors...) is read only for the papers a digest shows
# (``publication_details``): a first digest after a big backfill has a million pending.
_PLACE_COLUMNS = ("pmid", "title", "publication_types", "entrez_date", "pub_date", "retracted", "late_arrival")
_DETAIL_COLUMNS = ("pmid", "abstract", "abstract_sections", "journal", "journal_abbrev", "pub_date_text", "doi",
                   "pmcid", "authors")


def place_pending_publications(db, now: dt.datetime, topic_rank: Callable[[dict[str, int]], dict[str, int]],
                               group_of: Callable[[list], str], cap: int, *, topic_positions: dict[str, int],
                               group_positions: dict[str, int]) -> dict[tuple[str | None, str], int]:
    """Place every pending paper in SQL, holding none of them in Python: a first digest
    after a backfill has a million pending and must stay in constant memory.

    Fills the connection's ``temp.digest_pending`` (pmid, home topic, evidence group, and
    the order within a section: newest entry date first, then highest PMID) and
    ``temp.digest_shown`` (the first ``cap`` of each section), and returns the number of
    papers per (home, group).  ``topic_rank`` gets {topic: papers it found} and returns
    {topic: rank}, lowest first (the digest's "most specific topic" rule); ``group_of``
    maps a paper's publication types to its evidence group (called once per paper, as an
    SQL function).  ``topic_positions`` and ``group_positions`` are the reading order of
    topics (other topics follow by name, papers without a topic come last) and of groups.
    Then ``pending_shown`` reads the first ``cap`` of each section in full and
    ``iter_pending_pmids`` streams them all in reading order (to claim them in the ledger).
    """
    conn = db.conn if hasattr(db, "conn") else db
    with _temp_writes(conn):
        return _place(conn, now, topic_rank, group_of, cap, topic_positions, group_positions)


@contextlib.contextmanager
def _temp_writes(conn) -> Iterator[None]:
    """Writes to temp tables only.  Inside the caller's transaction (a digest being claimed)
    they are part of it; outside one, the sqlite3 module's implicit BEGIN would leave a
    transaction open on the connection, so it is committed here (only temp tables changed)."""
    opened = not conn.in_transaction
    try:
        yield
    finally:
        if opened and conn.in_transaction:
            conn.commit()


def _place(conn, now, topic_rank, group_of, cap, topic_positions, group_positions) -> dict[tuple[str | None, str], int]:
    conn.create_function("litwatch_evidence_group", 1, lambda types: group_of(_decode(types)), deterministic=True)
    conn.execute("DROP TABLE IF EXISTS temp.digest_pending")
    conn.execute("DROP TABLE IF EXISTS temp.digest_topic_rank")
    conn.execute("DROP TABLE IF EXISTS temp.digest_group_position")
    conn.execute("DROP TABLE IF EXISTS temp.digest_shown")
    conn.execute("CREATE TEMP TABLE digest_pending (pmid TEXT PRIMARY KEY, grp TEXT, entrez_date TEXT, "
                 "pmid_num INTEGER, home TEXT, home_pos INTEGER, grp_pos INTEGER)")
    # The pending PMIDs come from the PMID index alone (a few bytes a paper, where the
    # table's rows are kilobytes); only the pending rows are then read.
    conn.execute(f"INSERT INTO temp.digest_pending (pmid) SELECT pmid FROM publications WHERE pmid NOT IN ({_TAKEN})",
                 _taken_params("publication", now))
    conn.execute(
        "UPDATE temp.digest_pending SET (grp, entrez_date, pmid_num) = (SELECT "
        "litwatch_evidence_group(p.publication_types), COALESCE(p.entrez_date, ''), "
        "CASE WHEN p.pmid GLOB '[0-9]*' THEN CAST(p.pmid AS INTEGER) ELSE 0 END "
        "FROM publications p WHERE p.pmid = digest_pending.pmid)")
    found = dict(conn.execute("SELECT t.topic, count(*) FROM publication_topics t "
                              "JOIN temp.digest_pending d ON d.pmid = t.pmid GROUP BY t.topic").fetchall())
    ranks = topic_rank(found)
    others = sorted(set(ranks) - set(topic_positions))
    positions = {**topic_positions, **{name: len(topic_positions) + i for i, name in enumerate(others)}}
    conn.execute("CREATE TEMP TABLE digest_topic_rank (topic TEXT PRIMARY KEY, rank INTEGER, position INTEGER)")
    # One statement each, whatever the number of topics (json_each unpacks the rows).
    conn.execute("INSERT INTO temp.digest_topic_rank SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(?)",
                 [json.dumps([[name, rank, positions[name]] for name, rank in ranks.items()])])
    conn.execute("CREATE TEMP TABLE digest_group_position (grp TEXT PRIMARY KEY, position INTEGER)")
    conn.execute("INSERT INTO temp.digest_group_position SELECT key, value FROM json_each(?)",
                 [json.dumps(group_positions)])
    conn.execute("UPDATE temp.digest_pending SET home = (SELECT t.topic FROM publication_topics t "
                 "JOIN temp.digest_topic_rank r ON r.topic = t.topic WHERE t.pmid = digest_pending.pmid "
                 "ORDER BY r.rank LIMIT 1)")
    conn.execute(f"UPDATE temp.digest_pending SET "
                 f"home_pos = COALESCE((SELECT position FROM temp.digest_topic_rank r WHERE r.topic = home), {len(positions)}), "
                 f"grp_pos = COALESCE((SELECT position FROM temp.digest_group_position g WHERE g.grp = digest_pending.grp), "
                 f"{len(group_positions)})")
    conn.execute("CREATE INDEX temp.digest_pending_order ON digest_pending "
                 "(home_pos, grp_pos, entrez_date DESC, pmid_num DESC)")
    counts = {(home, grp): n for home, grp, n in conn.execute(
        "SELECT home, grp, count(*) FROM temp.digest_pending GROUP BY home, grp").fetchall()}
    # The first ``cap`` of each section, with their place in it (a few hundred rows).
    conn.execute("CREATE TEMP TABLE digest_shown (pmid TEXT PRIMARY KEY, n INTEGER)")
    conn.execute("INSERT INTO temp.digest_shown SELECT pmid, n FROM (SELECT pmid, ROW_NUMBER() OVER "
                 "(PARTITION BY home_pos, grp_pos ORDER BY entrez_date DESC, pmid_num DESC) AS n "
                 f"FROM temp.digest_pending) WHERE n <= {int(cap)}")
    return counts


def pending_shown(db) -> list[dict]:
    """The placed papers within their section's cap (``place_pending_publications``), with
    their placing columns (JSON decoded), ``home``, ``group``, ``topics`` (the topics that
    found it) and ``trials`` (NCT numbers it is linked to), in section order."""
    rows = _rows(db, f"SELECT {', '.join('p.' + c for c in _PLACE_COLUMNS)}, d.home, d.grp AS \"group\" "
                     "FROM temp.digest_shown s JOIN temp.digest_pending d ON d.pmid = s.pmid "
                     "JOIN publications p ON p.pmid = s.pmid ORDER BY d.home_pos, d.grp_pos, s.n")
    pmids = [r["pmid"] for r in rows]
    topics = _pairs(db, "SELECT pmid, topic FROM publication_topics WHERE pmid IN ({ids})", pmids)
    links = _pairs(db, "SELECT pmid, nct_id FROM trial_links WHERE pmid IN ({ids})", pmids)
    for row in rows:
        row["publication_types"] = _decode(row["publication_types"])
        row["topics"] = topics.get(row["pmid"], [])
        row["trials"] = sorted(set(links.get(row["pmid"], [])))
    return rows


def iter_pending_pmids(db, *, page: int = 5000) -> Iterator[str]:
    """Every placed paper's PMID (``place_pending_publications``), streamed, section by section."""
    cur = db.execute("SELECT pmid FROM temp.digest_pending ORDER BY home_pos, grp_pos, entrez_date DESC, pmid_num DESC")
    while batch := cur.fetchmany(page):
        for (pmid,) in batch:
            yield pmid


def publication_details(db, pmids: list[str]) -> dict[str, dict]:
    """{pmid: the columns a shown paper needs (JSON decoded)} for these PMIDs."""
    out: dict[str, dict] = {}
    for chunk in _chunks(list(dict.fromkeys(pmids))):
        marks = ",".join("?" * len(chunk))
        for row in _rows(db, f"SELECT {', '.join(_DETAIL_COLUMNS)} FROM publications WHERE pmid IN ({marks})", chunk):
            row["authors"] = _decode(row["authors"])
            row["abstract_sections"] = decode_sections(row["abstract_sections"], row["abstract"])
            out[row["pmid"]] = row
    return out


def publication_briefs(db, pmids: list[str]) -> dict[str, dict]:
    """{pmid: {title, journal, pmcid}} for the stored ones among ``pmids`` (titles of
    corrected papers and of trials' new references)."""
    out: dict[str, dict] = {}
    for chunk in _chunks(list(dict.fromkeys(pmids))):
        marks = ",".join("?" * len(chunk))
        for row in _rows(db, "SELECT pmid, title, COALESCE(journal_abbrev, journal, '') AS journal, pmcid "
                         f"FROM publications WHERE pmid IN ({marks})", chunk):
            out[row["pmid"]] = row
    return out


# --- corrections ---------------------------------------------------------------------

def correction_links(db) -> list[dict]:
    """Every stored CommentsCorrections link (pmid, ref_type, other_pmid, note)."""
    return _rows(db, "SELECT pmid, ref_type, other_pmid, note FROM corrections ORDER BY pmid, ref_type, other_pmid")


# --- feed items ----------------------------------------------------------------------

def pending_feed_items(db, now: dt.datetime) -> list[dict]:
    """Pending feed items that are not (yet) a stored PubMed record or a stored trial,
    newest first, with ``feed_title`` and ``topics``."""
    rows = _rows(
        db,
        f"""
        SELECT fi.id, fi.kind, fi.title, fi.link, fi.summary, fi.authors, fi.published, fi.doi, fi.feed_url,
               f.title AS feed_title
        FROM feed_items fi LEFT JOIN feeds f ON f.url = fi.feed_url
        WHERE COALESCE(fi.pmid, '') = '' AND COALESCE(fi.published_as_pmid, '') = ''
          AND NOT (COALESCE(fi.kind, '') = 'trial' AND COALESCE(fi.nct_id, '') IN (SELECT nct_id FROM trials))
          AND (COALESCE(fi.doi, '') = '' OR NOT EXISTS
               (SELECT 1 FROM publications p WHERE lower(p.doi) = lower(fi.doi) AND p.doi IS NOT NULL))
          AND fi.id NOT IN ({_TAKEN})
        ORDER BY fi.published DESC, fi.first_seen_at DESC, fi.id
        """,
        _taken_params("feed_item", now),
    )
    topics = _pairs(db, "SELECT item_id, topic FROM feed_item_topics WHERE item_id IN ({ids})", [r["id"] for r in rows])
    for row in rows:
        row["authors"] = _decode(row["authors"])
        row["topics"] = topics.get(row["id"], [])
    return rows


# --- trials --------------------------------------------------------------------------

def pending_new_trials(db, now: dt.datetime) -> set[str]:
    return {r[0] for r in db.execute(f"SELECT nct_id FROM trials WHERE nct_id NOT IN ({_TAKEN})", _taken_params("trial", now))}


def pending_trial_changes(db, now: dt.datetime) -> list[dict]:
    """Pending rows of ``trial_history`` of stored trials (id, nct_id, field, old, new, seen_at)."""
    return _rows(
        db,
        "SELECT h.id, h.nct_id, h.field, h.old, h.new, h.seen_at FROM trial_history h JOIN trials t ON t.nct_id = h.nct_id "
        f"WHERE CAST(h.id AS TEXT) NOT IN ({_TAKEN}) ORDER BY h.id",
        _taken_params("trial_change", now),
    )


def trials_by_id(db, ncts: list[str]) -> dict[str, dict]:
    """{nct_id: trial row (JSON decoded) plus ``topics``} for the stored ones."""
    out: dict[str, dict] = {}
    for chunk in _chunks(list(dict.fromkeys(ncts))):
        marks = ",".join("?" * len(chunk))
        for row in _rows(db, f"SELECT * FROM trials WHERE nct_id IN ({marks})", chunk):
            row.pop("raw_json", None)
            for col in _TRIAL_JSON:
                if col in row:
                    row[col] = _decode(row[col])
            out[row["nct_id"]] = row
    topics = _pairs(db, "SELECT nct_id, topic FROM trial_topics WHERE nct_id IN ({ids})", list(out))
    for nct, row in out.items():
        row["topics"] = topics.get(nct, [])
    return out


def followed_trials(db) -> set[str]:
    return {r[0] for r in db.execute("SELECT nct_id FROM followed_trials")}


# --- crawl runs ----------------------------------------------------------------------

def crawl_runs_since(db, start: str) -> list[dict]:
    """Crawl runs that finished (or started, if still open) at or after ``start``, oldest first."""
    rows = _rows(
        db,
        "SELECT source, started_at, status, warnings, error FROM crawl_runs "
        "WHERE COALESCE(finished_at, started_at) >= ? ORDER BY started_at, id",
        [start],
    )
    for row in rows:
        row["warnings"] = _decode(row["warnings"])
    return rows


def last_successful_crawl(db) -> str | None:
    return db.execute("SELECT MAX(finished_at) FROM crawl_runs WHERE status IN ('ok', 'partial')").fetchone()[0]
