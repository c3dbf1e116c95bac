"""One neutral bibliographic record per stored publication, shared by RIS, BibTeX and CSL-JSON.

Titles and abstracts become plain text (``vocab.markup.fragment_to_text``); authors keep
their order and get family and given names: from the record's ``author_details`` when the
store has them, else from the raw PubMed record, else by splitting ``"Lastname Initials"``.
"""

from __future__ import annotations

import itertools
from typing import Iterable, Iterator

from litwatch.exports.raw_fields import raw_fields
from litwatch.vocab.ids import bookshelf_url, doi_url, pubmed_url
from litwatch.vocab.markup import fragment_to_text

CHUNK = 200  # shapes per batched raw-record read: bounded memory whatever the store holds


def split_display_name(display: str) -> dict:
    """``"Krystal JH"`` -> {family: Krystal, given: JH}; a name without initials is kept whole."""
    display = (display or "").strip()
    family, _, initials = display.rpartition(" ")
    if family and initials.isupper() and initials.isalpha() and len(initials) <= 4:
        return {"family": family, "given": initials}
    return {"literal": display}


def _from_details(details: list) -> list[dict]:
    people = []
    for d in details:
        d = d if isinstance(d, dict) else getattr(d, "__dict__", None) or {
            k: getattr(d, k, None) for k in ("display", "last_name", "fore_name", "initials", "suffix", "collective_name")
        }
        if d.get("collective_name"):
            people.append({"literal": d["collective_name"]})
        elif d.get("last_name"):
            person = {"family": d["last_name"], "given": d.get("fore_name") or d.get("initials")}
            if d.get("suffix"):
                person["suffix"] = d["suffix"]
            people.append(person)
        elif d.get("display"):
            people.append(split_display_name(d["display"]))
    return people


def _date_parts(pub_date: str | None) -> list[int]:
    parts = []
    for piece in (pub_date or "").split("-")[:3]:
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return parts


def to_reference(pub: dict, raw: dict) -> dict:
    """The fields a reference manager uses, plain text, from a publication shape and its raw fields."""
    details = pub.get("author_details")
    if details:
        authors = _from_details(details)
    elif raw.get("authors"):
        authors = raw["authors"]
    else:
        authors = [split_display_name(a) for a in pub.get("authors") or []]
    book = pub.get("book") if isinstance(pub.get("book"), dict) else {}
    record_type = pub.get("record_type") or ("book_chapter" if "book_title" in raw and not raw.get("book_title_only")
                                             else "book" if "book_title" in raw else "article")
    is_book = record_type in ("book_chapter", "book")
    if book.get("editor_details"):
        editors = _from_details(book["editor_details"])
    elif book.get("editors"):
        editors = [split_display_name(e) for e in book["editors"]]
    else:
        editors = raw.get("editors") or []
    date = _date_parts(pub.get("pub_date"))
    nbk = pub.get("nbk") or book.get("accession") or raw.get("nbk")
    ref = {
        "id": pub.get("pmid") or nbk,
        "type": {"book_chapter": "chapter", "book": "book"}.get(record_type, "article"),
        "title": fragment_to_text(pub.get("title")),
        "authors": authors,
        "editors": editors,
        "journal": None if is_book else pub.get("journal"),
        "journal_abbrev": None if is_book else pub.get("journal_abbrev"),
        "book_title": fragment_to_text(book.get("book_title")) or raw.get("book_title") or (pub.get("journal") if is_book else None),
        "publisher": book.get("publisher") or raw.get("publisher"),
        "place": book.get("publisher_location") or raw.get("place"),
        "edition": book.get("edition") or raw.get("edition"),
        "isbn": (book.get("isbn") or [None])[0],
        "year": date[0] if date else None,
        "date_parts": date,
        "volume": book.get("volume") if is_book else raw.get("volume"),
        "issue": None if is_book else raw.get("issue"),
        "pages": None if is_book else raw.get("pages"),
        "issn": None if is_book else raw.get("issn"),
        "doi": pub.get("doi"),
        "pmid": pub.get("pmid"),
        "pmcid": pub.get("pmcid"),
        "nbk": nbk,
        "url": (book.get("url") or (bookshelf_url(nbk) if nbk else None)) if is_book else (pub.get("url") or (pubmed_url(pub["pmid"]) if pub.get("pmid") else None)),
        "doi_url": doi_url(pub["doi"]) if pub.get("doi") else None,
        "abstract": fragment_to_text(pub.get("abstract")) or None,
        "keywords": list(dict.fromkeys([*(pub.get("keywords") or []), *(pub.get("mesh") or [])])),
        "language": pub.get("language"),
        "publication_types": pub.get("publication_types") or [],
    }
    if is_book and ref["type"] == "book" and not ref["book_title"]:
        ref["book_title"] = ref["title"]
    return ref


def iter_references(db, publications: Iterable[dict]) -> Iterator[dict]:
    """References for a stream of publication shapes, raw records read one chunk at a time."""
    from litwatch.db.export_reads import raw_publication_records

    it = iter(publications)
    while chunk := list(itertools.islice(it, CHUNK)):
        raws = raw_publication_records(db, [p["pmid"] for p in chunk if p.get("pmid")])
        for pub in chunk:
            yield to_reference(pub, raw_fields(raws.get(pub.get("pmid"))))


def person_name(person: dict) -> str:
    """"Family, Given" (RIS and BibTeX order); a collective name as it is."""
    if "literal" in person:
        return person["literal"]
    name = person["family"]
    if person.get("given"):
        name += ", " + person["given"]
    if person.get("suffix"):
        name += ", " + person["suffix"]
    return name
