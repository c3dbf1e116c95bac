"""Record text and links made safe for a mail client.

Stored titles and abstracts keep PubMed's inline markup (``<i>``, ``<sub>``, ``<sup>``) and
may hold anything else a publisher or feed put there, hostile or not.  The PubMed crawler
stores them as HTML fragments (``5 &lt; 6``), feeds and ClinicalTrials.gov as plain text
(``5 < 6``): between tags, entities are therefore decoded once and the text escaped again,
which reads right either way and never double-escapes.  Only bare inline tags from a short
allow-list survive (re-emitted by us, without attributes, balanced); every other
character is escaped.  Links are built from identifiers we validate, and a
feed's own link is kept only when it is plain http(s).
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote, urlsplit

from markupsafe import Markup

from litwatch.vocab import ids
from litwatch.vocab.markup import INLINE_ALIASES, INLINE_TAGS

# Inline markup worth keeping: vocab's one allow-list (and the spellings it maps onto it).
# Written exactly like this, with nothing inside the brackets but the name.
ALLOWED_TAGS = tuple(INLINE_TAGS) + tuple(INLINE_ALIASES)
_TAG_RE = re.compile(r"<\s*(/?)\s*(" + "|".join(ALLOWED_TAGS) + r")\s*>", re.IGNORECASE)
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")
_WS_RE = re.compile(r"\s+")


def safe_inline(text: str | None) -> Markup:
    """Escape everything except bare allow-listed inline tags, which are kept balanced."""
    if not text:
        return Markup("")
    out: list[str] = []
    open_tags: list[str] = []
    pos = 0
    for m in _TAG_RE.finditer(text):
        out.append(_text(text[pos : m.start()]))
        pos = m.end()
        closing, name = m.group(1) == "/", m.group(2).lower()
        name = INLINE_ALIASES.get(name, name)
        if not closing:
            open_tags.append(name)
            out.append(f"<{name}>")
        elif name in open_tags:
            # Close what was opened inside it too, so the markup stays well nested.
            while open_tags:
                inner = open_tags.pop()
                out.append(f"</{inner}>")
                if inner == name:
                    break
        # A stray closing tag is dropped.
    out.append(_text(text[pos:]))
    out.extend(f"</{name}>" for name in reversed(open_tags))
    return Markup("".join(out))


def _text(segment: str) -> str:
    return html.escape(html.unescape(segment), quote=True)


def plain_inline(text: str | None) -> str:
    """The same text for the plain-text part: allowed inline tags removed, entities decoded."""
    if not text:
        return ""
    return html.unescape(_TAG_RE.sub("", text))


def collapse(text: str | None) -> str:
    return _WS_RE.sub(" ", text or "").strip()


def first_sentences(text: str | None, count: int = 2, limit: int = 400) -> str:
    """The opening ``count`` sentences, cut at ``limit`` characters on a word boundary."""
    text = collapse(text)
    if not text:
        return ""
    picked = " ".join(_SENTENCE_END_RE.split(text)[:count])
    return shorten(picked, limit)


def shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    # Never end inside a tag such as "<su" (it would be shown escaped).
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    return cut.rstrip(" ,;:") + " …"


# The builders below return "" for an identifier that does not look right: the template
# then shows the text without a link rather than a link to somewhere unexpected.


def pubmed_url(pmid: str | None) -> str:
    pmid = (pmid or "").strip()
    return ids.pubmed_url(pmid) if ids.PMID_RE.match(pmid) else ""


def pmc_url(pmcid: str | None) -> str:
    pmcid = ids.normalise_pmcid_strict(pmcid)
    return ids.pmc_url(pmcid) if pmcid else ""


def trial_url(nct_id: str | None) -> str:
    nct = ids.normalise_nct(nct_id)
    return ids.ctgov_url(nct) if nct and nct == (nct_id or "").strip() else ""


def doi_url(doi: str | None) -> str:
    doi = (doi or "").strip()
    if not ids.DOI_RE.match(doi) or any(c in doi for c in "\"'<>\\`"):
        return ""
    return ids.doi_url(doi)


def pubmed_search_url(query: str) -> str:
    return "https://pubmed.ncbi.nlm.nih.gov/?term=" + quote(query, safe="")


def ctgov_search_url(params: dict[str, str]) -> str:
    # The website's search page takes the same names as the API's query.* parameters.
    return "https://clinicaltrials.gov/search?" + "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in params.items())


def safe_link(url: str | None) -> str | None:
    """A feed item's own link, if it is a plain absolute http(s) URL; otherwise no link."""
    url = (url or "").strip()
    if not url or any(ord(c) < 33 or c in "\"'<>\\`" for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url
