"""Terminal text for records: dispatches on the record's ``kind`` to ``text_publications``,
``text_trials`` and ``text_feeds``; the citations list is formatted here (search hits:
``text_hits``, kept apart so a search does not load what ``show`` needs)."""

from __future__ import annotations

from litwatch.text_feeds import format_feed_item
from litwatch.text_publications import format_publication
from litwatch.text_trials import format_trial
from litwatch.text_trials import format_trials_table as _trials_table


def format_record(record: dict) -> str:
    kind = record.get("kind")
    if kind == "publication":
        return format_publication(record)
    if kind == "trial":
        return format_trial(record)
    return format_feed_item(record)


def format_trials_table(rows: list[dict]) -> str:
    return _trials_table(rows)


def format_citations(rows: list[dict]) -> str:
    lines = []
    for row in rows:
        target = row.get("resolved_id") or "-"
        reason = f"  ({row['reason']})" if row.get("reason") else ""
        lines.append(f"{row['status']:<10} {row['kind']:<6} {row['value']:<28} -> {target:<12} {row['document']}:{row['line']}{reason}")
    return "\n".join(lines)
