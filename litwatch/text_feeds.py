"""Terminal text for one feed item (``litwatch show``): what it is, where it came from,
and what litwatch already holds for it (the publication, the journal version, the trial)."""

from __future__ import annotations

import textwrap

from litwatch.vocab.ids import ctgov_url

KIND_LABELS = {
    "preprint": "Preprint (not peer reviewed)",
    "journal": "Journal feed item",
    "trial": "ClinicalTrials.gov feed item",
    "pubmed": "PubMed feed item",
}
WIDTH = 88  # a terminal line with room for the label column
LABEL = 12  # width of the label column
MAX_AUTHORS = 6  # more than this: "et al."; the JSON shape has them all


def _line(label: str, value) -> str | None:
    if value in (None, "", []):
        return None
    return f"{label + ':':<{LABEL}}{value}"


def _authors(names: list[str]) -> str | None:
    if not names:
        return None
    shown = ", ".join(names[:MAX_AUTHORS])
    return shown + (" et al." if len(names) > MAX_AUTHORS else "")


def _links(item: dict) -> list[tuple[str, str]]:
    """What litwatch holds for this item, each with the command that shows it."""
    out = []
    if item.get("pmid"):
        out.append(("In PubMed", f"PMID {item['pmid']} (litwatch show {item['pmid']}); not reported again"))
    if item.get("published_as_pmid"):
        out.append(("Published", f"as PMID {item['published_as_pmid']} (litwatch show {item['published_as_pmid']})"))
    trial = item.get("trial")
    if trial:
        out.append(("Trial", f"{trial['nct_id']}: {trial.get('status') or 'status unknown'} (litwatch show {trial['nct_id']})"))
    elif item.get("nct_id"):
        out.append(("Trial", f"{item['nct_id']}: not tracked by litwatch ({ctgov_url(item['nct_id'])})"))
    return out


def format_feed_item(item: dict) -> str:
    """Title, then labelled lines, then the summary wrapped to the terminal."""
    label = KIND_LABELS.get(item.get("feed_kind"), "Feed item")
    lines = [item.get("title") or "(no title)", label, ""]
    feed = item.get("feed_title")
    fields = [
        ("ID", item.get("id")),
        ("Date", item.get("published")),
        ("Authors", _authors(item.get("authors") or [])),
        ("DOI", item.get("doi")),
        ("PMID", item.get("feed_pmid") if item.get("feed_pmid") != item.get("pmid") else None),
        ("Link", item.get("url") or item.get("link")),
        ("Feed", f"{feed} <{item.get('feed_url')}>" if feed else item.get("feed_url")),
        ("Topics", ", ".join(item.get("topics") or [])),
        ("First seen", item.get("first_seen_at")),
    ]
    lines += [line for line in (_line(k, v) for k, v in fields) if line]
    for label, text in _links(item):
        lines.append(_line(label, text))
    if item.get("summary"):
        lines.append("")
        lines += textwrap.wrap(item["summary"], WIDTH)
    return "\n".join(lines)
