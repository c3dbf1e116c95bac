"""Terminal text for records: dispatches on the record's ``kind`` to ``text_publications``,
``text_trials`` and ``text_feeds``; search hits and the citations list are formatted here."""

from __future__ import annotations

from litwatch.text_feeds import format_feed_item
from litwatch.text_publications import format_publication
from litwatch.text_trials import format_trial
from litwatch.text_trials import format_trials_table as _trials_table
from litwatch.vocab.markup import fragment_to_text


def format_record(record: dict) -> str:
    kind = record.get("kind")
    if kind == "publication":
        return format_publication(record)
    if kind == "trial":
        return format_trial(record)
    return format_feed_item(record)


def format_hit(record: dict) -> str:
    """One search hit: a line with the id and title, a line with its context."""
    kind = record.get("kind")
    if kind == "publication":
        ident = record["pmid"]
        meta = " · ".join(x for x in (record.get("journal"), record.get("pub_date"), ", ".join(record.get("publication_types") or [])) if x)
    elif kind == "trial":
        ident = record["nct_id"]
        meta = " · ".join(x for x in (record.get("status"), ", ".join(record.get("phases") or []), record.get("sponsor")) if x)
    else:
        ident = record.get("id") or ""
        meta = " · ".join(x for x in (record.get("feed_kind") or record.get("source"), record.get("published")) if x)
    title = fragment_to_text(record.get("title"), scripts=True) or "(no title)"
    return f"{ident:<12} {title}\n{'':<12} {meta}"


def format_trials_table(rows: list[dict]) -> str:
    return _trials_table(rows)


def format_citations(rows: list[dict]) -> str:
    lines = []
    for row in rows:
        target = row.get("resolved_id") or "-"
        reason = f"  ({row['reason']})" if row.get("reason") else ""
        lines.append(f"{row['status']:<10} {row['kind']:<6} {row['value']:<28} -> {target:<12} {row['document']}:{row['line']}{reason}")
    return "\n".join(lines)
