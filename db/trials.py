"""Trials: store ClinicalTrials.gov studies, record what changed, read CONTRACT's trial shape.

ClinicalTrials.gov serves only a study's latest version, so change tracking is ours:
``save_trials`` compares each incoming version with the stored one and appends one
``trial_history`` row per changed field (status, enrollment, dates, results, new
references).  The first sight of a trial records no history: there is nothing to compare.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from typing import Iterable, Iterator

from litwatch.crawler.ctgov import HISTORY_FIELDS, study_page_url
from litwatch.db.pubmed_queue import enqueue_pmids
from litwatch.vocab.times import utcnow

LIST_COLUMNS = ("phases", "conditions", "interventions", "references")

# Order of linked papers in ``pmids``: the trial's own RESULT references, then papers that
# name the trial (PubMed DataBankList, abstract, [si] search), then DERIVED and BACKGROUND
# references, which are about the trial's field rather than its outcome.
LINK_ORDER_SQL = """
    CASE
        WHEN source = 'ctgov_reference' AND ref_type = 'RESULT' THEN 0
        WHEN source IN ('databank', 'abstract', 'si_search') THEN 1
        WHEN source = 'ctgov_reference' AND ref_type = 'DERIVED' THEN 2
        ELSE 3
    END
"""


def _history_value(field: str, value) -> str | None:
    """A field's value as trial_history stores it: text a reader (and the digest) can print."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or None
    return str(value)


def _stored_value(row: dict, field: str):
    value = row.get(field)
    if field in LIST_COLUMNS:
        return json.loads(value) if value else []
    if field == "has_results":
        return bool(value) if value is not None else None
    return value


def diff_trial(old_row: dict, new: dict) -> list[tuple[str, str | None, str | None]]:
    """(field, old, new) for every tracked field that differs; references: added PMIDs only."""
    changes = []
    for field in HISTORY_FIELDS:
        before = _history_value(field, _stored_value(old_row, field))
        after = _history_value(field, new.get(field))
        if before != after:
            changes.append((field, before, after))
    old_pmids = {r["pmid"] for r in _stored_value(old_row, "references")}
    added = [r["pmid"] for r in new.get("references") or [] if r["pmid"] not in old_pmids]
    if added:
        changes.append(("references", None, ", ".join(added)))
    return changes


def _to_row(rec: dict, now: str) -> dict:
    row = {k: v for k, v in rec.items() if k != "raw"}
    for col in LIST_COLUMNS:
        row[col] = json.dumps(rec.get(col) or [], ensure_ascii=False)
    row["has_results"] = int(bool(rec.get("has_results")))
    raw = rec.get("raw")
    if isinstance(raw, (dict, list)):
        raw = json.dumps(raw, ensure_ascii=False)
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    row["raw_json"] = zlib.compress(raw) if raw else None
    row["updated_at"] = now
    return row


def _link_references(db, rec: dict, now: str) -> None:
    refs = rec.get("references") or []
    for ref in refs:
        db.execute(
            "INSERT OR IGNORE INTO trial_links (nct_id, pmid, source, ref_type, first_seen_at) VALUES (?, ?, 'ctgov_reference', ?, ?)",
            [rec["nct_id"], ref["pmid"], ref.get("type"), now],
        )
        # The type may change (BACKGROUND -> RESULT once the results paper is recognised).
        db.execute(
            "UPDATE trial_links SET ref_type = ? WHERE nct_id = ? AND pmid = ? AND source = 'ctgov_reference'",
            [ref.get("type"), rec["nct_id"], ref["pmid"]],
        )
    enqueue_pmids(db, ((r["pmid"], f"ctgov:{rec['nct_id']}:{r.get('type')}") for r in refs))


def save_trials(db, records: Iterable[dict], topic: str | None = None) -> Counter:
    """Upsert normalised studies (``crawler.ctgov.normalise_study`` plus ``raw``).

    Returns counts: trials_new, trials_updated, trials_unchanged, trial_changes.
    """
    counts: Counter = Counter()
    now = utcnow()
    table = db["trials"]
    with db.conn:
        for rec in records:
            nct = rec["nct_id"]
            existing = next(iter(table.rows_where("nct_id = ?", [nct])), None)
            if existing is None:
                row = _to_row(rec, now)
                row["first_seen_at"] = now
                table.insert(row, pk="nct_id")
                counts["trials_new"] += 1
            elif existing.get("record_hash") != rec.get("record_hash"):
                changes = diff_trial(existing, rec)
                table.update(nct, _to_row(rec, now))
                for field, old, new in changes:
                    db["trial_history"].insert({"nct_id": nct, "field": field, "old": old, "new": new, "seen_at": now})
                counts["trials_updated"] += 1
                counts["trial_changes"] += len(changes)
            else:
                counts["trials_unchanged"] += 1
            if topic:
                db.execute(
                    "INSERT OR IGNORE INTO trial_topics (nct_id, topic, first_seen_at) VALUES (?, ?, ?)", [nct, topic, now]
                )
            _link_references(db, rec, now)
    return counts


def follow_trial(db, nct_id: str, reason: str) -> bool:
    """Follow a trial whatever the topics find; True when it was not followed before."""
    with db.conn:
        cur = db.execute(
            "INSERT OR IGNORE INTO followed_trials (nct_id, reason, added_at) VALUES (?, ?, ?)",
            [nct_id.upper(), reason, utcnow()],
        )
    return cur.rowcount > 0


def followed_nct_ids(db) -> list[str]:
    return [r[0] for r in db.execute("SELECT nct_id FROM followed_trials ORDER BY nct_id")]


def _links(db, nct_id: str) -> list[dict]:
    rows = db.execute(
        f"""SELECT pmid, source, ref_type, {LINK_ORDER_SQL} AS rank FROM trial_links
            WHERE nct_id = ? ORDER BY rank, first_seen_at, pmid""",
        [nct_id],
    ).fetchall()
    titles = {}
    if rows and "publications" in db.table_names():
        marks = ",".join("?" * len(rows))
        titles = dict(db.execute(f"SELECT pmid, title FROM publications WHERE pmid IN ({marks})", [r[0] for r in rows]))
    links: dict[str, dict] = {}
    for pmid, source, ref_type, _ in rows:
        link = links.setdefault(pmid, {"pmid": pmid, "title": titles.get(pmid), "sources": [], "ref_type": None})
        link["sources"].append(source)
        if ref_type and not link["ref_type"]:
            link["ref_type"] = ref_type
    return list(links.values())


def _shape(db, row: dict | None, nct_id: str, followed: bool) -> dict:
    """CONTRACT's trial shape (plus enrollment_type, followed, links); ``row`` may be None
    for a followed trial not (yet) served by ClinicalTrials.gov."""
    row = row or {}
    links = _links(db, nct_id)
    history = [
        {"field": f, "old": o, "new": n, "seen_at": s}
        for f, o, n, s in db.execute(
            "SELECT field, old, new, seen_at FROM trial_history WHERE nct_id = ? ORDER BY seen_at, id", [nct_id]
        )
    ]
    topics = [r[0] for r in db.execute("SELECT topic FROM trial_topics WHERE nct_id = ? ORDER BY topic", [nct_id])]
    return {
        "kind": "trial",
        "nct_id": nct_id,
        "title": row.get("title"),
        "official_title": row.get("official_title"),
        "status": row.get("status"),
        "why_stopped": row.get("why_stopped"),
        "phases": _stored_value(row, "phases"),
        "study_type": row.get("study_type"),
        "enrollment": row.get("enrollment"),
        "enrollment_type": row.get("enrollment_type"),
        "start_date": row.get("start_date"),
        "primary_completion_date": row.get("primary_completion_date"),
        "completion_date": row.get("completion_date"),
        "first_posted": row.get("first_posted"),
        "last_update_posted": row.get("last_update_posted"),
        "results_first_posted": row.get("results_first_posted"),
        "has_results": bool(row["has_results"]) if row.get("has_results") is not None else None,
        "sponsor": row.get("sponsor"),
        "conditions": _stored_value(row, "conditions"),
        "interventions": _stored_value(row, "interventions"),
        "pmids": [link["pmid"] for link in links],
        "topics": topics,
        "history": history,
        "url": study_page_url(nct_id),
        "followed": followed,
        "links": links,
    }


def _is_followed(db, nct_id: str) -> bool:
    return db.execute("SELECT 1 FROM followed_trials WHERE nct_id = ?", [nct_id]).fetchone() is not None


def get_trial(db, nct_id: str) -> dict | None:
    """One trial by NCT number; a followed or linked trial not stored yet is a shape with
    nulls (CONTRACT: unknown values are null), anything else unknown is None."""
    nct_id = nct_id.strip().upper()
    row = next(iter(db["trials"].rows_where("nct_id = ?", [nct_id])), None)
    followed = _is_followed(db, nct_id)
    if row is None and not followed:
        if db.execute("SELECT 1 FROM trial_links WHERE nct_id = ?", [nct_id]).fetchone() is None:
            return None
    return _shape(db, row, nct_id, followed)


def iter_trials(db, status: str | None = None, topic: str | None = None, since: str | None = None, followed_only: bool = False) -> Iterator[dict]:
    """Stored trials, followed ones first, then the most recently updated."""
    where, params = ["1 = 1"], []
    if status:
        where.append("t.status = ?")
        params.append(status.upper())
    if topic:
        where.append("t.nct_id IN (SELECT nct_id FROM trial_topics WHERE topic = ?)")
        params.append(topic)
    if since:
        where.append("t.first_seen_at >= ?")
        params.append(since)
    if followed_only:
        where.append("f.nct_id IS NOT NULL")
    sql = f"""SELECT t.*, f.nct_id IS NOT NULL AS is_followed FROM trials t
              LEFT JOIN followed_trials f ON f.nct_id = t.nct_id
              WHERE {' AND '.join(where)}
              ORDER BY is_followed DESC, COALESCE(t.last_update_posted, '') DESC, t.nct_id"""
    cursor = db.execute(sql, params)
    columns = [c[0] for c in cursor.description]
    for values in cursor.fetchall():
        row = dict(zip(columns, values))
        yield _shape(db, row, row["nct_id"], bool(row.pop("is_followed")))


def search_trials(db, fts_query: str, since: str | None = None, topic: str | None = None, limit: int = 20) -> list[tuple[float, dict]]:
    """Full-text search over titles, conditions, interventions and sponsor: (bm25, shape)."""
    where, params = ["trials_fts MATCH ?"], [fts_query]
    if since:
        where.append("t.first_seen_at >= ?")
        params.append(since)
    if topic:
        where.append("t.nct_id IN (SELECT nct_id FROM trial_topics WHERE topic = ?)")
        params.append(topic)
    params.append(limit)
    rows = db.execute(
        f"""SELECT t.nct_id, bm25(trials_fts) AS score FROM trials_fts JOIN trials t ON t.rowid = trials_fts.rowid
            WHERE {' AND '.join(where)} ORDER BY score LIMIT ?""",
        params,
    ).fetchall()
    return [(score, get_trial(db, nct)) for nct, score in rows]
