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
# Requests/s NCBI allows are a ceiling, not a target: keep 15 % below it so that network
# jitter cannot put four requests into one of NCBI's 1-second windows (0.383 s without a
# key, 0.115 s with one; Biopython's 0.34 s leaves less room).
RATE_MARGIN = 1.15
DATE_FMT = "%Y/%m/%d"


def request_delay(rate_per_s: float) -> float:
    """Seconds between two E-utilities requests for an allowed rate (see RATE_MARGIN)."""
    return RATE_MARGIN / rate_per_s


@dataclass(frozen=True)
class EUtilsCall:
    url: str
    params: dict[str, str]

    def describe(self) -> str:
        """A log-safe one-liner: the utility and its search term or id count, never the key."""
        name = self.url.rstrip("/").rsplit("/", 1)[-1]
        if "term" in self.params:
            window = ""
            if "mindate" in self.params:
                window = f" {self.params.get('datetype', '')} {self.params['mindate']}-{self.params['maxdate']}"
            return f"{name} {self.params['term'][:80]!r}{window} from {self.params.get('retstart', '0')}"
        if "id" in self.params:
            return f"{name} of {self.params['id'].count(',') + 1} PMIDs"
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
    """efetch.fcgi of a slice of a search kept on the history server (``usehistory=y``)."""
    params = {"db": DB, "retmode": "xml", "WebEnv": webenv, "query_key": str(query_key),
              "retstart": str(retstart), "retmax": str(retmax)}
    params.update(identity(settings))
    return EUtilsCall(settings.eutils_url + "efetch.fcgi", params)


# ------------------------------------------------------------------ windows
def split_window(lo: dt.date, hi: dt.date, count: int, cap: int = SEARCH_CAP) -> list[tuple[dt.date, dt.date]]:
    """Cut [lo, hi] into adjacent day ranges expected to hold at most ``cap`` records each.

    Pieces are equal in days, as many as the count asks for plus one for unevenness; a
    piece that is still too big is split again by the caller.  A single day cannot be cut
    (esearch dates have day precision): ``[]`` then.
    """
    days = (hi - lo).days + 1
    if days <= 1:
        return []
    parts = min(days, max(2, math.ceil(count / cap) + 1))
    step = days / parts
    out = []
    start = lo
    for i in range(1, parts + 1):
        end = lo + dt.timedelta(days=round(step * i) - 1) if i < parts else hi
        if end >= start:
            out.append((start, end))
            start = end + dt.timedelta(days=1)
    return out


# ------------------------------------------------------------------ answers
class EUtilsError(Exception):
    """An answer that is not what was asked for (in-band error, not XML, cut short)."""


class SearchCapError(EUtilsError):
    """PubMed refused to page past its 9,999-id cap: the window must be split."""


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
        if "cannot be larger than" in message:
            raise SearchCapError(f"esearch: {message[:160]}")
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
        raise EUtilsError(f"efetch: PubMed answered with an error: {message[:200]}")
    if b"<PubmedArticleSet" not in head:
        raise EUtilsError(f"efetch: not a PubmedArticleSet: {head[:80].decode('utf-8', 'replace')!r}")
    tail = body[-64:].rstrip()
    if not (tail.endswith(b"</PubmedArticleSet>") or tail.endswith(b"<PubmedArticleSet/>")):
        raise EUtilsError("efetch: answer cut short (no closing </PubmedArticleSet>)")
