"""The digest's content as data: what was selected, grouped and ordered, no presentation.

``select`` builds a ``DigestContent``; ``view`` caps it for a mail and adds links; the
templates lay it out.  Words shown to a reader come from ``digest.evidence``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from litwatch.config import Topic
from litwatch.digest import evidence
from litwatch.vocab.times import parse_timestamp

# Authors named before "et al.".
AUTHORS_SHOWN = 3


class _CorrectionWords:
    """What a correction's RefType means to a reader (``ref_type`` as on the affected paper)."""

    ref_type: str

    @property
    def label(self) -> str:
        return evidence.CORRECTION_LABELS[self.ref_type]

    @property
    def severity(self) -> str:
        return evidence.correction_severity(self.ref_type)

    @property
    def is_retraction(self) -> bool:
        return self.ref_type in evidence.RETRACTION_KINDS


@dataclass
class Mark(_CorrectionWords):
    """A correction on a paper, as its entry shows it: "Retracted", with the notice."""

    key: str  # the ledger key of the correction
    ref_type: str  # as on the affected paper: RetractionIn, ErratumIn, ...
    notice_pmid: str | None
    note: str | None


@dataclass
class PublicationItem:
    pmid: str
    title: str
    authors: list[str]
    journal: str
    pub_date: str
    doi: str | None
    pmcid: str | None
    publication_types: list[str]
    evidence: str
    badges: list[str]
    trials: list[str]
    conclusion: str
    conclusion_is_summary: bool  # True: the abstract's own conclusion; False: its opening
    topic: str | None
    other_topics: list[str]
    retracted: bool
    entrez_date: str | None = None
    marks: list[Mark] = field(default_factory=list)
    key_facts: str = ""  # litwatch.signals.keyfacts' one line, when it has something to say
    late_arrival: str = ""  # e.g. "published 2019, new to PubMed"

    @property
    def anchor(self) -> str:
        return f"pmid-{self.pmid}"

    @property
    def authors_short(self) -> str:
        if len(self.authors) <= AUTHORS_SHOWN:
            return ", ".join(self.authors)
        return ", ".join(self.authors[:AUTHORS_SHOWN]) + " et al."

    @property
    def all_marks(self) -> list[Mark]:
        """Its corrections, most serious first; a paper PubMed flags as retracted without a
        stored notice link still carries the "Retracted" mark."""
        marks = sorted(self.marks, key=lambda m: evidence.CORRECTION_ORDER.index(m.ref_type))
        if self.retracted and not any(m.is_retraction for m in marks):
            marks.insert(0, Mark(key="", ref_type="RetractionIn", notice_pmid=None, note=None))
        return marks

    @property
    def is_retracted(self) -> bool:
        return any(m.is_retraction for m in self.all_marks)


@dataclass
class EvidenceGroup:
    """One evidence section of a topic: the papers read in full for showing (newest first,
    at most ``max_per_section``), and how many are pending in it (``total``, the rest are
    counted as "N more")."""

    label: str
    items: list[PublicationItem]
    total: int = -1  # -1: just the items

    def __post_init__(self) -> None:
        if self.total < len(self.items):
            self.total = len(self.items)


@dataclass
class FeedItem:
    id: str
    kind: str
    title: str
    link: str | None
    summary: str
    authors: list[str]
    published: str | None
    doi: str | None
    feed_url: str
    feed_title: str | None
    topics: list[str]

    @property
    def source(self) -> str:
        return self.feed_title or self.feed_url


@dataclass
class TopicSection:
    name: str
    title: str
    groups: list[EvidenceGroup]
    feed_items: list[FeedItem] = field(default_factory=list)
    query: str = ""  # the topic's PubMed query (the "N more" links search it)

    @property
    def publications(self) -> list[PublicationItem]:
        """The papers read in full (each group's first ``max_per_section``)."""
        return [p for g in self.groups for p in g.items]

    @property
    def total(self) -> int:
        """Papers pending under this topic, shown or counted."""
        return sum(g.total for g in self.groups)


@dataclass
class Reference:
    """A paper a trial record newly cites: its title when it is stored."""

    pmid: str
    title: str | None


@dataclass
class TrialChange:
    id: int
    nct_id: str
    field: str
    old: str | None
    new: str | None
    seen_at: str | None
    references: list[Reference] = field(default_factory=list)  # field "references": the new ones

    @property
    def rank(self) -> int:
        return evidence.CHANGE_RANK.get(self.field, 50)

    @property
    def text(self) -> str:
        """How a reader says it: "recruiting → terminated", "results posted", "enrollment 60 → 22"."""
        old, new = _value_text(self.old), _value_text(self.new)
        if self.field in ("status", "overall_status"):
            return f"{evidence.status_words(self.old) or 'none'} → {evidence.status_words(self.new) or 'none'}"
        if self.field == "has_results" and new in ("1", "true", "True"):
            return "results posted"
        if self.field == "results_first_posted" and not self.old and self.new:
            return f"results posted ({new})"
        if self.field == "references" and self.new:
            refs = self.references or [Reference(p.strip(), None) for p in self.new.split(",") if p.strip()]
            named = "; ".join(f"{r.title} (PMID {r.pmid})" if r.title else f"PMID {r.pmid}" for r in refs)
            return f"new reference{'s' if len(refs) > 1 else ''}: {named}"
        if self.field == "phases":
            return f"phase {evidence.phase_words(_split(self.old)) or 'none'} → {evidence.phase_words(_split(self.new)) or 'none'}"
        label = evidence.FIELD_LABELS.get(self.field, self.field.replace("_", " "))
        return f"{label} {old} → {new}"

    @property
    def headline(self) -> str:
        """The few words a subject line uses: "terminated", "results posted", "new reference"."""
        if self.field in ("status", "overall_status"):
            return evidence.status_words(self.new) or "status changed"
        if self.field in ("has_results", "results_first_posted") and self.new and self.new not in ("0", "false"):
            return "results posted"
        if self.field == "references":
            return "new reference"
        return evidence.FIELD_LABELS.get(self.field, self.field.replace("_", " ")) + " changed"


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _value_text(value: str | None) -> str:
    return "none" if value is None or value == "" else value


@dataclass
class TrialEntry:
    nct_id: str
    title: str
    status: str | None
    why_stopped: str | None
    phases: list[str]
    enrollment: int | None
    enrollment_type: str | None
    sponsor: str | None
    conditions: list[str]
    first_posted: str | None
    followed: bool
    is_new: bool
    topics: list[str]
    changes: list[TrialChange] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # e.g. "results overdue by 14 months"

    @property
    def sorted_changes(self) -> list[TrialChange]:
        return sorted(self.changes, key=lambda c: (c.rank, c.id))

    @property
    def change_lines(self) -> list[str]:
        """One line per distinct change, most important first.  A "why stopped" the entry
        shows anyway, and a bare "results posted" next to a dated one, are left out."""
        changes = self.sorted_changes
        kind = {c.field: c for c in changes}.get("enrollment_type")
        lines = []
        for c in changes:
            if c.field == "why_stopped" and self.why_stopped and c.new == self.why_stopped:
                continue
            if c.field == "enrollment_type" and "enrollment" in {x.field for x in changes}:
                continue  # said with the enrollment: "enrollment 60 (estimated) → 22 (actual)"
            if c.field == "enrollment" and kind is not None:
                lines.append(f"enrollment {_value_text(c.old)} ({(kind.old or '?').lower()}) → "
                             f"{_value_text(c.new)} ({(kind.new or '?').lower()})")
                continue
            lines.append(c.text)
        if any(line.startswith("results posted (") for line in lines):
            lines = [line for line in lines if line != "results posted"]
        return list(dict.fromkeys(lines))

    @property
    def new_references(self) -> list[Reference]:
        return [r for c in self.sorted_changes if c.field == "references" for r in c.references]

    @property
    def news(self) -> str:
        """"terminated, results posted": the trial's two most important changes, or "updated"."""
        fields = ("status", "overall_status", "has_results", "results_first_posted", "references")
        words = list(dict.fromkeys(c.headline for c in self.sorted_changes if c.field in fields))[:2]
        return ", ".join(words) or "updated"

    @property
    def headline(self) -> str:
        """"NCT03395314 terminated, results posted": what a subject line says of it."""
        return f"{self.nct_id} {self.news}"

    @property
    def status_text(self) -> str:
        return evidence.status_words(self.status)

    @property
    def is_stopped(self) -> bool:
        return self.status in evidence.STOPPED_STATUSES

    @property
    def phase_text(self) -> str:
        return evidence.phase_words(self.phases)


@dataclass
class Correction(_CorrectionWords):
    """A correction of a stored paper, for the corrections section and the attention box."""

    key: str
    pmid: str  # the stored paper it touches
    ref_type: str  # as on that paper: RetractionIn, ErratumIn, ...
    notice_pmid: str | None
    note: str | None
    title: str
    journal: str
    in_digest: bool = False  # the paper itself is listed in this digest (it carries the mark)


    @property
    def is_alert(self) -> bool:
        return self.ref_type in evidence.ALERT_KINDS

    @property
    def anchor(self) -> str:
        """Where the attention box links: the paper's entry, else its line in the section."""
        return f"pmid-{self.pmid}" if self.in_digest else f"corr-{self.pmid}-{self.ref_type}"


@dataclass
class CitingItem:
    """A new paper citing something the reader follows (issue 15's "Citing papers you follow")."""

    pmid: str
    title: str
    cites: str  # what it cites, as the reader knows it (PMID, DOI or NCT)


@dataclass
class DigestContent:
    created_at: dt.datetime
    since: str | None  # created_at of the last delivered digest
    week: str
    topics: list[TopicSection]
    followed_changes: list[TrialEntry]
    other_changes: list[TrialEntry]
    new_trials: list[TrialEntry]
    corrections: list[Correction]
    preprints: list[FeedItem]
    warnings: list[str]
    warnings_are_news: bool  # crawl problems worth a digest even when nothing else is new
    queries: list[Topic]
    follow_trials: list[str]
    topic_titles: dict[str, str] = field(default_factory=dict)
    citing: list[CitingItem] = field(default_factory=list)
    trial_flags: list[tuple[str, str, list[int]]] = field(default_factory=list)  # (nct_id, "results overdue by N months", ids)
    # Every pending paper, shown or counted: how many, and their PMIDs streamed from the
    # database (a first digest may have a million).  Without them: the shown papers.
    publication_total: int | None = None
    pending_pmids: Callable[[], Iterable[str]] | None = None

    @property
    def window_start(self) -> dt.datetime:
        """Where this digest's period starts: the last delivered digest, else a week ago."""
        if self.since:
            return parse_timestamp(self.since)
        return self.created_at - dt.timedelta(days=7)

    @property
    def publications(self) -> list[PublicationItem]:
        """The papers read in full for showing (see ``all_pmids`` for every pending one)."""
        return [p for t in self.topics for p in t.publications]

    def all_pmids(self) -> Iterable[str]:
        """Every pending paper this digest carries, shown or counted in an "N more"."""
        if self.pending_pmids is not None:
            return self.pending_pmids()
        return [p.pmid for p in self.publications]

    @property
    def publication_count(self) -> int:
        if self.publication_total is not None:
            return self.publication_total
        return sum(t.total for t in self.topics)

    @property
    def topic_feed_items(self) -> list[FeedItem]:
        return [f for t in self.topics for f in t.feed_items]

    @property
    def trial_changes(self) -> list[TrialChange]:
        return [c for e in self.followed_changes + self.other_changes for c in e.changes]

    @property
    def trials(self) -> list[TrialEntry]:
        """New trials, wherever they are shown (a new trial that also changed sits with the changes)."""
        return [e for e in self.followed_changes + self.other_changes + self.new_trials if e.is_new]

    @property
    def retractions(self) -> list[Correction]:
        return [c for c in self.corrections if c.is_retraction]

    @property
    def alerts(self) -> list[Correction]:
        return [c for c in self.corrections if c.is_alert]

    @property
    def section_corrections(self) -> list[Correction]:
        """Corrections of papers not listed in this digest (delivered earlier): the
        corrections section.  A paper listed here carries its mark on its own entry."""
        return [c for c in self.corrections if not c.in_digest]

    @property
    def counts(self) -> dict[str, int]:
        """What the summary shows.  ``trial_changes`` counts changed fields (one per
        trial_history row), as the crawl's ``trial_changes`` and the ledger do;
        ``trials_changed`` counts the trials they belong to."""
        return {
            "publications": self.publication_count,
            "trials": len(self.trials),
            "trial_changes": len(self.trial_changes),
            "trials_changed": len(self.followed_changes) + len(self.other_changes),
            "retractions": len({c.pmid for c in self.retractions}),
            "corrections": len(self.corrections) - len(self.retractions),
            "preprints": len(self.preprints),
            "feed_items": len(self.topic_feed_items),
            "citing": len(self.citing),
            "warnings": len(self.warnings),
        }

    @property
    def has_items(self) -> bool:
        return self.publication_count > 0 or bool(self._other_items()) or bool(self.trial_flags)

    @property
    def is_empty(self) -> bool:
        """Nothing a reader needs this week: no items, and no crawl problem worth a mail."""
        return not self.has_items and not self.warnings_are_news

    def _other_items(self) -> list[tuple[str, str]]:
        out = [("trial", e.nct_id) for e in self.trials]
        out += [("trial_change", str(c.id)) for c in self.trial_changes]
        out += [("correction", c.key) for c in self.corrections]
        out += [("feed_item", f.id) for f in self.preprints + self.topic_feed_items]
        return list(dict.fromkeys(out))

    def iter_items(self) -> Iterator[tuple[str, str]]:
        """The ledger entries this digest carries, (kind, key), streamed: every pending
        paper (shown or not), then trials, trial changes, corrections and feed items."""
        for pmid in self.all_pmids():
            yield "publication", pmid
        yield from self._other_items()

    def items(self) -> list[tuple[str, str]]:
        return list(self.iter_items())

    def item_counts(self) -> dict[str, int]:
        out: dict[str, int] = {"publication": self.publication_count} if self.publication_count else {}
        for kind, _ in self._other_items():
            out[kind] = out.get(kind, 0) + 1
        return out
