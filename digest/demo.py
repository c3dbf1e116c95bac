"""Rows for a digest to show: small writers over the documented tables, and a demo database.

The writers (``add_publication``, ``add_trial``, ...) insert exactly the columns the
crawlers store, so tests and ``tools/render_digest_png.py`` can build any digest without
running a crawl.  ``build_demo`` fills a database with real records from the test
recordings (PubMed efetch XML, ClinicalTrials.gov JSON) plus the kinds of events a week
brings: a followed trial terminated, results posted, a retraction, a preprint, a crawl
warning.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import sqlite_utils

from litwatch.db.digests import iso


def _now_text(value: str | None) -> str:
    return value or iso(dt.datetime.now(dt.timezone.utc))


def add_publication(
    db: sqlite_utils.Database,
    pmid: str,
    *,
    title: str = "A study",
    topics: tuple[str, ...] | list[str] = (),
    abstract: str | None = None,
    sections: list[dict] | None = None,
    publication_types: tuple[str, ...] | list[str] = ("Journal Article",),
    authors: tuple[str, ...] | list[str] = ("Doe J",),
    journal: str = "J Test",
    pub_date: str = "2026-11",
    entrez_date: str = "2026-11-18",
    doi: str | None = None,
    retracted: bool = False,
    first_seen_at: str | None = None,
) -> None:
    seen = _now_text(first_seen_at)
    if abstract is None and sections:
        abstract = "\n\n".join(f"{s.get('label')}: {s.get('text')}" if s.get("label") else s.get("text", "") for s in sections)
    with db.conn:
        db["publications"].upsert(
            {
                "pmid": pmid, "title": title, "abstract": abstract, "abstract_sections": json.dumps(sections or []),
                "journal": journal, "journal_abbrev": journal, "pub_date": pub_date, "entrez_date": entrez_date,
                "doi": doi, "authors": json.dumps(list(authors)), "publication_types": json.dumps(list(publication_types)),
                "mesh": "[]", "keywords": "[]", "retracted": int(retracted), "first_seen_at": seen, "updated_at": seen,
            },
            pk="pmid",
        )
        for topic in topics:
            db["publication_topics"].upsert({"pmid": pmid, "topic": topic, "first_seen_at": seen}, pk=("pmid", "topic"))


def add_trial(
    db: sqlite_utils.Database,
    nct_id: str,
    *,
    title: str = "A trial",
    status: str = "RECRUITING",
    topics: tuple[str, ...] | list[str] = (),
    followed: bool = False,
    phases: tuple[str, ...] | list[str] = ("PHASE2",),
    enrollment: int | None = 60,
    enrollment_type: str | None = "ESTIMATED",
    sponsor: str | None = "A University",
    conditions: tuple[str, ...] | list[str] = ("Depression",),
    why_stopped: str | None = None,
    first_posted: str | None = "2026-11-01",
    has_results: bool = False,
    first_seen_at: str | None = None,
) -> None:
    seen = _now_text(first_seen_at)
    with db.conn:
        db["trials"].upsert(
            {
                "nct_id": nct_id, "title": title, "status": status, "why_stopped": why_stopped, "phases": json.dumps(list(phases)),
                "study_type": "INTERVENTIONAL", "enrollment": enrollment, "enrollment_type": enrollment_type,
                "first_posted": first_posted, "has_results": int(has_results), "sponsor": sponsor,
                "conditions": json.dumps(list(conditions)), "interventions": "[]", "references": "[]",
                "first_seen_at": seen, "updated_at": seen,
            },
            pk="nct_id",
        )
        for topic in topics:
            db["trial_topics"].upsert({"nct_id": nct_id, "topic": topic, "first_seen_at": seen}, pk=("nct_id", "topic"))
        if followed:
            db["followed_trials"].upsert({"nct_id": nct_id, "reason": "watchlist", "added_at": seen}, pk="nct_id")


def add_change(db: sqlite_utils.Database, nct_id: str, field: str, old, new, *, seen_at: str | None = None) -> int:
    with db.conn:
        return db["trial_history"].insert(
            {"nct_id": nct_id, "field": field, "old": None if old is None else str(old), "new": None if new is None else str(new),
             "seen_at": _now_text(seen_at)}
        ).last_pk


def add_correction(db: sqlite_utils.Database, pmid: str, ref_type: str, other_pmid: str, note: str | None = None) -> None:
    with db.conn:
        db["corrections"].upsert(
            {"pmid": pmid, "ref_type": ref_type, "other_pmid": other_pmid, "note": note, "first_seen_at": _now_text(None)},
            pk=("pmid", "ref_type", "other_pmid"),
        )


def add_trial_link(db: sqlite_utils.Database, nct_id: str, pmid: str, source: str = "databank") -> None:
    with db.conn:
        db["trial_links"].upsert(
            {"nct_id": nct_id, "pmid": pmid, "source": source, "ref_type": None, "first_seen_at": _now_text(None)},
            pk=("nct_id", "pmid", "source"),
        )


def add_feed_item(
    db: sqlite_utils.Database,
    item_id: str,
    *,
    kind: str = "preprint",
    title: str = "A preprint",
    link: str | None = "https://www.medrxiv.org/content/10.1101/2026.11.01.000001v1",
    summary: str | None = None,
    topics: tuple[str, ...] | list[str] = (),
    authors: tuple[str, ...] | list[str] = (),
    published: str | None = "2026-11-17",
    doi: str | None = None,
    pmid: str | None = None,
    nct_id: str | None = None,
    published_as_pmid: str | None = None,
    feed_url: str = "https://connect.medrxiv.org/relate/feed/psychiatry",
    feed_title: str | None = "medRxiv: Psychiatry and Clinical Psychology",
) -> None:
    seen = _now_text(None)
    with db.conn:
        db["feeds"].upsert({"url": feed_url, "title": feed_title}, pk="url")
        db["feed_items"].upsert(
            {
                "id": item_id, "feed_url": feed_url, "kind": kind, "title": title, "link": link, "summary": summary,
                "authors": json.dumps(list(authors)), "published": published, "doi": doi, "pmid": pmid, "nct_id": nct_id,
                "published_as_pmid": published_as_pmid, "first_seen_at": seen, "updated_at": seen,
            },
            pk="id",
        )
        for topic in topics:
            db["feed_item_topics"].upsert({"item_id": item_id, "topic": topic, "first_seen_at": seen}, pk=("item_id", "topic"))


def add_crawl_run(
    db: sqlite_utils.Database, source: str, status: str = "ok", *, warnings: list[str] = (), error: str | None = None,
    started_at: str | None = None, finished_at: str | None = None,
) -> int:
    started = _now_text(started_at)
    with db.conn:
        return db["crawl_runs"].insert(
            {"source": source, "started_at": started, "finished_at": finished_at or started, "status": status,
             "counts": "{}", "warnings": json.dumps(list(warnings)), "error": error}
        ).last_pk


# --- a demo database from the recordings -------------------------------------------

_INLINE = {"i", "b", "sub", "sup", "u"}
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


def _markup(el) -> str:
    """Element text with PubMed's inline tags kept (the way the PubMed crawler stores it)."""
    out = [el.text or ""]
    for child in el:
        inner = _markup(child)
        out.append(f"<{child.tag}>{inner}</{child.tag}>" if child.tag in _INLINE else inner)
        out.append(child.tail or "")
    return " ".join("".join(out).split())


def publication_from_efetch(path: str | Path) -> dict:
    """The fields the digest shows, read from one recorded efetch answer."""
    from lxml import etree

    root = etree.parse(str(path), etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False)).getroot()
    art = root.find(".//PubmedArticle/MedlineCitation/Article")
    pmid = root.findtext(".//PubmedArticle/MedlineCitation/PMID")
    sections = [
        {"label": el.get("Label"), "category": el.get("NlmCategory"), "text": _markup(el)}
        for el in art.findall("Abstract/AbstractText")
    ]
    authors = []
    for a in art.findall("AuthorList/Author"):
        name = a.findtext("CollectiveName") or " ".join(x for x in (a.findtext("LastName"), a.findtext("Initials")) if x)
        if name:
            authors.append(name)
    pd = art.find("Journal/JournalIssue/PubDate")
    year = pd.findtext("Year") if pd is not None else None
    month = pd.findtext("Month") if pd is not None else None
    pub_date = year or (pd.findtext("MedlineDate") if pd is not None else "") or ""
    if year and month:
        pub_date += f"-{_MONTHS.get(month[:3], int(month) if month.isdigit() else 1):02d}"
    doi = next((e.text for e in root.findall(".//PubmedArticle/PubmedData/ArticleIdList/ArticleId") if e.get("IdType") == "doi"), None)
    return {
        "pmid": pmid,
        "title": _markup(art.find("ArticleTitle")),
        "sections": sections if any(s["label"] for s in sections) else None,
        "abstract": " ".join(s["text"] for s in sections) or None,
        "authors": authors,
        "journal": art.findtext("Journal/ISOAbbreviation") or art.findtext("Journal/Title") or "",
        "pub_date": pub_date,
        "doi": doi,
        "publication_types": [e.text for e in art.findall("PublicationTypeList/PublicationType")],
    }


def trial_from_ctgov(path: str | Path) -> dict:
    study = json.loads(Path(path).read_text(encoding="utf-8"))
    p = study["protocolSection"]
    status = p.get("statusModule", {})
    design = p.get("designModule", {})
    return {
        "nct_id": p["identificationModule"]["nctId"],
        "title": p["identificationModule"].get("briefTitle"),
        "status": status.get("overallStatus"),
        "why_stopped": status.get("whyStopped"),
        "phases": design.get("phases", []),
        "enrollment": design.get("enrollmentInfo", {}).get("count"),
        "enrollment_type": design.get("enrollmentInfo", {}).get("type"),
        "sponsor": p.get("sponsorCollaboratorsModule", {}).get("leadSponsor", {}).get("name"),
        "conditions": p.get("conditionsModule", {}).get("conditions", []),
        "first_posted": status.get("studyFirstPostDateStruct", {}).get("date"),
    }


# (PMID, topics, publication types to show instead of the record's, or None to keep them).
# The recordings are not all about psychiatry; a few types are reassigned so the demo
# shows every evidence group and its badge.
DEMO_PAPERS = (
    ("38011560", ("ketamine-depression", "ketamine-trd"), None),
    ("34843274", ("ketamine-depression",), ("Journal Article", "Practice Guideline")),
    ("38801034", ("ketamine-suicidality",), ("Journal Article", "Randomized Controlled Trial", "Multicenter Study")),
    ("37652022", ("ketamine-depression",), ("Journal Article", "Observational Study")),
    ("32437181", ("ketamine-depression",), None),
    ("39364306", ("ketamine-bpd",), None),
    ("219391", ("ketamine-bpd",), None),
    ("37167981", ("ketamine-trd",), ("Journal Article", "Meta-Analysis", "Systematic Review")),
    ("38988993", ("ketamine-trd",), ("Journal Article", "Clinical Trial, Phase II")),
    ("36247735", (), None),
)


def build_demo(db: sqlite_utils.Database, fixtures: str | Path, now: dt.datetime) -> None:
    """A week's worth of events over real recorded records (see DEMO_PAPERS)."""
    fixtures = Path(fixtures)
    seen = iso(now - dt.timedelta(days=2))
    for pmid, topics, types in DEMO_PAPERS:
        rec = publication_from_efetch(fixtures / "pubmed" / "efetch" / f"{pmid}.xml")
        add_publication(
            db, pmid, title=rec["title"], topics=topics, abstract=rec["abstract"], sections=rec["sections"],
            publication_types=types or rec["publication_types"], authors=rec["authors"], journal=rec["journal"],
            pub_date=rec["pub_date"], doi=rec["doi"], first_seen_at=seen, entrez_date=seen[:10],
        )
    add_trial_link(db, "NCT03395314", "38801034")
    # A followed trial that stopped early (the example of issue 4), and fixture trials.
    add_trial(db, "NCT03395314", title="Ketamine in Borderline Personality Disorder", status="TERMINATED",
              why_stopped="Slow recruitment", topics=("ketamine-bpd",), followed=True, enrollment=22, enrollment_type="ACTUAL",
              sponsor="Yale University", conditions=("Borderline Personality Disorder",), first_posted="2018-01-10",
              first_seen_at=iso(now - dt.timedelta(days=60)))
    for nct, topics in (("NCT03630471", ("ketamine-depression",)), ("NCT00973089", ("ketamine-trd",)),
                        ("NCT06171568", ("ketamine-depression",)), ("NCT03418623", ("ketamine-suicidality",))):
        t = trial_from_ctgov(fixtures / "ctgov" / f"{nct}.json")
        add_trial(db, nct, title=t["title"], status=t["status"], why_stopped=t["why_stopped"], topics=topics,
                  phases=t["phases"], enrollment=t["enrollment"], enrollment_type=t["enrollment_type"], sponsor=t["sponsor"],
                  conditions=t["conditions"], first_posted=t["first_posted"], first_seen_at=seen)
    # Trials delivered in an earlier digest: only their changes are new this week.
    from litwatch.db import digests as ledger

    with ledger.write_transaction(db):
        old = ledger.record_digest(db, created_at=iso(now - dt.timedelta(days=7)), week="previous", subject="previous digest",
                                   recipients=[], items=[("trial", "NCT03395314"), ("trial", "NCT03630471"), ("trial", "NCT00973089")],
                                   status="sending")
    ledger.mark_delivered(db, old, sent_at=iso(now - dt.timedelta(days=7)), delivered_to="smtp", message_id="<demo@litwatch>")
    add_change(db, "NCT03395314", "status", "RECRUITING", "TERMINATED", seen_at=seen)
    add_change(db, "NCT03395314", "enrollment", 60, 22, seen_at=seen)
    add_change(db, "NCT03395314", "why_stopped", None, "Slow recruitment", seen_at=seen)
    add_change(db, "NCT03630471", "results_first_posted", None, "2026-11-12", seen_at=seen)
    add_change(db, "NCT03630471", "has_results", 0, 1, seen_at=seen)
    add_change(db, "NCT00973089", "status", "NOT_YET_RECRUITING", "WITHDRAWN", seen_at=seen)
    # A retraction and an erratum touching stored papers.
    add_correction(db, "36247735", "RetractionIn", "40000001", note="Retraction in: J Demo. 2026 Nov;1:1.")
    add_correction(db, "38011560", "ErratumIn", "40000002", note="Erratum in: Proc Natl Acad Sci U S A. 2026;123:e1.")
    # Feed items: a preprint and a journal table-of-contents item not yet in PubMed.
    add_feed_item(db, "demo-preprint-1", kind="preprint",
                  title="(demo item) Repeated intravenous ketamine and suicidal ideation: a retrospective cohort",
                  summary="A demo preprint item standing for a medRxiv feed entry. It is not a real record.",
                  topics=("ketamine-suicidality",), authors=("Demo A", "Demo B"), doi="10.1101/2026.11.10.000001")
    add_feed_item(db, "demo-journal-1", kind="journal", title="(demo item) Esketamine nasal spray in routine care: one-year outcomes",
                  link="https://example.org/journal/article/123", topics=("ketamine-trd",), feed_url="https://example.org/journal.rss",
                  feed_title="Journal table of contents (demo)", summary="A demo journal-feed item, not yet indexed by PubMed.")
    # Crawl problems since the last digest.
    add_crawl_run(db, "pubmed", "ok", warnings=["topic ketamine-bpd: query returned 0 records where it returned 14 before"],
                  started_at=iso(now - dt.timedelta(days=3)))
    add_crawl_run(db, "feeds", "partial", error="https://example.org/gone.rss: HTTP 410 Gone (feed removed?)",
                  started_at=iso(now - dt.timedelta(days=1)))
