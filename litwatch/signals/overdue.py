"""Results overdue and unpublished trials: what no alert service tells a reader.

Pure functions of a ``Trial`` and today's date (always passed in: no wall clock here).

*Results overdue* approximates the US results rule (FDAAA 801, 42 CFR 11; API_NOTES "US
results rule"): results of an applicable clinical trial are due 12 months after its
primary completion date.  From the v2 record litwatch takes a trial to be covered when it is

- interventional and not withdrawn (a withdrawn study enrolled nobody), and
- when the record carries the oversight flags (``isFdaRegulatedDrug`` / ``Device``): an
  FDA-regulated drug studied in phase 2 or later, or an FDA-regulated device in any phase
  but phase 1 (device studies carry phase "NA");
- when it does not (older records): phase 2 or later (PHASE2, PHASE2/PHASE3, PHASE3,
  PHASE4).  Phase "NA" alone is then *not* covered: it is mostly behavioural, procedural
  and device studies, which the flags would be needed to tell apart.

What the record cannot show is left out, and said in the rule: a US site or IND/IDE, a
certified delay of the deadline, small device feasibility studies.  The primary completion
date counts when it is ACTUAL or already past (an ESTIMATED date in the past is a trial
whose record was not updated); a partial date (``2020-03``, ``2020``) is read as the end
of that month or year, the reading most favourable to the sponsor.

*Unpublished*: completed (or terminated with participants) more than 24 months ago, and no
publication linked: a RESULT or DERIVED reference of the trial record, or a paper that
names the trial (PubMed DataBankList, its abstract, an ``NCT…[si]`` search).  BACKGROUND
references are earlier literature, not the trial's own paper.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Iterable

from litwatch.vocab.records import Trial, TrialFlag

RESULTS_DUE_MONTHS = 12
UNPUBLISHED_AFTER_MONTHS = 24
LATE_PHASES = frozenset({"PHASE2", "PHASE3", "PHASE4"})
ENDED_STATUSES = frozenset({"COMPLETED", "TERMINATED"})
PUBLICATION_REF_TYPES = frozenset({"RESULT", "DERIVED"})
NAMING_SOURCES = frozenset({"databank", "abstract", "si_search"})

RESULTS_RULE = (
    "US results rule, approximated from the record: interventional, not withdrawn, and an FDA-regulated drug in "
    "phase 2 or later or an FDA-regulated device (without the oversight flags: phase 2 or later); results due "
    f"{RESULTS_DUE_MONTHS} months after the primary completion date (actual, or estimated and past). "
    "US site, IND/IDE and certified delays are not in the record and not checked."
)
UNPUBLISHED_RULE = (
    f"completed or terminated more than {UNPUBLISHED_AFTER_MONTHS} months ago (completion date) and no linked "
    "publication: no RESULT or DERIVED reference in the trial record and no paper naming the trial "
    "(PubMed databank link, abstract, [si] search)."
)

FLAG_RESULTS_OVERDUE = "results_overdue"
FLAG_UNPUBLISHED = "unpublished"


@dataclass(frozen=True, slots=True)
class TrialSignals:
    """What litwatch says about a trial's reporting, and why (for ``show`` and the digest)."""

    covered: bool
    results_due: str | None
    results_overdue_months: int | None
    results_reason: str
    unpublished: bool
    unpublished_reason: str

    def to_dict(self) -> dict:
        """The keys ``show --json`` adds to a trial (beyond the contract)."""
        return {
            "results_overdue_months": self.results_overdue_months,
            "results_due": self.results_due,
            "unpublished": self.unpublished,
            "signals": {
                "results_overdue": self.results_reason,
                "unpublished": self.unpublished_reason,
                "rules": {"results_overdue": RESULTS_RULE, "unpublished": UNPUBLISHED_RULE},
            },
        }


def period_end(text: str | None) -> dt.date | None:
    """``2020-03-13`` -> that day; ``2020-03`` -> 2020-03-31; ``2020`` -> 2020-12-31."""
    if not text:
        return None
    parts = text.strip().split("-")
    try:
        year = int(parts[0])
        if len(parts) == 1:
            return dt.date(year, 12, 31)
        month = int(parts[1])
        if len(parts) == 2:
            return dt.date(year, month, calendar.monthrange(year, month)[1])
        return dt.date(year, month, int(parts[2]))
    except (ValueError, IndexError):
        return None


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later (the month's last day when it is shorter)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def full_months(start: dt.date, end: dt.date) -> int:
    """Whole months from ``start`` to ``end`` (0 when ``end`` is less than a month later)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if add_months(start, months) > end:
        months -= 1
    return max(0, months)


def _phase_text(trial: Trial) -> str:
    return "/".join(trial.phases) or "no phase"


def coverage(trial: Trial) -> tuple[bool, str]:
    """Whether the approximated US results rule covers the trial, and why (or why not)."""
    if trial.status is None:
        return False, "not fetched from ClinicalTrials.gov yet"
    if (trial.study_type or "").upper() != "INTERVENTIONAL":
        return False, f"not covered: {(trial.study_type or 'unknown study type').lower()} study"
    if trial.status == "WITHDRAWN":
        return False, "not covered: withdrawn before enrolling"
    phases = set(trial.phases)
    late = bool(phases & LATE_PHASES)
    if trial.fda_regulated_drug is None and not trial.fda_regulated_device:
        if late:
            return True, f"covered: interventional, {_phase_text(trial)} (no FDA oversight flags in the record)"
        return False, f"not covered: {_phase_text(trial)} (phase 2 or later needed; no FDA oversight flags in the record)"
    if trial.fda_regulated_drug and late:
        return True, f"covered: FDA-regulated drug, {_phase_text(trial)}"
    if trial.fda_regulated_device and not (phases and phases <= {"PHASE1", "EARLY_PHASE1"}):
        return True, f"covered: FDA-regulated device, {_phase_text(trial)}"
    if trial.fda_regulated_drug:
        return False, f"not covered: FDA-regulated drug in {_phase_text(trial)} (phase 2 or later needed)"
    return False, "not covered: the record says no FDA-regulated drug or device"


def results_overdue(trial: Trial, today: dt.date) -> tuple[bool, str | None, int | None, str]:
    """(covered, due date, months overdue or None, reason)."""
    covered, why = coverage(trial)
    if not covered:
        return False, None, None, why
    primary = period_end(trial.primary_completion_date)
    if primary is None:
        return True, None, None, f"{why}; no primary completion date"
    kind = (trial.primary_completion_type or "").lower() or "type not given"
    if trial.primary_completion_type != "ACTUAL" and primary >= today:
        return True, None, None, f"{why}; primary completion expected {trial.primary_completion_date} ({kind})"
    due = add_months(primary, RESULTS_DUE_MONTHS)
    when = f"primary completion {trial.primary_completion_date} ({kind}), results due {due.isoformat()}"
    if trial.has_results or trial.results_first_posted:
        posted = f" on {trial.results_first_posted}" if trial.results_first_posted else ""
        return True, due.isoformat(), None, f"{why}; {when}; results posted{posted}"
    if due >= today:
        return True, due.isoformat(), None, f"{why}; {when}; not due yet"
    months = full_months(due, today)
    return True, due.isoformat(), months, f"{why}; {when}; no results posted: overdue by {_months_text(months)}"


def _months_text(months: int) -> str:
    if months == 0:
        return "less than a month"
    return f"{months} month{'s' if months != 1 else ''}"


def linked_publications(trial: Trial) -> list[str]:
    """PMIDs of the papers that report the trial (not its BACKGROUND reading)."""
    found = [r.pmid for r in trial.references if r.type in PUBLICATION_REF_TYPES]
    for link in trial.links:
        if link.ref_type in PUBLICATION_REF_TYPES or NAMING_SOURCES & set(link.sources):
            found.append(link.pmid)
    return list(dict.fromkeys(found))


def unpublished(trial: Trial, today: dt.date) -> tuple[bool, str]:
    """(no publication found more than 24 months after completion, reason)."""
    if trial.status is None:
        return False, "not fetched from ClinicalTrials.gov yet"
    if trial.status not in ENDED_STATUSES:
        return False, f"not ended ({trial.status})"
    if trial.enrollment == 0 and trial.enrollment_type == "ACTUAL":
        return False, "ended without participants"
    ended_text = trial.completion_date or trial.primary_completion_date
    ended = period_end(ended_text)
    if ended is None:
        return False, "no completion date"
    papers = linked_publications(trial)
    if papers:
        return False, f"publication found: PMID {', '.join(papers)}"
    if add_months(ended, UNPUBLISHED_AFTER_MONTHS) >= today:
        return False, f"{trial.status.lower()} {ended_text}, less than {UNPUBLISHED_AFTER_MONTHS} months ago"
    months = full_months(ended, today)
    return True, f"{trial.status.lower()} {ended_text} ({months} months ago) and no publication found"


def assess(trial: Trial, today: dt.date) -> TrialSignals:
    covered, due, months, reason = results_overdue(trial, today)
    no_paper, paper_reason = unpublished(trial, today)
    return TrialSignals(covered=covered, results_due=due, results_overdue_months=months, results_reason=reason,
                        unpublished=no_paper, unpublished_reason=paper_reason)


def overdue_line(months: int) -> str:
    """The words a reader sees: "results overdue by 14 months"."""
    return f"results overdue by {_months_text(months)}"


UNPUBLISHED_LINE = "no publication found"


def trial_flags(trials: Iterable[Trial], today: dt.date) -> list[TrialFlag]:
    """The flags standing today on these trials, each with the line a reader sees."""
    flags = []
    for trial in trials:
        signals = assess(trial, today)
        if signals.results_overdue_months is not None:
            flags.append(TrialFlag(trial.nct_id, FLAG_RESULTS_OVERDUE, overdue_line(signals.results_overdue_months)))
        if signals.unpublished:
            flags.append(TrialFlag(trial.nct_id, FLAG_UNPUBLISHED, UNPUBLISHED_LINE))
    return flags
