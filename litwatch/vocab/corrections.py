"""Correction links in plain words: what a reader is told about a CommentsCorrections link.

The one list of the RefTypes that change how far a paper can be trusted is
``records.CORRECTION_TYPES``; this module gives each of them a label a reader understands
(the digest, ``show`` and exports read them here).  Labels say what happened *to the record
that carries the link*: a paper with ``RetractionIn`` "was retracted"; the notice itself
carries ``RetractionOf`` and is "a retraction notice".

There is no partial-retraction RefType in pubmed_250101.dtd (NLM links a partial retraction
as ``RetractionIn``/``RetractionOf``; the notice's title says "Partial retraction"), so no
label promises one.
"""

from __future__ import annotations

from litwatch.vocab.records import CORRECTION_TYPES, RETRACTING_TYPES

# ref_type -> plain words, for every CORRECTION_TYPES member (test_pubmed_store checks it).
CORRECTION_LABELS = {
    "RetractionIn": "Retracted",
    "RetractionOf": "Retraction notice",
    "RetractedandRepublishedIn": "Retracted and republished",
    "RetractedandRepublishedFrom": "Republished after retraction",
    "ErratumIn": "Erratum",
    "ErratumFor": "Erratum notice",
    "ExpressionOfConcernIn": "Expression of concern",
    "ExpressionOfConcernFor": "Expression of concern notice",
    "CorrectedandRepublishedIn": "Corrected and republished",
    "CorrectedandRepublishedFrom": "Corrected and republished version",
    "RepublishedIn": "Republished",
    "RepublishedFrom": "Republished version",
    "UpdateIn": "Updated",
    "UpdateOf": "Update of an earlier version",
}
assert set(CORRECTION_LABELS) == CORRECTION_TYPES

# Each link type and the type the other record carries (RetractionIn on the paper,
# RetractionOf on the notice).  Every pair is complete, both ways.
COUNTERPART = {
    "RetractionIn": "RetractionOf",
    "RetractedandRepublishedIn": "RetractedandRepublishedFrom",
    "ErratumIn": "ErratumFor",
    "ExpressionOfConcernIn": "ExpressionOfConcernFor",
    "CorrectedandRepublishedIn": "CorrectedandRepublishedFrom",
    "RepublishedIn": "RepublishedFrom",
    "UpdateIn": "UpdateOf",
    "CommentIn": "CommentOn",
    "ReprintIn": "ReprintOf",
}
COUNTERPART.update({v: k for k, v in list(COUNTERPART.items())})
# The types a paper itself carries (the notices carry their counterparts).
ON_PAPER_TYPES = frozenset(t for t in CORRECTION_TYPES if t.endswith("In"))


def correction_label(ref_type: str) -> str | None:
    """Plain words for a correction-like RefType; None for the others (CommentIn, Cites...)."""
    return CORRECTION_LABELS.get(ref_type)


def is_retraction(ref_type: str) -> bool:
    """True when a paper carrying this link has been retracted."""
    return ref_type in RETRACTING_TYPES
