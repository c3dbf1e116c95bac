"""What the user follows (papers and trials) and the papers that cite them.

A followed paper is one ``litwatch follow PMID|DOI`` named, or one a seed document cites
(its citation resolved to a PMID) unless it was unfollowed.  Followed trials live in
``followed_trials`` (``db.trials``: watchlist ``follow_trials``, seeds, ``litwatch
follow NCT``).  Each crawl records ``citing_links``: a paper citing a followed paper
(elink ``pubmed_pubmed_citedin``) or reporting a followed trial (``NCT…[si]``), with the
time it was first seen, so the digest can list "Citing papers you follow" since its last
issue (``citing_since``), each naming what it cites.
"""

from __future__ import annotations

from typing import Iterable

from litwatch.db.connection import transaction
from litwatch.vocab.ids import NCT_RE
from litwatch.vocab.records import CitingLink
from litwatch.vocab.times import utcnow

IN_CHUNK = 500


def follow_paper(db, pmid: str, reason: str = "user") -> bool:
    """Follow a paper by PMID; True when it was not followed before."""
    was = pmid in set(followed_pmids(db))
    with transaction(db):
        db.execute(
            "INSERT INTO followed_papers (pmid, reason, added_at, removed_at) VALUES (?, ?, ?, NULL) "
            "ON CONFLICT(pmid) DO UPDATE SET removed_at = NULL, reason = excluded.reason, added_at = excluded.added_at "
            "WHERE followed_papers.removed_at IS NOT NULL",
            [pmid, reason, utcnow()],
        )
    return not was


def unfollow_paper(db, pmid: str) -> bool:
    """Stop following a paper (a seed-cited one too); True when it was followed."""
    was = pmid in set(followed_pmids(db))
    now = utcnow()
    with transaction(db):
        db.execute(
            "INSERT INTO followed_papers (pmid, reason, added_at, removed_at) VALUES (?, 'unfollowed', ?, ?) "
            "ON CONFLICT(pmid) DO UPDATE SET removed_at = excluded.removed_at",
            [pmid, now, now],
        )
    return was


def unfollow_trial(db, nct_id: str) -> bool:
    """Stop following a trial (``followed_trials``); True when it was followed."""
    with transaction(db):
        cur = db.execute("DELETE FROM followed_trials WHERE nct_id = ?", [nct_id.upper()])
    return cur.rowcount > 0


def _seed_pmids(db) -> list[tuple[str, str]]:
    if "citations" not in db.table_names():
        return []
    return [
        (r[0], "seed")
        for r in db.execute(
            "SELECT DISTINCT resolved_id FROM citations WHERE status = 'resolved' AND resolved_kind = 'publication'"
        )
        if r[0]
    ]


def followed_pmids(db) -> list[str]:
    """Every followed paper's PMID (explicit and seed-cited, less the unfollowed), sorted."""
    removed = {r[0] for r in db.execute("SELECT pmid FROM followed_papers WHERE removed_at IS NOT NULL")}
    explicit = [r[0] for r in db.execute("SELECT pmid FROM followed_papers WHERE removed_at IS NULL")]
    pmids = set(explicit) | {p for p, _ in _seed_pmids(db) if p not in removed}
    return sorted(pmids, key=int)


def followed(db) -> list[dict]:
    """Everything followed: ``{"kind": "paper"|"trial", "id", "reason", "added_at"}``."""
    out = []
    rows = {r[0]: (r[1], r[2]) for r in db.execute("SELECT pmid, reason, added_at FROM followed_papers WHERE removed_at IS NULL")}
    gone = {r[0] for r in db.execute("SELECT pmid FROM followed_papers WHERE removed_at IS NOT NULL")}
    for pmid, reason in _seed_pmids(db):
        if pmid not in rows and pmid not in gone:
            rows[pmid] = (reason, None)
    for pmid in sorted(rows, key=int):
        out.append({"kind": "paper", "id": pmid, "reason": rows[pmid][0], "added_at": rows[pmid][1]})
    for nct, reason, added in db.execute("SELECT nct_id, reason, added_at FROM followed_trials ORDER BY nct_id"):
        out.append({"kind": "trial", "id": nct, "reason": reason, "added_at": added})
    return out


def record_citing(db, links: Iterable[tuple[str, str]], *, now: str | None = None) -> int:
    """Store (citing_pmid, cited_id) links; returns how many are new.

    Links of an item asked about for the first time are ``baseline`` (they predate the
    follow).  Caller need not commit: one transaction here."""
    now = now or utcnow()
    links = list(dict.fromkeys((str(c), str(d)) for c, d in links))
    if not links:
        return 0
    cited = sorted({d for _, d in links})
    checked: set[str] = set()
    for i in range(0, len(cited), IN_CHUNK):
        chunk = cited[i : i + IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        checked |= {r[0] for r in db.execute(f"SELECT cited_id FROM follow_checks WHERE cited_id IN ({marks})", chunk)}
    with transaction(db):
        before = db.conn.total_changes
        db.conn.executemany(
            "INSERT OR IGNORE INTO citing_links (citing_pmid, cited_id, cited_kind, first_seen_at, baseline) VALUES (?, ?, ?, ?, ?)",
            [(c, d, "trial" if NCT_RE.match(d) else "paper", now, 0 if d in checked else 1) for c, d in links],
        )
        added = db.conn.total_changes - before
        db.conn.executemany(
            "INSERT OR IGNORE INTO follow_checks (cited_id, first_checked_at) VALUES (?, ?)",
            [(d, now) for d in cited if d not in checked],
        )
    return added


def citing_since(db, since: str | None = None, *, include_baseline: bool = False) -> list[CitingLink]:
    """Citing links first seen at or after ``since`` (a UTC timestamp or date), newest first,
    with the citing paper's and the cited item's titles (one query, no N+1).  Baseline
    links (found by the first check of an item) are left out unless asked for."""
    sql = (
        "SELECT l.citing_pmid, l.cited_id, l.cited_kind, l.first_seen_at, l.baseline, p.title, "
        "COALESCE(cp.title, t.title) "
        "FROM citing_links l LEFT JOIN publications p ON p.pmid = l.citing_pmid "
        "LEFT JOIN publications cp ON cp.pmid = l.cited_id "
        "LEFT JOIN trials t ON t.nct_id = l.cited_id "
        "WHERE (? IS NULL OR l.first_seen_at >= ?) AND (? OR l.baseline = 0) "
        "ORDER BY l.first_seen_at DESC, l.citing_pmid DESC, l.cited_id"
    )
    rows = db.execute(sql, [since, since, 1 if include_baseline else 0]).fetchall()
    return [CitingLink(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6]) for r in rows]


def citing_of(db, cited_id: str) -> list[str]:
    """The PMIDs known to cite one followed item."""
    return [r[0] for r in db.execute("SELECT citing_pmid FROM citing_links WHERE cited_id = ? ORDER BY citing_pmid", [cited_id])]
