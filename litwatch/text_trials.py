"""Trials for the CLI: the dict ``show``/``trials`` print (``--json``), and terminal text for
one trial in full (``show NCT…``) and the ``trials`` table."""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap

from litwatch.signals.overdue import assess, overdue_line
from litwatch.vocab.records import Trial

# Below this the table would wrap anyway; keep titles readable on narrow terminals.
MIN_WIDTH = 80
LABEL_WIDTH = 14


def trial_view(trial: Trial, today: dt.date) -> dict:
    """CONTRACT's trial shape plus the reporting signals as of ``today`` (results overdue,
    unpublished, with the rule and the reason)."""
    return trial.to_dict() | assess(trial, today).to_dict()


def _truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _width() -> int:
    return max(MIN_WIDTH, shutil.get_terminal_size((100, 24)).columns)


def _phases(shape: dict) -> str:
    phases = [p for p in shape.get("phases") or [] if p != "NA"]
    return "/".join(p.replace("EARLY_PHASE1", "Early 1").replace("PHASE", "") for p in phases) or "-"


def _enrollment(shape: dict) -> str:
    count = shape.get("enrollment")
    if count is None:
        return "-"
    kind = (shape.get("enrollment_type") or "").lower()
    return f"{count} ({kind})" if kind else str(count)


def _status(shape: dict) -> str:
    status = shape.get("status") or "unknown (not fetched from ClinicalTrials.gov yet)"
    if shape.get("status") == "UNKNOWN" and shape.get("last_known_status"):
        status += f" (last known: {shape['last_known_status']})"
    if shape.get("why_stopped"):
        status += f": {shape['why_stopped']}"
    return status


def _field(label: str, value, width: int) -> list[str]:
    if value in (None, "", []):
        return []
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    lines = textwrap.wrap(str(value), width - LABEL_WIDTH - 2) or [""]
    head = f"{label}:" if label else ""
    out = [f"{head:<{LABEL_WIDTH}}  {lines[0]}"]
    out += [" " * (LABEL_WIDTH + 2) + line for line in lines[1:]]
    return out


def _history_line(entry: dict) -> str:
    day = (entry.get("seen_at") or "")[:10]
    old, new = entry.get("old"), entry.get("new")
    if entry.get("field") == "references":
        change = f"new papers: {new}"
    else:
        change = f"{old if old is not None else '(none)'} → {new if new is not None else '(none)'}"
    return f"{day}  {entry.get('field', ''):<24} {change}"


def _retracted(shape: dict) -> dict[str, str]:
    """PMID -> "RETRACTED (PMID of the notice)" for references ClinicalTrials.gov marks retracted."""
    out = {}
    for ref in shape.get("references") or []:
        notices = [r.get("pmid") for r in ref.get("retractions") or []]
        if notices:
            named = ", ".join(f"PMID {n}" for n in notices if n)
            out[ref["pmid"]] = f"RETRACTED ({named})" if named else "RETRACTED"
    return out


def _reporting(shape: dict) -> list[str]:
    """The reporting signals in words: results overdue, no publication found."""
    if "unpublished" not in shape:
        return []
    lines = []
    months = shape.get("results_overdue_months")
    reasons = shape.get("signals") or {}
    if months is not None:
        lines.append(f"{overdue_line(months)} (due {shape.get('results_due')})")
    if shape.get("unpublished"):
        lines.append("no publication found: " + reasons.get("unpublished", ""))
    if months is None and reasons.get("results_overdue"):
        lines.append("results: " + reasons["results_overdue"])
    return lines


def _paper_line(link: dict, width: int, retracted: str | None = None) -> str:
    """One linked paper; a long title is cut so that how it is linked stays visible."""
    how = {"ctgov_reference": "trial record", "databank": "PubMed databank", "abstract": "abstract",
           "si_search": "PubMed [si]"}
    sources = ", ".join(how.get(s, s) for s in link.get("sources") or [])
    kind = f"{link['ref_type']}, " if link.get("ref_type") else ""
    if retracted:
        kind = f"{retracted}, {kind}"
    prefix = f"PMID {link['pmid']:<9} "
    suffix = f"  [{kind}{sources}]" if kind or sources else ""
    title = link.get("title") or "(not fetched yet)"
    return prefix + _truncate(title, max(20, width - len(prefix) - len(suffix))) + suffix


def format_trial(shape: dict) -> str:
    """A trial as a reader wants it on a terminal: what, where it stands, what changed."""
    width = _width()
    head = f"{shape['nct_id']}  {shape.get('title') or '(title unknown)'}"
    if shape.get("followed"):
        head += "  [followed]"
    lines = textwrap.wrap(head, width) or [head]
    lines.append("")
    dates = []
    for label, key in (("start", "start_date"), ("primary completion", "primary_completion_date"),
                       ("completion", "completion_date")):
        if shape.get(key):
            dates.append(f"{label} {shape[key]}")
    posted = []
    for label, key in (("first posted", "first_posted"), ("results", "results_first_posted"),
                       ("last update", "last_update_posted")):
        if shape.get(key):
            posted.append(f"{label} {shape[key]}")
    for label, value in (
        ("Official", shape.get("official_title")),
        ("Status", _status(shape)),
        ("Phase", (_phases(shape) if _phases(shape) != "-" else "not applicable") if shape.get("phases") else None),
        ("Type", (shape.get("study_type") or "").lower() or None),
        ("Enrollment", _enrollment(shape) if shape.get("enrollment") is not None else None),
        ("Dates", ", ".join(dates)),
        ("Posted", ", ".join(posted)),
        ("Sponsor", shape.get("sponsor")),
        ("Conditions", shape.get("conditions")),
        ("Interventions", shape.get("interventions")),
        ("Topics", shape.get("topics")),
    ):
        lines += _field(label, value, width)
    for number, line in enumerate(_reporting(shape)):
        lines += _field("Reporting" if number == 0 else "", line, width)
    links = shape.get("links")
    if links is None:
        links = [{"pmid": p} for p in shape.get("pmids") or []]
    lines.append("")
    if links:
        lines.append(f"Linked papers ({len(links)}):")
        retracted = _retracted(shape)
        lines += ["  " + _paper_line(link, width - 2, retracted.get(link["pmid"])) for link in links]
    else:
        lines.append("Linked papers: none yet")
    lines.append("")
    history = shape.get("history") or []
    if history:
        lines.append("Changes seen:")
        lines += ["  " + _history_line(h) for h in history]
    else:
        lines.append("Changes seen: none since litwatch first saw this trial")
    lines.append("")
    lines.append(shape.get("url") or f"https://clinicaltrials.gov/study/{shape['nct_id']}")
    return "\n".join(lines)


# Extra column of ``trials --overdue`` / ``--unpublished``: header and cell.
SIGNAL_COLUMNS = {
    "overdue": ("OVERDUE", lambda r: f"{r.get('results_overdue_months')} mo" if r.get("results_overdue_months") is not None else "-"),
    "unpublished": ("ENDED", lambda r: r.get("completion_date") or r.get("primary_completion_date") or "-"),
}


def format_trials_table(rows: list[dict], signal: str | None = None) -> str:
    """Aligned columns, one trial a line; followed trials are marked with *.

    ``signal`` ("overdue" or "unpublished") adds the column that says how late a trial is.
    """
    width = _width()
    header = ["", "NCT", "STATUS", "PHASE", "ENROLLED", "UPDATED"]
    extra = SIGNAL_COLUMNS.get(signal)
    if extra:
        header.append(extra[0])
    header.append("TITLE")
    body = []
    for r in rows:
        cells = [
            "*" if r.get("followed") else "",
            r["nct_id"],
            r.get("status") or "-",
            _phases(r),
            _enrollment(r).replace(" (actual)", "").replace(" (estimated)", " est."),
            r.get("last_update_posted") or "-",
        ]
        if extra:
            cells.append(extra[1](r))
        body.append((*cells, r.get("title") or "-"))
    ncols = len(header) - 1
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(ncols)]
    fixed = sum(widths) + 2 * ncols
    title_width = max(20, width - fixed - 1)
    out = []
    for row in [header, *body]:
        cells = [row[i].ljust(widths[i]) for i in range(ncols)]
        title = _truncate(row[ncols], title_width)
        out.append("  ".join(cells) + "  " + title)
    if any(r.get("followed") for r in rows):
        out.append("")
        out.append("* followed (watchlist or seed citation)")
    return "\n".join(line.rstrip() for line in out)
