"""Identifiers: one pattern, one normaliser and one URL for each kind litwatch knows.

PMID (PubMed), PMCID (PubMed Central), NCT (ClinicalTrials.gov), DOI, PII (publisher item
identifier, Elsevier's ``S0165-0327(22)00822-9``), NBK (NCBI Bookshelf), and links (a web
page's URL as the key of a feed item).  Every layer
that recognises, normalises or links an identifier does it through this module, so a
stored DOI, a DOI pasted into ``search`` and a DOI found in a feed compare equal.
"""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

# Whole-value patterns (validation) and in-text patterns (finding).
PMID_RE = re.compile(r"^[1-9]\d{0,8}$")
PMCID_RE = re.compile(r"^PMC\d{1,9}$", re.IGNORECASE)
NCT_RE = re.compile(r"^NCT\d{8}$", re.IGNORECASE)
NBK_RE = re.compile(r"^NBK\d{1,9}$", re.IGNORECASE)
DOI_RE = re.compile(r"^10\.\d{4,9}/\S+$")

NCT_IN_TEXT_RE = re.compile(r"\bNCT\d{8}\b", re.IGNORECASE)
PMCID_IN_TEXT_RE = re.compile(r"\bPMC\d{4,9}\b", re.IGNORECASE)
# In running text a PMID is only a PMID when it says so ("PMID: 123"): a bare number is not.
PMID_IN_TEXT_RE = re.compile(r"\bPMID\s*:?\s*(\d{1,9})\b", re.IGNORECASE)
DOI_IN_TEXT_RE = re.compile(r"\b(10\.\d{4,9}/[-._;()/:a-zA-Z0-9<>\[\]]+)")
_DOI_PREFIX_RE = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)
# bioRxiv/medRxiv version suffixes: 10.1101/2024.01.02.123456v2 is the same preprint as ...456.
_PREPRINT_VERSION_RE = re.compile(r"^(10\.1101/\d[\d.]*\d)v\d+(?:\.[a-z-]+)*$")
# A journal link may go on past the DOI: ".../doi/full/10.1002/x.123/abstract".
_DOI_LINK_TAILS = ("/abstract", "/full", "/pdf", "/epdf", "/fulltext", "/html", "/meta")

# Query parameters that only say where a click came from; dropped so the same article
# linked from two feeds (or two days of one feed) has one key.
# (utm_*: analytics; rss: bioRxiv/medRxiv; af: Wiley; dgcid: ScienceDirect; cmpid: campaigns)
TRACKING_PARAMS = re.compile(r"^(utm_\w+|rss|af|dgcid|cmpid)$", re.IGNORECASE)

PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/{}/"
PMC_URL = "https://pmc.ncbi.nlm.nih.gov/articles/{}/"
DOI_URL = "https://doi.org/{}"
CTGOV_URL = "https://clinicaltrials.gov/study/{}"
BOOKSHELF_URL = "https://www.ncbi.nlm.nih.gov/books/{}/"
ISRCTN_URL = "https://www.isrctn.com/{}"
# The WHO ICTRP search portal resolves the ids of every primary registry.
ICTRP_URL = "https://trialsearch.who.int/Trial2.aspx?TrialID={}"

# Trial registration numbers as abstracts write them (ClinicalTrials.gov, ISRCTN, ANZCTR,
# EU CTR, German, Chinese, Indian, Japanese, Dutch, Cuban, Iranian, Pan-African, Korean).
# Group ``prefix`` + ``number`` lets a spaced or hyphenated spelling ("NCT 01234567")
# and ANZCTR's "ANZCTRN" slip be normalised by ``normalise_registration``.
REGISTRATION_IN_TEXT_RE = re.compile(
    r"\b(?:(?P<prefix>NCT|ISRCTN|A(?:NZ)?CTRN|DRKS|UMIN|RPCEC|NTR|PACTR|KCT|IRCT|ChiCTR|CTRI)"
    r"(?:[\s:#-]{0,2})(?P<number>(?<=CTRI)/?\d{4}/\d{2,3}/\d{6}|(?<=ChiCTR)-?[A-Z]{0,3}-?\d{6,12}|\d{6,15}(?:N\d+)?)"
    r"|EudraCT(?:\s*(?:No\.?|number|#)?)?\s*:?\s*(?P<eudract>\d{4}-\d{6}-\d{2}))\b",
    re.IGNORECASE,
)
# Digits each registry's numbers have (a longer or shorter run is something else).
_REGISTRY_DIGITS = {"NCT": (8,), "ISRCTN": (8,), "ACTRN": (14,), "DRKS": (8,), "UMIN": (9,),
                    "RPCEC": (8,), "PACTR": (15,), "KCT": (7,)}


def normalise_nct(value: str | None) -> str | None:
    """``nct03395314`` -> ``NCT03395314``; None when it is not an NCT number."""
    value = (value or "").strip().upper()
    return value if NCT_RE.match(value) else None


def normalise_pmid(value: str | None) -> str | None:
    """``" 38011560 "`` -> ``"38011560"``; ``PMID: 38011560`` too; None otherwise."""
    value = (value or "").strip()
    value = re.sub(r"^(?:PMID:?\s*)", "", value, flags=re.IGNORECASE)
    return value if PMID_RE.match(value) else None


def normalise_pmcid(value: str | None) -> str | None:
    """``pmc9156400`` or ``9156400`` given as a PMC id -> ``PMC9156400``."""
    value = (value or "").strip().upper()
    if value.isdigit():
        value = "PMC" + value
    return value if PMCID_RE.match(value) else None


def normalise_nbk(value: str | None) -> str | None:
    value = (value or "").strip().upper()
    return value if NBK_RE.match(value) else None


def normalise_doi(value: str | None) -> str | None:
    """Any spelling of a DOI -> its lower-case bare form, or None.

    ``doi:10.1101/X``, ``https://doi.org/10.1101/Xv2``, ``10.1002/x.123/abstract`` (a
    journal link) all reduce to the DOI itself; DOIs are case-insensitive, so the stored
    and compared form is lower case.  A bioRxiv/medRxiv version suffix is dropped so every
    version of a preprint is one record.
    """
    if not value:
        return None
    match = DOI_IN_TEXT_RE.search(unquote(html.unescape(_DOI_PREFIX_RE.sub("", value.strip()))))
    if not match:
        return None
    doi = match.group(1).rstrip(".,;:)]>").lower()
    for tail in _DOI_LINK_TAILS:
        if doi.endswith(tail):
            doi = doi[: -len(tail)]
    version = _PREPRINT_VERSION_RE.match(doi)
    return version.group(1) if version else doi


def normalise_link(url: str | None) -> str | None:
    """One spelling per link: https, lower-case host, no fragment, no tracking parameters."""
    if not url:
        return None
    url = html.unescape(html.unescape(url.strip()))  # some feeds escape "&" twice
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return url
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not TRACKING_PARAMS.match(k)]
    path = parts.path if parts.path not in ("", "/") else "/"
    if len(path) > 1:
        path = path.rstrip("/")
    return urlunsplit(("https", parts.netloc.lower(), path, urlencode(query), ""))


def pii_compact(pii: str) -> str:
    """``S0165-0327(22)00822-9`` -> ``S0165032722008229`` (the form in ScienceDirect URLs)."""
    return re.sub(r"[^0-9A-Za-z]", "", pii).upper()


def pii_punctuated(pii: str) -> str | None:
    """``S0165032722008229`` -> ``S0165-0327(22)00822-9``; None when it has another shape."""
    compact = pii_compact(pii)
    m = re.match(r"^S(\d{4})(\d{3}[\dX])(\d{2})(\d{5})(\d|X)$", compact)
    if not m:
        return None
    return f"S{m.group(1)}-{m.group(2)}({m.group(3)}){m.group(4)}-{m.group(5)}"


def identify(value: str) -> tuple[str, str] | None:
    """(kind, normalised) for what a user typed or pasted: pmid, pmcid, nct, nbk or doi."""
    for kind, norm in (("nct", normalise_nct), ("pmcid", normalise_pmcid_strict),
                       ("nbk", normalise_nbk), ("pmid", normalise_pmid), ("doi", normalise_doi)):
        found = norm(value)
        if found:
            return kind, found
    return None


def normalise_pmcid_strict(value: str | None) -> str | None:
    """A PMC id only when written with its ``PMC`` prefix (a bare number is a PMID)."""
    value = (value or "").strip().upper()
    return value if PMCID_RE.match(value) else None


def pubmed_url(pmid: str) -> str:
    return PUBMED_URL.format(pmid)


def pmc_url(pmcid: str) -> str:
    return PMC_URL.format(pmcid.upper())


def doi_url(doi: str) -> str:
    return DOI_URL.format(quote(doi, safe="/:;()._-<>[]"))


def normalise_registration(prefix: str, number: str) -> str | None:
    """A registry prefix and number as found in text -> the registry's own spelling.

    ``("nct", "01234567")`` -> ``NCT01234567``; ``("ANZCTRN", "12609000106235")`` ->
    ``ACTRN12609000106235`` (ANZCTR's numbers are ACTRN + 14 digits); a number of the
    wrong length for its registry -> None.
    """
    prefix = prefix.upper()
    if prefix in ("ANZCTRN", "ACTRN"):
        prefix = "ACTRN"
    elif prefix == "CHICTR":
        return "ChiCTR" + number.upper() if re.search(r"\d{6}", number) else None
    elif prefix == "EUDRACT":
        return "EudraCT " + number
    digits = re.sub(r"\D", "", number)
    if prefix in _REGISTRY_DIGITS and len(digits) not in _REGISTRY_DIGITS[prefix]:
        return None
    if prefix == "CTRI":
        return "CTRI/" + number.lstrip("/")
    return prefix + number.upper()


def registration_url(registration: str) -> str:
    """ClinicalTrials.gov or ISRCTN for their own ids; the WHO portal for every other registry."""
    if NCT_RE.match(registration):
        return ctgov_url(registration)
    if registration.upper().startswith("ISRCTN"):
        return ISRCTN_URL.format(registration.upper())
    return ICTRP_URL.format(quote(registration, safe=""))


def ctgov_url(nct_id: str) -> str:
    return CTGOV_URL.format(nct_id.upper())


def bookshelf_url(nbk: str) -> str:
    return BOOKSHELF_URL.format(nbk.upper())


ORCID_RE = re.compile(r"(\d{4})-?(\d{4})-?(\d{4})-?(\d{3}[\dX])$", re.IGNORECASE)
ORCID_URL = "https://orcid.org/{}"


def normalise_orcid(value: str | None) -> str | None:
    """``http://orcid.org/0000000262737318`` or ``0000-0002-6273-7318`` -> the dashed form."""
    m = ORCID_RE.search((value or "").strip())
    return "-".join(m.groups()).upper() if m else None
