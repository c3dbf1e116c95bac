"""What the next digest holds: everything stored that no delivered digest has carried yet.

Reads go through the named functions of ``litwatch.db.digest_queries`` (no SQL here);
this module decides where each item goes and in which order, and returns a
``DigestContent`` (``digest.model``) that the view caps and the templates lay out.

* Publications: under their most specific topic (below), then by strength of evidence
  (``digest.evidence``); the other topics that found a paper are named in one line.
* Trials: changes to followed trials first, then other changes, then new trials.
* Corrections and retractions touching stored papers: a paper listed in this digest
  carries the mark itself; the section lists only corrections of earlier papers.
* Feed items not (yet) known as a PubMed record: preprints in their own section, journal
  items under their topic.
* Crawl warnings and errors of the runs since the last delivered digest, so a broken
  source reads as "something is wrong", never as "no new evidence".

**Most specific topic.**  A paper found by several topics goes under the one that found
the fewest papers in this digest (a narrow topic such as BPD, not the broad depression
topic that found everything); ties go to the earlier topic in the watchlist.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from zoneinfo import ZoneInfo

from litwatch.config import Watchlist
from litwatch.db import digest_queries as q
from litwatch.db.digests import iso, last_delivered
from litwatch.digest import evidence, signals
from litwatch.digest.markup import first_sentences, shorten
from litwatch.digest.model import (
    Correction,
    DigestContent,
    EvidenceGroup,
    FeedItem,
    Mark,
    PublicationItem,
    Reference,
    TopicSection,
    TrialChange,
    TrialEntry,
)
from litwatch.vocab.ids import NCT_RE

# The first digest has no previous one to start from: it reports the crawls of the last
# week, the period a weekly digest covers.
FIRST_WINDOW = dt.timedelta(days=7)
# Without a successful crawl for this long (a week of daily crawls and a day's slack) a
# digest is worth sending even with nothing new: the silence itself is the news.
STALE_CRAWL = dt.timedelta(days=8)
CONCLUSION_SENTENCES = 2
CONCLUSION_CHARS = 600
SUMMARY_CHARS = 400


def iso_week(moment: dt.datetime, timezone: str) -> str:
    year, week, _ = moment.astimezone(ZoneInfo(timezone)).isocalendar()
    return f"{year}-W{week:02d}"


def conclusion_of(sections: list, abstract: str | None) -> tuple[str, bool]:
    """The abstract's conclusion (NlmCategory CONCLUSIONS, or a label naming it), else its opening."""
    for section in sections or []:
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


def _late_arrival(row: dict) -> str:
    """ "published 2019, new to PubMed" for an old paper PubMed only now added (helper
    "pubmed" stores ``late_arrival``/``create_date``)."""
    if not row.get("late_arrival"):
        return ""
    year = (row.get("pub_date") or "")[:4]
    return f"published {year}, new to PubMed" if year.isdigit() else "an older paper, new to PubMed"


def select_publications(db, watchlist: Watchlist, now: dt.datetime) -> tuple[dict[str | None, list[EvidenceGroup]], int]:
    """Pending publications grouped by their most specific topic (None: no topic, e.g.
    seed-cited) and evidence group, and how many are pending in all.

    Every pending paper is placed (topic, evidence group, order) by SQLite
    (``db.digest_queries.place_pending_publications``), so a first digest after a backfill
    of a million papers holds only what it shows: the first ``max_per_section`` of each
    section are read in full and summarised (conclusion, key facts); each group knows how
    many papers it has in all (its "N more"), and the ledger claims them all from the
    database (``DigestContent.iter_items``).
    """
    order = _topic_order(watchlist)

    def topic_rank(found: dict[str, int]) -> dict[str, int]:
        ranked = sorted(found, key=lambda n: (found[n], order.get(n, len(order)), n))
        return {name: i for i, name in enumerate(ranked)}

    counts = q.place_pending_publications(
        db, now, topic_rank, lambda types: evidence.evidence_group([str(t) for t in types]),
        watchlist.digest.max_per_section, topic_positions=order,
        group_positions={label: i for i, label in enumerate(evidence.GROUP_LABELS)})
    rows = q.pending_shown(db)
    details = q.publication_details(db, [row["pmid"] for row in rows])
    items: dict[tuple[str | None, str], list[PublicationItem]] = {}
    for row in rows:
        row["publication_types"] = [str(t) for t in row["publication_types"]]
        home, group = row["home"], row["group"]
        item = _publication_item(row, details.get(row["pmid"], {}), group, home, _sorted_topics(row["topics"], order))
        items.setdefault((home, group), []).append(item)
    by_topic: dict[str | None, list[EvidenceGroup]] = {}
    labels = list(evidence.GROUP_LABELS) + sorted({g for _, g in counts} - set(evidence.GROUP_LABELS))
    for label in labels:
        for (home, group), total in counts.items():
            if group == label:
                by_topic.setdefault(home, []).append(EvidenceGroup(label, items.get((home, group), []), total))
    return by_topic, sum(counts.values())


def _publication_item(row: dict, detail: dict, group: str, home: str | None, names: list[str]) -> PublicationItem:
    """The digest's view of one paper; ``detail`` is empty for a paper past its section's cap."""
    ptypes = row["publication_types"]
    title = (row.get("title") or "").strip() or "(no title)"
    conclusion, is_summary = conclusion_of(detail.get("abstract_sections"), detail.get("abstract")) if detail else ("", False)
    return PublicationItem(
        pmid=row["pmid"],
        title=title,
        authors=[str(a) for a in detail.get("authors", [])],
        journal=detail.get("journal_abbrev") or detail.get("journal") or "",  # "Am J Psychiatry" reads faster
        pub_date=detail.get("pub_date_text") or row.get("pub_date") or "",
        doi=detail.get("doi"),
        pmcid=detail.get("pmcid"),
        publication_types=ptypes,
        evidence=group,
        badges=evidence.badges(ptypes),
        trials=[n for n in row["trials"] if n and NCT_RE.match(n)],
        conclusion=conclusion,
        conclusion_is_summary=is_summary,
        topic=home,
        other_topics=[n for n in names if n != home],
        retracted=bool(row.get("retracted")) or "Retracted Publication" in ptypes,
        entrez_date=row.get("entrez_date"),
        key_facts=signals.key_facts(title, detail.get("abstract"), ptypes) if detail else "",
        late_arrival=_late_arrival(row),
    )


def select_feed_items(db, watchlist: Watchlist, now: dt.datetime) -> list[FeedItem]:
    """Pending feed items that are not (yet) a stored PubMed record or a stored trial."""
    order = _topic_order(watchlist)
    return [
        FeedItem(
            id=r["id"], kind=r["kind"] or "journal", title=(r["title"] or "").strip() or "(no title)", link=r["link"],
            summary=first_sentences(r["summary"], CONCLUSION_SENTENCES, SUMMARY_CHARS),
            authors=[str(a) for a in r["authors"]], published=r["published"], doi=r["doi"],
            feed_url=r["feed_url"] or "", feed_title=r["feed_title"], topics=_sorted_topics(r["topics"], order),
        )
        for r in q.pending_feed_items(db, now)
    ]


def _trial_entry(row: dict, followed: set[str], new: set[str], order: dict[str, int]) -> TrialEntry:
    return TrialEntry(
        nct_id=row["nct_id"], title=(row.get("title") or row.get("official_title") or "").strip() or "(no title)",
        status=row.get("status"), why_stopped=row.get("why_stopped"), phases=[str(p) for p in row["phases"]],
        enrollment=row.get("enrollment"), enrollment_type=row.get("enrollment_type"), sponsor=row.get("sponsor"),
        conditions=[str(c) for c in row["conditions"]], first_posted=row.get("first_posted"),
        followed=row["nct_id"] in followed, is_new=row["nct_id"] in new, topics=_sorted_topics(row["topics"], order),
    )


def select_trials(db, watchlist: Watchlist, now: dt.datetime) -> tuple[list[TrialEntry], list[TrialEntry], list[TrialEntry]]:
    """(followed trials that changed, other trials that changed, new trials)."""
    followed = q.followed_trials(db) | set(watchlist.follow_trials)
    new = q.pending_new_trials(db, now)
    changes = [TrialChange(**r) for r in q.pending_trial_changes(db, now)]
    ref_pmids = [p.strip() for c in changes if c.field == "references" for p in (c.new or "").split(",") if p.strip()]
    briefs = q.publication_briefs(db, ref_pmids) if ref_pmids else {}
    for c in changes:
        if c.field == "references":
            c.references = [Reference(p.strip(), (briefs.get(p.strip()) or {}).get("title"))
                            for p in (c.new or "").split(",") if p.strip()]
    changed = sorted({c.nct_id for c in changes})
    order = _topic_order(watchlist)
    rows = q.trials_by_id(db, sorted(new | set(changed)))
    entries = {nct: _trial_entry(row, followed, new, order) for nct, row in rows.items()}
    for change in changes:
        entries[change.nct_id].changes.append(change)
    with_changes = [entries[n] for n in changed]
    with_changes.sort(key=lambda e: (min(c.rank for c in e.changes), e.nct_id))
    new_only = [entries[n] for n in new if n not in set(changed) and n in entries]
    new_only.sort(key=lambda e: (not e.followed, _neg_date(e.first_posted), e.nct_id))
    return [e for e in with_changes if e.followed], [e for e in with_changes if not e.followed], new_only


def _neg_date(value: str | None) -> str:
    """Sort key putting later YYYY-MM-DD dates first in an ascending sort."""
    digits = "".join(ch for ch in (value or "") if ch.isdigit()).ljust(8, "0")
    return "".join(str(9 - int(d)) for d in digits)


def select_corrections(db, now: dt.datetime) -> list[Correction]:
    """Corrections (every type of ``evidence.CORRECTION_LABELS``) touching a stored paper, once each."""
    links = q.correction_links(db)
    wanted = sorted({p for r in links for p in (r["pmid"], r["other_pmid"]) if p})
    briefs = q.publication_briefs(db, wanted) if wanted else {}
    found: dict[str, tuple[str, str, str | None, str | None]] = {}
    for r in links:
        pmid, ref_type, other, note = r["pmid"], r["ref_type"], r["other_pmid"], r["note"]
        if ref_type in evidence.CORRECTION_LABELS and pmid in briefs:
            affected, kind, notice = pmid, ref_type, other
        elif ref_type in evidence.CORRECTION_REVERSE and other in briefs:
            affected, kind, notice = other, evidence.CORRECTION_REVERSE[ref_type], pmid
        else:
            continue
        key = f"{affected}:{kind}:{notice or ''}"
        if key not in found or (note and not found[key][3]):
            found[key] = (affected, kind, notice or None, note)
    if not found:
        return []
    taken = q.taken_keys(db, "correction", now)
    out = [
        Correction(key=k, pmid=a, ref_type=kind, notice_pmid=n, note=note,
                   title=(briefs[a].get("title") or "").strip() or "(no title)", journal=briefs[a].get("journal") or "")
        for k, (a, kind, n, note) in found.items()
        if k not in taken
    ]
    out.sort(key=lambda c: (evidence.CORRECTION_ORDER.index(c.ref_type), c.pmid))
    return out


def select_warnings(db, since: str | None, now: dt.datetime, already_reported: set[str] = frozenset()) -> tuple[list[str], bool]:
    """One line per distinct crawl problem since ``since``, and whether they are news on their own.

    A failed or incomplete crawl is always news; a warning is news unless the last
    delivered digest already reported it (a followed trial that stays 404 would otherwise
    mail a "nothing new" digest after every crawl).
    """
    start = since or iso(now - FIRST_WINDOW)
    rows = q.crawl_runs_since(db, start)
    lines: dict[str, int] = {}
    news = False
    for run in rows:
        source = run["source"]
        if run["status"] in ("failed", "partial", "interrupted"):
            news = True
            what = {"failed": "failed", "partial": "did not complete", "interrupted": "was interrupted"}[run["status"]]
            text = f"{source}: crawl {what}: {run['error'] or 'no detail recorded'}"
            lines[text] = lines.get(text, 0) + 1
        for w in run["warnings"]:
            text = f"{source}: {w}"
            news = news or text not in already_reported
            lines[text] = lines.get(text, 0) + 1
    out = [f"{text} (×{n})" if n > 1 else text for text, n in lines.items()]
    if not rows:
        last_ok = q.last_successful_crawl(db)
        if last_ok is None:
            out.append("no crawl has run yet: this digest holds only what was stored by other means")
        else:
            out.append(f"no crawl has run since {start[:10]} (last successful crawl {last_ok[:10]}): new evidence may be missing")
            news = news or last_ok < iso(now - STALE_CRAWL)
    return out, news


def warning_key(line: str) -> str:
    """A warning line without its "(×N)" repeat count: what "already reported" compares."""
    return re.sub(r" \(×\d+\)$", "", line)


def _json_list(text: str | None) -> list:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def select_digest(db, watchlist: Watchlist, now: dt.datetime) -> DigestContent:
    """Everything pending now, grouped for reading.  Call inside the ledger's write transaction
    when the result is to be claimed, so nothing changes between selection and claim."""
    previous = last_delivered(db)
    since = previous["created_at"] if previous else None
    by_topic, publication_total = select_publications(db, watchlist, now)
    feed_items = select_feed_items(db, watchlist, now)
    followed, other, new = select_trials(db, watchlist, now)
    corrections = select_corrections(db, now)
    reported = {warning_key(w) for w in _json_list(previous.get("warnings"))} if previous else set()
    warnings, warnings_are_news = select_warnings(db, since, now, reported)

    # A correction of a paper shown in full rides on its entry; one of a pending paper past
    # its section's cap is listed in the corrections section.
    listed = {p.pmid: p for groups in by_topic.values() for g in groups for p in g.items}
    for c in corrections:
        if c.pmid in listed:
            c.in_digest = True
            listed[c.pmid].marks.append(Mark(c.key, c.ref_type, c.notice_pmid, c.note))

    titles = {t.name: t.title for t in watchlist.topics}
    sections: dict[str | None, TopicSection] = {}
    for topic in watchlist.topics:
        sections[topic.name] = TopicSection(topic.name, topic.title, [], query=topic.pubmed)
    for name in sorted(n for n in by_topic if n is not None):
        if name not in sections:  # a topic since removed from the watchlist (by name, as placed)
            sections[name] = TopicSection(name, titles.get(name, name), [])
    for name, groups in by_topic.items():
        if name is not None:
            sections[name].groups = groups
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
            by_topic.get(None, []), orphans,
        )
    content = DigestContent(
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
        publication_total=publication_total,
        pending_pmids=lambda: q.iter_pending_pmids(db),
    )
    content.citing = signals.citing(db, since)
    content.trial_flags = signals.trial_flags(db)
    return content
