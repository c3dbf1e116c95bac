"""Worlds for the digest (tests, the demo, the PNG script) built through the crawl's own writer.

Nothing here writes a table.  A paper is written as PubMed efetch XML, parsed by
``crawler.pubmed_parse`` and stored by ``db.publications.save_publications``; a trial is a
ClinicalTrials.gov v2 study JSON, normalised by ``crawler.ctgov.normalise_study`` and
stored by ``db.trials.save_trials`` (a later version of the same study records its
changes, as a crawl does); a feed item is an RSS document parsed by
``crawler.feed_parse.parse_feed`` and stored by ``db.feeds.save_feed_items``; a crawl run
goes through ``db.crawl_state``.  So a test database holds exactly what a crawl would
store, and a drift between parser, store and digest shows up in the digest tests.

The records are written by hand (tests say what they need: a title, publication types,
a retraction) or, for ``build_demo``, taken from the recordings in ``litwatch.fakes``.
This module sits on the top floor: it imports the crawler and the digest's ``db`` side,
which ``digest/`` itself may not.
"""

from __future__ import annotations

import copy
import datetime as dt
import email.utils
import json
import re
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from litwatch.crawler import ctgov
from litwatch.crawler.feed_parse import parse_feed
from litwatch.crawler.pubmed_parse import parse_pubmed
from litwatch.db import crawl_state, feeds, follows, publications, trials
from litwatch.db import digests as ledger
from litwatch.db.connection import transaction
from litwatch.fakes.ctgov import ketamine_bpd_study
from litwatch.signals.overdue import trial_flags
from litwatch.vocab.markup import INLINE_TAGS
from litwatch.vocab.times import format_timestamp

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_BARE_TAG_RE = re.compile(r"&lt;(/?)(" + "|".join(INLINE_TAGS) + r")&gt;")

# The study JSON of each trial a world holds, by database: the next version of a study is
# derived from the last one, as ClinicalTrials.gov serves it.
_STUDIES: dict[int, tuple[object, dict[str, dict]]] = {}


def _studies(db) -> dict[str, dict]:
    key = id(db)
    if key not in _STUDIES or _STUDIES[key][0] is not db:
        _STUDIES[key] = (db, {})
    return _STUDIES[key][1]


def xml_text(text: str | None) -> str:
    """Text for an XML element, where bare inline tags (``<i>``, ``<sup>``...) are the
    elements PubMed writes and anything else is character data."""
    text = escape(text or "")
    out, stack, pos = [], [], 0
    for m in _BARE_TAG_RE.finditer(text):
        out.append(text[pos : m.start()])
        pos = m.end()
        closing, name = m.group(1) == "/", m.group(2)
        if not closing:
            stack.append(name)
            out.append(f"<{name}>")
        elif stack and stack[-1] == name:
            stack.pop()
            out.append(f"</{name}>")
        else:  # unbalanced: it stays text, as it would be in well-formed XML
            out.append(m.group(0))
    out.append(text[pos:])
    out.extend(f"</{name}>" for name in reversed(stack))
    return "".join(out)


# --- PubMed ------------------------------------------------------------------------

def _date_xml(value: str) -> str:
    parts = (value or "").split("-")
    out = f"<Year>{parts[0]}</Year>"
    if len(parts) > 1:
        out += f"<Month>{_MONTHS[int(parts[1]) - 1]}</Month>"
    if len(parts) > 2:
        out += f"<Day>{int(parts[2]):02d}</Day>"
    return out


def _author_xml(name: str) -> str:
    last, _, initials = name.rpartition(" ")
    if not last:
        return f"<Author ValidYN=\"Y\"><CollectiveName>{escape(name)}</CollectiveName></Author>"
    return f"<Author ValidYN=\"Y\"><LastName>{escape(last)}</LastName><Initials>{escape(initials)}</Initials></Author>"


def pubmed_xml(
    pmid: str,
    *,
    title: str = "A study",
    abstract: str | None = None,
    sections: list[dict] | None = None,
    publication_types=("Journal Article",),
    authors=("Doe J",),
    journal: str = "J Test",
    pub_date: str = "2026-11",
    entrez_date: str = "2026-11-18",
    doi: str | None = None,
    pmcid: str | None = None,
    retracted: bool = False,
    corrections=(),
    nct_ids=(),
) -> bytes:
    """One ``<PubmedArticle>`` as efetch answers it, with what the test asks for.

    ``corrections`` are (RefType, PMID) or (RefType, PMID, note) of CommentsCorrections;
    ``nct_ids`` go into the DataBankList; ``retracted`` adds the type PubMed gives a
    retracted paper ("Retracted Publication")."""
    types = list(publication_types) + (["Retracted Publication"] if retracted else [])
    if sections:
        abstract_xml = "".join(
            "<AbstractText"
            + (f" Label={quoteattr(s['label'])}" if s.get("label") else "")
            + (f" NlmCategory={quoteattr(s['category'])}" if s.get("category") else "")
            + f">{xml_text(s.get('text'))}</AbstractText>"
            for s in sections
        )
    elif abstract:
        abstract_xml = f"<AbstractText>{xml_text(abstract)}</AbstractText>"
    else:
        abstract_xml = ""
    cc = "".join(
        f"<CommentsCorrections RefType={quoteattr(c[0])}><RefSource>{escape(c[2] if len(c) > 2 and c[2] else 'J Test')}"
        f"</RefSource><PMID Version=\"1\">{escape(c[1])}</PMID></CommentsCorrections>"
        for c in corrections
    )
    bank = ""
    if nct_ids:
        bank = ("<DataBankList CompleteYN=\"Y\"><DataBank><DataBankName>ClinicalTrials.gov</DataBankName><AccessionNumberList>"
                + "".join(f"<AccessionNumber>{escape(n)}</AccessionNumber>" for n in nct_ids)
                + "</AccessionNumberList></DataBank></DataBankList>")
    ids = f"<ArticleId IdType=\"pubmed\">{pmid}</ArticleId>"
    if doi:
        ids += f"<ArticleId IdType=\"doi\">{escape(doi)}</ArticleId>"
    if pmcid:
        ids += f"<ArticleId IdType=\"pmc\">{escape(pmcid)}</ArticleId>"
    xml = (
        "<PubmedArticle><MedlineCitation Status=\"MEDLINE\" Owner=\"NLM\">"
        f"<PMID Version=\"1\">{pmid}</PMID>"
        "<Article PubModel=\"Print\"><Journal><JournalIssue CitedMedium=\"Internet\">"
        f"<PubDate>{_date_xml(pub_date)}</PubDate></JournalIssue>"
        f"<Title>{escape(journal)}</Title><ISOAbbreviation>{escape(journal)}</ISOAbbreviation></Journal>"
        f"<ArticleTitle>{xml_text(title)}</ArticleTitle>"
        + (f"<Abstract>{abstract_xml}</Abstract>" if abstract_xml else "")
        + "<AuthorList CompleteYN=\"Y\">" + "".join(_author_xml(a) for a in authors) + "</AuthorList>"
        "<Language>eng</Language>" + bank
        + "<PublicationTypeList>"
        + "".join(f"<PublicationType UI=\"D000000\">{escape(t)}</PublicationType>" for t in types)
        + "</PublicationTypeList></Article>"
        + (f"<CommentsCorrectionsList>{cc}</CommentsCorrectionsList>" if cc else "")
        + "</MedlineCitation><PubmedData><History>"
        f"<PubMedPubDate PubStatus=\"entrez\">{_date_xml(entrez_date)}</PubMedPubDate>"
        f"</History><PublicationStatus>ppublish</PublicationStatus><ArticleIdList>{ids}</ArticleIdList></PubmedData>"
        "</PubmedArticle>"
    )
    return xml.encode("utf-8")


def _refusal(rec) -> str | None:
    """The parser's reason when ``rec`` is an error marker rather than a record."""
    if isinstance(rec, dict):
        return rec.get("_error")
    return getattr(rec, "reason", None) if not hasattr(rec, "pmid") or type(rec).__name__ == "RecordError" else None


def store_pubmed(db, xml: bytes, topics=()) -> list:
    """Parse efetch XML (one or more ``<PubmedArticle>``) and store it as a crawl of
    ``topics`` would (no topic: a paper found otherwise, e.g. cited by a seed)."""
    if not xml.lstrip().startswith(b"<?xml") and b"<PubmedArticleSet" not in xml[:200]:
        xml = b"<?xml version=\"1.0\"?><PubmedArticleSet>" + xml + b"</PubmedArticleSet>"
    records = list(parse_pubmed(xml))
    errors = [_refusal(r) for r in records if _refusal(r)]
    if errors:
        raise ValueError(f"the parser refused a world record: {errors[0]}")
    for topic in topics or (None,):
        publications.save_publications(db, records, topic)
    return records


def add_publication(db, pmid: str, *, topics=(), **fields):
    """A paper found by ``topics`` (see ``pubmed_xml`` for the fields)."""
    return store_pubmed(db, pubmed_xml(pmid, **fields), topics)[0]


def add_correction(db, pmid: str, ref_type: str, other_pmid: str, note: str | None = None) -> None:
    """PubMed revises a stored paper's record: it now carries this CommentsCorrections link."""
    raw = publications.raw_xml(db, pmid)
    if raw is None:
        raise ValueError(f"PMID {pmid} is not stored: a correction arrives on a stored paper's record")
    el = etree.fromstring(raw)
    mc = el.find("MedlineCitation")
    cc_list = mc.find("CommentsCorrectionsList")
    if cc_list is None:
        cc_list = etree.SubElement(mc, "CommentsCorrectionsList")
    cc = etree.SubElement(cc_list, "CommentsCorrections", RefType=ref_type)
    etree.SubElement(cc, "RefSource").text = note or "J Test"
    etree.SubElement(cc, "PMID", Version="1").text = other_pmid
    if ref_type == "RetractionIn":
        types = el.find("MedlineCitation/Article/PublicationTypeList")
        etree.SubElement(types, "PublicationType", UI="D016441").text = "Retracted Publication"
    store_pubmed(db, etree.tostring(el))


# --- ClinicalTrials.gov --------------------------------------------------------------

def study_json(
    nct_id: str,
    *,
    title: str = "A trial",
    status: str = "RECRUITING",
    phases=("PHASE2",),
    enrollment: int | None = 60,
    enrollment_type: str | None = "ESTIMATED",
    sponsor: str | None = "A University",
    conditions=("Depression",),
    why_stopped: str | None = None,
    first_posted: str | None = "2026-11-01",
    has_results: bool = False,
    results_first_posted: str | None = None,
    primary_completion_date: str | None = None,
    references=(),
) -> dict:
    """A v2 study document (the fields the digest shows)."""
    status_module = {"overallStatus": status, "studyFirstPostDateStruct": {"date": first_posted, "type": "ACTUAL"}}
    if why_stopped:
        status_module["whyStopped"] = why_stopped
    if results_first_posted:
        status_module["resultsFirstPostDateStruct"] = {"date": results_first_posted, "type": "ACTUAL"}
    if primary_completion_date:
        status_module["primaryCompletionDateStruct"] = {"date": primary_completion_date, "type": "ACTUAL"}
    design = {"studyType": "INTERVENTIONAL", "phases": list(phases)}
    if enrollment is not None:
        design["enrollmentInfo"] = {"count": enrollment, "type": enrollment_type}
    proto = {
        "identificationModule": {"nctId": nct_id, "briefTitle": title},
        "statusModule": status_module,
        "designModule": design,
        "conditionsModule": {"conditions": list(conditions)},
    }
    if sponsor:
        proto["sponsorCollaboratorsModule"] = {"leadSponsor": {"name": sponsor}}
    if references:
        proto["referencesModule"] = {"references": [{"pmid": p, "type": "RESULT"} for p in references]}
    return {"protocolSection": proto, "hasResults": has_results}


def store_study(db, study: dict, topics=(), *, followed: bool = False):
    """Normalise and store one study as the ClinicalTrials.gov crawl does."""
    record = ctgov.normalise_study(study)
    for topic in topics or (None,):
        trials.save_trials(db, [record], topic)
    if followed:
        trials.follow_trial(db, record.nct_id, "watchlist")
    _studies(db)[record.nct_id] = copy.deepcopy(study)
    return record


def derive_trial_flags(db, today: dt.date) -> int:
    """The reporting flags (results overdue, unpublished) as of ``today``, as the end of a
    ClinicalTrials.gov crawl derives them."""
    stored = list(trials.iter_trials(db))
    return trials.record_trial_flags(db, trial_flags(stored, today), checked=[t.nct_id for t in stored])


def add_trial(db, nct_id: str, *, topics=(), followed: bool = False, **fields):
    return store_study(db, study_json(nct_id, **fields), topics, followed=followed)


def change_trial(db, nct_id: str, **changes):
    """The next version of a stored study, as ClinicalTrials.gov serves it after an update:
    ``status``, ``why_stopped``, ``enrollment`` (+``enrollment_type``), ``has_results``,
    ``results_first_posted``, ``phases``, ``new_references`` (PMIDs)."""
    study = copy.deepcopy(_studies(db)[nct_id])
    proto = study["protocolSection"]
    status = proto["statusModule"]
    for name, value in changes.items():
        if name == "status":
            status["overallStatus"] = value
        elif name == "why_stopped":
            status["whyStopped"] = value
        elif name == "enrollment":
            proto["designModule"]["enrollmentInfo"] = {"count": value, "type": changes.get("enrollment_type", "ACTUAL")}
        elif name == "enrollment_type":
            continue
        elif name == "has_results":
            study["hasResults"] = bool(value)
        elif name == "results_first_posted":
            status["resultsFirstPostDateStruct"] = {"date": value, "type": "ACTUAL"}
        elif name == "phases":
            proto["designModule"]["phases"] = list(value)
        elif name == "new_references":
            refs = proto.setdefault("referencesModule", {}).setdefault("references", [])
            refs += [{"pmid": p, "type": "RESULT", "citation": f"Results paper {p}."} for p in value]
        else:
            raise ValueError(f"change_trial: no such change {name!r}")
    return store_study(db, study)


# --- feeds -------------------------------------------------------------------------

PREPRINT_FEED = "https://connect.medrxiv.org/relate/feed/psychiatry"


def rss(items: list[dict], *, title: str | None = None) -> bytes:
    """An RSS 2.0 document; each item: id (guid), title, link, summary, authors, published
    (YYYY-MM-DD), doi, pmid."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>',
           f"<title>{escape(title or 'A feed')}</title><link>https://example.org/</link><description>d</description>"]
    for it in items:
        parts = [f"<title>{escape(it.get('title') or '')}</title>"]
        if it.get("id"):
            parts.append(f"<guid isPermaLink=\"false\">{escape(it['id'])}</guid>")
        if it.get("link"):
            parts.append(f"<link>{escape(it['link'])}</link>")
        if it.get("summary"):
            parts.append(f"<description>{escape(it['summary'])}</description>")
        for a in it.get("authors") or ():
            parts.append(f"<dc:creator>{escape(a)}</dc:creator>")
        if it.get("published"):
            day = dt.datetime.fromisoformat(it["published"]).replace(hour=12, tzinfo=dt.timezone.utc)
            parts.append(f"<pubDate>{email.utils.format_datetime(day)}</pubDate>")
        if it.get("doi"):
            parts.append(f"<dc:identifier>doi:{escape(it['doi'])}</dc:identifier>")
        elif it.get("pmid"):
            parts.append(f"<dc:identifier>pmid:{escape(it['pmid'])}</dc:identifier>")
        out.append("<item>" + "".join(parts) + "</item>")
    out.append("</channel></rss>")
    return "".join(out).encode("utf-8")


def store_feed(db, body: bytes, feed_url: str, topics=()) -> list[dict]:
    """Parse a fetched feed and store its items for ``topics``, then link them, as a feeds crawl does."""
    parsed = parse_feed(body, feed_url, {"Content-Type": "application/rss+xml"})
    with transaction(db):
        for topic in topics or (None,):
            feeds.save_feed_items(db, parsed.items, topic)
        feeds.record_feed_state(db, feed_url, title=parsed.title)
    feeds.link_feed_items(db)
    return parsed.items


def add_feed_item(
    db, item_id: str, *, kind: str = "preprint", title: str = "A preprint",
    link: str | None = "https://www.medrxiv.org/content/10.1101/2026.11.01.000001v1", summary: str | None = None,
    topics=(), authors=(), published: str | None = "2026-11-17", doi: str | None = None, pmid: str | None = None,
    nct_id: str | None = None, feed_url: str | None = None, feed_title: str | None = None,
) -> dict:
    """One item in a feed of its ``kind`` (preprint: medRxiv; journal: a journal's TOC;
    trial: a ClinicalTrials.gov search feed)."""
    if feed_url is None:
        feed_url = {"preprint": PREPRINT_FEED, "trial": "https://clinicaltrials.gov/ct2/results/rss.xml?term=ketamine"}.get(
            kind, "https://example.org/journal.rss")
    if feed_title is None:
        feed_title = {"preprint": "medRxiv: Psychiatry and Clinical Psychology"}.get(kind, "Journal table of contents")
    if kind == "trial":
        link = f"https://clinicaltrials.gov/study/{nct_id}" if nct_id else "https://clinicaltrials.gov/"
    elif kind == "journal" and link and "medrxiv" in link:
        link = f"https://example.org/journal/{item_id}"
    body = rss([{"id": item_id, "title": title, "link": link, "summary": summary, "authors": authors,
                 "published": published, "doi": doi, "pmid": pmid}], title=feed_title)
    return store_feed(db, body, feed_url, topics)[0]


# --- crawl runs ----------------------------------------------------------------------

def add_crawl_run(db, source: str, status: str = "ok", *, warnings=(), error: str | None = None,
                  started_at: str | None = None, finished_at: str | None = None) -> int:
    """A finished crawl run as the crawl records it (start, then finish)."""
    run_id = crawl_state.start_run(db, source, now=started_at)
    crawl_state.finish_run(db, run_id, status, {}, list(warnings), error, now=finished_at or started_at)
    return run_id


# --- the demo ------------------------------------------------------------------------

def _iso(moment: dt.datetime) -> str:
    return format_timestamp(moment)


def _recorded(recordings: Path, pmid: str, *, types: list[str] | None = None) -> bytes:
    """A recorded efetch answer, optionally with the publication types a demo needs."""
    el = etree.fromstring((recordings / "pubmed" / "efetch" / f"{pmid}.xml").read_bytes())
    art = el.find(".//PubmedArticle")
    if types is not None:
        tl = art.find("MedlineCitation/Article/PublicationTypeList")
        for child in list(tl):
            tl.remove(child)
        for t in types:
            etree.SubElement(tl, "PublicationType", UI="D000000").text = t
    return etree.tostring(art)


# Papers of the demo written for it (on the watchlist's topics; not real records): their
# authors are placeholders, their journals "Example ..." ones and their DOIs under 10.5555,
# the prefix Crossref keeps for tests, so that nothing made up here names a real person,
# journal or article.  36804489 is the real report of NCT03395314 (Neuropsychopharmacology
# 2023): its title, journal, authors and date are the real ones, its abstract a summary.
_DEMO_ABSTRACT = [
    {"label": "BACKGROUND", "category": "BACKGROUND", "text": "Ketamine has rapid antidepressant effects, but evidence on repeated dosing is limited."},
    {"label": "METHODS", "category": "METHODS", "text": "We randomly assigned 120 adults with treatment-resistant depression to six infusions of ketamine (0.5 mg/kg) or midazolam. Registered at ClinicalTrials.gov (NCT03630471)."},
    {"label": "RESULTS", "category": "RESULTS", "text": "Response at day 28 was 41% with ketamine and 18% with midazolam (p &lt; 0.01)."},
    {"label": "CONCLUSIONS", "category": "CONCLUSIONS", "text": "Repeated intravenous ketamine improved depressive symptoms over 4 weeks compared with an active placebo."},
]


def build_demo(db, recordings: str | Path, now: dt.datetime) -> None:
    """A week's events over recorded and demo records, all through the crawl's writer:
    a followed trial terminated with results and a new reference, a retraction and an
    erratum on papers in the digest, a paper found by three topics, a preprint, a
    journal-feed item, crawl warnings."""
    rec = Path(recordings)
    entrez = (now - dt.timedelta(days=3)).date().isoformat()
    # Real recordings on the topics (types as recorded).
    store_pubmed(db, _recorded(rec, "38011560"), ("ketamine-depression", "ketamine-trd"))
    store_pubmed(db, _recorded(rec, "34843274", types=["Journal Article", "Practice Guideline"]), ("ketamine-depression",))
    # Demo records for the evidence groups a week brings.
    add_publication(db, "41000001", topics=("ketamine-depression", "ketamine-trd"), title="Repeated intravenous ketamine versus midazolam in treatment-resistant depression: a randomized clinical trial",
                    sections=_DEMO_ABSTRACT, publication_types=("Journal Article", "Randomized Controlled Trial", "Multicenter Study"),
                    authors=("Doe J", "Roe R", "Public JQ", "Sample S"), journal="Example J Psychiatry", pub_date="2026-11",
                    entrez_date=entrez, doi="10.5555/example.2026.0001", pmcid="PMC99000001", nct_ids=("NCT03630471",))
    add_publication(db, "41000002", topics=("ketamine-depression", "ketamine-trd", "ketamine-suicidality"),
                    title="Esketamine nasal spray for suicidal ideation in major depression: a systematic review and meta-analysis of 9 trials",
                    abstract="Nine randomised trials (n = 2,113) were included. Esketamine reduced suicidal ideation at 24 hours. The certainty of evidence was low.",
                    publication_types=("Journal Article", "Systematic Review", "Meta-Analysis"), authors=("Example A", "Roe RM"),
                    journal="Example Psychiatry Rev", entrez_date=entrez, doi="10.5555/example.2026.0002")
    add_publication(db, "36804489", topics=("ketamine-depression", "ketamine-bpd"),
                    title="A pilot randomized controlled trial of ketamine in Borderline Personality Disorder",
                    abstract="In this double-blind, randomized controlled pilot trial (NCT03395314), 22 adults with borderline personality "
                             "disorder received one infusion of ketamine or of midazolam. Suicidal ideation and depression fell in both "
                             "groups, without a significant difference between them.",
                    publication_types=("Journal Article", "Randomized Controlled Trial"),
                    authors=("Fineberg SK", "Choi EY", "Shapiro-Thompson R", "Dhaliwal K", "Neustadter E", "Sakheim M", "Null K",
                             "Trujillo-Diaz D", "Rondeau J", "Pittaro GF", "Peters JR", "Corlett PR", "Krystal JH"),
                    journal="Neuropsychopharmacology", pub_date="2023-06", entrez_date="2023-02-17",  # its e-publication
                    nct_ids=("NCT03395314",))
    add_publication(db, "41000003", topics=("ketamine-depression",), title="Ketamine-assisted psychotherapy in routine care: a retrospective cohort of 412 patients",
                    abstract="We reviewed 412 patients treated in three clinics. Depressive symptoms fell by a mean of 9 points on the PHQ-9.",
                    publication_types=("Journal Article", "Observational Study"), authors=("Sample S",), journal="Example J Affect Disord",
                    entrez_date=entrez)
    add_publication(db, "41000004", topics=("ketamine-suicidality",), title="Ketamine for acute suicidality: a narrative review",
                    abstract="We summarise trials of ketamine for suicidal ideation in emergency settings.",
                    publication_types=("Journal Article", "Review"), authors=("Roe R",), journal="Example CNS Rev", entrez_date=entrez)
    add_publication(db, "41000005", topics=("ketamine-depression",), title="Intranasal ketamine and mood in adolescents with depression: an open-label pilot study",
                    abstract="Fifteen adolescents received intranasal ketamine. Results were encouraging.",
                    publication_types=("Journal Article",), authors=("Public JQ", "Doe J"), journal="Example J Adolesc Psychopharmacol",
                    entrez_date=entrez)
    # Trials: the followed BPD trial (delivered before), and recorded studies.
    store_study(db, _bpd_study(), ("ketamine-bpd",), followed=True)
    for nct, topics in (("NCT03630471", ("ketamine-depression",)), ("NCT00973089", ("ketamine-trd",)),
                        ("NCT06171568", ("ketamine-depression",)), ("NCT03418623", ("ketamine-suicidality",))):
        store_study(db, json.loads((rec / "ctgov" / f"{nct}.json").read_text(encoding="utf-8")), topics)
    with ledger.write_transaction(db):
        old = ledger.record_digest(db, created_at=_iso(now - dt.timedelta(days=7)), week="previous", subject="previous digest",
                                   recipients=[], items=[("trial", "NCT03395314"), ("trial", "NCT03630471"), ("trial", "NCT00973089")],
                                   status="sending")
    ledger.mark_delivered(db, old, sent_at=_iso(now - dt.timedelta(days=7)), delivered_to="smtp", message_id="<demo@litwatch>")
    # This week's changes: the followed trial stopped, with results and its results paper.
    change_trial(db, "NCT03395314", status="TERMINATED", why_stopped="Slow recruitment", enrollment=22,
                 results_first_posted="2026-11-12", has_results=True, new_references=["36804489"])
    change_trial(db, "NCT00973089", status="WITHDRAWN")
    # A retraction and an erratum touching papers of this digest.
    add_correction(db, "41000005", "RetractionIn", "41000099", note="Example J Adolesc Psychopharmacol. 2026 Nov;36(9):e1")
    add_correction(db, "41000001", "ErratumIn", "41000098", note="Example J Psychiatry. 2026;3:e2")
    add_feed_item(db, "demo-preprint-1", kind="preprint",
                  title="Repeated intravenous ketamine and suicidal ideation: a retrospective cohort (demo item)",
                  summary="A demo preprint standing for a medRxiv feed entry. It is not a real record.",
                  topics=("ketamine-suicidality",), authors=("Demo A", "Demo B"), doi="10.1101/2026.11.10.000001",
                  link="https://www.medrxiv.org/content/10.1101/2026.11.10.000001v1")
    add_feed_item(db, "demo-journal-1", kind="journal", title="Esketamine nasal spray in routine care: one-year outcomes (demo item)",
                  link="https://example.org/journal/article/123", topics=("ketamine-trd",),
                  feed_url="https://example.org/journal.rss", feed_title="Journal table of contents (demo)",
                  summary="A demo journal-feed item, not yet indexed by PubMed.")
    # The reader follows the ketamine review: the crawl's first elink found older citing
    # papers (the baseline), this week's found a new one.
    follows.follow_paper(db, "38011560")
    follows.record_citing(db, [("30000001", "38011560")], now=_iso(now - dt.timedelta(days=30)))
    follows.record_citing(db, [("41000002", "38011560")], now=_iso(now - dt.timedelta(days=2)))
    # A completed phase 2 trial whose results are long overdue: flagged once.
    add_trial(db, "NCT02210780", topics=("ketamine-depression",), title="Ketamine infusions for bipolar depression",
              status="COMPLETED", phases=("PHASE2",), enrollment=48, enrollment_type="ACTUAL", sponsor="A University Hospital",
              conditions=("Bipolar Depression",), first_posted="2014-08-06", primary_completion_date="2023-06-30")
    derive_trial_flags(db, now.date())
    add_crawl_run(db, "pubmed", "ok", warnings=["topic ketamine-bpd: query returned 0 records where it returned 14 before"],
                  started_at=_iso(now - dt.timedelta(days=3)))
    add_crawl_run(db, "feeds", "partial", error="https://example.org/gone.rss: HTTP 410 Gone (feed removed?)",
                  started_at=_iso(now - dt.timedelta(days=1)))


def _bpd_study() -> dict:
    return ketamine_bpd_study()

