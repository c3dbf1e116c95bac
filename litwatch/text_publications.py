"""A publication as terminal text: ``litwatch show PMID`` / ``show NBK…``.

Stored titles and abstracts are HTML fragments (inline ``<i>``/``<sub>``/``<sup>`` kept,
see ``crawler.pubmed_parse``); here they become plain text through
``vocab.markup.fragment_to_text``, sub/superscripts written ``CO_2`` / ``x^2`` so a formula
keeps its meaning without markup.  A Bookshelf chapter shows its book, publisher, editors
and Bookshelf link; correction links are named in plain words (``vocab.corrections``).
"""

from __future__ import annotations

import shutil
import textwrap

from litwatch.signals.keyfacts import extract, summary_line
from litwatch.vocab import ids
from litwatch.vocab.markup import fragment_to_text

MAX_AUTHORS = 12


def plain(fragment: str | None) -> str:
    """A stored HTML fragment as readable text."""
    return fragment_to_text(fragment, scripts=True)


def key_facts(pub: dict) -> dict:
    """``show --json``'s ``key_facts``: each fact with the words it came from (signals.keyfacts)."""
    return extract(pub.get("title"), pub.get("abstract"), pub.get("publication_types") or ()).as_dict()


def _width() -> int:
    return max(40, min(100, shutil.get_terminal_size((88, 24)).columns) - 2)


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_AUTHORS])
    return shown + (f", … (+{len(names) - MAX_AUTHORS})" if len(names) > MAX_AUTHORS else "")


def _book_line(book: dict) -> str:
    publisher = ", ".join(x for x in (book.get("publisher"), book.get("publisher_location")) if x)
    parts = [plain(book.get("book_title")) or None, book.get("location_label"), publisher or None]
    return " · ".join(x for x in parts if x)


def format_publication(pub: dict) -> str:
    width = _width()
    lines: list[str] = []
    title = plain(pub.get("title")) or "(no title)"
    if pub.get("retracted"):
        lines.append("*** RETRACTED ***")
    lines += textwrap.wrap(title, width) or [title]
    authors = pub.get("authors") or []
    if authors:
        lines += textwrap.wrap(_names(authors), width)
    book = pub.get("book")
    date = pub.get("pub_date_text") or pub.get("pub_date")
    where = " · ".join(x for x in (None if book else pub.get("journal"), date) if x)
    if book:
        where = " · ".join(x for x in (_book_line(book), date) if x)
    if where:
        lines += textwrap.wrap(where, width)
    lines.append("")
    entered = pub.get("entrez_date")
    if pub.get("create_date") and pub.get("create_date") != entered:
        entered = f"{pub['create_date']} (entry date {entered})" if entered else pub["create_date"]
    if pub.get("late_arrival") and pub.get("pub_date"):
        entered = f"{entered}: published {pub['pub_date'][:4]}, new to PubMed"
    fields = [
        ("PMID", pub.get("pmid")),
        ("Bookshelf", book and book.get("accession")),
        ("Editors", book and _names(book.get("editors") or [])),
        ("Entered", entered),
        ("Types", ", ".join(pub.get("publication_types") or [])),
        ("Facts", summary_line(extract(pub.get("title"), pub.get("abstract"), pub.get("publication_types") or ()))),
        ("DOI", pub.get("doi")),
        ("PMC", pub.get("pmcid")),
        ("Topics", ", ".join(pub.get("topics") or [])),
        ("Trials", ", ".join(pub.get("nct_ids") or [])),
        ("MeSH", "; ".join(pub.get("mesh") or [])),
    ]
    for c in pub.get("corrections") or []:
        label = c.get("label") or c.get("ref_type") or "Correction"
        fields.append((label, " ".join(x for x in (c.get("pmid") and f"PMID {c['pmid']}", c.get("note")) if x)))
    for label, value in fields:
        if value:
            indent = max(9, len(label) + 2)
            lines += textwrap.wrap(value, width, initial_indent=f"{label + ':':<{indent}}", subsequent_indent=" " * 9)
    abstract = pub.get("abstract")
    if abstract:
        lines.append("")
        for para in (plain(p) for p in abstract.split("\n\n")):
            lines += textwrap.wrap(para, width) or [""]
            lines.append("")
        lines.pop()
    lines.append("")
    if book and book.get("url"):
        lines.append(book["url"])
    lines.append(pub.get("url") or ids.pubmed_url(pub.get("pmid") or ""))
    return "\n".join(lines)
