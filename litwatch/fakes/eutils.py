"""A fake NCBI E-utilities server for tests: real HTTP on 127.0.0.1, real PubMed records.

Usage::

    from tests.fakes.eutils import FakeEutils

    with FakeEutils() as fake:                  # loads every recorded PubMed record
        env["LITWATCH_EUTILS_URL"] = fake.base_url   # http://127.0.0.1:PORT/entrez/eutils/
        ...run the crawl...
        fake.calls("efetch")                    # the request log, see LoggedRequest
        fake.fetched_pmids()                    # every PMID efetch returned, in order

What it serves (POST form bodies and GET query strings alike):

- ``esearch.fcgi``: ``term`` evaluation, in this order:
    * a term made only of ``X[uid]`` / ``X[pmid]`` / ``X[aid]`` / ``NCT…[si]`` parts joined by
      OR (parentheses and quotes allowed): ``[uid]`` is the PMID; ``[aid]`` matches a DOI or
      PII of the record's own ``PubmedData/ArticleIdList`` or its ``ELocationID``
      (case-insensitive; a PII also without punctuation); ``[si]`` a DataBankList accession;
    * ``fake.term_results[term] = {pmids}`` set by the test;
    * otherwise ALL records.
  ``datetype=edat`` (entrez date of each record, from ``PubMedPubDate[@PubStatus="entrez"]``)
  or ``datetype=mdat`` (``fake.mdat[pmid]``, default the record's DateRevised) with
  ``mindate``/``maxdate`` (``YYYY``, ``YYYY/MM`` or ``YYYY/MM/DD``); ``retstart``/``retmax``
  (default 20, at most 10,000); ``usehistory=y`` returns ``WebEnv``/``QueryKey``.
  Ids are sorted newest entry first (then PMID descending), like PubMed's default.
  The 9,999 cap is the real one: ``retstart`` > cap-1 answers HTTP 200 with
  ``<ERROR>Search Backend failed: ... 'retstart' cannot be larger than 9998 ...``, ids past
  the cap are cut, ``Count`` is always the true count.  TEST KNOB: ``FakeEutils(cap=5)`` (or
  ``fake.cap = 5``) makes the cap small so a window split can be tested with the recordings.
  ``fake.phrases_not_found[term] = ["foo"]`` adds ``<ErrorList><PhraseNotFound>foo…`` the way
  PubMed reports a query it partly ignored.
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
  (HTTP 200, empty body), ``"bad_record"`` (efetch only: one record, ``pmid`` or the first,
  is malformed XML — an unclosed element — inside an otherwise good answer).
- Records: ``fake.records`` ({pmid: <PubmedArticle> bytes}); add more at run time with
  ``fake.add_record(xml_bytes)`` or ``fake.derive(src_pmid, new_pmid, entrez=date,
  nct_ids=[...], title=..., date_revised=date, retracted_in=pmid)``.
- Request log: ``fake.log`` (list of ``LoggedRequest``: ``t`` (time.monotonic), ``path``
  ("esearch", "efetch", …), ``method``, ``params`` (dict of str), ``status``, ``fault``,
  ``pmids`` (what efetch returned)).  ``fake.max_in_window(1.0)`` is the most requests seen in
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
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from lxml import etree

from litwatch.fakes.server import LoopbackServer

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
FIELD_RE = re.compile(r'^"?([^"\[\]]+?)"?\[(uid|pmid|aid|si)\]$', re.IGNORECASE)


@dataclass
class LoggedRequest:
    t: float
    path: str
    method: str
    params: dict
    status: int = 0
    fault: str | None = None
    pmids: list = field(default_factory=list)


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


def _pii_key(value: str) -> str:
    return re.sub(r"[^0-9a-z]", "", value.lower())


def _parse_date(value: str, *, end: bool) -> dt.date:
    parts = [int(p) for p in re.split(r"[/-]", value.strip()) if p]
    year = parts[0]
    month = parts[1] if len(parts) > 1 else (12 if end else 1)
    if len(parts) > 2:
        day = parts[2]
    else:
        day = calendar.monthrange(year, month)[1] if end else 1
    return dt.date(year, month, day)


class FakeEutils(LoopbackServer):
    def __init__(self, *, load_fixtures: bool = True, cap: int = 9999, rate_limit: int = 3, rate_limit_key: int = 10):
        self.records: dict[str, bytes] = {}
        self.entrez: dict[str, dt.date] = {}
        self.mdat: dict[str, dt.date] = {}
        self._aids: dict[str, set[str]] = {}
        self._si: dict[str, set[str]] = {}
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
        if load_fixtures:
            for path in sorted((FIXTURES / "efetch").glob("*.xml")) + [FIXTURES / "pubmed1.xml", FIXTURES / "pubmed2.xml"]:
                self.add_file(path.read_bytes())

    # ---------------------------------------------------------------- records
    def add_file(self, data: bytes) -> list[str]:
        """Add every PubmedArticle of an efetch answer; returns their PMIDs."""
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
        return [self.add_record(etree.tostring(el, with_tail=False)) for el in root.iterchildren("PubmedArticle")]

    def add_record(self, xml: bytes, *, entrez: dt.date | None = None) -> str:
        """Store one <PubmedArticle> (bytes); indexes its entrez date, [aid] and [si] keys."""
        el = etree.fromstring(xml)
        pmid = el.findtext("MedlineCitation/PMID").strip()
        with self._lock:
            self.records[pmid] = xml
            self.entrez[pmid] = entrez or _text_date(el.find("PubmedData/History/PubMedPubDate[@PubStatus='entrez']")) \
                or _text_date(el.find("PubmedData/History/PubMedPubDate[@PubStatus='pubmed']")) or dt.date(2000, 1, 1)
            self.mdat.setdefault(pmid, _text_date(el.find("MedlineCitation/DateRevised")) or self.entrez[pmid])
            aids = set()
            for aid in el.iterfind("PubmedData/ArticleIdList/ArticleId"):
                if aid.get("IdType") in ("doi", "pii") and aid.text:
                    aids |= {aid.text.strip().lower(), _pii_key(aid.text)}
            for loc in el.iterfind("MedlineCitation/Article/ELocationID"):
                if loc.get("EIdType") in ("doi", "pii") and loc.text:
                    aids |= {loc.text.strip().lower(), _pii_key(loc.text)}
            self._aids[pmid] = aids
            self._si[pmid] = {
                (acc.text or "").strip().upper()
                for acc in el.iterfind("MedlineCitation/Article/DataBankList/DataBank/AccessionNumberList/AccessionNumber")
            }
        return pmid

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
    ) -> str:
        """A copy of a stored record with a new PMID / entrez date / trial numbers / title.

        ``date_revised`` also sets the record's modification date (``datetype=mdat``);
        ``retracted_in`` adds a CommentsCorrections RetractionIn and the type "Retracted
        Publication", as PubMed does when a paper is retracted.
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
                for child in list(node):
                    node.remove(child)
                for tag, value in (("Year", entrez.year), ("Month", entrez.month), ("Day", entrez.day)):
                    etree.SubElement(node, tag).text = str(value)
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
        if date_revised is not None:
            rev = el.find("MedlineCitation/DateRevised")
            if rev is None:
                rev = etree.Element("DateRevised")
                el.find("MedlineCitation/PMID").addnext(rev)
            for child in list(rev):
                rev.remove(child)
            for tag, value in (("Year", str(date_revised.year)), ("Month", f"{date_revised.month:02d}"), ("Day", f"{date_revised.day:02d}")):
                etree.SubElement(rev, tag).text = value
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
        return self.add_record(etree.tostring(el, with_tail=False), entrez=entrez)

    # ----------------------------------------------------------------- faults
    def inject(self, kind: str, path: str | None = "efetch", *, times: int = 1, retry_after: int | None = None, pmid: str | None = None) -> None:
        assert kind in ("429", "500", "truncated", "error", "empty", "bad_record"), kind
        with self._lock:
            self.faults.append(Fault(kind, path, times, retry_after, pmid))

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
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
        """The PMIDs a term matches (see the module docstring)."""
        stripped = term.strip()
        parts = [p.strip().strip("()").strip() for p in re.split(r"\s+OR\s+", stripped.strip("()"))]
        matched = [FIELD_RE.match(p) for p in parts]
        if parts and all(matched):
            out: set[str] = set()
            for m in matched:
                value, tag = m.group(1).strip(), m.group(2).lower()
                if tag in ("uid", "pmid"):
                    if value in self.records:
                        out.add(value)
                elif tag == "aid":
                    keys = {value.lower(), _pii_key(value)}
                    out |= {p for p, aids in self._aids.items() if keys & aids}
                else:
                    out |= {p for p, sis in self._si.items() if value.upper() in sis}
            return out
        if stripped in self.term_results:
            return set(self.term_results[stripped]) & set(self.records)
        return set(self.records)

    def search(self, params: dict) -> tuple[int, list[str]]:
        pmids = self.evaluate(params.get("term", ""))
        datetype = params.get("datetype", "")
        if params.get("mindate") and params.get("maxdate"):
            lo = _parse_date(params["mindate"], end=False)
            hi = _parse_date(params["maxdate"], end=True)
            dates = self.mdat if datetype == "mdat" else self.entrez
            pmids = {p for p in pmids if lo <= dates[p] <= hi}
        ordered = sorted(pmids, key=lambda p: (self.entrez[p], int(p)), reverse=True)
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


class _Handler(BaseHTTPRequestHandler):
    fake: FakeEutils
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        self._handle(dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True)))

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        self._handle(params)

    def _send(self, status: int, body: bytes, ctype: str = "text/xml; charset=UTF-8", headers: dict | None = None, length: int | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if length is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        if length is not None:
            self.close_connection = True

    def _handle(self, params: dict):
        fake = self.fake
        path = urlsplit(self.path).path.rsplit("/", 1)[-1].replace(".fcgi", "")
        entry = LoggedRequest(time.monotonic(), path, self.command, params)
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
        if path == "esearch":
            status, body = self._esearch(params, fault)
        elif path == "efetch":
            status, body = self._efetch(params, fault, entry)
        else:
            status, body = 400, b"<ERROR>unsupported by the fake</ERROR>"
        entry.status = status
        if fault and fault.kind == "truncated":
            entry.pmids = []
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
        count, ordered = fake.search(params)
        if retstart > fake.cap - 1:
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
        missing = fake.phrases_not_found.get(term.strip())
        if missing:
            errors = "<ErrorList>" + "".join(f"<PhraseNotFound>{_esc(p)}</PhraseNotFound>" for p in missing) + "</ErrorList>"
        warn = ""
        if count == 0:
            warn = "<WarningList><OutputMessage>No items found.</OutputMessage></WarningList>"
        translation = _esc(term)
        if params.get("mindate"):
            label = "Date - Modification" if params.get("datetype") == "mdat" else "Date - Entry"
            translation += f" AND {_esc(params['mindate'])}:{_esc(params.get('maxdate', ''))}[{label}]"
        body = (
            f"<eSearchResult><Count>{count}</Count><RetMax>{len(ids)}</RetMax><RetStart>{retstart}</RetStart>{history}<IdList>\n"
            + "".join(f"<Id>{i}</Id>\n" for i in ids)
            + f"</IdList><TranslationSet/>{errors}<QueryTranslation>{translation}</QueryTranslation>{warn}</eSearchResult>\n"
        )
        return 200, ESEARCH_DOCTYPE + body.encode()

    def _efetch(self, params: dict, fault: Fault | None, entry: LoggedRequest) -> tuple[int, bytes]:
        fake = self.fake
        if fault and fault.kind == "error":
            return 200, b'<?xml version="1.0" encoding="UTF-8" ?>\n<eFetchResult>\n\t<ERROR>Cannot retrieve history data. query_key: 1, WebEnv: MCID_x, retstart: 0, retmax: 500</ERROR>\n</eFetchResult>\n'
        if params.get("id"):
            wanted = [i.strip() for i in params["id"].split(",") if i.strip()]
        elif params.get("WebEnv"):
            ordered = fake._history.get(params["WebEnv"], {}).get(int(params.get("query_key") or 1))
            if ordered is None:
                return 200, b'<?xml version="1.0" encoding="UTF-8" ?>\n<eFetchResult>\n\t<ERROR>Unable to obtain query #1</ERROR>\n</eFetchResult>\n'
            start = int(params.get("retstart") or 0)
            wanted = ordered[start : start + int(params.get("retmax") or 20)]
        else:
            return 400, b"<ERROR>Empty id list - nothing todo</ERROR>"
        found = [p for p in dict.fromkeys(wanted) if p in fake.records]
        entry.pmids = list(found)
        parts = []
        bad = (fault.pmid or (found[0] if found else None)) if fault and fault.kind == "bad_record" else None
        for pmid in found:
            rec = fake.records[pmid]
            if pmid == bad:
                # Malformed: an element opened and never closed, inside a good answer.
                rec = rec.replace(b"</ArticleTitle>", b"", 1)
                if b"</ArticleTitle>" not in fake.records[pmid]:
                    rec = rec.replace(b"</MedlineCitation>", b"", 1)
                entry.pmids.remove(pmid)
            parts.append(rec)
        return 200, EFETCH_HEAD + b"\n".join(parts) + b"\n" + EFETCH_TAIL


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
