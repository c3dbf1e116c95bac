"""The records that cross the layers, as types.

Plain ``dataclasses`` (standard library, ``slots=True``): typed, cheap to build in the
parser's hot loop, no dependency, and ``dataclasses.asdict`` gives the JSON shapes of
CONTRACT.md.  A crawl parses service responses into these, ``db`` saves and returns
them, the digest and the CLI read them.  Field names are the stored column names and
the contract's JSON keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# CommentsCorrections RefType values of pubmed_250101.dtd, complete (API_NOTES.md).
REF_TYPES = (
    "AssociatedDataset", "AssociatedPublication", "CommentIn", "CommentOn",
    "CorrectedandRepublishedIn", "CorrectedandRepublishedFrom", "ErratumIn", "ErratumFor",
    "ExpressionOfConcernIn", "ExpressionOfConcernFor", "RepublishedIn", "RepublishedFrom",
    "RetractedandRepublishedIn", "RetractedandRepublishedFrom", "RetractionIn", "RetractionOf",
    "UpdateIn", "UpdateOf", "SummaryForPatientsIn", "OriginalReportIn", "ReprintIn", "ReprintOf",
    "Cites",
)
# The RefTypes that change how far a paper can be trusted: the reader is told of them.
CORRECTION_TYPES = frozenset({
    "RetractionIn", "RetractionOf", "RetractedandRepublishedIn", "RetractedandRepublishedFrom",
    "ErratumIn", "ErratumFor", "ExpressionOfConcernIn", "ExpressionOfConcernFor",
    "CorrectedandRepublishedIn", "CorrectedandRepublishedFrom", "RepublishedIn", "RepublishedFrom",
    "UpdateIn", "UpdateOf",
})
# On the paper itself, these RefTypes mean it has been retracted.
RETRACTING_TYPES = frozenset({"RetractionIn", "RetractedandRepublishedIn"})


@dataclass(slots=True)
class Author:
    """One author as PubMed lists it; ``display`` is the contract's ``"Lastname Initials"``."""

    display: str
    last_name: str | None = None
    fore_name: str | None = None
    initials: str | None = None
    suffix: str | None = None
    collective_name: str | None = None
    orcid: str | None = None
    affiliation: str | None = None


@dataclass(slots=True)
class Correction:
    """A CommentsCorrections link: this record ``ref_type`` ``other_pmid`` (RetractionIn 123)."""

    ref_type: str
    other_pmid: str | None
    note: str | None = None


@dataclass(slots=True)
class Publication:
    """A PubMed record (a journal article or, with ``book`` set, a Bookshelf chapter)."""

    pmid: str
    title: str = ""
    abstract: str | None = None
    abstract_sections: list[dict] = field(default_factory=list)
    journal: str | None = None
    journal_abbrev: str | None = None
    pub_date: str | None = None
    pub_date_text: str | None = None
    entrez_date: str | None = None
    create_date: str | None = None
    doi: str | None = None
    pmcid: str | None = None
    pii: str | None = None
    authors: list[str] = field(default_factory=list)
    author_details: list[Author] = field(default_factory=list)
    publication_types: list[str] = field(default_factory=list)
    mesh: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    language: str | None = None
    medline_status: str | None = None
    date_revised: str | None = None
    nct_ids: list[str] = field(default_factory=list)
    databank_nct_ids: list[str] = field(default_factory=list)
    abstract_nct_ids: list[str] = field(default_factory=list)
    corrections: list[Correction] = field(default_factory=list)
    retracted: bool = False
    late_arrival: bool = False
    book: dict | None = None
    record_hash: str | None = None
    raw_xml: bytes | None = None


@dataclass(slots=True)
class TrialChange:
    """One changed field of a trial between two fetches (``history`` in the contract)."""

    nct_id: str
    field: str
    old: str | None
    new: str | None
    seen_at: str


@dataclass(slots=True)
class Citation:
    """An identifier a seed document cites, where, and what it resolved to."""

    kind: str
    value: str
    document: str
    line: int
    status: str = "pending"
    resolved: str | None = None
    reason: str | None = None
