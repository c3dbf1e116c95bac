"""A search hit as two terminal lines (``litwatch search``).

Its own module, with nothing heavier than the markup helper, because a search is the
command people run most and start-up is most of what it costs (bench/bench_startup.py).
"""

from __future__ import annotations

from litwatch.vocab.markup import fragment_to_text


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
