"""RIS (Zotero, EndNote, Mendeley, RefWorks) through ``rispy``'s writer, one record at a time."""

from __future__ import annotations

from typing import IO, Iterable

import rispy

from litwatch.exports.reference import person_name

RIS_TYPES = {"article": "JOUR", "chapter": "CHAP", "book": "BOOK"}


class _Writer(rispy.RisWriter):
    """rispy's writer without its "1." counter line, which no RIS reader needs."""

    def set_header(self, count: int) -> str:
        return ""


def ris_entry(ref: dict) -> dict:
    """A reference as rispy's field names (TY, TI, AU..., JO, J2, PY, VL, IS, SP, EP, DO, AN, UR, AB, KW)."""
    entry: dict = {"type_of_reference": RIS_TYPES[ref["type"]], "title": ref["title"]}
    entry["authors"] = [person_name(p) for p in ref["authors"]]
    if ref["editors"]:
        entry["secondary_authors"] = [person_name(p) for p in ref["editors"]]
    if ref["type"] == "article":
        if ref["journal"]:
            entry["journal_name"] = ref["journal"]
            entry["secondary_title"] = ref["journal"]
        if ref["journal_abbrev"]:
            entry["alternate_title1"] = ref["journal_abbrev"]
    elif ref["book_title"]:
        entry["secondary_title"] = ref["book_title"]
    optional = {
        "year": ref["year"], "date": "/".join(f"{p:02d}" if i else str(p) for i, p in enumerate(ref["date_parts"])) or None,
        "volume": ref["volume"], "number": ref["issue"], "doi": ref["doi"], "issn": ref["issn"] or ref["isbn"],
        "edition": ref["edition"],
        "publisher": ref["publisher"], "place_published": ref["place"], "abstract": ref["abstract"],
        "language": ref["language"],
    }
    for key, value in optional.items():
        if value:
            entry[key] = str(value)
    if ref["pages"]:
        start, _, end = ref["pages"].partition("-")
        entry["start_page"] = start
        if end:
            entry["end_page"] = end
    if ref["pmid"]:
        entry["accession_number"] = ref["pmid"]
        entry["custom1"] = f"PMID: {ref['pmid']}"
    if ref["pmcid"]:
        entry["custom2"] = ref["pmcid"]
    entry["urls"] = [u for u in (ref["url"], ref["doi_url"]) if u]
    if ref["keywords"]:
        entry["keywords"] = ref["keywords"]
    return {k: (_one_line(v) if isinstance(v, str) else [_one_line(x) for x in v] if isinstance(v, list) else v)
            for k, v in entry.items()}


def _one_line(value: str) -> str:
    """RIS is line-based: a line break inside a value would start a bogus tag."""
    return " ".join(value.split())


def write_ris(references: Iterable[dict], out: IO[str]) -> int:
    writer = _Writer(skip_unknown_tags=True)
    count = 0
    for ref in references:
        if count:
            out.write("\n")
        writer.format_lines(out, [ris_entry(ref)])
        count += 1
    return count
