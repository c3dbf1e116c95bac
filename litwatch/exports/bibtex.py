"""BibTeX through ``bibtexparser`` (v1) ``BibTexWriter``, one entry at a time.

Values are plain text with LaTeX's special characters escaped (``&`` -> ``\\&``...), so a
journal such as "Neuroscience & Biobehavioral Reviews" compiles; readers that convert
LaTeX to Unicode (``bibtexparser.customization.convert_to_unicode``, Zotero) get the text back.
"""

from __future__ import annotations

import re
from typing import IO, Iterable

from bibtexparser.bibdatabase import BibDatabase
from bibtexparser.bwriter import BibTexWriter

BIBTEX_TYPES = {"article": "article", "chapter": "incollection", "book": "book"}
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
            "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_SPECIAL_RE = re.compile("|".join(re.escape(c) for c in _SPECIAL))


def latex_escape(text: str) -> str:
    return _SPECIAL_RE.sub(lambda m: _SPECIAL[m.group(0)], " ".join(text.split()))


def _person(person: dict) -> str:
    """BibTeX's "Last, Jr, First"; a collective name braced so it is not split."""
    if "literal" in person:
        return "{" + latex_escape(person["literal"]) + "}"
    parts = [latex_escape(person["family"])]
    if person.get("suffix"):
        parts.append(latex_escape(person["suffix"]))
    if person.get("given"):
        parts.append(latex_escape(person["given"]))
    return ", ".join(parts)


def bibtex_entry(ref: dict) -> dict:
    key = f"pmid{ref['pmid']}" if ref["pmid"] else (ref["nbk"] or ref["doi"] or "ref").replace("/", "_")
    entry = {"ENTRYTYPE": BIBTEX_TYPES[ref["type"]], "ID": key}
    fields = {
        "title": ref["title"],
        "author": " and ".join(_person(p) for p in ref["authors"]) or None,
        "editor": " and ".join(_person(p) for p in ref["editors"]) or None,
        "journal": ref["journal"] if ref["type"] == "article" else None,
        "shortjournal": ref["journal_abbrev"] if ref["type"] == "article" else None,
        "booktitle": ref["book_title"] if ref["type"] == "chapter" else None,
        "publisher": ref["publisher"], "address": ref["place"],
        "year": str(ref["year"]) if ref["year"] else None,
        "month": MONTHS[ref["date_parts"][1] - 1] if len(ref["date_parts"]) > 1 and 1 <= ref["date_parts"][1] <= 12 else None,
        "volume": ref["volume"], "number": ref["issue"],
        "pages": ref["pages"].replace("-", "--") if ref["pages"] else None,
        "issn": ref["issn"], "isbn": ref["isbn"], "edition": ref["edition"], "pmid": ref["pmid"], "pmcid": ref["pmcid"], "abstract": ref["abstract"],
        "keywords": ", ".join(ref["keywords"]) or None, "language": ref["language"],
    }
    for name, value in fields.items():
        if value:
            entry[name] = value if name in ("author", "editor") else latex_escape(str(value))
    if ref["doi"]:
        entry["doi"] = ref["doi"]  # verbatim: a DOI is an identifier, not text (BibLaTeX reads it as such)
    if ref["url"]:
        entry["url"] = ref["url"]
    return entry


def write_bibtex(references: Iterable[dict], out: IO[str]) -> int:
    writer = BibTexWriter()
    writer.indent = "  "
    writer.order_entries_by = None
    count = 0
    for ref in references:
        db = BibDatabase()
        db.entries = [bibtex_entry(ref)]
        out.write(writer.write(db))
        count += 1
    return count
