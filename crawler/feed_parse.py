"""RSS/Atom bytes -> ``FeedItem`` records: keys, kinds, DOIs, PMIDs and NCT numbers.

feedparser reads RSS 0.9x/1.0/2.0 and Atom alike; this module turns its entries into the
``litwatch.vocab.records.FeedItem`` records that ``db.feeds.save_feed_items`` stores (see
docs/feeds.md).  Nothing here does
I/O: the spider hands over the body and headers, the tests hand over fixture bytes.

Decisions (documented in docs/feeds.md):
- An item's key is its guid (Atom id), else its DOI, else its normalised link; a
  ClinicalTrials.gov item is keyed by its NCT number, so the same trial seen in two
  searches (or the classic and the new site) is one item.
- The feed's kind comes from its URL's host, else its channel link's host (a feed mirrored
  or proxied elsewhere still says where it comes from); an item's kind may be narrower
  (a preprint DOI inside a journal feed is a preprint).
- The topic keyword filter applies to *general* feeds (a journal's table of contents, a
  preprint server's subject collection), never to a search feed (PubMed saved search,
  ClinicalTrials.gov search), whose query already chose the items.
"""

from __future__ import annotations

import html
import io
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import feedparser
from feedparser.exceptions import ThingsNobodyCaresAboutButMe

from litwatch.vocab.ids import NCT_IN_TEXT_RE, normalise_doi, normalise_link, normalise_nct, normalise_pmid
from litwatch.vocab.markup import fragment_to_text
from litwatch.vocab.records import FeedItem

# Hosts whose feeds are preprint servers (the host or any sub-domain of it).
PREPRINT_HOSTS = ("medrxiv.org", "biorxiv.org", "researchsquare.com", "preprints.org", "psyarxiv.com", "ssrn.com", "arxiv.org")
TRIAL_HOSTS = ("clinicaltrials.gov",)
PUBMED_HOSTS = ("pubmed.ncbi.nlm.nih.gov",)

# DOI prefixes of preprint servers.  10.1101 is Cold Spring Harbor Laboratory: bioRxiv and
# medRxiv DOIs are numeric after the slash ("10.1101/2024.01.02.24300123", older
# "10.1101/123456"), while CSHL's journals use letters ("10.1101/gr.…", "10.1101/gad.…"),
# so only the numeric form counts as a preprint.
PREPRINT_DOI_RE = re.compile(
    r"^(10\.1101/\d[\d.]*$|10\.21203/rs\.|10\.20944/preprints|10\.31234/|10\.2139/ssrn\.|10\.48550/arxiv\.)"
)
# Where a feed names a PubMed record: a pubmed.ncbi.nlm.nih.gov path, or an id "pubmed:123".
PUBMED_PATH_RE = re.compile(r"^/(?:pubmed/)?(\d+)/?$")
PMID_ID_RE = re.compile(r"^(?:pmid|pubmed):\s*(\d+)$", re.IGNORECASE)

# Summaries are abstracts or tables of contents, not full texts: some feeds carry whole
# articles, which would swamp the digest and the search index.  4000 characters holds
# the longest structured abstracts we have seen (about 3000).
MAX_SUMMARY_CHARS = 4000
# A feed lists its latest items (tens, a few hundred); past this many the rest is not read
# (ParsedFeed.truncated), so a runaway feed cannot hold millions of items in memory.
MAX_ITEMS = 5000

FEED_KINDS = ("preprint", "journal", "trial", "pubmed")
GENERAL_FEED_KINDS = ("preprint", "journal")


@dataclass
class ParsedFeed:
    """What one fetch of a feed yielded.  ``problem`` is set when the feed was malformed."""

    url: str
    kind: str
    title: str | None
    version: str  # feedparser's name: rss20, rss10, rss091u, atom10, ... ("" if unknown)
    items: list[FeedItem] = field(default_factory=list)
    problem: str | None = None  # a one-line description of bozo trouble, or None
    damaged: int = 0  # recovered entries dropped as cut short (see parse_feed)
    truncated: int = 0  # entries past MAX_ITEMS, not read


# --- small normalisers -------------------------------------------------------------

def _host_matches(host: str, suffixes: tuple[str, ...]) -> bool:
    host = (host or "").lower().split(":")[0]
    return any(host == s or host.endswith("." + s) for s in suffixes)


def is_preprint_doi(doi: str | None) -> bool:
    return bool(doi and PREPRINT_DOI_RE.match(doi))


def _text(html_value: str | None) -> str | None:
    """Feed HTML (``<b>Condition</b>:<br/>…``) as one line of plain text, None if empty."""
    return fragment_to_text(html_value) or None


def _date(entry) -> str | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return time.strftime("%Y-%m-%d", value)
    return None


# --- kinds and identifiers ---------------------------------------------------------

def feed_kind(url: str, channel_link: str | None = None) -> str:
    """preprint / trial / pubmed / journal, from the feed URL's host or its channel link."""
    for candidate in (url, channel_link):
        host = urlsplit(html.unescape(candidate or "")).hostname or ""
        if _host_matches(host, PREPRINT_HOSTS):
            return "preprint"
        if _host_matches(host, TRIAL_HOSTS):
            return "trial"
        if _host_matches(host, PUBMED_HOSTS):
            return "pubmed"
    return "journal"


def _identifiers(entry) -> list[str]:
    """Every identifier-like value of an entry, most specific first."""
    values = [entry.get("prism_doi"), entry.get("dc_identifier"), entry.get("id")]
    values += [entry.get("link")] + [link.get("href") for link in entry.get("links") or []]
    return [v for v in values if isinstance(v, str) and v.strip()]


def find_doi(entry) -> str | None:
    """DOI from prism:doi, dc:identifier, the guid/id, then the links (doi.org, /doi/…)."""
    for value in _identifiers(entry):
        doi = normalise_doi(value)
        if doi:
            return doi
    return None


def find_pmid(entry) -> str | None:
    """PMID from ``pmid:``/``pubmed:`` identifiers or a pubmed.ncbi.nlm.nih.gov link."""
    for value in _identifiers(entry):
        value = value.strip()
        match = PMID_ID_RE.match(value)
        parts = urlsplit(value)
        if match is None and _host_matches(parts.hostname or "", PUBMED_HOSTS):
            match = PUBMED_PATH_RE.match(parts.path)
        pmid = normalise_pmid(match.group(1)) if match else None
        if pmid:
            return pmid
    return None


def find_nct(entry) -> str | None:
    """NCT number from the guid or a clinicaltrials.gov link (``/ct2/show/NCT…``, ``/study/NCT…``)."""
    guid = (entry.get("id") or "").strip()
    if normalise_nct(guid):
        return normalise_nct(guid)
    for value in _identifiers(entry):
        parts = urlsplit(value)
        if _host_matches(parts.hostname or "", TRIAL_HOSTS):
            match = NCT_IN_TEXT_RE.search(parts.path)
            if match:
                return match.group(0).upper()
    return None


def _authors(entry) -> list[str]:
    names = [a.get("name", "").strip() for a in entry.get("authors") or [] if isinstance(a, dict)]
    names = [n for n in names if n]
    # dc:creator often holds every author in one string: "Smith, J.; Doe, A."
    if len(names) == 1 and ";" in names[0]:
        names = [n.strip() for n in names[0].split(";") if n.strip()]
    return names


def item_key(entry, doi: str | None, link: str | None, nct_id: str | None, kind: str) -> str | None:
    """The stable key: NCT number for a trial, else guid, else DOI, else normalised link."""
    if kind == "trial" and nct_id:
        return nct_id
    guid = (entry.get("id") or "").strip()
    if guid:
        return normalise_link(guid) if guid.lower().startswith(("http://", "https://")) else guid
    return doi or link


def _item(entry, url: str, fkind: str) -> FeedItem:
    link = normalise_link(entry.get("link"))
    doi = find_doi(entry)
    pmid = find_pmid(entry)
    nct_id = find_nct(entry)
    link_host = urlsplit(link or "").hostname or ""
    if fkind == "trial" or (nct_id and _host_matches(link_host, TRIAL_HOSTS)):
        kind = "trial"
    elif fkind == "pubmed" or _host_matches(link_host, PUBMED_HOSTS):
        kind = "pubmed"
    elif fkind == "preprint" or is_preprint_doi(doi) or _host_matches(link_host, PREPRINT_HOSTS):
        kind = "preprint"
    else:
        kind = "journal"
    summary = _text(entry.get("summary"))
    if summary and len(summary) > MAX_SUMMARY_CHARS:
        summary = summary[: MAX_SUMMARY_CHARS - 1].rstrip() + "…"
    return FeedItem(
        id=item_key(entry, doi, link, nct_id, kind),
        feed_url=url,
        kind=kind,
        title=_text(entry.get("title")),
        link=link,
        summary=summary,
        authors=_authors(entry),
        published=_date(entry),
        doi=doi,
        feed_pmid=pmid,
        nct_id=nct_id if kind == "trial" else None,
    )


# --- the whole feed ----------------------------------------------------------------

def describe_problem(exc: BaseException | None) -> str:
    """``SAXParseException: no element found at line 35`` for a warning line."""
    if exc is None:
        return "unknown problem"
    try:  # SAX errors: the message and where, without the "<unknown>:35:6:" prefix
        text = f"{type(exc).__name__}: {exc.getMessage()} at line {exc.getLineNumber()}"
    except Exception:
        text = f"{type(exc).__name__}: {exc}"
    return text[:300]


def parse_feed(body: bytes, url: str, headers: dict[str, str] | None = None) -> ParsedFeed:
    """Parse one fetched feed into item dicts.

    The body is wrapped in BytesIO: feedparser treats a bare string as a possible URL or
    file name, and a feed body is untrusted.  ``headers`` (Content-Type above all) lets
    feedparser pick the right encoding.

    A malformed feed (bozo) is not thrown away: feedparser's loose parser usually
    recovers the entries before the damage, and dropping them would lose evidence.  But a
    body cut short leaves a last entry without its guid; when the other entries have
    guids, such entries are dropped (``damaged``) rather than stored under a second key.
    Benign bozo reasons (a wrong declared encoding, an XML feed served as text/plain) are
    not problems at all.
    """
    parsed = feedparser.parse(
        io.BytesIO(body),
        response_headers={k.lower(): v for k, v in (headers or {}).items()} or None,
        resolve_relative_uris=True,
        sanitize_html=True,
    )
    channel = parsed.get("feed") or {}
    fkind = feed_kind(url, channel.get("link"))
    result = ParsedFeed(url=url, kind=fkind, title=_text(channel.get("title")), version=parsed.get("version") or "")
    exc = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if exc is not None and not isinstance(exc, ThingsNobodyCaresAboutButMe):
        result.problem = describe_problem(exc)
    elif not parsed.entries and not result.version:
        result.problem = describe_problem(exc) if exc is not None else "not an RSS or Atom document"
    entries = list(parsed.entries)
    if len(entries) > MAX_ITEMS:
        result.truncated = len(entries) - MAX_ITEMS
        entries = entries[:MAX_ITEMS]
    if result.problem and any(e.get("id") for e in entries):
        kept = [e for e in entries if e.get("id")]
        result.damaged = len(entries) - len(kept)
        entries = kept
    for entry in entries:
        result.items.append(_item(entry, url, fkind))
    return result


# --- the topic filter --------------------------------------------------------------

def keyword_patterns(keywords) -> list[re.Pattern]:
    """A keyword matches at the start of a word, case-insensitively, and may go on:
    ``ketamine`` matches "Ketamine-assisted" but not "esketamine" (list both), ``suicid``
    matches "suicidality"; inner spaces match any run of spaces or hyphens."""
    patterns = []
    for word in keywords:
        words = [re.escape(w) for w in re.split(r"[\s-]+", word.strip()) if w]
        if words:
            patterns.append(re.compile(r"(?<!\w)" + r"[\s-]+".join(words), re.IGNORECASE))
    return patterns


def filter_applies(feed_kind_: str, keywords) -> bool:
    """The keyword filter applies to general feeds (journal, preprint) of topics that
    list keywords; a search feed (PubMed, ClinicalTrials.gov) keeps every item, and a
    topic without keywords keeps every item of every feed it names."""
    return feed_kind_ in GENERAL_FEED_KINDS and bool(keywords)


def matches_keywords(item: FeedItem, patterns: list[re.Pattern]) -> bool:
    text = " ".join(x for x in (item.title, item.summary) if x)
    return any(p.search(text) for p in patterns)


def items_for_topic(parsed: ParsedFeed, keywords) -> list[FeedItem]:
    """The items of ``parsed`` this topic keeps."""
    if not filter_applies(parsed.kind, keywords):
        return list(parsed.items)
    patterns = keyword_patterns(keywords)
    return [item for item in parsed.items if matches_keywords(item, patterns)]
