"""A fake NCBI E-utilities server for tests: real HTTP on 127.0.0.1, real PubMed records.

Usage::

    from tests.fakes.eutils import FakeEutils

    with FakeEutils() as fake:                  # loads every recorded PubMed record
        env["LITWATCH_EUTILS_URL"] = fake.base_url   # http://127.0.0.1:PORT/entrez/eutils/
        ...run the crawl...
        fake.calls("efetch")                    # the request log, see LoggedRequest
        fake.fetched_pmids()                    # every PMID efetch returned, in order

What it serves (POST form bodies and GET query strings alike):

- ``esearch.fcgi``: ``term`` evaluation:
    * ``fake.term_results[term] = {pmids}`` set by a test wins, for the whole term or a
      parenthesised part of it (the crawler's ``(term) AND (dates)`` windows);
    * otherwise the term is evaluated as PubMed would (``litwatch.fakes.pubmed_query``:
      AND/OR/NOT left to right, parentheses, quoted phrases, ``*`` truncation, ``[tiab]``,
      ``[ti]``, ``[mh]``, ``[pt]``, ``[si]``, ``[aid]``, ``[uid]``, date ranges on
      ``[edat]``/``[crdt]``/``[dp]``/``[mdat]``, ``all[sb]`` for every record, bare terms =
      all fields) against the records served.  A term the parser cannot read finds
      nothing and is reported in ``ErrorList`` (as PubMed reports a phrase it ignored).
  ``datetype=edat`` (entry date ``fake.entrez[pmid]``, from ``PubMedPubDate[@PubStatus="pubmed"]``),
  ``datetype=crdt`` (create date ``fake.created[pmid]``, from ``PubStatus="entrez"``, or the
  entry date given to ``add_record``/``derive`` unless ``created=`` is given too: a late
  arrival has an old entry date and a recent create date)
  or ``datetype=mdat`` (``fake.mdat[pmid]``, default the record's DateRevised) with
  ``mindate``/``maxdate`` (``YYYY``, ``YYYY/MM`` or ``YYYY/MM/DD``); ``retstart``/``retmax``
  (default 20, at most 10,000); ``usehistory=y`` returns ``WebEnv``/``QueryKey``.
  Ids are sorted newest entry first (then PMID descending), like PubMed's default.
  The 9,999 cap is the real one: ``retstart`` > cap-1 answers, by ``fake.cap_error``:
  ``"retstart"`` (default; HTTP 200 ``<ERROR>Search Backend failed: ... 'retstart' cannot be
  larger than 9998 ...``), ``"position"`` (HTTP 200 ``<ERROR>Search Backend failed:
  Exception: Position N is out of acceptable range``) or ``"400"`` (HTTP 400); ids past the
  cap are cut, ``Count`` is always the true count.  TEST KNOB: ``FakeEutils(cap=5)`` (or
  ``fake.cap = 5``) makes the cap small so a window split can be tested with the recordings.
  ``fake.phrases_not_found[term] = ["foo"]`` adds ``<ErrorList><PhraseNotFound>foo…`` the way
  PubMed reports a query it partly ignored.
- History server: each ``usehistory=y`` search keeps its result set (frozen) under its
  WebEnv/QueryKey.  ``fake.expire_history_after(n, then=callback)``: after ``n`` more
  history efetches every WebEnv expires (efetch then answers the in-band
  ``<ERROR>Unable to obtain query #1</ERROR>``) and ``callback()`` runs (a test adds records
  there: the re-run search sees a grown result set).  ``fake.hold_slice(retstart, s)``
  answers that history slice ``s`` seconds late (answers in another order than requests).
- ``elink.fcgi`` (``dbfrom=pubmed&db=pubmed&linkname=pubmed_pubmed_citedin``): one LinkSet per
  ``id=`` parameter (``id=a,b`` merges them into one, as NCBI does), ``LinkSetDb`` only when
  something cites it.  Who cites whom: the ``ReferenceList`` PMIDs of the records served,
  plus ``fake.add_citation(citing, cited)``.
- ``efetch.fcgi`` (``db=pubmed``, ``retmode=xml``): ``id=`` comma list, or ``WebEnv`` +
  ``query_key`` + ``retstart`` + ``retmax``; answers a ``PubmedArticleSet`` of the stored
  records (unknown PMIDs are left out, as PubMed does).
- Rate limit like NCBI's: more than ``rate_limit`` (3) requests in any 1-second window, or
  ``rate_limit_key`` (10) when the request carries ``api_key``, answers HTTP 429 with the real
  JSON body; normal answers carry ``X-RateLimit-Limit`` / ``X-RateLimit-Remaining``.
- Fault injection: ``fake.inject(kind, path="efetch", times=1, retry_after=None, pmid=None)``
  queues a fault for the next matching request(s).  Kinds: ``"429"`` (optional Retry-After),
  ``"500"`` (an HTML error page), ``"truncated"`` (Content-Length larger than the body, then
  the connection closes), ``"error"`` (HTTP 200 carrying ``<ERROR>…</ERROR>``), ``"empty"``
  (HTTP 200, empty body), ``"bad_record"`` (efetch only: one record is malformed XML — an
  unclosed element — inside an otherwise good answer: ``pmid``, in whichever answer holds
  it, or else the first record of the next answer), ``"short"`` (efetch only: the last
  record asked for is left out, a short page: of the answer that holds ``pmid`` if one is
  named, whichever order the crawler's requests arrive in, or else of the next answer).
- Records: ``fake.records`` ({pmid: <PubmedArticle> bytes}); add more at run time with
  ``fake.add_record(xml_bytes)`` or ``fake.derive(src_pmid, new_pmid, entrez=date,
  nct_ids=[...], title=..., date_revised=date, retracted_in=pmid)``.
- Request log: ``fake.log`` (list of ``LoggedRequest``: ``t`` (time.monotonic), ``path``
  ("esearch", "efetch", "elink", …), ``method``, ``params`` (dict of str), ``pairs`` (every
  key/value, repeated keys kept), ``status``, ``fault``, ``pmids`` (what efetch returned,
  or the PMIDs elink linked)).  ``fake.max_in_window(1.0)`` is the most requests seen in
  any 1-second window.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from lxml import etree

from litwatch.fakes import pubmed_query
from litwatch.fakes.server import LoopbackServer, QuietHandler, send_pieces
from litwatch.vocab.errors import QueryError

FIXTURES = Path(__file__).resolve().parent / "recordings" / "pubmed"

ESEARCH_DOCTYPE = (
    b'<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" '
    b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
)
EFETCH_HEAD = (
    b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n<PubmedArticleSet>\n'
)
EFETCH_TAIL = b"</PubmedArticleSet>\n"
CAP_ERROR = (
    "Search Backend failed: Exception:\n'retstart' cannot be larger than 9998. For PubMed, ESearch can only "
    "retrieve the first 9,999 records matching the query. To obtain more than 9,999 PubMed records, consider "
    "using EDirect that contains additional logic to batch PubMed search results automatically so that an "
    "arbitrary number can be retrieved. For details see https://www.ncbi.nlm.nih.gov/books/NBK25499/"
)
HTML_500 = (
    b"<!DOCTYPE html><html><head><title>500 Internal Server Error</title></head><body>"
    b"<h1>Internal Server Error</h1><p>The server encountered an internal error.</p></body></html>"
)
POSITION_ERROR = "Search Backend failed: Exception: Position {n} is out of acceptable range"
ELINK_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eLinkResult PUBLIC "-//NLM//DTD elink 20101123//EN" '
    b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20101123/elink.dtd">\n<eLinkResult>\n'
)


@dataclass
class LoggedRequest:
    t: float
    path: str
    method: str
    params: dict
    status: int = 0
    fault: str | None = None
    pmids: list = field(default_factory=list)
    pairs: list = field(default_factory=list)  # every (key, value), repeated keys kept


@dataclass
class Fault:
    kind: str
    path: str | None
    times: int
    retry_after: int | None = None
    pmid: str | None = None


def _text_date(el) -> dt.date | None:
    if el is None:
        return None
    try:
        return dt.date(int(el.findtext("Year")), int(el.findtext("Month") or 1), int(el.findtext("Day") or 1))
    except (TypeError, ValueError):
        return None


_pii_key = pubmed_query.pii_key
_parse_date = pubmed_query._parse_date


def _pub_date(article) -> dt.date | None:
    """The journal issue's publication date ([dp]); a MedlineDate gives its first year."""
    pub = article.find("Journal/JournalIssue/PubDate") if article is not None else None
    if pub is None:
        return None
    year = pub.findtext("Year") or (re.findall(r"\d{4}", pub.findtext("MedlineDate") or "") or [None])[0]
    if not year:
        return None
    month = pub.findtext("Month") or "1"
    months = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
    month_n = int(month) if month.isdigit() else months.get(month[:3].lower(), 1)
    day = pub.findtext("Day") or "1"
    try:
        return dt.date(int(year), month_n, int(day) if day.isdigit() else 1)
    except ValueError:
        return dt.date(int(year), 1, 1)


def _index(el, pmid: str, aids: set[str], si: set[str], dates: dict) -> pubmed_query.Index:
    """What the query evaluator searches in one record."""
    article = el.find("MedlineCitation/Article")

    def text(node) -> str:
        return "".join(node.itertext()) if node is not None else ""

    abstract = " ".join(text(a) for a in el.iterfind("MedlineCitation/Article/Abstract/AbstractText"))
    mesh, major = [], []
    for heading in el.iterfind("MedlineCitation/MeshHeadingList/MeshHeading"):
        name = heading.findtext("DescriptorName") or ""
        mesh.append(name)
        if heading.find("DescriptorName").get("MajorTopicYN") == "Y" or any(
            q.get("MajorTopicYN") == "Y" for q in heading.iterfind("QualifierName")
        ):
            major.append(name)
    authors = []
    for au in el.iterfind("MedlineCitation/Article/AuthorList/Author"):
        authors.append(" ".join(filter(None, [au.findtext("LastName"), au.findtext("Initials"), au.findtext("CollectiveName")])))
    return pubmed_query.Index(
        pmid=pmid,
        title=text(article.find("ArticleTitle")) if article is not None else "",
        abstract=abstract,
        mesh=mesh,
        major_mesh=major,
        keywords=[k.text or "" for k in el.iterfind("MedlineCitation/KeywordList/Keyword")],
        pt=[p.text or "" for p in el.iterfind("MedlineCitation/Article/PublicationTypeList/PublicationType")],
        authors=authors,
        journal=" | ".join(filter(None, [el.findtext("MedlineCitation/Article/Journal/Title"),
                                         el.findtext("MedlineCitation/Article/Journal/ISOAbbreviation")])),
        si=si,
        aids=aids,
        dates=dates,
    )


class FakeEutils(LoopbackServer):
    def __init__(self, *, load_fixtures: bool = True, cap: int = 9999, rate_limit: int = 3, rate_limit_key: int = 10):
        self.records: dict[str, bytes] = {}
        self.entrez: dict[str, dt.date] = {}
        # Each record's place in every search's answer, newest first: entry date, then PMID,
        # as one number (day << 40 | PMID), computed once a record instead of a tuple of a
        # date and an int a record and search (15 ms of sorting a search of 10,000).
        self._newest_key: dict[str, int] = {}
        self.created: dict[str, dt.date] = {}
        self.mdat: dict[str, dt.date] = {}
        self.index: dict[str, pubmed_query.Index] = {}
        self.citations: dict[str, set[str]] = {}  # cited PMID -> citing PMIDs
        self.cap_error = "retstart"
        self._history_budget: int | None = None
        self._on_expire = None
        self._held_slices: dict[str, float] = {}
        self.term_results: dict[str, set[str]] = {}
        self.phrases_not_found: dict[str, list[str]] = {}
        self.cap = cap
        self.rate_limit = rate_limit
        self.rate_limit_key = rate_limit_key
        self.log: list[LoggedRequest] = []
        self.faults: list[Fault] = []
        self._history: dict[str, dict[int, list[str]]] = {}
        self._recent: deque[float] = deque()
        self._lock = threading.Lock()
        # Held while the service's state changes at once (every history expiring, with what
        # ``expire_history_after`` runs then) and while a search or a history fetch reads it:
        # no answer sees half of such a change, as none of NCBI's would.  (An expired slice
        # answered while the topic was still growing let the crawl search again too early.)
        self._world = threading.RLock()
        if load_fixtures:
            for path in sorted((FIXTURES / "efetch").glob("*.xml")) + [FIXTURES / "pubmed1.xml", FIXTURES / "pubmed2.xml"]:
                self.add_file(path.read_bytes())

    # ---------------------------------------------------------------- records
    def add_file(self, data: bytes) -> list[str]:
        """Add every PubmedArticle and PubmedBookArticle of an efetch answer; returns their PMIDs."""
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
        return [self.add_record(etree.tostring(el, with_tail=False))
                for el in root.iterchildren("PubmedArticle", "PubmedBookArticle")]

    def add_record(self, xml: bytes, *, entrez: dt.date | None = None, created: dt.date | None = None) -> str:
        """Store one <PubmedArticle> or <PubmedBookArticle> (bytes); indexes its dates,
        fields, [aid] and [si] keys.

        ``created`` is its create date ([crdt]); by default the entrez date (as for every
        record that entered PubMed within a year of publication)."""
        el = etree.fromstring(xml)
        if el.tag == "PubmedBookArticle":
            return self._add_book(el, xml, entrez=entrez, created=created)
        pmid = el.findtext("MedlineCitation/PMID").strip()
        with self._lock:
            self.records[pmid] = xml
            dates = self._set_dates(pmid, el.find("PubmedData/History"), el.find("MedlineCitation/DateRevised"),
                                    entrez=entrez, created=created)
            for ref in el.xpath("PubmedData/ReferenceList/Reference/ArticleIdList/ArticleId[@IdType='pubmed']/text()"):
                if ref.strip().isdigit():
                    self.citations.setdefault(ref.strip(), set()).add(pmid)
            aids = set()
            for aid in el.iterfind("PubmedData/ArticleIdList/ArticleId"):
                if aid.get("IdType") in ("doi", "pii") and aid.text:
                    aids |= {aid.text.strip().lower(), _pii_key(aid.text)}
            for loc in el.iterfind("MedlineCitation/Article/ELocationID"):
                if loc.get("EIdType") in ("doi", "pii") and loc.text:
                    aids |= {loc.text.strip().lower(), _pii_key(loc.text)}
            si = {
                (acc.text or "").strip().upper()
                for acc in el.iterfind("MedlineCitation/Article/DataBankList/DataBank/AccessionNumberList/AccessionNumber")
            }
            published = _pub_date(el.find("MedlineCitation/Article"))
            if published:
                dates["published"] = published
            self.index[pmid] = _index(el, pmid, aids, si, dates)
        return pmid

    def _set_dates(self, pmid: str, history, revised, *, entrez: dt.date | None, created: dt.date | None) -> dict:
        """A record's entry, create and modification dates (given, else from its History and
        DateRevised), kept for searches and their order; returns them for its ``Index``.
        Entry Date [edat] is PubStatus "pubmed", Create Date [crdt] is "entrez"
        (pubmed_250101's PubStatus documentation; API_NOTES)."""
        def status(name: str) -> dt.date | None:
            return _text_date(history.find(f"PubMedPubDate[@PubStatus='{name}']")) if history is not None else None

        edat, crdt = status("pubmed"), status("entrez")
        self.entrez[pmid] = entrez or edat or crdt or dt.date(2000, 1, 1)
        self._newest_key[pmid] = self.entrez[pmid].toordinal() << 40 | int(pmid)
        self.created[pmid] = created or (entrez if entrez else crdt) or self.entrez[pmid]
        self.mdat.setdefault(pmid, _text_date(revised) or self.entrez[pmid])
        return {"entrez": self.entrez[pmid], "created": self.created[pmid], "modified": self.mdat[pmid]}

    def _add_book(self, el, xml: bytes, *, entrez: dt.date | None, created: dt.date | None) -> str:
        """A Bookshelf record (BookDocument + PubmedBookData): searched on its chapter
        title, abstract, authors, book title and publication types."""
        doc = el.find("BookDocument")
        pmid = doc.findtext("PMID").strip()

        def text(node) -> str:
            return "".join(node.itertext()) if node is not None else ""

        with self._lock:
            self.records[pmid] = xml
            dates = self._set_dates(pmid, el.find("PubmedBookData/History"), doc.find("DateRevised"),
                                    entrez=entrez, created=created)
            published = _text_date(doc.find("Book/PubDate"))
            if published:
                dates["published"] = published
            self.index[pmid] = pubmed_query.Index(
                pmid=pmid,
                title=text(doc.find("ArticleTitle")) or text(doc.find("Book/BookTitle")),
                abstract=" ".join(text(a) for a in doc.iterfind("Abstract/AbstractText")),
                keywords=[k.text or "" for k in doc.iterfind("KeywordList/Keyword")],
                pt=[p.text or "" for p in doc.iterfind("PublicationType")],
                authors=[" ".join(filter(None, [a.findtext("LastName"), a.findtext("Initials"), a.findtext("CollectiveName")]))
                         for a in doc.iterfind("AuthorList/Author")],
                journal=text(doc.find("Book/BookTitle")),
                aids={(a.text or "").strip().lower() for a in doc.iterfind("ArticleIdList/ArticleId") if a.text},
                dates=dates,
            )
        return pmid

    def add_citation(self, citing: str, cited: str) -> None:
        """``citing`` cites ``cited`` (what elink's pubmed_pubmed_citedin reports)."""
        with self._lock:
            self.citations.setdefault(str(cited), set()).add(str(citing))

    def hold_slice(self, retstart: int, seconds: float) -> None:
        """Answer the history efetch from ``retstart`` ``seconds`` late (it reaches the crawl
        after a slice asked for later: answers in another order than the requests)."""
        with self._lock:
            self._held_slices[str(retstart)] = seconds

    def expire_history_after(self, fetches: int, then=None) -> None:
        """After ``fetches`` more history efetches, every WebEnv expires; ``then()`` runs."""
        with self._lock:
            self._history_budget = fetches
            self._on_expire = then

    def derive(
        self,
        src_pmid: str,
        new_pmid: str | None = None,
        *,
        entrez: dt.date | None = None,
        nct_ids: list[str] = (),
        title: str | None = None,
        date_revised: dt.date | None = None,
        retracted_in: str | None = None,
        created: dt.date | None = None,
        abstract: str | None = None,
        mesh: list[str] | None = None,
        publication_types: list[str] | None = None,
        references: list[str] = (),
        journal: tuple[str, str] | None = None,
        published: dt.date | None = None,
        authors: list[tuple[str, str]] | None = None,
    ) -> str:
        """A copy of a stored record with a new PMID / entrez date / trial numbers / title.

        ``date_revised`` also sets the record's modification date (``datetype=mdat``);
        ``retracted_in`` adds a CommentsCorrections RetractionIn and the type "Retracted
        Publication", as PubMed does when a paper is retracted.  ``created`` is the create
        date (written as the History "entrez" date, which is PubMed's [crdt]): with an old
        ``entrez`` (the entry date, written to both History dates) it makes a late arrival.  ``abstract``, ``mesh`` and ``publication_types`` replace those fields
        (so the paper matches the queries it should); ``references`` are PMIDs it cites
        (its ReferenceList: what elink's citedin reports).  ``journal`` (title, ISO
        abbreviation), ``published`` (its publication date) and ``authors`` ((last name,
        fore name) each) make it a paper of its own, not one more copy of the recording's
        journal issue and authors (the copy then has no volume, pages, grants, ORCIDs or
        affiliations of the recording's).
        """
        el = etree.fromstring(self.records[src_pmid])
        pmid = new_pmid or src_pmid
        el.find("MedlineCitation/PMID").text = pmid
        for aid in el.iterfind("PubmedData/ArticleIdList/ArticleId[@IdType='pubmed']"):
            aid.text = pmid
        if new_pmid and new_pmid != src_pmid:  # a different paper: its own ids
            for aid in el.iterfind("PubmedData/ArticleIdList/ArticleId"):
                if aid.get("IdType") in ("doi", "pii", "pmc"):
                    aid.getparent().remove(aid)
            for loc in el.iterfind("MedlineCitation/Article/ELocationID"):
                loc.getparent().remove(loc)
        article = el.find("MedlineCitation/Article")
        if title is not None:
            article.find("ArticleTitle").text = title
            for child in list(article.find("ArticleTitle")):
                article.find("ArticleTitle").remove(child)
        if entrez is not None:
            history = el.find("PubmedData/History")
            if history is None:
                history = etree.SubElement(el.find("PubmedData"), "History")
            # An on-time record: Create Date (PubStatus "entrez", [crdt]) = Entry Date
            # (PubStatus "pubmed", [edat]), per pubmed_250101's PubStatus documentation.
            for status in ("entrez", "pubmed"):
                node = history.find(f"PubMedPubDate[@PubStatus='{status}']")
                if node is None:
                    node = etree.SubElement(history, "PubMedPubDate", PubStatus=status)
                _put_date(node, str(entrez.year), str(entrez.month), str(entrez.day))
        if created is not None:
            history = el.find("PubmedData/History")
            # The Create Date ([crdt]) is PubStatus "entrez" (pubmed_250101's PubStatus docs).
            node = history.find("PubMedPubDate[@PubStatus='entrez']") if history is not None else None
            if node is not None:
                _put_date(node, str(created.year), str(created.month), str(created.day))
        if abstract is not None:
            old = article.find("Abstract")
            new = etree.Element("Abstract")
            etree.SubElement(new, "AbstractText").text = abstract
            if old is not None:
                old.addprevious(new)
                article.remove(old)
            else:
                article.find("ArticleTitle").addnext(new)
        if mesh is not None:
            mc = el.find("MedlineCitation")
            old = mc.find("MeshHeadingList")
            if old is not None:
                mc.remove(old)
            if mesh:
                mhl = etree.SubElement(mc, "MeshHeadingList")
                for name in mesh:
                    etree.SubElement(etree.SubElement(mhl, "MeshHeading"), "DescriptorName", MajorTopicYN="N").text = name
        if publication_types is not None:
            ptl = article.find("PublicationTypeList")
            for child in list(ptl):
                ptl.remove(child)
            for name in publication_types:
                etree.SubElement(ptl, "PublicationType").text = name
        if references:
            pdata = el.find("PubmedData")
            rl = pdata.find("ReferenceList")
            if rl is None:
                rl = etree.SubElement(pdata, "ReferenceList")
            for ref in references:
                r = etree.SubElement(rl, "Reference")
                etree.SubElement(r, "Citation").text = f"PMID {ref}"
                etree.SubElement(etree.SubElement(r, "ArticleIdList"), "ArticleId", IdType="pubmed").text = str(ref)
        if nct_ids:
            dbl = article.find("DataBankList")
            if dbl is None:
                dbl = etree.Element("DataBankList", CompleteYN="Y")
                # DTD order: ... PublicationTypeList precedes DataBankList? keep it simple:
                # place it after AuthorList/Language, where PubMed puts it.
                anchor = article.find("PublicationTypeList")
                anchor.addprevious(dbl) if anchor is not None else article.append(dbl)
            bank = etree.SubElement(dbl, "DataBank")
            etree.SubElement(bank, "DataBankName").text = "ClinicalTrials.gov"
            accs = etree.SubElement(bank, "AccessionNumberList")
            for nct in nct_ids:
                etree.SubElement(accs, "AccessionNumber").text = nct
        if journal is not None:
            _set_journal(el, *journal, pages=f"e{pmid}")
        if published is not None:
            _set_published(article, published)
        if authors is not None:
            _set_authors(article, authors)
        if date_revised is not None:
            rev = el.find("MedlineCitation/DateRevised")
            if rev is None:
                rev = etree.Element("DateRevised")
                el.find("MedlineCitation/PMID").addnext(rev)
            _put_date(rev, str(date_revised.year), f"{date_revised.month:02d}", f"{date_revised.day:02d}")
            self.mdat[pmid] = date_revised
        if retracted_in:
            mc = el.find("MedlineCitation")
            ccl = mc.find("CommentsCorrectionsList")
            if ccl is None:
                ccl = etree.SubElement(mc, "CommentsCorrectionsList")
            cc = etree.SubElement(ccl, "CommentsCorrections", RefType="RetractionIn")
            etree.SubElement(cc, "RefSource").text = "Retraction notice"
            etree.SubElement(cc, "PMID", Version="1").text = retracted_in
            ptl = article.find("PublicationTypeList")
            etree.SubElement(ptl, "PublicationType", UI="D016441").text = "Retracted Publication"
        return self.add_record(etree.tostring(el, with_tail=False), entrez=entrez, created=created)

    # ----------------------------------------------------------------- faults
    def inject(self, kind: str, path: str | None = "efetch", *, times: int = 1, retry_after: int | None = None, pmid: str | None = None) -> None:
        assert kind in ("429", "500", "truncated", "error", "empty", "bad_record", "short"), kind
        with self._lock:
            self.faults.append(Fault(kind, path, times, retry_after, pmid))

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.kind in ("bad_record", "short") and fault.pmid:
                    continue  # served by the efetch that returns that record (_record_fault)
                if fault.path in (None, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    # -------------------------------------------------------------- log views
    def calls(self, path: str | None = None) -> list[LoggedRequest]:
        return [r for r in self.log if path is None or r.path == path]

    def fetched_pmids(self) -> list[str]:
        return [p for r in self.calls("efetch") for p in r.pmids]

    def max_in_window(self, seconds: float = 1.0) -> int:
        times = sorted(r.t for r in self.log)
        best, lo = 0, 0
        for hi, t in enumerate(times):
            while t - times[lo] >= seconds:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    # ------------------------------------------------------------ evaluation
    def evaluate(self, term: str) -> set[str]:
        """The PMIDs a term matches (see the module docstring); QueryError if unreadable."""
        with self._lock:
            records = list(self.index.values())
            overrides = {k: set(v) for k, v in self.term_results.items()}
        return pubmed_query.evaluate(term, records, overrides)

    def search(self, params: dict) -> tuple[int, list[str]]:
        pmids = self.evaluate(params.get("term", ""))
        datetype = params.get("datetype", "")
        if params.get("mindate") and params.get("maxdate"):
            lo = _parse_date(params["mindate"], end=False)
            hi = _parse_date(params["maxdate"], end=True)
            dates = {"mdat": self.mdat, "crdt": self.created}.get(datetype, self.entrez)
            pmids = {p for p in pmids if lo <= dates[p] <= hi}
        ordered = sorted(pmids, key=self._newest_key.__getitem__, reverse=True)
        return len(ordered), ordered

    # ---------------------------------------------------------------- server
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/entrez/eutils/"

    def handler_class(self):
        """GET and POST (E-utilities takes both), HTTP/1.1: ``_Handler`` below."""

        class Handler(_Handler):
            fake = self

        return Handler

    def _over_limit(self, has_key: bool) -> tuple[bool, int, int]:
        """Sliding 1-second window over the requests served (not the refused ones)."""
        limit = self.rate_limit_key if has_key else self.rate_limit
        now = time.monotonic()
        with self._lock:
            while self._recent and now - self._recent[0] >= 1.0:
                self._recent.popleft()
            if len(self._recent) >= limit:
                return True, limit, len(self._recent) + 1
            self._recent.append(now)
            return False, limit, len(self._recent)


class _Handler(QuietHandler):
    fake: FakeEutils
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.pairs = parse_qsl(urlsplit(self.path).query, keep_blank_values=True)
        self._handle(dict(self.pairs))

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        self.pairs = parse_qsl(urlsplit(self.path).query, keep_blank_values=True) + parse_qsl(body, keep_blank_values=True)
        self._handle(dict(self.pairs))

    def _send(self, status: int, body: bytes | list[bytes], ctype: str = "text/xml; charset=UTF-8", headers: dict | None = None,
              length: int | None = None):
        """One answer: ``body`` is its bytes, or its pieces in order (``send_pieces``)."""
        size = len(body) if isinstance(body, bytes) else sum(map(len, body))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(size if length is None else length))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if length is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        if isinstance(body, bytes):
            self.wfile.write(body)
        else:
            send_pieces(self.connection, body)
        self.wfile.flush()
        if length is not None:
            self.close_connection = True

    def _handle(self, params: dict):
        fake = self.fake
        path = urlsplit(self.path).path.rsplit("/", 1)[-1].replace(".fcgi", "")
        entry = LoggedRequest(time.monotonic(), path, self.command, params, pairs=list(self.pairs))
        fake.log.append(entry)
        over, limit, count = fake._over_limit(bool(params.get("api_key")))
        if over:
            entry.status = 429
            body = json.dumps({"error": "API rate limit exceeded", "api-key": "127.0.0.1", "count": str(count), "limit": str(limit)}, separators=(",", ":"))
            self._send(429, body.encode(), "application/json", {"X-RateLimit-Limit": limit, "X-RateLimit-Remaining": 0})
            return
        headers = {"X-RateLimit-Limit": limit, "X-RateLimit-Remaining": max(0, limit - count)}
        fault = fake._take_fault(path)
        entry.fault = fault.kind if fault else None
        if fault and fault.kind == "429":
            entry.status = 429
            body = json.dumps({"error": "API rate limit exceeded", "api-key": "127.0.0.1", "count": str(limit + 1), "limit": str(limit)}, separators=(",", ":"))
            extra = {"X-RateLimit-Limit": limit, "X-RateLimit-Remaining": 0}
            if fault.retry_after is not None:
                extra["Retry-After"] = fault.retry_after
            self._send(429, body.encode(), "application/json", extra)
            return
        if fault and fault.kind == "500":
            entry.status = 500
            self._send(500, HTML_500, "text/html")
            return
        if fault and fault.kind == "empty":
            entry.status = 200
            self._send(200, b"", headers=headers)
            return
        if path == "efetch" and params.get("WebEnv") and params.get("retstart", "0") in fake._held_slices:
            time.sleep(fake._held_slices.pop(params.get("retstart", "0")))
        if path == "esearch":
            status, body = self._esearch(params, fault)
        elif path == "efetch":
            status, body = self._efetch(params, fault, entry)
        elif path == "elink":
            status, body = self._elink(params, entry)
        else:
            status, body = 400, b"<ERROR>unsupported by the fake</ERROR>"
        entry.status = status
        if fault and fault.kind == "truncated":
            entry.pmids = []
            body = body if isinstance(body, bytes) else b"".join(body)
            self._send(status, body[: len(body) // 2], headers=headers, length=len(body))
            return
        self._send(status, body, headers=headers)

    def _esearch(self, params: dict, fault: Fault | None) -> tuple[int, bytes]:
        fake = self.fake
        if fault and fault.kind == "error":
            return 200, ESEARCH_DOCTYPE + b"<eSearchResult><ERROR>Search Backend failed: Database is not supported: temporarily unavailable</ERROR></eSearchResult>\n"
        term = params.get("term", "")
        retstart = int(params.get("retstart") or 0)
        retmax = min(int(params.get("retmax") or 20), 10_000)
        try:
            with fake._world:
                count, ordered = fake.search(params)
            unreadable = None
        except QueryError as exc:
            count, ordered, unreadable = 0, [], str(exc)
        if retstart > fake.cap - 1:
            if fake.cap_error == "400":
                return 400, ESEARCH_DOCTYPE + b"<eSearchResult><ERROR>Invalid retstart</ERROR></eSearchResult>\n"
            if fake.cap_error == "position":
                err = POSITION_ERROR.format(n=retstart)
            else:
                err = CAP_ERROR.replace("9998", str(fake.cap - 1)) if fake.cap != 9999 else CAP_ERROR
            return 200, ESEARCH_DOCTYPE + f"<eSearchResult><ERROR>{_esc(err)}</ERROR></eSearchResult>\n".encode()
        ids = ordered[retstart : min(retstart + retmax, fake.cap)]
        history = ""
        if params.get("usehistory") == "y":
            webenv = params.get("WebEnv") or f"MCID_{uuid.uuid4().hex[:24]}"
            with fake._lock:
                keys = fake._history.setdefault(webenv, {})
                key = len(keys) + 1
                keys[key] = ordered
            history = f"<QueryKey>{key}</QueryKey><WebEnv>{webenv}</WebEnv>"
        errors = ""
        missing = fake.phrases_not_found.get(term.strip()) or ([unreadable] if unreadable else None)
        if missing:
            errors = "<ErrorList>" + "".join(f"<PhraseNotFound>{_esc(p)}</PhraseNotFound>" for p in missing) + "</ErrorList>"
        warn = ""
        if count == 0:
            warn = "<WarningList><OutputMessage>No items found.</OutputMessage></WarningList>"
        translation = _esc(term)
        if params.get("mindate"):
            label = {"mdat": "Date - Modification", "crdt": "Date - Create"}.get(params.get("datetype"), "Date - Entry")
            translation += f" AND {_esc(params['mindate'])}:{_esc(params.get('maxdate', ''))}[{label}]"
        body = (
            f"<eSearchResult><Count>{count}</Count><RetMax>{len(ids)}</RetMax><RetStart>{retstart}</RetStart>{history}<IdList>\n"
            + "".join(f"<Id>{i}</Id>\n" for i in ids)
            + f"</IdList><TranslationSet/>{errors}<QueryTranslation>{translation}</QueryTranslation>{warn}</eSearchResult>\n"
        )
        return 200, ESEARCH_DOCTYPE + body.encode()

    def _efetch(self, params: dict, fault: Fault | None, entry: LoggedRequest) -> tuple[int, bytes | list[bytes]]:
        fake = self.fake
        if fault and fault.kind == "error":
            return 200, b'<?xml version="1.0" encoding="UTF-8" ?>\n<eFetchResult>\n\t<ERROR>Cannot retrieve history data. query_key: 1, WebEnv: MCID_x, retstart: 0, retmax: 500</ERROR>\n</eFetchResult>\n'
        if params.get("id"):
            wanted = [i.strip() for i in params["id"].split(",") if i.strip()]
        elif params.get("WebEnv"):
            with fake._world:
                with fake._lock:
                    expire = fake._history_budget is not None and fake._history_budget <= 0
                    if expire:
                        fake._history.clear()
                        fake._history_budget, then, fake._on_expire = None, fake._on_expire, None
                    elif fake._history_budget is not None:
                        fake._history_budget -= 1
                if expire and then is not None:
                    then()
                ordered = fake._history.get(params["WebEnv"], {}).get(int(params.get("query_key") or 1))
            if ordered is None:
                return 200, b'<?xml version="1.0" encoding="UTF-8" ?>\n<eFetchResult>\n\t<ERROR>Unable to obtain query #1</ERROR>\n</eFetchResult>\n'
            start = int(params.get("retstart") or 0)
            wanted = ordered[start : start + int(params.get("retmax") or 20)]
        else:
            return 400, b"<ERROR>Empty id list - nothing todo</ERROR>"
        found = [p for p in dict.fromkeys(wanted) if p in fake.records]
        if found and ((fault and fault.kind == "short") or (fault is None and self._record_fault(found, "short"))):
            found = found[:-1]
        entry.pmids = list(found)
        parts = [EFETCH_HEAD]
        if fault and fault.kind == "bad_record":
            bad = found[0] if found else None
        else:  # an answer another fault spoils (cut short, say) does not take it
            bad = self._record_fault(found, "bad_record") if fault is None else None
        for pmid in found:
            rec = fake.records[pmid]
            if pmid == bad:
                # Malformed: an element opened and never closed, inside a good answer.
                rec = rec.replace(b"</ArticleTitle>", b"", 1)
                if b"</ArticleTitle>" not in fake.records[pmid]:
                    rec = rec.replace(b"</MedlineCitation>", b"", 1)
                entry.pmids.remove(pmid)
            parts += (rec, b"\n")
        parts += (b"\n", EFETCH_TAIL) if len(parts) == 1 else (EFETCH_TAIL,)  # (as NCBI: a line even when empty)
        # The pieces as they are: ``_send`` hands them to the socket in one gathering write
        # (an answer of 1,000 records is ~23 MB: joined, it was copied and its fresh pages
        # faulted in, ~10 ms an answer on the cores the benchmark's crawl runs on).
        return 200, parts

    def _record_fault(self, found: list[str], kind: str) -> str | None:
        """The PMID of a ``kind`` fault ("bad_record", "short") named by PMID that this answer
        holds (taken), so the fault hits the answer with that record whichever order the
        crawler's concurrent requests come in."""
        fake = self.fake
        with fake._lock:
            for fault in fake.faults:
                if fault.kind == kind and fault.pmid in found:
                    fault.times -= 1
                    if fault.times <= 0:
                        fake.faults.remove(fault)
                    return fault.pmid
        return None

    def _elink(self, params: dict, entry: LoggedRequest) -> tuple[int, bytes]:
        """pubmed_pubmed_citedin, one LinkSet per ``id=`` (a comma list is one merged set)."""
        fake = self.fake
        if params.get("dbfrom") != "pubmed" or params.get("db", "pubmed") != "pubmed":
            return 200, ELINK_HEAD + b"<ERROR>Invalid db name specified</ERROR>\n</eLinkResult>\n"
        linkname = params.get("linkname", "pubmed_pubmed")
        groups = [[i.strip() for i in v.split(",") if i.strip()] for k, v in self.pairs if k == "id"]
        if not groups:
            return 200, ELINK_HEAD + b"<ERROR>Empty id list - nothing todo</ERROR>\n</eLinkResult>\n"
        out = []
        for ids in groups:
            linked: set[str] = set()
            if linkname == "pubmed_pubmed_citedin":
                with fake._lock:
                    for pmid in ids:
                        linked |= fake.citations.get(pmid, set())
            entry.pmids.extend(sorted(linked))
            block = "<LinkSet>\n\t<DbFrom>pubmed</DbFrom>\n\t<IdList>\n" + "".join(f"\t\t<Id>{i}</Id>\n" for i in ids) + "\t</IdList>\n"
            if linked:
                block += (f"\t<LinkSetDb>\n\t\t<DbTo>pubmed</DbTo>\n\t\t<LinkName>{_esc(linkname)}</LinkName>\n"
                          + "".join(f"\t\t<Link>\n\t\t\t<Id>{i}</Id>\n\t\t</Link>\n" for i in sorted(linked, key=int, reverse=True))
                          + "\t</LinkSetDb>\n")
            out.append(block + "</LinkSet>\n")
        return 200, ELINK_HEAD + "".join(out).encode() + b"</eLinkResult>\n"


def _set_journal(el, title: str, abbreviation: str, *, pages: str) -> None:
    """The record's journal: its title and abbreviation, an electronic page number of its
    own (the DTD wants Pagination or an ELocationID), and none of the recording's ISSNs,
    volume and issue."""
    journal = el.find("MedlineCitation/Article/Journal")
    for issn in journal.findall("ISSN"):
        journal.remove(issn)
    issue = journal.find("JournalIssue")
    for tag in ("Volume", "Issue"):
        for node in issue.findall(tag):
            issue.remove(node)
    journal.find("Title").text = title
    journal.find("ISOAbbreviation").text = abbreviation
    pagination = el.find("MedlineCitation/Article/Pagination")
    if pagination is not None:
        for child in list(pagination):
            pagination.remove(child)
        etree.SubElement(pagination, "StartPage").text = pages
        etree.SubElement(pagination, "MedlinePgn").text = pages
    info = el.find("MedlineCitation/MedlineJournalInfo")
    if info is not None:
        info.find("MedlineTA").text = abbreviation
        for tag in ("NlmUniqueID", "ISSNLinking"):
            for node in info.findall(tag):
                info.remove(node)


def _set_published(article, day: dt.date) -> None:
    """Publication date (the issue's PubDate) and electronic date (ArticleDate), as PubMed
    writes them: month abbreviated in PubDate, numeric in ArticleDate."""
    _put_date(article.find("Journal/JournalIssue/PubDate"), str(day.year), day.strftime("%b"), f"{day.day:02d}")
    for node in article.findall("ArticleDate"):
        _put_date(node, str(day.year), f"{day.month:02d}", f"{day.day:02d}")


def _put_date(node, year: str, month: str, day: str) -> None:
    """A date element (History, DateRevised, PubDate, ArticleDate) holding just these
    Year, Month and Day, spelled as given (PubMed spells months differently per element)."""
    for child in list(node):
        node.remove(child)
    for tag, value in (("Year", year), ("Month", month), ("Day", day)):
        etree.SubElement(node, tag).text = value


def _set_authors(article, authors: list[tuple[str, str]]) -> None:
    """A new AuthorList ((last name, fore name) each; initials from the fore name), and no
    GrantList: the recording's grants are its authors'."""
    old = article.find("AuthorList")
    new = etree.Element("AuthorList", CompleteYN="Y")
    for last, fore in authors:
        author = etree.SubElement(new, "Author", ValidYN="Y")
        etree.SubElement(author, "LastName").text = last
        etree.SubElement(author, "ForeName").text = fore
        etree.SubElement(author, "Initials").text = "".join(part[0] for part in fore.split())
    old.addprevious(new)
    article.remove(old)
    for node in article.findall("GrantList"):
        article.remove(node)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
