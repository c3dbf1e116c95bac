"""What the next digest holds: everything stored that no delivered digest has carried yet.

Selection reads the documented tables directly (publications, trials, trial_history,
corrections, feed_items, crawl_runs) and returns a ``DigestContent``: plain data, already
grouped and ordered the way a clinician reads it, that the renderer only has to lay out.

* Publications: under the first of their topics in watchlist order (naming the others),
  then by strength of evidence from PubMed's publication types.
* Trials: changes to followed trials first, then other changes, then new trials.
* Corrections and retractions that touch stored papers.
* Feed items not (yet) known as a PubMed record: preprints in their own section, journal
  items under their topic.
* Crawl warnings and errors of the runs since the last delivered digest, so a broken
  source reads as "something is wrong", never as "no new evidence".
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import sqlite_utils

from litwatch.config import Topic, Watchlist
from litwatch.db.digests import iso, last_delivered, pending_clause, taken_keys
from litwatch.digest.markup import first_sentences, shorten
from litwatch.vocab.evidence import EVIDENCE_GROUPS, OTHER_GROUP, evidence_group  # one list: digest and browse view

# Publication types worth a badge, with the short name shown.  Types not listed (Journal
# Article, Research Support, ...) say nothing a reader acts on.
BADGES = {
    "Practice Guideline": "Guideline",
    "Guideline": "Guideline",
    "Systematic Review": "Systematic review",
    "Meta-Analysis": "Meta-analysis",
    "Network Meta-Analysis": "Network meta-analysis",
    "Randomized Controlled Trial": "RCT",
    "Equivalence Trial": "Equivalence trial",
    "Clinical Trial": "Clinical trial",
    "Clinical Trial, Phase I": "Phase 1",
    "Clinical Trial, Phase II": "Phase 2",
    "Clinical Trial, Phase III": "Phase 3",
    "Clinical Trial, Phase IV": "Phase 4",
    "Controlled Clinical Trial": "Controlled trial",
    "Pragmatic Clinical Trial": "Pragmatic trial",
    "Multicenter Study": "Multicentre",
    "Observational Study": "Observational",
    "Comparative Study": "Comparative",
    "Review": "Review",
    "Scoping Review": "Scoping review",
    "Case Reports": "Case report",
    "Clinical Trial Protocol": "Protocol",
    "Preprint": "Preprint",
    "Letter": "Letter",
    "Editorial": "Editorial",
    "Comment": "Comment",
    "Published Erratum": "Erratum",
    "Retraction of Publication": "Retraction notice",
    "Retracted Publication": "Retracted",
    "Expression of Concern": "Expression of concern",
}

# CommentsCorrections kinds that change how a stored paper should be read, keyed by the
# kind as it stands on the affected paper; the notice's own record carries the reverse.
CORRECTION_LABELS = {
    "RetractionIn": "Retracted",
    "PartialRetractionIn": "Partly retracted",
    "ExpressionOfConcernIn": "Expression of concern",
    "ErratumIn": "Erratum",
    "CorrectedandRepublishedIn": "Corrected and republished",
}
CORRECTION_REVERSE = {
    "RetractionOf": "RetractionIn",
    "PartialRetractionOf": "PartialRetractionIn",
    "ExpressionOfConcernFor": "ExpressionOfConcernIn",
    "ErratumFor": "ErratumIn",
    "CorrectedandRepublishedFrom": "CorrectedandRepublishedIn",
}
RETRACTION_KINDS = ("RetractionIn", "PartialRetractionIn")

# Trial fields by how much a change matters to a reader (lower first); unknown fields 50.
CHANGE_RANK = {
    "status": 0, "overall_status": 0, "has_results": 1, "results_first_posted": 1, "why_stopped": 2,
    "enrollment": 3, "primary_completion_date": 4, "completion_date": 5, "phases": 6,
    "last_update_posted": 90, "version_holder": 95,
}
FIELD_LABELS = {
    "why_stopped": "why stopped", "primary_completion_date": "primary completion", "completion_date": "completion",
    "start_date": "start", "study_type": "study type", "enrollment_type": "enrollment type",
    "last_update_posted": "last update posted", "official_title": "official title",
}

# The first digest has no previous one to start from: it reports the crawls of the last
# week, the period a weekly digest covers.
FIRST_WINDOW = dt.timedelta(days=7)
# Without a successful crawl for this long (a week of daily crawls and a day's slack) a
# digest is worth sending even with nothing new: the silence itself is the news.
STALE_CRAWL = dt.timedelta(days=8)
# Titles shown for a first-sentences "conclusion" and for feed summaries.
CONCLUSION_SENTENCES = 2
CONCLUSION_CHARS = 600
SUMMARY_CHARS = 400
# Authors named before "et al.".
AUTHORS_SHOWN = 3
# SQLite's default limit on host parameters is 999: ask for ids in chunks below it.
CHUNK = 500

_NCT_RE = re.compile(r"^NCT\d{8}$")


@dataclass
class PublicationItem:
    pmid: str
    title: str
    authors: list[str]
    journal: str
    pub_date: str
    doi: str | None
    publication_types: list[str]
    evidence: str
    badges: list[str]
    trials: list[str]
    conclusion: str
    conclusion_is_summary: bool  # True: the abstract's own conclusion; False: its opening
    topic: str | None
    other_topics: list[str]
    retracted: bool
    entrez_date: str | None = None

    @property
    def authors_short(self) -> str:
        if len(self.authors) <= AUTHORS_SHOWN:
            return ", ".join(self.authors)
        return ", ".join(self.authors[:AUTHORS_SHOWN]) + " et al."


@dataclass
class EvidenceGroup:
    label: str
    items: list[PublicationItem]


@dataclass
class FeedItem:
    id: str
    kind: str
    title: str
    link: str | None
    summary: str
    authors: list[str]
    published: str | None
    doi: str | None
    feed_url: str
    feed_title: str | None
    topics: list[str]

    @property
    def source(self) -> str:
        return self.feed_title or self.feed_url


@dataclass
class TopicSection:
    name: str
    title: str
    groups: list[EvidenceGroup]
    feed_items: list[FeedItem] = field(default_factory=list)

    @property
    def publications(self) -> list[PublicationItem]:
        return [p for g in self.groups for p in g.items]


@dataclass
class TrialChange:
    id: int
    nct_id: str
    field: str
    old: str | None
    new: str | None
    seen_at: str | None

    @property
    def rank(self) -> int:
        return CHANGE_RANK.get(self.field, 50)

    @property
    def text(self) -> str:
        """How a reader says it: "RECRUITING → TERMINATED", "results posted", "enrollment 60 → 22"."""
        old, new = _value_text(self.old), _value_text(self.new)
        if self.field in ("status", "overall_status"):
            return f"{old.replace('_', ' ')} → {new.replace('_', ' ')}"
        if self.field == "has_results" and new in ("1", "true", "True"):
            return "results posted"
        if self.field == "results_first_posted" and not self.old and self.new:
            return f"results posted ({new})"
        if self.field == "references" and self.new:  # new = the PMIDs the trial record added
            pmids = [p.strip() for p in self.new.split(",") if p.strip()]
            return f"new reference{'s' if len(pmids) > 1 else ''}: PMID {', '.join(pmids)}"
        label = FIELD_LABELS.get(self.field, self.field.replace("_", " "))
        return f"{label} {old} → {new}"


@dataclass
class TrialEntry:
    nct_id: str
    title: str
    status: str | None
    why_stopped: str | None
    phases: list[str]
    enrollment: int | None
    enrollment_type: str | None
    sponsor: str | None
    conditions: list[str]
    first_posted: str | None
    followed: bool
    is_new: bool
    topics: list[str]
    changes: list[TrialChange] = field(default_factory=list)

    @property
    def change_lines(self) -> list[str]:
        """One line per distinct change, most important first.  A "why stopped" the entry
        shows anyway, and a bare "results posted" next to a dated one, are left out."""
        changes = sorted(self.changes, key=lambda c: (c.rank, c.id))
        lines = [
            c.text for c in changes
            if not (c.field == "why_stopped" and self.why_stopped and c.new == self.why_stopped)
        ]
        if any(line.startswith("results posted (") for line in lines):
            lines = [line for line in lines if line != "results posted"]
        return list(dict.fromkeys(lines))

    @property
    def phase_text(self) -> str:
        return ", ".join(p.replace("EARLY_PHASE1", "early phase 1").replace("PHASE", "phase ") for p in self.phases if p != "NA")


@dataclass
class Correction:
    key: str
    pmid: str  # the stored paper it touches
    ref_type: str  # as on that paper: RetractionIn, ErratumIn, ...
    notice_pmid: str | None
    note: str | None
    title: str
    journal: str

    @property
    def label(self) -> str:
        return CORRECTION_LABELS[self.ref_type]

    @property
    def is_retraction(self) -> bool:
        return self.ref_type in RETRACTION_KINDS


@dataclass
class DigestContent:
    created_at: dt.datetime
    since: str | None  # created_at of the last delivered digest
    week: str
    topics: list[TopicSection]
    followed_changes: list[TrialEntry]
    other_changes: list[TrialEntry]
    new_trials: list[TrialEntry]
    corrections: list[Correction]
    preprints: list[FeedItem]
    warnings: list[str]
    warnings_are_news: bool  # crawl problems worth a digest even when nothing else is new
    queries: list[Topic]
    follow_trials: list[str]
    topic_titles: dict[str, str] = field(default_factory=dict)

    @property
    def publications(self) -> list[PublicationItem]:
        return [p for t in self.topics for p in t.publications]

    @property
    def topic_feed_items(self) -> list[FeedItem]:
        return [f for t in self.topics for f in t.feed_items]

    @property
    def trial_changes(self) -> list[TrialChange]:
        return [c for e in self.followed_changes + self.other_changes for c in e.changes]

    @property
    def trials(self) -> list[TrialEntry]:
        """New trials, wherever they are shown (a new trial that also changed sits with the changes)."""
        return [e for e in self.followed_changes + self.other_changes + self.new_trials if e.is_new]

    @property
    def retractions(self) -> list[Correction]:
        return [c for c in self.corrections if c.is_retraction]

    @property
    def counts(self) -> dict[str, int]:
        return {
            "publications": len(self.publications),
            "trials": len(self.trials),
            "trial_changes": len(self.followed_changes) + len(self.other_changes),
            "retractions": len(self.retractions),
            "corrections": len(self.corrections) - len(self.retractions),
            "preprints": len(self.preprints),
            "feed_items": len(self.topic_feed_items),
            "warnings": len(self.warnings),
        }

    @property
    def has_items(self) -> bool:
        return bool(self.items())

    @property
    def is_empty(self) -> bool:
        """Nothing a reader needs this week: no items, and no crawl problem worth a mail."""
        return not self.has_items and not self.warnings_are_news

    def items(self) -> list[tuple[str, str]]:
        """The ledger entries this digest carries: (kind, key)."""
        out = [("publication", p.pmid) for p in self.publications]
        out += [("trial", e.nct_id) for e in self.trials]
        out += [("trial_change", str(c.id)) for c in self.trial_changes]
        out += [("correction", c.key) for c in self.corrections]
        out += [("feed_item", f.id) for f in self.preprints + self.topic_feed_items]
        return list(dict.fromkeys(out))


def _json_list(text: str | None) -> list:
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return [text]
    return value if isinstance(value, list) else [value]


def _value_text(value: str | None) -> str:
    if value is None or value == "":
        return "none"
    if value.startswith("["):
        items = _json_list(value)
        return ", ".join(str(v) for v in items) or "none"
    return value


def _chunks(values: list[str]):
    for i in range(0, len(values), CHUNK):
        yield values[i : i + CHUNK]


def _pairs(db: sqlite_utils.Database, sql: str, ids: list[str]) -> dict[str, list[str]]:
    """Run ``sql`` (one ``{ids}`` placeholder, selecting key, value) for ``ids`` in chunks."""
    out: dict[str, list[str]] = {}
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        for key, value in db.execute(sql.format(ids=marks), chunk).fetchall():
            out.setdefault(key, []).append(value)
    return out


def iso_week(moment: dt.datetime, timezone: str) -> str:
    year, week, _ = moment.astimezone(ZoneInfo(timezone)).isocalendar()
    return f"{year}-W{week:02d}"


def conclusion_of(sections_json: str | None, abstract: str | None) -> tuple[str, bool]:
    """The abstract's conclusion (NlmCategory CONCLUSIONS, or a label naming it), else its opening."""
    for section in _json_list(sections_json):
        if not isinstance(section, dict):
            continue
        category = (section.get("category") or "").upper()
        label = (section.get("label") or "").upper()
        if category == "CONCLUSIONS" or "CONCLUSION" in label or label == "INTERPRETATION":
            text = (section.get("text") or "").strip()
            if text:
                return shorten(" ".join(text.split()), CONCLUSION_CHARS), True
    return first_sentences(abstract, CONCLUSION_SENTENCES, CONCLUSION_CHARS), False


def _topic_order(watchlist: Watchlist) -> dict[str, int]:
    return {t.name: i for i, t in enumerate(watchlist.topics)}


def _sorted_topics(names: list[str], order: dict[str, int]) -> list[str]:
    return sorted(dict.fromkeys(names), key=lambda n: (order.get(n, len(order)), n))


def select_publications(db, watchlist: Watchlist, now: dt.datetime) -> dict[str | None, list[PublicationItem]]:
    """Pending publications keyed by their first topic (None: no topic, e.g. seed-cited)."""
    cond, params = pending_clause("publication", "pmid", now)
    rows = db.execute(
        "SELECT pmid, title, abstract, abstract_sections, journal, journal_abbrev, pub_date, pub_date_text, entrez_date, "
        f"doi, authors, publication_types, retracted FROM publications WHERE {cond}",
        params,
    ).fetchall()
    pmids = [r[0] for r in rows]
    topics = _pairs(db, "SELECT pmid, topic FROM publication_topics WHERE pmid IN ({ids})", pmids)
    links = _pairs(db, "SELECT pmid, nct_id FROM trial_links WHERE pmid IN ({ids})", pmids)
    order = _topic_order(watchlist)
    by_topic: dict[str | None, list[PublicationItem]] = {}
    for (pmid, title, abstract, sections, journal, abbrev, pub_date, pub_date_text, entrez, doi, authors, types, retracted) in rows:
        names = _sorted_topics(topics.get(pmid, []), order)
        ptypes = [str(t) for t in _json_list(types)]
        conclusion, is_summary = conclusion_of(sections, abstract)
        item = PublicationItem(
            pmid=pmid,
            title=(title or "").strip() or "(no title)",
            authors=[str(a) for a in _json_list(authors)],
            journal=abbrev or journal or "",  # "Am J Psychiatry" reads faster than the full title
            pub_date=pub_date_text or pub_date or "",
            doi=doi,
            publication_types=ptypes,
            evidence=evidence_group(ptypes),
            badges=list(dict.fromkeys(BADGES[t] for t in ptypes if t in BADGES)),
            trials=sorted({n for n in links.get(pmid, []) if n and _NCT_RE.match(n)}),
            conclusion=conclusion,
            conclusion_is_summary=is_summary,
            topic=names[0] if names else None,
            other_topics=names[1:],
            retracted=bool(retracted) or "Retracted Publication" in ptypes,
            entrez_date=entrez,
        )
        by_topic.setdefault(item.topic, []).append(item)
    for items in by_topic.values():
        # Newest first within a topic (entry date, then PMID), the stable order of a list.
        items.sort(key=lambda p: (p.entrez_date or "", int(p.pmid) if p.pmid.isdigit() else 0), reverse=True)
    return by_topic


def _group(items: list[PublicationItem]) -> list[EvidenceGroup]:
    labels = [label for label, _ in EVIDENCE_GROUPS] + [OTHER_GROUP]
    groups = [EvidenceGroup(label, [p for p in items if p.evidence == label]) for label in labels]
    return [g for g in groups if g.items]


def select_feed_items(db, watchlist: Watchlist, now: dt.datetime) -> list[FeedItem]:
    """Pending feed items that are not (yet) a stored PubMed record or a stored trial."""
    cond, params = pending_clause("feed_item", "fi.id", now)
    rows = db.execute(
        f"""
        SELECT fi.id, fi.kind, fi.title, fi.link, fi.summary, fi.authors, fi.published, fi.doi, fi.feed_url, f.title
        FROM feed_items fi LEFT JOIN feeds f ON f.url = fi.feed_url
        WHERE COALESCE(fi.pmid, '') = '' AND COALESCE(fi.published_as_pmid, '') = ''
          AND NOT (COALESCE(fi.kind, '') = 'trial' AND COALESCE(fi.nct_id, '') IN (SELECT nct_id FROM trials))
          AND (COALESCE(fi.doi, '') = '' OR lower(fi.doi) NOT IN
               (SELECT lower(doi) FROM publications WHERE doi IS NOT NULL))
          AND {cond}
        ORDER BY fi.published DESC, fi.first_seen_at DESC, fi.id
        """,
        params,
    ).fetchall()
    ids = [r[0] for r in rows]
    topics = _pairs(db, "SELECT item_id, topic FROM feed_item_topics WHERE item_id IN ({ids})", ids)
    order = _topic_order(watchlist)
    return [
        FeedItem(
            id=fid, kind=kind or "journal", title=(title or "").strip() or "(no title)", link=link,
            summary=first_sentences(summary, CONCLUSION_SENTENCES, SUMMARY_CHARS),
            authors=[str(a) for a in _json_list(authors)], published=published, doi=doi,
            feed_url=feed_url or "", feed_title=feed_title, topics=_sorted_topics(topics.get(fid, []), order),
        )
        for fid, kind, title, link, summary, authors, published, doi, feed_url, feed_title in rows
    ]


def _trial_entries(db, ncts: list[str], followed: set[str], new: set[str], watchlist: Watchlist) -> dict[str, TrialEntry]:
    out: dict[str, TrialEntry] = {}
    order = _topic_order(watchlist)
    topics = _pairs(db, "SELECT nct_id, topic FROM trial_topics WHERE nct_id IN ({ids})", ncts)
    for chunk in _chunks(ncts):
        marks = ",".join("?" * len(chunk))
        for row in db.execute(
            "SELECT nct_id, title, official_title, status, why_stopped, phases, enrollment, enrollment_type, sponsor, "
            f"conditions, first_posted FROM trials WHERE nct_id IN ({marks})",
            chunk,
        ).fetchall():
            nct, title, official, status, why, phases, enrollment, enrollment_type, sponsor, conditions, first_posted = row
            out[nct] = TrialEntry(
                nct_id=nct, title=(title or official or "").strip() or "(no title)", status=status, why_stopped=why,
                phases=[str(p) for p in _json_list(phases)], enrollment=enrollment, enrollment_type=enrollment_type,
                sponsor=sponsor, conditions=[str(c) for c in _json_list(conditions)], first_posted=first_posted,
                followed=nct in followed, is_new=nct in new, topics=_sorted_topics(topics.get(nct, []), order),
            )
    return out


def select_trials(db, watchlist: Watchlist, now: dt.datetime) -> tuple[list[TrialEntry], list[TrialEntry], list[TrialEntry]]:
    """(followed trials that changed, other trials that changed, new trials)."""
    followed = {r[0] for r in db.execute("SELECT nct_id FROM followed_trials").fetchall()} | set(watchlist.follow_trials)
    cond, params = pending_clause("trial", "nct_id", now)
    new = {r[0] for r in db.execute(f"SELECT nct_id FROM trials WHERE {cond}", params).fetchall()}
    cond, params = pending_clause("trial_change", "CAST(h.id AS TEXT)", now)
    changes = [
        TrialChange(*r)
        for r in db.execute(
            "SELECT h.id, h.nct_id, h.field, h.old, h.new, h.seen_at FROM trial_history h "
            f"JOIN trials t ON t.nct_id = h.nct_id WHERE {cond} ORDER BY h.id",
            params,
        ).fetchall()
    ]
    changed = sorted({c.nct_id for c in changes})
    entries = _trial_entries(db, sorted(new | set(changed)), followed, new, watchlist)
    for change in changes:
        entries[change.nct_id].changes.append(change)
    with_changes = [entries[n] for n in changed]
    with_changes.sort(key=lambda e: (min(c.rank for c in e.changes), e.nct_id))
    new_only = [entries[n] for n in new if n not in set(changed)]
    new_only.sort(key=lambda e: (not e.followed, _neg_date(e.first_posted), e.nct_id))
    return [e for e in with_changes if e.followed], [e for e in with_changes if not e.followed], new_only


def _neg_date(value: str | None) -> str:
    """Sort key putting later YYYY-MM-DD dates first in an ascending sort."""
    digits = "".join(ch for ch in (value or "") if ch.isdigit()).ljust(8, "0")
    return "".join(str(9 - int(d)) for d in digits)


def select_corrections(db, now: dt.datetime) -> list[Correction]:
    """Retractions, errata and expressions of concern touching a stored paper, once each."""
    found: dict[str, tuple[str, str, str | None, str | None]] = {}
    rows = db.execute(
        "SELECT c.pmid, c.ref_type, c.other_pmid, c.note FROM corrections c ORDER BY c.pmid, c.ref_type, c.other_pmid"
    ).fetchall()
    stored = set()
    wanted = {p for r in rows for p in (r[0], r[2]) if p}
    for chunk in _chunks(sorted(wanted)):
        marks = ",".join("?" * len(chunk))
        stored |= {r[0] for r in db.execute(f"SELECT pmid FROM publications WHERE pmid IN ({marks})", chunk).fetchall()}
    for pmid, ref_type, other, note in rows:
        if ref_type in CORRECTION_LABELS and pmid in stored:
            affected, kind, notice = pmid, ref_type, other
        elif ref_type in CORRECTION_REVERSE and other in stored:
            affected, kind, notice = other, CORRECTION_REVERSE[ref_type], pmid
        else:
            continue
        key = f"{affected}:{kind}:{notice or ''}"
        if key not in found or (note and not found[key][3]):
            found[key] = (affected, kind, notice, note)
    if not found:
        return []
    pending = set(found) - taken_keys(db, "correction", now)
    titles = _pairs(db, "SELECT pmid, title FROM publications WHERE pmid IN ({ids})", sorted({v[0] for v in found.values()}))
    journals = _pairs(db, "SELECT pmid, COALESCE(journal_abbrev, journal, '') FROM publications WHERE pmid IN ({ids})", sorted({v[0] for v in found.values()}))
    out = [
        Correction(key=k, pmid=a, ref_type=kind, notice_pmid=n, note=note, title=(titles.get(a) or [""])[0] or "(no title)",
                   journal=(journals.get(a) or [""])[0])
        for k, (a, kind, n, note) in found.items()
        if k in pending
    ]
    kinds = list(CORRECTION_LABELS)
    out.sort(key=lambda c: (kinds.index(c.ref_type), c.pmid))
    return out


def select_warnings(db, since: str | None, now: dt.datetime, already_reported: set[str] = frozenset()) -> tuple[list[str], bool]:
    """One line per distinct crawl problem since ``since``, and whether they are news on their own.

    A failed or incomplete crawl is always news; a warning is news unless the last
    delivered digest already reported it (a followed trial that stays 404 would otherwise
    mail a "nothing new" digest after every crawl).
    """
    start = since or iso(now - FIRST_WINDOW)
    rows = db.execute(
        "SELECT source, started_at, status, warnings, error FROM crawl_runs "
        "WHERE COALESCE(finished_at, started_at) >= ? ORDER BY started_at, id",
        [start],
    ).fetchall()
    lines: dict[str, int] = {}
    news = False
    for source, started, status, warnings, error in rows:
        if status in ("failed", "partial", "interrupted"):
            news = True
            what = {"failed": "failed", "partial": "did not complete", "interrupted": "was interrupted"}[status]
            text = f"{source}: crawl {what}: {error or 'no detail recorded'}"
            lines[text] = lines.get(text, 0) + 1
        for w in _json_list(warnings):
            text = f"{source}: {w}"
            news = news or text not in already_reported
            lines[text] = lines.get(text, 0) + 1
    out = [f"{text} (×{n})" if n > 1 else text for text, n in lines.items()]
    if not rows:
        last_ok = db.execute("SELECT MAX(finished_at) FROM crawl_runs WHERE status IN ('ok', 'partial')").fetchone()[0]
        if last_ok is None:
            out.append("no crawl has run yet: this digest holds only what was stored by other means")
        else:
            out.append(f"no crawl has run since {start[:10]} (last successful crawl {last_ok[:10]}): new evidence may be missing")
            news = news or last_ok < iso(now - STALE_CRAWL)
    return out, news


def warning_key(line: str) -> str:
    """A warning line without its "(×N)" repeat count: what "already reported" compares."""
    return re.sub(r" \(×\d+\)$", "", line)


def select_digest(db: sqlite_utils.Database, watchlist: Watchlist, now: dt.datetime) -> DigestContent:
    """Everything pending now, grouped for reading.  Call inside the ledger's write transaction
    when the result is to be claimed, so nothing changes between selection and claim."""
    previous = last_delivered(db)
    since = previous["created_at"] if previous else None
    by_topic = select_publications(db, watchlist, now)
    feed_items = select_feed_items(db, watchlist, now)
    followed, other, new = select_trials(db, watchlist, now)
    corrections = select_corrections(db, now)
    reported = {warning_key(w) for w in _json_list(previous.get("warnings"))} if previous else set()
    warnings, warnings_are_news = select_warnings(db, since, now, reported)

    titles = {t.name: t.title for t in watchlist.topics}
    sections: dict[str | None, TopicSection] = {}
    for topic in watchlist.topics:
        sections[topic.name] = TopicSection(topic.name, topic.title, [])
    for name in by_topic:
        if name not in sections and name is not None:  # a topic since removed from the watchlist
            sections[name] = TopicSection(name, titles.get(name, name), [])
    for name, items in by_topic.items():
        if name is None:
            continue
        sections[name].groups = _group(items)
    preprints = []
    orphans: list[FeedItem] = []
    for item in feed_items:
        if item.kind == "preprint":
            preprints.append(item)
        elif item.topics and item.topics[0] in sections:
            sections[item.topics[0]].feed_items.append(item)
        else:
            orphans.append(item)
    if by_topic.get(None) or orphans:
        sections[None] = TopicSection(
            "", "Other new records: cited by the seed documents, linked to followed trials, from other feeds",
            _group(by_topic.get(None, [])), orphans,
        )
    for item in by_topic.get(None, []):
        item.topic = None
    return DigestContent(
        created_at=now,
        since=since,
        week=iso_week(now, watchlist.schedule.timezone),
        topics=[s for s in sections.values() if s.groups or s.feed_items],
        followed_changes=followed,
        other_changes=other,
        new_trials=new,
        corrections=corrections,
        preprints=preprints,
        warnings=warnings,
        warnings_are_news=warnings_are_news,
        queries=list(watchlist.topics),
        follow_trials=list(watchlist.follow_trials),
        topic_titles=titles,
    )
