"""Strength of evidence from PubMed's publication types: the one list of groups.

The digest groups papers by it; the database's ``publication_evidence`` view (a facet in
``litwatch browse``) computes the same label in SQL from the same list.
"""

from __future__ import annotations

import hashlib

# Strongest first: (label, PubMed publication types).  A paper goes in the first group any
# of its types matches; a paper matching none goes in the last.
EVIDENCE_GROUPS: tuple[tuple[str, frozenset[str]], ...] = (
    ("Guidelines, systematic reviews & meta-analyses", frozenset({
        "Systematic Review", "Meta-Analysis", "Network Meta-Analysis", "Practice Guideline", "Guideline", "Consensus Development Conference",
    })),
    ("Randomised controlled trials", frozenset({"Randomized Controlled Trial", "Equivalence Trial"})),
    ("Other clinical trials", frozenset({
        "Clinical Trial", "Clinical Trial, Phase I", "Clinical Trial, Phase II", "Clinical Trial, Phase III",
        "Clinical Trial, Phase IV", "Controlled Clinical Trial", "Pragmatic Clinical Trial", "Adaptive Clinical Trial",
    })),
    # "Multicenter Study" and "Comparative Study" describe designs of any kind: badges only.
    ("Observational studies", frozenset({"Observational Study", "Twin Study"})),
    ("Reviews", frozenset({"Review", "Scoping Review"})),
    ("Case reports", frozenset({"Case Reports"})),
)
OTHER_GROUP = "Other publications"


def evidence_group(publication_types) -> str:
    types = set(publication_types)
    for label, members in EVIDENCE_GROUPS:
        if types & members:
            return label
    return OTHER_GROUP


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def evidence_case_sql(types_json_column: str) -> str:
    """``CASE ... END``: the evidence group of a JSON array column of publication types."""
    whens = []
    for label, members in EVIDENCE_GROUPS:
        listed = ", ".join(_quote(m) for m in sorted(members))
        whens.append(f"WHEN EXISTS (SELECT 1 FROM json_each({types_json_column}) WHERE value IN ({listed})) THEN {_quote(label)}")
    return "CASE " + " ".join(whens) + f" ELSE {_quote(OTHER_GROUP)} END"


def groups_signature() -> str:
    """Changes when the groups do: names the migration that (re)creates the SQL view."""
    text = repr([(label, sorted(members)) for label, members in EVIDENCE_GROUPS])
    return hashlib.sha1(text.encode()).hexdigest()[:8]
