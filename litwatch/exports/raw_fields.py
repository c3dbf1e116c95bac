"""Bibliographic fields the store keeps only inside the raw PubMed record.

Reference managers need volume, issue, pages, the authors' given names and, for a book
chapter, the book, its publisher and editors.  The publications table does not keep those
as columns, but ``publication_raw`` keeps the record as PubMed sent it: they are read from
there (the same elements the DTD names), only when an export asks for them.
"""

from __future__ import annotations

from lxml import etree

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def _text(el, path: str) -> str | None:
    found = el.find(path) if el is not None else None
    if found is None:
        return None
    text = "".join(found.itertext()).strip()
    return text or None


def _people(author_list) -> list[dict]:
    people = []
    if author_list is None:
        return people
    for author in author_list.findall("Author"):
        if author.get("ValidYN", "Y") != "Y":
            continue
        collective = _text(author, "CollectiveName")
        if collective:
            people.append({"literal": collective})
            continue
        family = _text(author, "LastName")
        if not family:
            continue
        given = _text(author, "ForeName") or _text(author, "Initials")
        person = {"family": family, "given": given}
        suffix = _text(author, "Suffix")
        if suffix:
            person["suffix"] = suffix
        people.append(person)
    return people


def raw_fields(raw: bytes | None) -> dict:
    """{volume, issue, pages, authors, book...} from a stored raw record (as PubMed sent it)."""
    if not raw:
        return {}
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError:
        return {}
    out: dict = {}
    article = root.find(".//MedlineCitation/Article")
    if article is not None:
        issue = article.find("Journal/JournalIssue")
        out["volume"] = _text(issue, "Volume")
        out["issue"] = _text(issue, "Issue")
        pages = _text(article, "Pagination/MedlinePgn")
        if not pages:
            start, end = _text(article, "Pagination/StartPage"), _text(article, "Pagination/EndPage")
            pages = f"{start}-{end}" if start and end else start
        out["pages"] = pages
        out["issn"] = _text(article, "Journal/ISSN")
        out["authors"] = _people(article.find("AuthorList"))
        return out
    book_doc = root.find(".//BookDocument")
    if book_doc is not None:
        book = book_doc.find("Book")
        out["book_title"] = _text(book, "BookTitle")
        out["publisher"] = _text(book, "Publisher/PublisherName")
        out["place"] = _text(book, "Publisher/PublisherLocation")
        out["edition"] = _text(book, "Edition")
        out["authors"] = []
        out["editors"] = []
        for author_list in list(book_doc.findall("AuthorList")) + list(book.findall("AuthorList") if book is not None else []):
            key = "editors" if author_list.get("Type") == "editors" else "authors"
            out[key] += _people(author_list)
        out["chapter_title"] = _text(book_doc, "ArticleTitle")
        out["book_title_only"] = out["chapter_title"] is None
        for aid in book_doc.findall("ArticleIdList/ArticleId"):
            if aid.get("IdType") == "bookaccession" and aid.text:
                out["nbk"] = aid.text.strip()
    return out
