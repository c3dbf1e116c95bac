"""NCBI E-utilities: one small function per call we make, and readers for their answers.

Bio.Entrez style: each function builds the parameters of one E-utility (``esearch``,
``efetch``) with the identity NCBI asks for on every call (``tool``, ``email``, and
``api_key`` when the user has one).  No HTTP here: the spider (Scrapy) or any other client
sends ``EUtilsCall.url`` with ``EUtilsCall.params`` as a POST form body.

Why POST for every call: NCBI accepts POST for esearch and efetch, a long query or a list
of hundreds of PMIDs does not fit a URL, and the API key then never appears in a URL, so it
cannot leak through request logs, proxies or error messages that quote the URL.

Facts (NCBI Bookshelf NBK25499/NBK25497, see ../shared/API_NOTES.md):
- 3 requests/s per IP without a key, 10/s with one;
- esearch returns at most 9,999 ids of one search (``retstart`` > 9998 fails in-band);
- errors often arrive as HTTP 200 with ``<ERROR>`` or ``<ErrorList>`` in the body.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from dataclasses import dataclass, field

from lxml import etree

from litwatch.config import TOOL_NAME, Settings

DB = "pubmed"
# PubMed serves at most this many ids of one search; a larger result must be split.
SEARCH_CAP = 9_999
# esearch's own ceiling for retmax.
ESEARCH_MAX_RETMAX = 10_000
# PMIDs per efetch.  Biopython's tutorial and NCBI suggest POSTing a few hundred ids; 200
# records are 2-10 MB of XML (reference lists make records large), quick to retry when a
# transfer breaks, and at 3 requests/s still 600 records/s.
EFETCH_BATCH = 200
# Records per efetch slice of a result set on the history server (NCBI allows up to
# 10,000).  No id list to POST, so a slice can be larger: fewer requests, and the crawl is
# paced by parsing rather than by the request rate (bench/bench_crawl.py: a backfill of
# 10,000 records in 11 slices, where slices of 500 took 21 and, at 10 in any 1.15 s, held
# the crawl to the request rate).  1,000 records are ~24 MB of XML (up to ~50 MB with long
# reference lists): within the crawl's 128 MB answer limit, and a slice over it is asked
# for again in halves by id (``spiders.pubmed``).
HISTORY_BATCH = int(os.environ.get("LITWATCH_HISTORY_BATCH") or 1000)
# Requests/s NCBI allows are a ceiling, not a target: the allowed number of requests may
# start in any RATE_MARGIN seconds, not in any second (``crawler.rate_window``), so that
# network jitter up to 0.15 s cannot put one request too many into one of NCBI's 1-second
# windows (Biopython's 0.34 s between calls without a key leaves less room).
RATE_MARGIN = 1.15
DATE_FMT = "%Y/%m/%d"


@dataclass(frozen=True)
class EUtilsCall:
    url: str
    # A list value is sent as the same key repeated (elink: one ``id=`` per PMID gives one
    # LinkSet per PMID; ``id=a,b`` would merge them).
    params: dict[str, str | list[str]]

    def form(self) -> list[tuple[str, str]]:
        """The POST body as (key, value) pairs, repeated keys kept."""
        pairs: list[tuple[str, str]] = []
        for key, value in self.params.items():
            if isinstance(value, list):
                pairs.extend((key, v) for v in value)
            else:
                pairs.append((key, value))
        return pairs

    def describe(self) -> str:
        """A log-safe one-liner: the utility and its search term or id count, never the key."""
        name = self.url.rstrip("/").rsplit("/", 1)[-1]
        if "term" in self.params:
            window = ""
            if "mindate" in self.params:
                window = f" {self.params.get('datetype', '')} {self.params['mindate']}-{self.params['maxdate']}"
            return f"{name} {self.params['term'][:80]!r}{window} from {self.params.get('retstart', '0')}"
        if "WebEnv" in self.params:
            return f"{name} of history query {self.params.get('query_key')} from {self.params.get('retstart')}"
        ids = self.params.get("id")
        if isinstance(ids, list):
            return f"{name} of {len(ids)} PMIDs"
        if ids:
            return f"{name} of {ids.count(',') + 1} PMIDs"
        return name


def identity(settings: Settings) -> dict[str, str]:
    """``tool``, ``email`` and ``api_key``: what NCBI asks every call to carry."""
    params = {"tool": TOOL_NAME}
    if settings.ncbi_email:
        params["email"] = settings.ncbi_email
    if settings.ncbi_api_key:
        params["api_key"] = settings.ncbi_api_key
    return params


def fmt_date(day: dt.date) -> str:
    return day.strftime(DATE_FMT)


# Date fields a window of *new* records is searched on: the entry date, and the create
# date, which alone moves for a record that entered PubMed more than a year after it was
# published (NLM sets its entry date to the publication date; API_NOTES "Entry date vs
# create date").  Both go into ONE search (``[edat] OR [crdt]``): a record in both is
# counted once, and a window costs one request instead of two.
NEW_RECORD_FIELDS = ("edat", "crdt")


def window_term(term: str, lo: dt.date, hi: dt.date, fields: tuple[str, ...] = NEW_RECORD_FIELDS) -> str:
    """``(term) AND (lo:hi[edat] OR lo:hi[crdt])``: a date window written into the query."""
    span = f"{fmt_date(lo)}:{fmt_date(hi)}"
    dates = " OR ".join(f"{span}[{f}]" for f in fields)
    return f"({term}) AND ({dates})"


def esearch(
    settings: Settings,
    term: str,
    *,
    mindate: dt.date | None = None,
    maxdate: dt.date | None = None,
    datetype: str = "edat",
    retstart: int = 0,
    retmax: int = 0,
    usehistory: bool = False,
) -> EUtilsCall:
    """esearch.fcgi on PubMed.  A date window needs both ends (NCBI ignores one alone)."""
    params = {"db": DB, "term": term, "retstart": str(retstart), "retmax": str(min(retmax, ESEARCH_MAX_RETMAX))}
    if mindate or maxdate:
        if not (mindate and maxdate):
            raise ValueError("esearch needs both mindate and maxdate")
        params.update(datetype=datetype, mindate=fmt_date(mindate), maxdate=fmt_date(maxdate))
    if usehistory:
        params["usehistory"] = "y"
    params.update(identity(settings))
    return EUtilsCall(settings.eutils_url + "esearch.fcgi", params)


def efetch(settings: Settings, pmids: list[str]) -> EUtilsCall:
    """efetch.fcgi of PubMed records by id list (XML)."""
    params = {"db": DB, "retmode": "xml", "id": ",".join(pmids)}
    params.update(identity(settings))
    return EUtilsCall(settings.eutils_url + "efetch.fcgi", params)


def efetch_history(settings: Settings, webenv: str, query_key: str, retstart: int, retmax: int) -> EUtilsCall:
    """efetch.fcgi of a slice of a search kept on the history server (``usehistory=y``).

    Every slice reads the same result set, so pages cannot shift between requests the way
    they do when each page re-runs the search."""
    params = {"db": DB, "retmode": "xml", "WebEnv": webenv, "query_key": str(query_key),
              "retstart": str(retstart), "retmax": str(retmax)}
    params.update(identity(settings))
    return EUtilsCall(settings.eutils_url + "efetch.fcgi", params)


CITEDIN = "pubmed_pubmed_citedin"


def elink_citedin(settings: Settings, pmids: list[str]) -> EUtilsCall:
    """elink.fcgi: the PubMed records citing each PMID, one ``id=`` per PMID (one LinkSet each)."""
    params: dict[str, str | list[str]] = {"dbfrom": DB, "db": DB, "linkname": CITEDIN, "id": list(pmids)}
    params.update(identity(settings))
    return EUtilsCall(settings.eutils_url + "elink.fcgi", params)


# ------------------------------------------------------------------ windows
# A window over the cap is cut so that its first piece is expected to hold this share of
# the cap: a guess a little short of full leaves room for unevenness.
TARGET_FILL = 0.8
# A first piece that got less than SPARSE times its even share of the window's count says
# the records crowd the later days; one over the cap with more than DENSE times its share
# says they crowd the earlier days.  Either way the next cut gallops towards them.
SPARSE = 0.25
DENSE = 2.0
GALLOP = 3


def next_cut(lo: dt.date, hi: dt.date, count: int, cap: int = SEARCH_CAP, skew: int = 0) -> dt.date | None:
    """The last day of the first piece to search when [lo, hi] holds ``count`` > cap records.

    Cut by count, not by equal days: the first piece is ``1/k`` of the days, ``k`` being
    how many pieces the count needs (an even spread puts ``count/k`` records in it).
    ``skew`` says where earlier searches found the records: ``> 0`` crowded in the later
    days (the later part's share ``(1-1/k)`` is raised to ``3**skew``: 1/2 -> 1/8 -> 1/512
    of the days for k = 2), ``< 0`` crowded in the earlier days (the first piece's share
    ``1/k`` is raised likewise).  A cluster in the last days of a ten-year window is
    reached in a few searches, not a dozen halvings.  ``None`` for a single day (esearch
    dates have day precision: it cannot be cut).
    """
    days = (hi - lo).days + 1
    if days <= 1:
        return None
    k = max(2, math.ceil(count / (cap * TARGET_FILL)))
    power = GALLOP ** abs(skew)
    share = 1 - (1 - 1 / k) ** power if skew >= 0 else (1 / k) ** power
    first_days = min(days - 1, max(1, round(days * share)))
    return lo + dt.timedelta(days=first_days - 1)


def next_skews(first_count: int, first_days: int, count: int, days: int, cap: int, skew: int) -> tuple[int, int]:
    """(skew for splitting the first piece again, skew for the later part) after the first
    piece of a split came back with ``first_count`` records (see ``next_cut``)."""
    share = count * first_days / max(days, 1)
    first = min(skew, 0) - 1 if first_count > cap and first_count > DENSE * share else 0
    rest = max(skew, 0) + 1 if first_count < SPARSE * share else 0
    return first, rest


# ------------------------------------------------------------------ answers
class EUtilsError(Exception):
    """An answer that is not what was asked for (in-band error, not XML, cut short)."""


class SearchCapError(EUtilsError):
    """PubMed refused to page past its 9,999-id cap: the window must be split."""


class HistoryExpired(EUtilsError):
    """The WebEnv / query_key is gone from the history server: search again."""


# Every form of "beyond the cap" seen from PubMed (API_NOTES "The 9,999 cap, other forms"):
# the in-band retstart error, the backend's position error (biopython issue 4189); HTTP
# 400 on retstart >= 9999 is recognised by the spider from the status.
_CAP_MESSAGES = re.compile(r"cannot be larger than|out of acceptable range|can only retrieve the first", re.IGNORECASE)
# An expired or unknown history entry (efetch / esearch with WebEnv).
_HISTORY_MESSAGES = re.compile(r"unable to obtain query|cannot retrieve history|WebEnv.*(expired|invalid|not found)|invalid WebEnv", re.IGNORECASE)


def is_cap_message(message: str) -> bool:
    return bool(_CAP_MESSAGES.search(message))


@dataclass
class ESearchResult:
    count: int
    retstart: int
    ids: list[str]
    webenv: str | None = None
    query_key: str | None = None
    query_translation: str | None = None
    # What PubMed did not search: ErrorList children ("PhraseNotFound: foo").
    not_searched: list[str] = field(default_factory=list)
    # WarningList children other than the plain "No items found." message.
    warnings: list[str] = field(default_factory=list)


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, recover=False)


def _root(body: bytes, what: str):
    if not body or not body.strip():
        raise EUtilsError(f"{what}: empty answer")
    try:
        return etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        first = body.strip()[:80].decode("utf-8", "replace")
        raise EUtilsError(f"{what}: not XML ({exc}): {first!r}") from None


def parse_esearch(body: bytes) -> ESearchResult:
    """Read an esearch answer; raises EUtilsError for an in-band ``<ERROR>`` or a non-answer."""
    root = _root(body, "esearch")
    if root.tag != "eSearchResult":
        raise EUtilsError(f"esearch: unexpected answer <{root.tag}>")
    count_text = root.findtext("Count")
    error = root.findtext("ERROR")
    if error is not None and count_text is None:
        message = " ".join(error.split())
        if is_cap_message(message):
            raise SearchCapError(f"esearch: {message[:160]}")
        if _HISTORY_MESSAGES.search(message):
            raise HistoryExpired(f"esearch: {message[:160]}")
        raise EUtilsError(f"esearch: PubMed answered with an error: {message[:200]}")
    if count_text is None or not count_text.strip().isdigit():
        raise EUtilsError("esearch: answer without a Count")
    not_searched = []
    for node in root.iterfind("ErrorList/*"):
        if node.text and node.text.strip():
            not_searched.append(f"{node.tag}: {node.text.strip()}")
    warnings = []
    for node in root.iterfind("WarningList/*"):
        text = (node.text or "").strip()
        if text and text != "No items found.":
            warnings.append(f"{node.tag}: {text}")
    return ESearchResult(
        count=int(count_text),
        retstart=int(root.findtext("RetStart") or 0),
        ids=[i.strip() for i in root.xpath("IdList/Id/text()")],
        webenv=root.findtext("WebEnv"),
        query_key=root.findtext("QueryKey"),
        query_translation=root.findtext("QueryTranslation"),
        not_searched=not_searched,
        warnings=warnings,
    )


def check_efetch(body: bytes) -> None:
    """Raise EUtilsError unless ``body`` is a complete PubmedArticleSet.

    Catches an empty answer, an in-band ``<ERROR>`` (``eFetchResult``), an HTML error page
    and a body cut short without the downloader noticing (no closing tag)."""
    head = body[:2048].lstrip()
    if not head:
        raise EUtilsError("efetch: empty answer")
    if b"<eFetchResult" in head or (b"<ERROR>" in head and b"<PubmedArticleSet" not in head):
        try:
            message = " ".join((etree.fromstring(body, _PARSER).findtext(".//ERROR") or "").split())
        except etree.XMLSyntaxError:
            message = head[:120].decode("utf-8", "replace")
        if _HISTORY_MESSAGES.search(message):
            raise HistoryExpired(f"efetch: the history server lost the search: {message[:200]}")
        if is_cap_message(message):
            raise SearchCapError(f"efetch: {message[:200]}")
        raise EUtilsError(f"efetch: PubMed answered with an error: {message[:200]}")
    if b"<PubmedArticleSet" not in head:
        raise EUtilsError(f"efetch: not a PubmedArticleSet: {head[:80].decode('utf-8', 'replace')!r}")
    tail = body[-64:].rstrip()
    if not (tail.endswith(b"</PubmedArticleSet>") or tail.endswith(b"<PubmedArticleSet/>")):
        raise EUtilsError("efetch: answer cut short (no closing </PubmedArticleSet>)")


def parse_elink(body: bytes) -> dict[str, list[str]]:
    """{PMID asked about: [linked PMIDs]} from an elink answer (one LinkSet per ``id=``).

    A LinkSet without LinkSetDb (nothing links) gives ``[]``; an id=a,b request merges
    its ids into one LinkSet, whose links are then given to each of them."""
    root = _root(body, "elink")
    if root.tag != "eLinkResult":
        raise EUtilsError(f"elink: unexpected answer <{root.tag}>")
    error = root.findtext("ERROR")
    if error is not None and root.find("LinkSet") is None:
        raise EUtilsError(f"elink: PubMed answered with an error: {' '.join(error.split())[:200]}")
    out: dict[str, list[str]] = {}
    for link_set in root.iterfind("LinkSet"):
        asked = [i.strip() for i in link_set.xpath("IdList/Id/text()")]
        linked: list[str] = []
        for db in link_set.iterfind("LinkSetDb"):
            if (db.findtext("LinkName") or CITEDIN) == CITEDIN:
                linked.extend(i.strip() for i in db.xpath("Link/Id/text()"))
        for pmid in asked:
            out.setdefault(pmid, []).extend(linked)
    return out
