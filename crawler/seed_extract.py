"""Find cited identifiers in seed documents: pure functions over text, no I/O.

What counts as a citation (and what does not):

- NCT numbers (``NCT`` + 8 digits), PMC ids (``PMC`` + digits), DOIs (``10.NNNN/...``);
- PMIDs only in explicit forms ("PMID: 123", "PMID 123"): a bare number is not a PMID;
- URLs of PubMed (``pubmed.ncbi.nlm.nih.gov/123``, ``ncbi.nlm.nih.gov/pubmed/123``),
  PMC (``ncbi.nlm.nih.gov/pmc/articles/PMC…``, ``pmc.ncbi.nlm.nih.gov/articles/PMC…``),
  ClinicalTrials.gov (``ct2/show/NCT…``, ``study/NCT…``), doi.org and ScienceDirect
  (``…/pii/S0165032722008229``: an Elsevier PII).  A URL yields the identifier it names,
  with the URL as ``raw``; other URLs (YouTube, clinics) are not citations.

Each citation is a ``litwatch.vocab.records.Citation(document, line, kind, value, raw)``
with kind one of nct, pmid, pmcid, doi, pii; ``value`` is normalised by ``litwatch.vocab.ids``
(upper-case NCT/PMC/PII, lower-case DOI), the same normalisers every other layer uses.
"""

from __future__ import annotations

import re
from typing import Iterator
from urllib.parse import unquote

from litwatch.vocab.ids import (
    DOI_IN_TEXT_RE,
    NCT_IN_TEXT_RE,
    PMCID_IN_TEXT_RE,
    PMID_IN_TEXT_RE,
    normalise_doi,
    normalise_nct,
    normalise_pmcid,
    normalise_pmid,
    pii_compact,
)
from litwatch.vocab.records import Citation

URL_RE = re.compile(r"https?://[^\s<>\"'()\[\]{}]+", re.IGNORECASE)
# URLs of the hosts we know, also written without a scheme ("pubmed.ncbi.nlm.nih.gov/123").
KNOWN_URL_RE = re.compile(
    r"\b(?:https?://)?(?:[a-z0-9-]+\.)*(?:ncbi\.nlm\.nih\.gov|doi\.org|clinicaltrials\.gov|sciencedirect\.com)/[^\s<>\"'()\[\]{}]*",
    re.IGNORECASE,
)
# Trailing characters that end a sentence or a bracket rather than belong to an id.
TRAILING = ".,;:)]}>'\""

# URL path patterns, tried on "host/path" (lower-cased host, path as written).
URL_PATTERNS = (
    ("pmid", re.compile(r"^(?:www\.)?pubmed\.ncbi\.nlm\.nih\.gov/(\d{1,9})(?:/|$|\?)", re.I)),
    ("pmid", re.compile(r"^(?:www\.)?ncbi\.nlm\.nih\.gov/pubmed/(\d{1,9})(?:/|$|\?)", re.I)),
    ("pmcid", re.compile(r"^(?:www\.)?ncbi\.nlm\.nih\.gov/pmc/articles/(PMC\d+)(?:/|$|\?)", re.I)),
    ("pmcid", re.compile(r"^(?:www\.)?pmc\.ncbi\.nlm\.nih\.gov/articles/(PMC\d+)(?:/|$|\?)", re.I)),
    ("nct", re.compile(r"^(?:www\.|classic\.)?clinicaltrials\.gov/(?:ct2/show/(?:study/)?|study/|show/)(NCT\d{8})(?:/|$|\?|#)", re.I)),
    ("doi", re.compile(r"^(?:dx\.)?doi\.org/(10\.\d{4,9}/.+)$", re.I)),
    ("pii", re.compile(r"^(?:www\.)?sciencedirect\.com/science/article/(?:abs/|am/)?pii/([0-9A-Z]{16,17})(?:/|$|\?)", re.I)),
)


NORMALISERS = {"nct": normalise_nct, "pmcid": normalise_pmcid, "pmid": normalise_pmid, "doi": normalise_doi,
               "pii": lambda value: pii_compact(value) or None}


def normalise(kind: str, value: str) -> str | None:
    """The stored form of an identifier of ``kind``; None when it is not one after all."""
    return NORMALISERS[kind](value.strip().rstrip(TRAILING))


def _from_url(url: str) -> tuple[str, str] | None:
    url = url.rstrip(TRAILING)
    rest = re.sub(r"^https?://", "", url, flags=re.I)
    for kind, pattern in URL_PATTERNS:
        m = pattern.match(rest)
        if m:
            value = m.group(1)
            if kind == "doi":
                value = unquote(value.split("?")[0].split("#")[0])
            value = normalise(kind, value)
            return (kind, value) if value else None
    return None


def extract_line(text: str) -> Iterator[tuple[str, str, str]]:
    """(kind, value, raw) for each identifier cited in one line, in order, without
    duplicates; an identifier inside a URL is reported once, for the URL."""
    seen: set[tuple[str, str]] = set()
    spans: list[tuple[int, int]] = []
    found: list[tuple[int, str, str, str]] = []

    def add(pos: int, kind: str, value: str, raw: str) -> None:
        if (kind, value) not in seen:
            seen.add((kind, value))
            found.append((pos, kind, value, raw))

    for pattern in (KNOWN_URL_RE, URL_RE):
        for m in pattern.finditer(text):
            if any(a <= m.start() < b for a, b in spans):
                continue
            spans.append(m.span())
            hit = _from_url(m.group(0))
            if hit:
                add(m.start(), hit[0], hit[1], m.group(0).rstrip(TRAILING))

    def outside_urls(m: re.Match) -> bool:
        return not any(a <= m.start() < b for a, b in spans)

    for kind, pattern, group in (("nct", NCT_IN_TEXT_RE, 0), ("pmcid", PMCID_IN_TEXT_RE, 0), ("pmid", PMID_IN_TEXT_RE, 1),
                                 ("doi", DOI_IN_TEXT_RE, 0)):
        for m in pattern.finditer(text):
            value = normalise(kind, m.group(group))
            if value and outside_urls(m):
                raw = m.group(0).rstrip(TRAILING) if kind == "doi" else m.group(0)
                add(m.start(), kind, value, raw)
    for _, kind, value, raw in sorted(found):
        yield kind, value, raw


def extract_citations(document: str, text: str) -> Iterator[Citation]:
    """Every citation in a document's text, with its 1-based line number."""
    for number, line in enumerate(text.splitlines(), start=1):
        for kind, value, raw in extract_line(line):
            yield Citation(document, number, kind, value, raw)
