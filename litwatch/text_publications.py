"""A publication as terminal text: ``litwatch show PMID``.

Stored titles and abstracts are HTML fragments (inline ``<i>``/``<sub>``/``<sup>`` kept,
see ``crawler.pubmed_parse``); here they become plain text.  Sub/superscripts are written
``CO_2`` / ``x^2`` so a formula keeps its meaning without markup.
"""

from __future__ import annotations

import html
import re
import shutil
import textwrap

from litwatch.signals.keyfacts import extract, summary_line

_SUB_RE = re.compile(r"<sub>(.*?)</sub>", re.S)
_SUP_RE = re.compile(r"<sup>(.*?)</sup>", re.S)
_TAG_RE = re.compile(r"<[^>]+>")
MAX_AUTHORS = 12


def plain(fragment: str | None) -> str:
    """A stored HTML fragment as readable text."""
    if not fragment:
        return ""
    text = _SUB_RE.sub(lambda m: "_" + m.group(1) if len(m.group(1)) == 1 else f"_({m.group(1)})", fragment)
    text = _SUP_RE.sub(lambda m: "^" + m.group(1) if len(m.group(1)) == 1 else f"^({m.group(1)})", text)
    return html.unescape(_TAG_RE.sub("", text))


def key_facts(pub: dict) -> dict:
    """``show --json``'s ``key_facts``: each fact with the words it came from (signals.keyfacts)."""
    return extract(pub.get("title"), pub.get("abstract"), pub.get("publication_types") or ()).as_dict()


def _width() -> int:
    return max(40, min(100, shutil.get_terminal_size((88, 24)).columns) - 2)


def format_publication(pub: dict) -> str:
    width = _width()
    lines: list[str] = []
    title = plain(pub.get("title")) or "(no title)"
    if pub.get("retracted"):
        lines.append("*** RETRACTED ***")
    lines += textwrap.wrap(title, width) or [title]
    authors = pub.get("authors") or []
    if authors:
        shown = ", ".join(authors[:MAX_AUTHORS]) + (f", … (+{len(authors) - MAX_AUTHORS})" if len(authors) > MAX_AUTHORS else "")
        lines += textwrap.wrap(shown, width)
    date = pub.get("pub_date_text") or pub.get("pub_date")
    where = " · ".join(x for x in (pub.get("journal"), date) if x)
    if where:
        lines += textwrap.wrap(where, width)
    lines.append("")
    fields = [
        ("PMID", pub.get("pmid")),
        ("Entered", pub.get("entrez_date")),
        ("Types", ", ".join(pub.get("publication_types") or [])),
        ("Facts", summary_line(extract(pub.get("title"), pub.get("abstract"), pub.get("publication_types") or ()))),
        ("DOI", pub.get("doi")),
        ("PMC", pub.get("pmcid")),
        ("Topics", ", ".join(pub.get("topics") or [])),
        ("Trials", ", ".join(pub.get("nct_ids") or [])),
        ("MeSH", "; ".join(pub.get("mesh") or [])),
    ]
    for c in pub.get("corrections") or []:
        fields.append((c.get("ref_type") or "Correction", " ".join(x for x in (c.get("pmid") and f"PMID {c['pmid']}", c.get("note")) if x)))
    for label, value in fields:
        if value:
            lines += textwrap.wrap(value, width, initial_indent=f"{label + ':':<9}", subsequent_indent=" " * 9)
    abstract = pub.get("abstract")
    if abstract:
        lines.append("")
        for para in plain(abstract).split("\n\n"):
            lines += textwrap.wrap(para, width) or [""]
            lines.append("")
        lines.pop()
    lines.append("")
    lines.append(pub.get("url") or f"https://pubmed.ncbi.nlm.nih.gov/{pub.get('pmid')}/")
    return "\n".join(lines)
