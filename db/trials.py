"""Trials: store ClinicalTrials.gov studies, record what changed, read them back as ``Trial``.

ClinicalTrials.gov serves only a study's latest version, so change tracking is ours:
``save_trials`` compares each incoming version with the stored one and appends one
``trial_history`` row per changed field (status, enrollment, dates, results, new
references).  The first sight of a trial records no history: there is nothing to compare.
The served JSON is kept apart in ``trial_raw`` (written only when the study's content
changed); the references' retraction notes in ``trial_retractions``; the signals already
raised on a trial (results overdue, unpublished) and whether a digest reported them in
``trial_flags``.

Reads are batched: a page of N trials costs a constant number of statements (the NCT
numbers go to SQLite as one JSON array, read with ``json_each``).  Writes follow the
store's one convention: ``transaction(db)`` (db/connection.py).
"""

from __future__ import annotations

import json
import zlib
from collections import Counter, defaultdict
from typing import Iterable, Iterator

from litwatch.db.connection import transaction
from litwatch.db.pubmed_queue import enqueue_pmids
from litwatch.db.sql import insert_row, update_row
from litwatch.vocab.ids import normalise_nct
from litwatch.vocab.records import HISTORY_FIELDS, Trial, TrialChange, TrialFlag, TrialLink, TrialReference
from litwatch.vocab.times import utcnow

LIST_COLUMNS = ("phases", "conditions", "interventions", "references")
BOOL_COLUMNS = ("has_results", "fda_regulated_drug", "fda_regulated_device")
# Columns of ``trials`` that are Trial fields of the same name.
ROW_FIELDS = (
    "nct_id", "title", "official_title", "status", "last_known_status", "why_stopped", "phases", "study_type",
    "enrollment", "enrollment_type", "start_date", "primary_completion_date", "primary_completion_type",
    "completion_date", "completion_type", "first_posted", "last_update_posted", "results_first_posted",
    "has_results", "fda_regulated_drug", "fda_regulated_device", "sponsor", "conditions", "interventions",
    "references", "version_holder", "record_hash",
)

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
# ``IN`` over a batch of NCT numbers passed as one JSON array: one statement whatever N.
IN_BATCH = "IN (SELECT value FROM json_each(?))"


# --- rows <-> records ---------------------------------------------------------------------

def _history_value(value) -> str | None:
    """A field's value as trial_history stores it: text a reader (and the digest) can print."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or None
    return str(value)


def _references_from_json(text: str | None) -> list[TrialReference]:
    refs = []
    for r in json.loads(text) if text else []:
        refs.append(TrialReference(pmid=r["pmid"], type=r.get("type") or "BACKGROUND", citation=r.get("citation"),
                                   retractions=r.get("retractions") or []))
    return refs


def _from_row(row: dict) -> Trial:
    values = {}
    for name in ROW_FIELDS:
        value = row.get(name)
        if name == "references":
            value = _references_from_json(value)
        elif name in LIST_COLUMNS:
            value = json.loads(value) if value else []
        elif name in BOOL_COLUMNS:
            value = bool(value) if value is not None else None
        values[name] = value
    return Trial(**values)


def _to_row(rec: Trial, now: str) -> dict:
    row = {}
    for name in ROW_FIELDS:
        value = getattr(rec, name)
        if name == "references":
            value = json.dumps([{"pmid": r.pmid, "type": r.type, "citation": r.citation, "retractions": r.retractions}
                                for r in value], ensure_ascii=False)
        elif name in LIST_COLUMNS:
            value = json.dumps(value or [], ensure_ascii=False)
        elif name in BOOL_COLUMNS:
            value = None if value is None else int(bool(value))
        row[name] = value
    row["has_results"] = int(bool(rec.has_results))
    row["updated_at"] = now
    return row


def diff_trial(old: Trial, new: Trial) -> list[tuple[str, str | None, str | None]]:
    """(field, old, new) for every tracked field that differs; references: added PMIDs only."""
    changes = []
    for name in HISTORY_FIELDS:
        before = _history_value(getattr(old, name))
        after = _history_value(getattr(new, name))
        if name == "has_results":  # stored as 0/1: "unknown" was never stored
            before, after = before or "false", after or "false"
        if before != after:
            changes.append((name, before, after))
    old_pmids = {r.pmid for r in old.references}
    added = [r.pmid for r in new.references if r.pmid not in old_pmids]
    if added:
        changes.append(("references", None, ", ".join(added)))
    return changes


# --- writing ------------------------------------------------------------------------------

def _raw_blob(raw) -> bytes | None:
    if raw is None:
        return None
    if isinstance(raw, (dict, list)):
        raw = json.dumps(raw, ensure_ascii=False)
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    return zlib.compress(raw)


def _link_references(db, rec: Trial, now: str) -> None:
    refs = rec.references
    db.conn.executemany(
        "INSERT OR IGNORE INTO trial_links (nct_id, pmid, source, ref_type, first_seen_at) VALUES (?, ?, 'ctgov_reference', ?, ?)",
        [(rec.nct_id, r.pmid, r.type, now) for r in refs],
    )
    # The type may change (BACKGROUND -> RESULT once the results paper is recognised).
    db.conn.executemany(
        "UPDATE trial_links SET ref_type = ? WHERE nct_id = ? AND pmid = ? AND source = 'ctgov_reference' AND ref_type IS NOT ?",
        [(r.type, rec.nct_id, r.pmid, r.type) for r in refs],
    )
    db.conn.executemany(
        """INSERT OR IGNORE INTO trial_retractions (nct_id, pmid, retraction_pmid, source, first_seen_at)
           VALUES (?, ?, ?, ?, ?)""",
        [(rec.nct_id, r.pmid, x.get("pmid") or "", x.get("source") or "", now) for r in refs for x in r.retractions],
    )
    enqueue_pmids(db, ((r.pmid, f"ctgov:{rec.nct_id}:{r.type}") for r in refs))


def _stored_rows(db, nct_ids: list[str]) -> dict[str, dict]:
    cursor = db.execute(f"SELECT * FROM trials WHERE nct_id {IN_BATCH}", [json.dumps(nct_ids)])
    columns = [c[0] for c in cursor.description]
    rows = [dict(zip(columns, values)) for values in cursor.fetchall()]
    return {row["nct_id"]: row for row in rows}


def save_trials(db, records: Iterable[Trial], topic: str | None = None) -> Counter:
    """Upsert parsed studies (``crawler.ctgov.normalise_study``), one transaction.

    Returns counts: trials_new, trials_updated, trials_unchanged, trial_changes.  A study
    whose content hash equals the stored one is unchanged: nothing is rewritten.  A stored
    row without a hash (hashed by an older litwatch, which hashed serving metadata too) is
    re-hashed and rewritten once, and counts as unchanged unless a tracked field differs.
    """
    records = list(records)
    counts: Counter = Counter()
    now = utcnow()
    stored = _stored_rows(db, [r.nct_id for r in records])
    with transaction(db):
        for rec in records:
            nct = rec.nct_id
            old_row = stored.get(nct)
            content_changed = old_row is None or old_row.get("record_hash") != rec.record_hash
            if old_row is None:
                row = _to_row(rec, now)
                row["first_seen_at"] = now
                insert_row(db, "trials", row)
                counts["trials_new"] += 1
            elif content_changed:
                changes = diff_trial(_from_row(old_row), rec)
                update_row(db, "trials", {"nct_id": nct}, _to_row(rec, now))
                db.conn.executemany(
                    "INSERT INTO trial_history (nct_id, field, old, new, seen_at) VALUES (?, ?, ?, ?, ?)",
                    [(nct, name, old, new, now) for name, old, new in changes],
                )
                if old_row.get("record_hash") is None and not changes:
                    counts["trials_unchanged"] += 1
                else:
                    counts["trials_updated"] += 1
                    counts["trial_changes"] += len(changes)
            else:
                counts["trials_unchanged"] += 1
            if content_changed:
                db.execute(
                    "INSERT OR REPLACE INTO trial_raw (nct_id, raw_json, stored_at) VALUES (?, ?, ?)",
                    [nct, _raw_blob(rec.raw), now],
                )
                stored[nct] = _to_row(rec, now)  # the same study twice in one batch: compare with this one
            if topic:
                db.execute(
                    "INSERT OR IGNORE INTO trial_topics (nct_id, topic, first_seen_at) VALUES (?, ?, ?)", [nct, topic, now]
                )
            _link_references(db, rec, now)
    return counts


def get_raw(db, nct_id: str) -> dict | None:
    """The study JSON as last served with a content change, or None."""
    row = db.execute("SELECT raw_json FROM trial_raw WHERE nct_id = ?", [nct_id.upper()]).fetchone()
    if not row or row[0] is None:
        return None
    return json.loads(zlib.decompress(row[0]).decode("utf-8"))


def follow_trial(db, nct_id: str, reason: str) -> bool:
    """Follow a trial whatever the topics find; True when it was not followed before."""
    with transaction(db):
        cur = db.execute(
            "INSERT OR IGNORE INTO followed_trials (nct_id, reason, added_at) VALUES (?, ?, ?)",
            [nct_id.upper(), reason, utcnow()],
        )
    return cur.rowcount > 0


def followed_nct_ids(db) -> list[str]:
    return [r[0] for r in db.execute("SELECT nct_id FROM followed_trials ORDER BY nct_id")]


# --- reading ------------------------------------------------------------------------------

def _links(db, batch: str) -> dict[str, list[TrialLink]]:
    rows = db.execute(
        f"""SELECT l.nct_id, l.pmid, l.source, l.ref_type, {LINK_ORDER_SQL} AS rank, p.title
            FROM trial_links l LEFT JOIN publications p ON p.pmid = l.pmid
            WHERE l.nct_id {IN_BATCH} ORDER BY l.nct_id, rank, l.first_seen_at, l.pmid""",
        [batch],
    ).fetchall()
    out: dict[str, dict[str, TrialLink]] = defaultdict(dict)
    for nct, pmid, source, ref_type, _, title in rows:
        link = out[nct].setdefault(pmid, TrialLink(pmid=pmid, title=title))
        link.sources.append(source)
        if ref_type and not link.ref_type:
            link.ref_type = ref_type
    return {nct: list(links.values()) for nct, links in out.items()}


def _history(db, batch: str) -> dict[str, list[TrialChange]]:
    out: dict[str, list[TrialChange]] = defaultdict(list)
    for nct, name, old, new, seen in db.execute(
        f"SELECT nct_id, field, old, new, seen_at FROM trial_history WHERE nct_id {IN_BATCH} ORDER BY seen_at, id", [batch]
    ):
        out[nct].append(TrialChange(nct, name, old, new, seen))
    return out


def _topics(db, batch: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for nct, topic in db.execute(f"SELECT nct_id, topic FROM trial_topics WHERE nct_id {IN_BATCH} ORDER BY topic", [batch]):
        out[nct].append(topic)
    return out


def _complete(db, trials: list[Trial]) -> list[Trial]:
    """Add links, history and topics to a page of trials: three statements for any N."""
    if not trials:
        return trials
    batch = json.dumps([t.nct_id for t in trials])
    links, history, topics = _links(db, batch), _history(db, batch), _topics(db, batch)
    for t in trials:
        t.links = links.get(t.nct_id, [])
        t.pmids = [link.pmid for link in t.links]
        t.history = history.get(t.nct_id, [])
        t.topics = topics.get(t.nct_id, [])
    return trials


def _select(db, where: str, params: list, order: str = "t.nct_id", limit: int | None = None) -> list[Trial]:
    sql = f"""SELECT t.*, f.nct_id IS NOT NULL AS is_followed FROM trials t
              LEFT JOIN followed_trials f ON f.nct_id = t.nct_id
              WHERE {where} ORDER BY {order}"""
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    cursor = db.execute(sql, params)
    columns = [c[0] for c in cursor.description]
    out = []
    for values in cursor.fetchall():
        row = dict(zip(columns, values))
        trial = _from_row(row)
        trial.followed = bool(row["is_followed"])
        out.append(trial)
    return out


def get_trials(db, nct_ids: Iterable[str]) -> dict[str, Trial]:
    """Stored trials by NCT number, in four statements however many are asked."""
    ids = list(dict.fromkeys(n for n in (normalise_nct(x) for x in nct_ids) if n))
    return {t.nct_id: t for t in _complete(db, _select(db, f"t.nct_id {IN_BATCH}", [json.dumps(ids)]))}


def get_trial(db, nct_id: str) -> Trial | None:
    """One trial by NCT number; a followed or linked trial not stored yet is a Trial with
    only its number (CONTRACT: unknown values are null), anything else unknown is None."""
    nct_id = nct_id.strip().upper()
    found = get_trials(db, [nct_id]).get(nct_id)
    if found is not None:
        return found
    followed = db.execute("SELECT 1 FROM followed_trials WHERE nct_id = ?", [nct_id]).fetchone() is not None
    if not followed and db.execute("SELECT 1 FROM trial_links WHERE nct_id = ?", [nct_id]).fetchone() is None:
        return None
    return _complete(db, [Trial(nct_id=nct_id, followed=followed)])[0]


def iter_trials(db, status: str | None = None, topic: str | None = None, since: str | None = None,
                followed_only: bool = False) -> Iterator[Trial]:
    """Stored trials, followed ones first, then the most recently updated (four statements)."""
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
    order = "is_followed DESC, COALESCE(t.last_update_posted, '') DESC, t.nct_id"
    yield from _complete(db, _select(db, " AND ".join(where), params, order))


def search_trials(db, fts_query: str, since: str | None = None, topic: str | None = None, limit: int = 20) -> list[tuple[str, Trial]]:
    """Full-text search over titles, conditions, interventions and sponsor: (first_seen_at, trial),
    newest first (the order of ``db.search``: see ``search_publications``)."""
    where, params = ["trials_fts MATCH ?"], [fts_query]
    if since:
        where.append("t.first_seen_at >= ?")
        params.append(since)
    if topic:
        where.append("t.nct_id IN (SELECT nct_id FROM trial_topics WHERE topic = ?)")
        params.append(topic)
    params.append(limit)
    rows = db.execute(
        f"""SELECT t.nct_id, t.first_seen_at FROM trials_fts JOIN trials t ON t.rowid = trials_fts.rowid
            WHERE {' AND '.join(where)} ORDER BY trials_fts.rowid DESC LIMIT ?""",
        params,
    ).fetchall()
    found = get_trials(db, [nct for nct, _ in rows])
    return [(seen or "", found[nct]) for nct, seen in rows if nct in found]


def retracted_references(db, nct_ids: Iterable[str] | None = None, since: str | None = None) -> dict[str, list[TrialReference]]:
    """The references of each trial that ClinicalTrials.gov marks as retracted (one statement).

    ``nct_ids`` limits the trials (default: all); ``since`` (a stored timestamp) keeps only
    retraction notes first seen at or after it, for a digest that reports each once.
    """
    where, params = ["1 = 1"], []
    if nct_ids is not None:
        where.append(f"r.nct_id {IN_BATCH}")
        params.append(json.dumps([n.upper() for n in nct_ids]))
    if since:
        where.append("r.first_seen_at >= ?")
        params.append(since)
    rows = db.execute(
        f"""SELECT r.nct_id, r.pmid, r.retraction_pmid, r.source, l.ref_type FROM trial_retractions r
            LEFT JOIN trial_links l ON l.nct_id = r.nct_id AND l.pmid = r.pmid AND l.source = 'ctgov_reference'
            WHERE {' AND '.join(where)} ORDER BY r.nct_id, r.pmid, r.retraction_pmid""",
        params,
    ).fetchall()
    out: dict[str, dict[str, TrialReference]] = defaultdict(dict)
    for nct, pmid, notice, source, ref_type in rows:
        ref = out[nct].setdefault(pmid, TrialReference(pmid=pmid, type=ref_type or "BACKGROUND"))
        ref.retractions.append({"pmid": notice or None, "source": source or None})
    return {nct: list(refs.values()) for nct, refs in out.items()}


# --- signals already raised -----------------------------------------------------------------

def record_trial_flags(db, flags: Iterable[TrialFlag], checked: Iterable[str] | None = None) -> int:
    """Remember the signals raised now; returns how many are new.

    A flag seen before keeps its ``first_seen_at`` (and its digest), its ``detail`` is
    refreshed ("overdue by 13 months" grows).  When ``checked`` (the NCT numbers whose
    signals were all computed) is given, their flags not raised now are marked cleared
    (results posted, a paper linked); a cleared flag raised again is not new.
    """
    flags = list(flags)
    now = utcnow()
    with transaction(db):
        before = db.execute("SELECT COUNT(*) FROM trial_flags").fetchone()[0]
        db.conn.executemany(
            """INSERT INTO trial_flags (nct_id, flag, detail, first_seen_at) VALUES (?, ?, ?, ?)
               ON CONFLICT (nct_id, flag) DO UPDATE SET detail = excluded.detail, cleared_at = NULL""",
            [(f.nct_id, f.flag, f.detail, now) for f in flags],
        )
        new = db.execute("SELECT COUNT(*) FROM trial_flags").fetchone()[0] - before
        if checked is not None:
            raised = json.dumps([[f.nct_id, f.flag] for f in flags])
            db.execute(
                f"""UPDATE trial_flags SET cleared_at = ? WHERE cleared_at IS NULL AND nct_id {IN_BATCH}
                    AND json_array(nct_id, flag) NOT IN (SELECT value FROM json_each(?))""",
                [now, json.dumps(list(checked)), raised],
            )
    return new


def _flag(row) -> TrialFlag:
    fid, nct, flag, detail, first_seen, digest = row
    return TrialFlag(nct_id=nct, flag=flag, detail=detail, id=fid, first_seen_at=first_seen, reported_in_digest=digest)


def unreported_trial_flags(db, flags: Iterable[str] | None = None) -> list[TrialFlag]:
    """Standing flags no digest has reported yet, oldest first (``flags``: only these kinds)."""
    where, params = ["reported_in_digest IS NULL", "cleared_at IS NULL"], []
    if flags is not None:
        where.append(f"flag {IN_BATCH}")
        params.append(json.dumps(list(flags)))
    rows = db.execute(
        f"SELECT id, nct_id, flag, detail, first_seen_at, reported_in_digest FROM trial_flags WHERE {' AND '.join(where)} "
        "ORDER BY first_seen_at, nct_id, flag",
        params,
    )
    return [_flag(r) for r in rows]


def mark_trial_flags_reported(db, ids: Iterable[int], digest_id: int) -> None:
    """The digest ``digest_id`` told the reader of these flags: never again."""
    with transaction(db):
        db.execute(
            f"UPDATE trial_flags SET reported_in_digest = ?, reported_at = ? WHERE reported_in_digest IS NULL AND id {IN_BATCH}",
            [digest_id, utcnow(), json.dumps([int(i) for i in ids])],
        )


def trial_flags(db, nct_ids: Iterable[str]) -> dict[str, list[TrialFlag]]:
    """Standing flags of these trials (reported or not)."""
    out: dict[str, list[TrialFlag]] = defaultdict(list)
    for row in db.execute(
        f"""SELECT id, nct_id, flag, detail, first_seen_at, reported_in_digest FROM trial_flags
            WHERE cleared_at IS NULL AND nct_id {IN_BATCH} ORDER BY nct_id, flag""",
        [json.dumps([n.upper() for n in nct_ids])],
    ):
        out[row[1]].append(_flag(row))
    return dict(out)


def status_counts(db) -> dict[str, int]:
    """How many stored trials have each overall status (for "no trial has status X; stored: ...")."""
    return {status or "no status": n for status, n in db.execute(
        "SELECT status, count(*) FROM trials GROUP BY status").fetchall()}


def trial_titles(db, nct_ids: list[str]) -> dict[str, str]:
    """{nct_id: brief title} for the stored ones among ``nct_ids`` (one statement)."""
    rows = db.execute(f"SELECT nct_id, title FROM trials WHERE nct_id {IN_BATCH}", [json.dumps(list(nct_ids))])
    return {nct: title for nct, title in rows if title}
