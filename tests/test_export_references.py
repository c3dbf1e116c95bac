"""RIS, BibTeX and CSL-JSON exports, read back by real parsers (rispy, bibtexparser,
citeproc-py) and compared with the stored records: every paper, authors in order, year,
journal, DOI; plain text (no markup) in RIS and BibTeX."""

from __future__ import annotations

import json

import bibtexparser
import pytest
import rispy
from bibtexparser.bparser import BibTexParser
from bibtexparser.customization import convert_to_unicode
from bibtexparser.latexenc import latex_to_unicode
from export_support import build_store, litwatch

from litwatch.exports.reference import split_display_name
from litwatch.vocab.markup import fragment_to_text


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "litwatch.db"
    shapes = build_store(path)
    assert len(shapes) > 50
    return path, {s["pmid"]: s for s in shapes}


def export(store, fmt, *extra):
    proc = litwatch("export", "--format", fmt, *extra, db=store[0])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def family_names(shape) -> list[str]:
    """The stored authors' family names, in order (collective names whole)."""
    if shape.get("author_details"):
        return [d.get("last_name") or d.get("collective_name") for d in shape["author_details"]]
    out = []
    for display in shape["authors"]:
        person = split_display_name(display)
        out.append(person.get("family") or person["literal"])
    return out


def first_name_part(name: str, shape) -> str:
    """The family part of "Family, Given"; a collective name (which may hold commas) whole."""
    collective = {d.get("collective_name") for d in shape.get("author_details") or []} | set(shape["authors"])
    return name if name in collective else name.split(", ")[0]


def split_bibtex_names(value: str) -> list[str]:
    """BibTeX's name list: split on " and " outside braces (a braced name is one name)."""
    names, depth, current, i = [], 0, "", 0
    while i < len(value):
        if value[i] in "{}":
            depth += 1 if value[i] == "{" else -1
        if depth == 0 and value.startswith(" and ", i):
            names.append(current.strip())
            current, i = "", i + 5
            continue
        current += value[i]
        i += 1
    return names + [current.strip()] if current.strip() else names


def year(shape):
    return shape["pub_date"][:4] if shape["pub_date"] else None


def test_ris_reads_back_with_every_paper_and_field(store):
    entries = rispy.loads(export(store, "ris"))
    stored = store[1]
    assert [e["accession_number"] for e in entries] == list(stored)
    for e in entries:
        shape = stored[e["accession_number"]]
        assert e["type_of_reference"] == "JOUR"
        assert e["title"] == fragment_to_text(shape["title"]) and "<" not in e["title"]
        assert [first_name_part(a, shape) for a in e.get("authors", [])] == family_names(shape)
        assert e.get("year") == year(shape)
        assert e.get("journal_name") == shape["journal"]
        assert e.get("doi") == shape["doi"]
        if shape.get("abstract"):
            assert "<" not in e["abstract"] or "<" in fragment_to_text(shape["abstract"])


def test_ris_has_given_names_volume_issue_pages(store):
    (e,) = [e for e in rispy.loads(export(store, "ris")) if e["accession_number"] == "38011560"]
    assert e["authors"][0] == "Krystal, John H"
    assert (e["volume"], e["number"], e["start_page"]) == ("120", "49", "e2305772120")
    assert e["alternate_title1"] == "Proc Natl Acad Sci U S A"
    assert "ketamine" in e["keywords"] and e["custom2"] == "PMC10710048"
    assert "https://pubmed.ncbi.nlm.nih.gov/38011560/" in e["urls"]


def test_bibtex_reads_back_with_every_paper_and_field(store):
    parser = BibTexParser(common_strings=True)
    parser.customization = convert_to_unicode
    text = export(store, "bibtex")
    entries = bibtexparser.loads(text, parser=parser).entries
    raw_authors = {e["ID"]: e.get("author", "") for e in bibtexparser.loads(text, parser=BibTexParser()).entries}
    stored = store[1]
    assert [e["pmid"] for e in entries] == list(stored)
    for e in entries:
        shape = stored[e["pmid"]]
        assert e["ENTRYTYPE"] == "article"
        authors = [latex_to_unicode(a.strip("{}")) for a in split_bibtex_names(raw_authors[e["ID"]])]
        assert [first_name_part(a, shape) for a in authors] == family_names(shape)
        assert e.get("year") == year(shape)
        assert e.get("journal") == shape["journal"]
        assert e.get("doi") == shape["doi"]
        assert e["title"] == fragment_to_text(shape["title"])


def test_csl_json_renders_a_bibliography_with_citeproc(store):
    from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
    from citeproc.source.json import CiteProcJSON

    items = json.loads(export(store, "csl-json"))
    stored = store[1]
    assert [i["PMID"] for i in items] == list(stored)
    for item in items:
        shape = stored[item["PMID"]]
        assert [a.get("family") or a.get("literal") for a in item["author"]] == family_names(shape)
        assert item.get("container-title") == shape["journal"]
        assert item.get("DOI") == shape["doi"]
        assert (str(item["issued"]["date-parts"][0][0]) if "issued" in item else None) == year(shape)
    source = CiteProcJSON(items)
    style = CitationStylesStyle("harvard-cite-them-right", validate=False)
    bib = CitationStylesBibliography(style, source, formatter.plain)
    for item in items:
        bib.register(Citation([CitationItem(item["id"])]))
    rendered = [str(entry) for entry in bib.bibliography()]
    assert len(rendered) == len(items)
    text = "\n".join(rendered)
    assert "Krystal, J.H." in text and "Proceedings of the National Academy of Sciences" in text


def test_show_one_paper_in_each_format(store):
    for fmt, needle in (("ris", "TY  - JOUR"), ("bibtex", "@article{pmid38011560"), ("csl-json", None)):
        proc = litwatch("show", "10.1073/pnas.2305772120", "--format", fmt, db=store[0])
        assert proc.returncode == 0, proc.stderr
        if needle is None:
            assert [item["PMID"] for item in json.loads(proc.stdout)] == ["38011560"]
        else:
            assert needle in proc.stdout


def test_since_filters_and_kind_other_than_publications_is_refused(store):
    assert json.loads(export(store, "csl-json", "--since", "2999-01-01")) == []
    proc = litwatch("export", "--format", "ris", "--kind", "trials", db=store[0])
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1
    assert "exports publications" in proc.stderr


def test_display_names_split_into_family_and_initials():
    assert split_display_name("Krystal JH") == {"family": "Krystal", "given": "JH"}
    assert split_display_name("van der Berg AB") == {"family": "van der Berg", "given": "AB"}
    assert split_display_name("COVID-19 Study Group") == {"literal": "COVID-19 Study Group"}


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    from conftest import PUBMED_FIXTURES

    from litwatch.crawler.pubmed_parse import parse_pubmed
    from litwatch.db import open_db, publications

    path = tmp_path_factory.mktemp("books") / "litwatch.db"
    db = open_db(path)
    records = list(parse_pubmed((PUBMED_FIXTURES / "derived" / "book_chapters.xml").read_bytes()))
    publications.save_publications(db, records, "ketamine-depression")
    shapes = list(publications.iter_publications(db))
    db.conn.close()
    assert {s["pmid"] for s in shapes} >= {"90000101", "90000102"}
    return path, {s["pmid"]: s for s in shapes}


def test_book_chapters_export_as_chapters(books):
    entries = {e["accession_number"]: e for e in rispy.loads(export(books, "ris"))}
    chapter = entries["90000101"]
    shape = books[1]["90000101"]
    assert chapter["type_of_reference"] in ("CHAP", "BOOK")
    assert chapter["publisher"] == "StatPearls Publishing"
    assert "NBK900101" in " ".join(chapter["urls"])
    assert [first_name_part(a, shape) for a in chapter.get("authors", [])] == family_names(shape)
    items = {i["PMID"]: i for i in json.loads(export(books, "csl-json"))}
    assert items["90000101"]["type"] in ("chapter", "book")
    if items["90000101"]["type"] == "chapter":
        assert items["90000101"]["container-title"] == "StatPearls"
    parser = BibTexParser(common_strings=True)
    bib = {e["pmid"]: e for e in bibtexparser.loads(export(books, "bibtex"), parser=parser).entries}
    assert bib["90000102"]["ENTRYTYPE"] in ("incollection", "book") and bib["90000102"]["publisher"]


def test_a_bookshelf_id_finds_its_chapter_in_search(books):
    from litwatch.db import open_db
    from litwatch.db.search import search_all

    db = open_db(books[0], read_only=True)
    hits = search_all(db, "NBK900101")
    assert hits and hits[0]["pmid"] == "90000101"
    db.conn.close()
