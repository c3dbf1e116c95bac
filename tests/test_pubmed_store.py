"""Storing parsed PubMed records and reading them back as CONTRACT's publication shape."""

from __future__ import annotations

import json

import pytest
from conftest import PUBMED_FIXTURES

from litwatch.crawler.pubmed_parse import parse_pubmed
from litwatch.db import publications
from litwatch.db.crawl_state import get_quarantined, quarantine
from litwatch.vocab.records import Publication

CONTRACT_KEYS = {"kind", "pmid", "title", "abstract", "journal", "pub_date", "entrez_date", "doi", "pmcid", "authors",
                 "publication_types", "mesh", "nct_ids", "topics", "retracted", "url"}


def record(pmid: str, transform=None) -> Publication:
    data = (PUBMED_FIXTURES / "efetch" / f"{pmid}.xml").read_bytes()
    if transform:
        data = transform(data)
    (rec,) = list(parse_pubmed(data))
    assert isinstance(rec, Publication), rec
    return rec


def renumber(pmid: str, new_pmid: str, title: str | None = None, abstract: str | None = None) -> Publication:
    """A recorded paper as a different paper: new PMID, no DOI/PMC, maybe a new title/abstract."""
    from lxml import etree

    def change(data: bytes) -> bytes:
        root = etree.fromstring(data)
        art = root.find("PubmedArticle")
        art.find("MedlineCitation/PMID").text = new_pmid
        for aid in art.findall("PubmedData/ArticleIdList/ArticleId"):
            if aid.get("IdType") == "pubmed":
                aid.text = new_pmid
            else:
                aid.getparent().remove(aid)
        article = art.find("MedlineCitation/Article")
        for loc in article.findall("ELocationID"):
            article.remove(loc)
        if title is not None:
            node = article.find("ArticleTitle")
            node.clear()
            node.text = title
        if abstract is not None:
            node = article.find("Abstract")
            node.clear()
            etree.SubElement(node, "AbstractText").text = abstract
        return etree.tostring(root)

    return record(pmid, change)


def count(db, table: str) -> int:
    return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_save_and_get_by_pmid_pmc_doi(db):
    counts = publications.save_publications(db, [record("38011560")], topic="ketamine-depression")
    assert counts == {"new": 1}
    shape = publications.get_publication(db, "38011560")
    assert CONTRACT_KEYS <= set(shape)
    assert shape["kind"] == "publication"
    assert shape["url"] == "https://pubmed.ncbi.nlm.nih.gov/38011560/"
    assert shape["topics"] == ["ketamine-depression"]
    assert shape["retracted"] is False
    assert shape["authors"][0] == "Krystal JH"
    assert shape["pmcid"] == "PMC10710048" and shape["doi"] == "10.1073/pnas.2305772120"
    for ident in ("pmc10710048", "PMC10710048", "10.1073/PNAS.2305772120", "https://doi.org/10.1073/pnas.2305772120", "doi:10.1073/pnas.2305772120", " 38011560 "):
        assert publications.get_publication(db, ident)["pmid"] == "38011560", ident
    assert publications.get_publication(db, "PMC1") is None
    assert publications.get_publication(db, "not-an-id") is None
    raw = publications.raw_xml(db, "38011560")
    assert raw.startswith(b"<PubmedArticle>") and b"38011560" in raw
    row = db.execute(f"SELECT {publications.RAW_SELECT} FROM publication_raw r JOIN publications p USING (pmid)").fetchone()
    assert len(row[0]) < len(raw) and publications.raw_from_row(*row) == raw


def test_saves_are_idempotent_and_topics_accumulate(db):
    recs = [record("38011560"), record("37167981")]
    assert publications.save_publications(db, recs, topic="a") == {"new": 2}
    first_seen = db.execute("SELECT first_seen_at FROM publications WHERE pmid = '38011560'").fetchone()[0]
    assert publications.save_publications(db, recs, topic="a") == {"unchanged": 2}
    assert publications.save_publications(db, recs[:1], topic="b") == {"unchanged": 1}
    assert count(db, "publications") == 2
    assert count(db, "publication_topics") == 3
    assert publications.get_publication(db, "38011560")["topics"] == ["a", "b"]
    assert db.execute("SELECT first_seen_at FROM publications WHERE pmid = '38011560'").fetchone()[0] == first_seen
    # A record seen twice in one batch is stored once.
    assert publications.save_publications(db, [recs[0], recs[0]]) == {"unchanged": 1}


def test_changed_record_is_updated_and_reindexed(db):
    publications.save_publications(db, [record("38011560")])
    changed = record("38011560", lambda d: d.replace(b"Ketamine and the neurobiology", b"Zanubrutinib and the neurobiology"))
    assert publications.save_publications(db, [changed]) == {"updated": 1}
    assert publications.get_publication(db, "38011560")["title"].startswith("Zanubrutinib and")
    assert [s["pmid"] for _, s in publications.search_publications(db, '"zanubrutinib"')] == ["38011560"]


def test_retraction_erratum_and_trial_links(db):
    def retract(data: bytes) -> bytes:
        cc = (b'<CommentsCorrectionsList><CommentsCorrections RefType="RetractionIn"><RefSource>Retraction in: PNAS 2025</RefSource>'
              b'<PMID Version="1">40000001</PMID></CommentsCorrections><CommentsCorrections RefType="ErratumIn"><RefSource>Erratum</RefSource>'
              b'<PMID Version="1">40000002</PMID></CommentsCorrections></CommentsCorrectionsList><MeshHeadingList>')
        data = data.replace(b"<MeshHeadingList>", cc, 1)
        data = data.replace(b"antidepressant treatment.</AbstractText>", b"antidepressant treatment. Registered: NCT01761786.</AbstractText>")
        return data.replace(b"<PublicationTypeList>", b'<DataBankList CompleteYN="Y"><DataBank><DataBankName>ClinicalTrials.gov</DataBankName>'
                            b"<AccessionNumberList><AccessionNumber>NCT03395314</AccessionNumber></AccessionNumberList></DataBank></DataBankList><PublicationTypeList>")

    publications.save_publications(db, [record("38011560", retract)])
    with db.conn:
        db.execute("INSERT INTO trial_links (nct_id, pmid, source) VALUES ('NCT02000000', '38011560', 'ctgov_reference')")
    shape = publications.get_publication(db, "38011560")
    assert shape["retracted"] is True
    assert shape["nct_ids"] == ["NCT01761786", "NCT02000000", "NCT03395314"]
    assert {(c["ref_type"], c["pmid"]) for c in shape["corrections"]} == {("RetractionIn", "40000001"), ("ErratumIn", "40000002")}
    sources = dict(db.execute("SELECT nct_id, source FROM trial_links WHERE source IN ('databank', 'abstract')").fetchall())
    assert sources == {"NCT03395314": "databank", "NCT01761786": "abstract"}
    assert count(db, "corrections") == 2
    publications.save_publications(db, [record("38011560", retract)])
    assert count(db, "corrections") == 2 and count(db, "trial_links") == 3


def test_queue_and_quarantine_bookkeeping(db):
    publications.enqueue(db, ["38011560", "99999999"], "seed citation")
    quarantine(db, "pubmed", "38011560", "malformed XML", b"<PubmedArticle>")
    assert publications.queue_pending(db, 5) == ["38011560", "99999999"]
    publications.save_publications(db, [record("38011560")])
    assert publications.queue_pending(db, 5) == ["99999999"]
    assert get_quarantined(db, "pubmed", "38011560") is None
    for _ in range(5):
        publications.mark_queue_missing(db, ["99999999"], "PubMed did not return this PMID")
    assert publications.queue_pending(db, 5) == []
    row = db.execute("SELECT attempts, error FROM pubmed_queue WHERE pmid = '99999999'").fetchone()
    assert row == (5, "PubMed did not return this PMID")
    assert publications.known_pmids(db, ["38011560", "1"]) == {"38011560"}


@pytest.fixture
def ranked_db(db):
    """Three papers on a made-up drug: in the title, the abstract, nowhere."""
    recs = [
        renumber("37167981", "90000001", abstract="Zolpidem was given once. Outcomes were measured at six weeks in many patients."),
        renumber("24084238", "90000002", title="Zolpidem for insomnia in older adults: a review"),
        renumber("34843274", "90000003", title="Something else entirely"),
    ]
    # One save each: "stored last, listed first" holds between saves; within one batch the
    # rows go in the order that fills pages (db.page_fill).
    publications.save_publications(db, recs[:1], topic="sleep")
    publications.save_publications(db, recs[1:2], topic="sleep")
    publications.save_publications(db, recs[2:], topic="other")
    return db


def test_fts_lists_newest_first_and_filters(ranked_db):
    db = ranked_db
    hits = publications.search_publications(db, '"zolpidem"')
    assert [s["pmid"] for _, s in hits] == ["90000002", "90000001"]  # stored last, listed first
    publications.save_publications(db, [renumber("24084238", "90000004", title="Zolpidem again")], topic="sleep")
    assert [s["pmid"] for _, s in publications.search_publications(db, '"zolpidem"')][0] == "90000004"
    assert publications.count_publications(db, '"zolpidem"', cap=1) == 2  # "more than 1"
    assert publications.count_publications(db, '"zolpidem"', cap=10) == 3
    db.execute("DELETE FROM publications WHERE pmid = '90000004'")
    assert CONTRACT_KEYS <= set(hits[0][1])
    assert publications.search_publications(db, '"zolpidem"', topic="other") == []
    assert publications.search_publications(db, '"zolpidem"', limit=1)[0][1]["pmid"] == "90000002"
    # publication types, case-insensitive
    types = set(publications.get_publication(db, "90000002")["publication_types"])
    only = sorted(types - set(publications.get_publication(db, "90000001")["publication_types"]))
    assert only, "the two recordings should differ in publication type"
    assert [s["pmid"] for _, s in publications.search_publications(db, '"zolpidem"', pub_type=only[0].upper())] == ["90000002"]
    assert publications.search_publications(db, '"zolpidem"', pub_type="Meta-Analysis") == []
    # since compares the PubMed entry date
    entrez = publications.get_publication(db, "90000002")["entrez_date"]
    assert "90000002" in [s["pmid"] for _, s in publications.search_publications(db, '"zolpidem"', since=entrez)]
    assert publications.search_publications(db, '"zolpidem"', since="2999-01-01") == []
    # MeSH terms are searchable too
    mesh = publications.get_publication(db, "90000003")["mesh"]
    if mesh:
        assert "90000003" in [s["pmid"] for _, s in publications.search_publications(db, '"' + mesh[0] + '"')]


def test_iter_publications_order_and_since(ranked_db):
    pmids = [s["pmid"] for s in publications.iter_publications(ranked_db)]
    assert pmids == ["90000001", "90000002", "90000003"]
    assert list(publications.iter_publications(ranked_db, since="2999-01-01")) == []


def run_cli(capsys, db_path, *args) -> tuple[int, str, str]:
    from litwatch.cli import main

    code = main(["--db", str(db_path), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_show_search_export(ranked_db, db_path, capsys):
    publications.save_publications(ranked_db, [record("38011560")], topic="ketamine-depression")
    code, out, _ = run_cli(capsys, db_path, "show", "PMC10710048", "--json")
    assert code == 0
    shape = json.loads(out)
    assert CONTRACT_KEYS <= set(shape) and shape["pmid"] == "38011560"
    code, out, _ = run_cli(capsys, db_path, "show", "https://doi.org/10.1073/PNAS.2305772120")
    assert code == 0
    assert "Krystal JH" in out and "https://pubmed.ncbi.nlm.nih.gov/38011560/" in out and "PMC10710048" in out
    code, out, _ = run_cli(capsys, db_path, "search", "zolpidem", "--json", "--type", "publication")
    assert code == 0
    assert [h["pmid"] for h in json.loads(out)] == ["90000002", "90000001"]
    code, out, _ = run_cli(capsys, db_path, "export", "--format", "json", "--kind", "publications")
    assert code == 0
    exported = json.loads(out)
    assert [e["pmid"] for e in exported] == ["38011560", "90000001", "90000002", "90000003"]
    assert all(CONTRACT_KEYS <= set(e) for e in exported)
    code, out, _ = run_cli(capsys, db_path, "export", "--format", "csv", "--kind", "publications")
    assert code == 0 and out.splitlines()[0].startswith("kind,pmid,title")
    code, _, err = run_cli(capsys, db_path, "show", "12345")
    assert code != 0 and err.startswith("litwatch: error: 12345: not in the store")
    code, _, err = run_cli(capsys, db_path, "search", '"unbalanced')
    assert code != 0 and err.count("\n") == 1 and "litwatch: error:" in err


def test_format_publication_text(db):
    from litwatch.text_publications import format_publication, plain

    rec = record("37167981")
    publications.save_publications(db, [rec], topic="t")
    text = format_publication(publications.get_publication(db, "37167981"))
    assert "(μ-XRF)" in text and "<i>" not in text
    assert text.rstrip().endswith("https://pubmed.ncbi.nlm.nih.gov/37167981/")
    assert plain("CO<sub>2</sub> &amp; x<sup>2</sup>") == "CO_2 & x^2"
    shape = dict(publications.get_publication(db, "37167981"), retracted=True)
    assert format_publication(shape).startswith("*** RETRACTED ***")


# ----------------------------------------------------------- issue 11: fidelity
def derived(name: str) -> list[Publication]:
    return list(parse_pubmed((PUBMED_FIXTURES / "derived" / name).read_bytes()))


def test_coauthors_with_one_display_name_are_both_kept(db):
    publications.save_publications(db, derived("articles.xml"))
    shape = publications.get_publication(db, "90000202")
    assert shape["authors"] == ["Richter EA Jr", "Sylow L", "Hargreaves M", "Song X", "Song X"]
    details = shape["author_details"]
    assert len(details) == len(shape["authors"])
    assert [d["fore_name"] for d in details[-2:]] == ["Xingguo", "Xianrang"]
    assert details[0]["suffix"] == "Jr" and details[0]["orcid"] == "0000-0002-6850-3056"
    assert details[0]["affiliation"].startswith("Department of Nutrition")
    (typed,) = publications.read_publications(db, ["90000202"])
    assert typed.author_details == next(p for p in derived("articles.xml") if p.pmid == "90000202").author_details


def test_every_ref_type_is_stored_and_corrections_are_named(db):
    from litwatch.vocab.corrections import CORRECTION_LABELS, correction_label
    from litwatch.vocab.records import CORRECTION_TYPES, REF_TYPES

    assert set(CORRECTION_LABELS) == set(CORRECTION_TYPES)
    assert correction_label("CorrectedandRepublishedIn") == "Corrected and republished"
    assert correction_label("CommentIn") is None
    publications.save_publications(db, derived("articles.xml"))
    stored = {r[0] for r in db.execute("SELECT ref_type FROM corrections")}
    assert stored == set(REF_TYPES)
    shape = publications.get_publication(db, "90000202")
    assert shape["retracted"] is True
    assert {c["ref_type"] for c in shape["corrections"]} == {t for t in CORRECTION_TYPES if t in stored and not t.endswith(("Of", "For", "From"))}
    assert all(c["label"] == CORRECTION_LABELS[c["ref_type"]] for c in shape["corrections"])
    assert {c["ref_type"] for c in shape["comments_corrections"]} >= {"CommentIn", "Cites", "AssociatedDataset"}
    notice = publications.get_publication(db, "90000203")
    assert {c["label"] for c in notice["corrections"]} >= {"Retraction notice", "Corrected and republished version"}
    assert notice["retracted"] is False


def test_late_arrival_keeps_both_dates(db):
    publications.save_publications(db, derived("articles.xml"))
    shape = publications.get_publication(db, "90000201")
    assert (shape["pub_date"], shape["entrez_date"], shape["create_date"]) == ("2013", "2013-01-01", "2026-11-24")
    assert shape["late_arrival"] is True
    assert shape["pubmed_history"]["entrez"] == "2026-11-24" and shape["pubmed_history"]["pubmed"] == "2013-01-01"
    on_time = publications.get_publication(db, "90000202")
    assert on_time["late_arrival"] is False and on_time["create_date"] == "2021-11-09"


def test_smaller_fields_are_stored(db):
    publications.save_publications(db, derived("articles.xml"))
    shape = publications.get_publication(db, "90000202")
    assert shape["other_ids"] == [{"source": "NLM", "id": "PMC9999999"}]
    assert shape["other_abstracts"][0]["type"] == "plain-language-summary"
    assert shape["abstract"].startswith("Tracer studies with <sup>14</sup>C-glucose")
    assert shape["nct_ids"] == ["NCT01761786", "NCT03395314"]


def test_book_chapters_are_stored_shown_and_searchable(db, db_path, capsys):
    publications.save_publications(db, derived("book_chapters.xml"), topic="ketamine")
    shape = publications.get_publication(db, "NBK900101")
    assert CONTRACT_KEYS <= set(shape)
    assert (shape["kind"], shape["record_type"], shape["pmid"], shape["nbk"]) == ("publication", "book_chapter", "90000101", "NBK900101")
    assert shape["title"] == "Ketamine" and shape["journal"] == "StatPearls" and shape["pub_date"] == "2025-01"
    assert shape["authors"] == ["Rosenbaum SB", "Gupta V Jr", "Palacios JL"]
    book = shape["book"]
    assert book["url"] == "https://www.ncbi.nlm.nih.gov/books/NBK900101/"
    assert (book["publisher"], book["publisher_location"], book["location_label"]) == ("StatPearls Publishing", "Treasure Island (FL)", "Chapter 12")
    assert book["contribution_date"] == "2024-01-30"
    assert publications.get_publication(db, "nbk900101")["pmid"] == "90000101"
    assert publications.get_publication(db, "90000101")["nbk"] == "NBK900101"
    gene = publications.get_publication(db, "90000102")
    assert gene["book"]["editors"] == ["Adam MP", "Feldman J"] and gene["authors"][:2] == ["Song X", "Song X"]
    assert gene["late_arrival"] is False  # the book is from 1993, the chapter from 2020
    hits = [s["pmid"] for _, s in publications.search_publications(db, "ketamine", topic="ketamine")]
    assert set(hits) == {"90000101", "90000102"}
    code, out, _ = run_cli(capsys, db_path, "show", "NBK900101")
    assert code == 0
    assert "StatPearls · Chapter 12 · StatPearls Publishing, Treasure Island (FL)" in out
    assert "https://www.ncbi.nlm.nih.gov/books/NBK900101/" in out and "Bookshelf: NBK900101" in out
    code, out, _ = run_cli(capsys, db_path, "show", "90000101", "--json")
    assert code == 0 and json.loads(out)["book"]["accession"] == "NBK900101"


def test_show_names_corrections_and_late_arrival(db):
    from litwatch.text_publications import format_publication

    publications.save_publications(db, derived("articles.xml"))
    text = format_publication(publications.get_publication(db, "90000202"))
    assert "Expression of concern: PMID 90000203" in text and "Corrected and republished:" in text
    late = format_publication(publications.get_publication(db, "90000201"))
    assert "2026-11-24 (entry date 2013-01-01): published 2013, new to PubMed" in late


def test_reading_a_page_takes_a_constant_number_of_statements(db):
    recs = [renumber("37167981", str(91000000 + i)) for i in range(60)]
    publications.save_publications(db, recs, topic="t")
    statements = []
    db.conn.set_trace_callback(statements.append)
    try:
        shapes = list(publications.iter_publications(db))
    finally:
        db.conn.set_trace_callback(None)
    assert len(shapes) == 60
    assert len(statements) <= 5, statements


def test_links_without_pmid_are_all_kept(db):
    def datasets(data: bytes) -> bytes:
        cc = (b'<CommentsCorrectionsList><CommentsCorrections RefType="AssociatedDataset"><RefSource>Dryad. doi:10.5061/a</RefSource>'
              b'</CommentsCorrections><CommentsCorrections RefType="AssociatedDataset"><RefSource>Zenodo. doi:10.5281/b</RefSource>'
              b'</CommentsCorrections></CommentsCorrectionsList><MeshHeadingList>')
        return data.replace(b"<MeshHeadingList>", cc, 1)

    publications.save_publications(db, [record("38011560", datasets)])
    publications.save_publications(db, [record("38011560", datasets)])
    links = publications.get_publication(db, "38011560")["comments_corrections"]
    assert links == [{"ref_type": "AssociatedDataset", "pmid": None, "note": "Dryad. doi:10.5061/a"},
                     {"ref_type": "AssociatedDataset", "pmid": None, "note": "Zenodo. doi:10.5281/b"}]


def test_correction_key_migration_keeps_old_rows(db):
    from litwatch.db.migrations.publications import m003_every_link

    with db.conn:
        db.execute("DROP TABLE corrections")
        db["corrections"].create({"pmid": str, "ref_type": str, "other_pmid": str, "note": str, "first_seen_at": str},
                                 pk=("pmid", "ref_type", "other_pmid"))
        db.execute("INSERT INTO corrections VALUES ('1', 'ErratumIn', '2', NULL, '2026-01-01T00:00:00Z')")
        m003_every_link(db)
        m003_every_link(db)  # idempotent
    assert db["corrections"].pks == ["pmid", "ref_type", "other_pmid", "note"]
    assert db.execute("SELECT * FROM corrections").fetchall() == [("1", "ErratumIn", "2", "", "2026-01-01T00:00:00Z")]
