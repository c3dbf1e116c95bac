"""The records that cross the layers, as types.

Plain ``dataclasses`` (standard library, ``slots=True``): typed, cheap to build in the
parser's hot loop, no dependency, and ``dataclasses.asdict`` gives the JSON shapes of
CONTRACT.md.  A crawl parses service responses into these, ``db`` saves and returns
them, the digest and the CLI read them.  Field names are the stored column names and
the contract's JSON keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from litwatch.vocab.ids import ctgov_url

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
class Book:
    """What a Bookshelf record (``PubmedBookArticle``) adds to a publication."""

    accession: str | None = None  # NBK…, the Bookshelf id
    url: str | None = None  # vocab.ids.bookshelf_url(accession)
    book_title: str = ""  # safe HTML fragment, like titles
    publisher: str | None = None
    publisher_location: str | None = None
    editors: list[str] = field(default_factory=list)  # "Lastname Initials", in order
    editor_details: list[Author] = field(default_factory=list)
    book_authors: list[str] = field(default_factory=list)  # authors of the whole book
    location_label: str | None = None  # "Chapter 3"...
    volume: str | None = None
    edition: str | None = None
    collection_title: str | None = None
    isbn: list[str] = field(default_factory=list)
    contribution_date: str | None = None  # YYYY[-MM[-DD]]: when the chapter was written/updated
    sections: list[str] = field(default_factory=list)  # top-level section titles


@dataclass(slots=True)
class Publication:
    """A PubMed record: a journal article or (``record_type`` "book_chapter"/"book") a Bookshelf document.

    Dates: ``entrez_date`` is History ``PubStatus="entrez"`` (EDAT, ``[edat]``);
    ``create_date`` is ``PubStatus="pubmed"`` (CRDT, ``[crdt]``: when the record entered
    PubMed; NLM back-dates EDAT to the publication date for records added over a year
    late).  ``pubmed_history`` keeps every History date by its PubStatus name.
    ``late_arrival``: published more than a year before ``create_date``; the digest says
    "published <pub_date year>, new to PubMed" from ``pub_date`` and ``create_date``.
    ``corrections`` holds every CommentsCorrections link (all of ``REF_TYPES``); the ones
    a reader is told of are those in ``CORRECTION_TYPES`` (labels: vocab.corrections).
    """

    pmid: str
    title: str = ""
    abstract: str | None = None
    abstract_sections: list[dict] = field(default_factory=list)
    journal: str | None = None  # for a book record: the book title, as plain text
    journal_abbrev: str | None = None
    pub_date: str | None = None
    pub_date_text: str | None = None
    entrez_date: str | None = None
    create_date: str | None = None
    pubmed_history: dict[str, str] = field(default_factory=dict)
    doi: str | None = None
    pmcid: str | None = None
    pii: str | None = None
    nbk: str | None = None
    other_ids: list[dict] = field(default_factory=list)  # OtherID: [{"source", "id"}]
    authors: list[str] = field(default_factory=list)
    author_details: list[Author] = field(default_factory=list)
    publication_types: list[str] = field(default_factory=list)
    mesh: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    other_abstracts: list[dict] = field(default_factory=list)  # [{"type", "language", "text"}]
    language: str | None = None
    medline_status: str | None = None
    date_revised: str | None = None
    nct_ids: list[str] = field(default_factory=list)
    databank_nct_ids: list[str] = field(default_factory=list)
    abstract_nct_ids: list[str] = field(default_factory=list)
    corrections: list[Correction] = field(default_factory=list)
    retracted: bool = False
    late_arrival: bool = False
    record_type: str = "article"  # "article", "book_chapter" or "book"
    book: Book | None = None
    topics: list[str] = field(default_factory=list)  # filled when read from the store
    first_seen_at: str | None = None
    updated_at: str | None = None
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
class FeedItem:
    """One RSS/Atom item as the feed parser reads it and ``db.feeds`` stores it (docs/feeds.md).

    ``id`` is the stable key (NCT number of a trial item, else guid, else DOI, else the
    normalised link); ``kind`` is preprint, journal, trial or pubmed; ``title`` and
    ``summary`` are plain text; ``feed_pmid`` is a PMID the feed itself names.
    """

    id: str | None
    feed_url: str
    kind: str = "journal"
    title: str | None = None
    link: str | None = None
    summary: str | None = None
    authors: list[str] = field(default_factory=list)
    published: str | None = None  # YYYY-MM-DD
    doi: str | None = None
    feed_pmid: str | None = None
    nct_id: str | None = None


@dataclass(slots=True)
class Citation:
    """An identifier a seed document cites, where (``document``, 1-based ``line``), as
    written there (``raw``), and what it resolved to (``litwatch citations`` lists these)."""

    document: str
    line: int
    kind: str  # nct | pmid | pmcid | doi | pii
    value: str  # normalised: upper-case NCT/PMC/PII, lower-case DOI
    raw: str | None = None
    status: str = "pending"  # pending | resolved | unresolved
    resolved_kind: str | None = None  # publication | trial
    resolved_id: str | None = None
    reason: str | None = None


# --- ClinicalTrials.gov ------------------------------------------------------------------

# Trial fields whose change between two stored versions goes into the trial's history, in
# the order a reader wants them.  "references" is special: only newly added PMIDs count.
# ClinicalTrials.gov v2 OverallStatus values (the Status enum of ctg-oas-v2.yaml, 2.0.5).
OVERALL_STATUSES = (
    "ACTIVE_NOT_RECRUITING", "COMPLETED", "ENROLLING_BY_INVITATION", "NOT_YET_RECRUITING", "RECRUITING",
    "SUSPENDED", "TERMINATED", "WITHDRAWN", "AVAILABLE", "NO_LONGER_AVAILABLE", "TEMPORARILY_NOT_AVAILABLE",
    "APPROVED_FOR_MARKETING", "WITHHELD", "UNKNOWN",
)
HISTORY_FIELDS = (
    "status",
    "why_stopped",
    "phases",
    "enrollment",
    "enrollment_type",
    "start_date",
    "primary_completion_date",
    "completion_date",
    "results_first_posted",
    "has_results",
)


@dataclass(slots=True)
class TrialReference:
    """A paper the trial record cites (referencesModule): RESULT, DERIVED or BACKGROUND.

    ``retractions`` are ClinicalTrials.gov's notes that the paper was retracted:
    ``[{"pmid": <the retraction notice>, "source": ...}]``.
    """

    pmid: str
    type: str = "BACKGROUND"
    citation: str | None = None
    retractions: list[dict] = field(default_factory=list)


@dataclass(slots=True)
class TrialLink:
    """A paper linked to a trial, how (``sources``: ctgov_reference, databank, abstract,
    si_search) and, for a trial-record reference, its type."""

    pmid: str
    title: str | None = None
    sources: list[str] = field(default_factory=list)
    ref_type: str | None = None


# CONTRACT's trial keys, in order (``Trial.to_dict`` writes them first, then the extras).
TRIAL_CONTRACT_KEYS = (
    "kind", "nct_id", "title", "official_title", "status", "why_stopped", "phases", "study_type",
    "enrollment", "start_date", "primary_completion_date", "completion_date", "first_posted",
    "last_update_posted", "results_first_posted", "has_results", "sponsor", "conditions",
    "interventions", "pmids", "topics", "history", "url",
)


@dataclass(slots=True)
class Trial:
    """A ClinicalTrials.gov study as litwatch knows it.

    The parser fills what the study says (``raw`` is the served JSON, ``record_hash`` the
    hash of its content); the store adds what litwatch learnt around it (``pmids``,
    ``links``, ``topics``, ``history``, ``followed``).  A followed trial not fetched yet is a
    Trial with only ``nct_id`` set: unknown values stay None, never guessed.
    """

    nct_id: str
    title: str | None = None
    official_title: str | None = None
    status: str | None = None
    last_known_status: str | None = None
    why_stopped: str | None = None
    phases: list[str] = field(default_factory=list)
    study_type: str | None = None
    enrollment: int | None = None
    enrollment_type: str | None = None
    start_date: str | None = None
    primary_completion_date: str | None = None
    primary_completion_type: str | None = None  # ACTUAL | ESTIMATED
    completion_date: str | None = None
    completion_type: str | None = None
    first_posted: str | None = None
    last_update_posted: str | None = None
    results_first_posted: str | None = None
    has_results: bool | None = None
    fda_regulated_drug: bool | None = None  # oversightModule; None when the record lacks it
    fda_regulated_device: bool | None = None
    sponsor: str | None = None
    conditions: list[str] = field(default_factory=list)
    interventions: list[str] = field(default_factory=list)
    references: list[TrialReference] = field(default_factory=list)
    version_holder: str | None = None
    record_hash: str | None = None
    raw: dict | None = None
    # What the store knows around the study.
    pmids: list[str] = field(default_factory=list)
    links: list[TrialLink] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    history: list[TrialChange] = field(default_factory=list)
    followed: bool = False

    @property
    def url(self) -> str:
        return ctgov_url(self.nct_id)

    def to_dict(self) -> dict:
        """CONTRACT's JSON shape of a trial, then the extras (beyond the contract)."""
        out = {"kind": "trial"}
        for key in TRIAL_CONTRACT_KEYS[1:]:
            if key == "history":
                out[key] = [{"field": h.field, "old": h.old, "new": h.new, "seen_at": h.seen_at} for h in self.history]
            elif key == "url":
                out[key] = self.url
            else:
                out[key] = getattr(self, key)
        out.update(
            enrollment_type=self.enrollment_type,
            last_known_status=self.last_known_status,
            primary_completion_type=self.primary_completion_type,
            completion_type=self.completion_type,
            fda_regulated_drug=self.fda_regulated_drug,
            fda_regulated_device=self.fda_regulated_device,
            references=[{"pmid": r.pmid, "type": r.type, "citation": r.citation, "retractions": list(r.retractions)}
                        for r in self.references],
            followed=self.followed,
            links=[{"pmid": link.pmid, "title": link.title, "sources": list(link.sources), "ref_type": link.ref_type}
                   for link in self.links],
        )
        return out


@dataclass(slots=True)
class TrialFlag:
    """A signal raised on a trial (``flag``: results_overdue, unpublished) with the line a
    reader sees; the store remembers when it was first seen and which digest reported it."""

    nct_id: str
    flag: str
    detail: str
    id: int | None = None
    first_seen_at: str | None = None
    reported_in_digest: int | None = None


@dataclass(slots=True)
class CitingLink:
    """A paper citing something followed: a paper (``cited_kind`` "paper", PubMed's "cited
    in") or a trial ("trial", the paper carries its NCT number).  ``baseline`` marks links
    found by the first check of a followed item (older papers, not news)."""

    citing_pmid: str
    cited_id: str
    cited_kind: str
    first_seen_at: str
    baseline: bool = False
    citing_title: str | None = None
    cited_title: str | None = None
