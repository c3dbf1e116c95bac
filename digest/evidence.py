"""What a record says about evidence, in the reader's words: the one home of the taxonomy.

* ``EVIDENCE_GROUPS`` / ``evidence_group``: strength of evidence from PubMed publication
  types, strongest first (``litwatch.vocab.evidence``, which the browse view reads too);
* ``BADGES``: the publication types worth a badge, with the short name shown;
* correction labels, built over the RefType lists of ``litwatch.vocab.records`` (every
  type in ``CORRECTION_TYPES`` has a label, seen from the paper it touches);
* trial fields and statuses in human words.

Selection, view and templates read these; nothing else defines them.
"""

from __future__ import annotations

from litwatch.vocab.evidence import EVIDENCE_GROUPS, OTHER_GROUP
from litwatch.vocab.evidence import evidence_group as evidence_group  # the one list of groups, re-exported
from litwatch.vocab.records import RETRACTING_TYPES

GROUP_LABELS = tuple(label for label, _ in EVIDENCE_GROUPS) + (OTHER_GROUP,)

# Publication types worth a badge, with the short name shown.  Types not listed (Journal
# Article, Research Support, ...) say nothing a reader acts on.
BADGES = {
    "Practice Guideline": "Guideline",
    "Guideline": "Guideline",
    "Systematic Review": "Systematic review",
    "Meta-Analysis": "Meta-analysis",
    "Network Meta-Analysis": "Network meta-analysis",
    "Randomized Controlled Trial": "RCT",
    "Equivalence Trial": "Equivalence trial",
    "Clinical Trial": "Clinical trial",
    "Clinical Trial, Phase I": "Phase 1",
    "Clinical Trial, Phase II": "Phase 2",
    "Clinical Trial, Phase III": "Phase 3",
    "Clinical Trial, Phase IV": "Phase 4",
    "Controlled Clinical Trial": "Controlled trial",
    "Pragmatic Clinical Trial": "Pragmatic trial",
    "Multicenter Study": "Multicentre",
    "Observational Study": "Observational",
    "Comparative Study": "Comparative",
    "Review": "Review",
    "Scoping Review": "Scoping review",
    "Case Reports": "Case report",
    "Clinical Trial Protocol": "Protocol",
    "Preprint": "Preprint",
    "Letter": "Letter",
    "Editorial": "Editorial",
    "Comment": "Comment",
    "Published Erratum": "Erratum notice",
    "Retraction of Publication": "Retraction notice",
    "Expression of Concern": "Expression of concern notice",
}
# "Retracted Publication" is no badge: a retracted paper carries the correction mark.

# The PubMed search filter that finds a group's papers (the "N more" links).
GROUP_FILTERS = {
    label: " OR ".join(f'"{t}"[pt]' for t in sorted(types)) for label, types in EVIDENCE_GROUPS
}

# Corrections, as seen from the paper they touch ("In" types), each with its notice's
# side ("Of"/"For"/"From" types) mapped onto it.  Built over vocab's CORRECTION_TYPES; the
# plain words come from ``litwatch.vocab.corrections`` when that module is present.
_PAIRS = {
    "RetractionIn": "RetractionOf",
    "RetractedandRepublishedIn": "RetractedandRepublishedFrom",
    "ExpressionOfConcernIn": "ExpressionOfConcernFor",
    "ErratumIn": "ErratumFor",
    "CorrectedandRepublishedIn": "CorrectedandRepublishedFrom",
    "RepublishedIn": "RepublishedFrom",
    "UpdateIn": "UpdateOf",
}
CORRECTION_LABELS = {
    "RetractionIn": "Retracted",
    "RetractedandRepublishedIn": "Retracted and republished",
    "ExpressionOfConcernIn": "Expression of concern",
    "ErratumIn": "Erratum",
    "CorrectedandRepublishedIn": "Corrected and republished",
    "RepublishedIn": "Republished",
    "UpdateIn": "Updated",
}
try:
    from litwatch.vocab.corrections import CORRECTION_LABELS as _WORDS
except ImportError:  # the vocabulary's own labels not there yet: the words above
    _WORDS = {}
CORRECTION_LABELS = {t: _WORDS.get(t, label) for t, label in CORRECTION_LABELS.items()}
CORRECTION_REVERSE = {notice: affected for affected, notice in _PAIRS.items()}
# Most serious first: the order of marks on an item and of the corrections section.
CORRECTION_ORDER = tuple(CORRECTION_LABELS)
RETRACTION_KINDS = frozenset(RETRACTING_TYPES)
# Listed once in "Needs your attention" (retractions and expressions of concern).
ALERT_KINDS = RETRACTION_KINDS | {"ExpressionOfConcernIn"}
# tests/test_digest_roundtrip.py checks that every type of CORRECTION_TYPES has a label here.
LABELLED_TYPES = frozenset(_PAIRS) | frozenset(_PAIRS.values())


def correction_severity(ref_type: str) -> str:
    """retraction | concern | correction: the colour of the mark."""
    if ref_type in RETRACTION_KINDS:
        return "retraction"
    if ref_type == "ExpressionOfConcernIn":
        return "concern"
    return "correction"



def badges(publication_types: list[str]) -> list[str]:
    return list(dict.fromkeys(BADGES[t] for t in publication_types if t in BADGES))


# --- trials ----------------------------------------------------------------------

# Trial fields by how much a change matters to a reader (lower first); unknown fields 50.
CHANGE_RANK = {
    "status": 0, "overall_status": 0, "has_results": 1, "results_first_posted": 1, "references": 2, "why_stopped": 3,
    "enrollment": 4, "primary_completion_date": 5, "completion_date": 6, "phases": 7,
    "last_update_posted": 90, "version_holder": 95,
}
FIELD_LABELS = {
    "why_stopped": "why stopped", "primary_completion_date": "primary completion", "completion_date": "completion",
    "start_date": "start", "study_type": "study type", "enrollment_type": "enrollment type",
    "last_update_posted": "last update posted", "official_title": "official title",
}
# ClinicalTrials.gov's overallStatus values in the words a reader uses.
STATUS_WORDS = {
    "NOT_YET_RECRUITING": "not yet recruiting",
    "RECRUITING": "recruiting",
    "ENROLLING_BY_INVITATION": "enrolling by invitation",
    "ACTIVE_NOT_RECRUITING": "active, not recruiting",
    "SUSPENDED": "suspended",
    "TERMINATED": "terminated",
    "COMPLETED": "completed",
    "WITHDRAWN": "withdrawn",
    "UNKNOWN": "status unknown",
    "AVAILABLE": "available",
    "NO_LONGER_AVAILABLE": "no longer available",
    "TEMPORARILY_NOT_AVAILABLE": "temporarily not available",
    "APPROVED_FOR_MARKETING": "approved for marketing",
    "WITHHELD": "withheld",
}
STOPPED_STATUSES = frozenset({"TERMINATED", "WITHDRAWN", "SUSPENDED"})
PHASE_WORDS = {"EARLY_PHASE1": "early phase 1", "PHASE1": "phase 1", "PHASE2": "phase 2", "PHASE3": "phase 3",
               "PHASE4": "phase 4", "NA": ""}


def status_words(status: str | None) -> str:
    if not status:
        return ""
    return STATUS_WORDS.get(status, status.replace("_", " ").lower())


def phase_words(phases: list[str]) -> str:
    return ", ".join(w for w in (PHASE_WORDS.get(p, p.lower().replace("_", " ")) for p in phases) if w)
