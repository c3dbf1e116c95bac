"""CSL-JSON, the citation-style language's data format (Zotero, Pandoc, citeproc): a JSON list."""

from __future__ import annotations

from typing import IO, Iterable

from litwatch.exports.tabular import write_json_array

CSL_TYPES = {"article": "article-journal", "chapter": "chapter", "book": "book"}


def csl_item(ref: dict) -> dict:
    item: dict = {"id": ref["id"], "type": CSL_TYPES[ref["type"]], "title": ref["title"]}
    item["author"] = [dict(p) for p in ref["authors"]]
    if ref["editors"]:
        item["editor"] = [dict(p) for p in ref["editors"]]
    if ref["date_parts"]:
        item["issued"] = {"date-parts": [ref["date_parts"]]}
    container = ref["journal"] if ref["type"] == "article" else ref["book_title"] if ref["type"] == "chapter" else None
    optional = {
        "container-title": container,
        "container-title-short": ref["journal_abbrev"] if ref["type"] == "article" else None,
        "volume": ref["volume"], "issue": ref["issue"], "page": ref["pages"], "ISSN": ref["issn"], "ISBN": ref["isbn"], "edition": ref["edition"],
        "publisher": ref["publisher"], "publisher-place": ref["place"],
        "DOI": ref["doi"], "PMID": ref["pmid"], "PMCID": ref["pmcid"], "URL": ref["url"],
        "abstract": ref["abstract"], "keyword": ", ".join(ref["keywords"]) or None, "language": ref["language"],
    }
    item.update({k: v for k, v in optional.items() if v})
    return item


def write_csl_json(references: Iterable[dict], out: IO[str]) -> int:
    return write_json_array((csl_item(ref) for ref in references), out)
