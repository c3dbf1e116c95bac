"""The PubMed parser over every recorded efetch answer, and over variants derived in tests."""

from __future__ import annotations

import io
import re

import pytest
from conftest import PUBMED_FIXTURES
from lxml import etree

from litwatch.crawler.pubmed_parse import RecordError, parse_pubmed, plain_text
from litwatch.vocab.records import Correction, Publication

EFETCH_FILES = sorted((PUBMED_FIXTURES / "efetch").glob("*.xml")) + [PUBMED_FIXTURES / "pubmed1.xml", PUBMED_FIXTURES / "pubmed2.xml"]
CONTRACT_KEYS = {"pmid", "title", "abstract", "journal", "pub_date", "entrez_date", "doi", "pmcid", "authors",
                 "publication_types", "mesh", "nct_ids", "retracted"}


def fixture(pmid: str) -> bytes:
    return (PUBMED_FIXTURES / "efetch" / f"{pmid}.xml").read_bytes()


def one(data: bytes) -> Publication:
    records = list(parse_pubmed(data))
    assert len(records) == 1, records
    assert isinstance(records[0], Publication), records[0]
    return records[0]


@pytest.mark.parametrize("path", EFETCH_FILES, ids=lambda p: p.name)
def test_every_recording_parses_with_its_own_ids(path):
    data = path.read_bytes()
    tree = etree.parse(io.BytesIO(data))
    articles = tree.findall("PubmedArticle")
    records = list(parse_pubmed(data))
    assert [r.pmid for r in records] == [a.findtext("MedlineCitation/PMID") for a in articles]
    for rec, art in zip(records, articles):
        assert isinstance(rec, Publication), rec
        assert all(hasattr(rec, k) for k in CONTRACT_KEYS)
        assert rec.title
        assert rec.entrez_date is None or re.fullmatch(r"\d{4}-\d{2}-\d{2}", rec.entrez_date)
        assert rec.pub_date is None or re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", rec.pub_date)
        own = {i.get("IdType"): i.text for i in art.findall("PubmedData/ArticleIdList/ArticleId")}
        if "doi" in own:
            assert rec.doi == own["doi"]
        if "pmc" in own:
            assert rec.pmcid == own["pmc"]
        else:
            assert rec.pmcid is None  # never a cited work's PMC id from ReferenceList
        expected = [
            a.findtext("CollectiveName") or f"{a.findtext('LastName')} {a.findtext('Initials')}".strip()
            for a in art.findall("MedlineCitation/Article/AuthorList/Author") if a.get("ValidYN") != "N"
        ]
        assert [" ".join(x.split()) for x in expected] == rec.authors
        assert etree.fromstring(rec.raw_xml).findtext("MedlineCitation/PMID") == rec.pmid
        assert len(rec.record_hash) == 40


def test_38011560_fields():
    rec = one(fixture("38011560"))
    assert rec.title == ("Ketamine and the neurobiology of depression: Toward next-generation rapid-acting "
                            "antidepressant treatments.")
    assert rec.doi == "10.1073/pnas.2305772120"
    assert rec.pmcid == "PMC10710048"
    assert rec.pii == "e2305772120"
    assert rec.authors[:2] == ["Krystal JH", "Kaye AP"]
    assert rec.entrez_date == "2023-11-27"
    assert rec.pub_date == "2023-12-05"
    assert rec.journal.startswith("Proceedings of the National Academy of Sciences")
    assert rec.journal_abbrev == "Proc Natl Acad Sci U S A"
    assert rec.publication_types == ["Review", "Journal Article"]
    assert "Ketamine" in rec.mesh
    assert "neuroplasticity" in rec.keywords
    assert (rec.language, rec.medline_status, rec.date_revised) == ("eng", "MEDLINE", "2023-12-11")
    assert rec.nct_ids == [] and rec.corrections == [] and rec.retracted is False
    assert rec.abstract.startswith("Ketamine has emerged")


def test_own_ids_come_from_article_id_list_not_reference_list():
    data = fixture("38011560")
    # The reference list cites works with their own DOIs and PMC ids.
    assert data.count(b'IdType="doi"') > 5 and data.count(b'IdType="pmc"') > 5
    # Without the record's own DOI (ArticleIdList and ELocationID), none of theirs is taken.
    variant = re.sub(rb'(<ArticleIdList><ArticleId IdType="pubmed">38011560</ArticleId>)<ArticleId IdType="pmc">PMC10710048</ArticleId><ArticleId IdType="doi">[^<]+</ArticleId>', rb"\1", data)
    variant = re.sub(rb'<ELocationID EIdType="doi"[^>]*>[^<]+</ELocationID>', b"", variant)
    assert variant != data
    rec = one(variant)
    assert rec.doi is None and rec.pmcid is None


def test_inline_markup_kept_and_other_text_escaped():
    assert one(fixture("38988993")).title == "Prey size preference in the tokay gecko (<i>Gekko gecko</i>)."
    assert "(<i>μ</i>-XRF)" in one(fixture("37167981")).title
    data = fixture("38011560").replace(
        b"<ArticleTitle>Ketamine and", b"<ArticleTitle>CO<sub>2</sub> &amp; x &lt; y in <b>bold</b> <span>x</span> Ketamine and"
    )
    title = one(data).title
    assert title.startswith("CO<sub>2</sub> &amp; x &lt; y in <b>bold</b> x Ketamine and")
    assert plain_text(title).startswith("CO2 & x < y in bold x Ketamine")


def test_mathml_becomes_readable_text():
    math = (b'<mml:math xmlns:mml="http://www.w3.org/1998/Math/MathML"><mml:mrow><mml:msub><mml:mi>EC</mml:mi>'
            b"<mml:mn>50</mml:mn></mml:msub><mml:mo>=</mml:mo><mml:mfrac><mml:mn>1</mml:mn><mml:mn>2</mml:mn></mml:mfrac>"
            b"<mml:msup><mml:mi>x</mml:mi><mml:mn>2</mml:mn></mml:msup></mml:mrow></mml:math>")
    data = fixture("38011560").replace(b"<AbstractText>Ketamine has emerged", b"<AbstractText>We found " + math + b". Ketamine has emerged")
    assert one(data).abstract.startswith("We found EC<sub>50</sub>=1/2x<sup>2</sup>. Ketamine has emerged")


def test_labelled_sections():
    rec = one(fixture("29226023"))
    labels = [s["label"] for s in rec.abstract_sections]
    assert labels[:4] == ["AIMS", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert rec.abstract_sections[0]["category"] == "OBJECTIVE"
    paragraphs = rec.abstract.split("\n\n")
    assert paragraphs[0].startswith("AIMS: ") and paragraphs[1].startswith("METHODS: ")
    # PubMed prints no "UNLABELLED:" in front of such a section; neither do we.
    assert not one(fixture("38329942")).abstract.startswith("UNLABELLED")


def test_season_and_medline_date():
    rec = one(fixture("32437181"))
    assert (rec.pub_date, rec.pub_date_text) == ("2020", "2020 Jul-Aug")
    data = re.sub(rb"<PubDate>.*?</PubDate>", b"<PubDate><MedlineDate>1998 Dec-1999 Jan</MedlineDate></PubDate>", fixture("38011560"), count=1)
    rec = one(data)
    assert (rec.pub_date, rec.pub_date_text) == ("1998-12", "1998 Dec-1999 Jan")
    data = re.sub(rb"<PubDate>.*?</PubDate>", b"<PubDate><MedlineDate>2001-2002</MedlineDate></PubDate>", fixture("38011560"), count=1)
    assert one(data).pub_date == "2001"


def test_collective_authors():
    assert one(fixture("34843274")).authors == ["Guideline Development Panel for the Treatment of Depressive Disorders"]
    authors = one(fixture("38534005")).authors
    assert any(a.startswith("Task and Finish Group for Urinalysis") for a in authors)
    # An author NLM marked invalid is left out.
    data = fixture("38011560").replace(b'<Author ValidYN="Y"><LastName>Kaye</LastName>', b'<Author ValidYN="N"><LastName>Kaye</LastName>')
    assert "Kaye AP" not in one(data).authors


def test_trial_numbers_from_databank_and_abstract_only():
    # 39337530 cites a trial number in its ReferenceList only: not a trial of this paper.
    assert b"NCT03991819" in fixture("39337530")
    assert one(fixture("39337530")).nct_ids == []
    data = fixture("38011560").replace(b"antidepressant treatment.</AbstractText>", b"antidepressant treatment. ClinicalTrials.gov number, NCT01761786.</AbstractText>")
    data = data.replace(b"<PublicationTypeList>", b"<DataBankList CompleteYN=\"Y\"><DataBank><DataBankName>ClinicalTrials.gov</DataBankName><AccessionNumberList>"
                        b"<AccessionNumber>NCT03395314</AccessionNumber><AccessionNumber>NCT01761786</AccessionNumber></AccessionNumberList></DataBank>"
                        b"<DataBank><DataBankName>ISRCTN</DataBankName><AccessionNumberList><AccessionNumber>ISRCTN12345678</AccessionNumber>"
                        b"</AccessionNumberList></DataBank></DataBankList><PublicationTypeList>")
    rec = one(data)
    assert rec.nct_ids == ["NCT01761786", "NCT03395314"]
    assert rec.databank_nct_ids == ["NCT03395314", "NCT01761786"]
    assert rec.abstract_nct_ids == []


def test_retraction_and_erratum():
    cc = (b'<CommentsCorrectionsList><CommentsCorrections RefType="ErratumIn"><RefSource>Proc Natl Acad Sci U S A. 2024;121:e1</RefSource>'
          b'<PMID Version="1">39000001</PMID></CommentsCorrections><CommentsCorrections RefType="CommentIn"><RefSource>x</RefSource>'
          b'<PMID Version="1">39000003</PMID></CommentsCorrections></CommentsCorrectionsList><MeshHeadingList>')
    data = fixture("38011560").replace(b"<MeshHeadingList>", cc, 1)
    rec = one(data)
    assert rec.corrections == [Correction("ErratumIn", "39000001", "Proc Natl Acad Sci U S A. 2024;121:e1"),
                               Correction("CommentIn", "39000003", "x")]  # every RefType is kept
    assert rec.retracted is False
    retracted = data.replace(b'RefType="ErratumIn"', b'RefType="RetractionIn"')
    assert one(retracted).retracted is True
    by_type = fixture("38011560").replace(b"<PublicationType UI=\"D016454\">Review</PublicationType>",
                                          b"<PublicationType UI=\"D016441\">Retracted Publication</PublicationType>")
    assert one(by_type).retracted is True


def _set(*records: bytes) -> bytes:
    return b'<?xml version="1.0" ?>\n<PubmedArticleSet>\n' + b"\n".join(records) + b"\n</PubmedArticleSet>\n"


def _article(pmid: str) -> bytes:
    data = fixture(pmid)
    return data[data.index(b"<PubmedArticle>") : data.rindex(b"</PubmedArticle>") + len(b"</PubmedArticle>")]


def test_broken_record_is_reported_and_the_rest_still_parse():
    good1, bad, good2, good3 = _article("38011560"), _article("37167981"), _article("38988993"), _article("34843274")
    broken = bad.replace(b"</ArticleTitle>", b"", 1)  # malformed XML inside one record
    records = list(parse_pubmed(_set(good1, broken, good2, good3)))
    assert [r.pmid for r in records] == ["38011560", "37167981", "38988993", "34843274"]
    assert [isinstance(r, RecordError) for r in records] == [False, True, False, False]
    assert "malformed XML" in records[1].reason and records[1].raw == broken
    # Well-formed but unusable (no Article): an error marker with the PMID, the rest parse.
    no_article = re.sub(rb"<Article .*?</Article>", b"", bad, flags=re.S)
    records = list(parse_pubmed(_set(good1, no_article, good2)))
    assert records[1].pmid == "37167981" and "no Article" in records[1].reason
    assert isinstance(records[2], Publication)


def test_not_an_efetch_answer_raises():
    with pytest.raises(etree.XMLSyntaxError):
        list(parse_pubmed(b"<html><body><h1>502 Bad Gateway</h1></body>"))


def test_sources_bytes_path_file_agree_and_hash_is_stable(tmp_path):
    path = PUBMED_FIXTURES / "pubmed1.xml"
    from_bytes = list(parse_pubmed(path.read_bytes()))
    from_path = list(parse_pubmed(str(path)))
    with open(path, "rb") as fh:
        from_file = list(parse_pubmed(fh))
    assert from_bytes == from_path == from_file
    assert len(from_bytes) == 2
    again = list(parse_pubmed(_set(from_bytes[0].raw_xml)))
    assert again[0].record_hash == from_bytes[0].record_hash


def test_record_that_lost_its_end_tag_costs_only_itself(tmp_path):
    good1, bad, good2 = _article("38011560"), _article("37167981"), _article("38988993")
    unterminated = bad.replace(b"</PubmedArticle>", b"")
    doc = _set(good1, unterminated, good2)
    for source in (doc, str(_write(tmp_path, doc))):
        records = list(parse_pubmed(source))
        assert [r.pmid for r in records] == ["38011560", "37167981", "38988993"]
        assert [isinstance(r, RecordError) for r in records] == [False, True, False]


def test_large_file_streams_in_blocks(tmp_path):
    from litwatch.crawler import pubmed_parse

    doc = _set(*[_article(p) for p in ("38011560", "37167981", "38988993", "34843274")] * 50)
    path = _write(tmp_path, doc)
    old = pubmed_parse.READ_SIZE
    pubmed_parse.READ_SIZE = 4096  # records straddle many block boundaries
    try:
        records = list(parse_pubmed(str(path)))
    finally:
        pubmed_parse.READ_SIZE = old
    assert len(records) == 200 and not any(isinstance(r, RecordError) for r in records)
    assert records == list(parse_pubmed(doc))


def _write(tmp_path, data: bytes):
    path = tmp_path / "efetch.xml"
    path.write_bytes(data)
    return path


def test_shortcuts_give_what_the_full_rules_give():
    """The parser's fast paths (a two-digit date, a paper created the year it was published,
    text that cannot hold a trial number) agree with the full rules on every case tried."""
    import datetime as dt

    from litwatch.crawler import pubmed_parse as pp
    from litwatch.vocab import ids

    def late(pub_date, create_date):  # the rule without the shortcut
        published, created = pp._latest_day(pub_date), pp._latest_day(create_date)
        return bool(published and created and created - published > dt.timedelta(days=365))

    dates = ["2019", "2019-02", "2019-12", "2019-02-28", "2019-12-31", "2020", "2020-01-01", "2020-12-31", "2021-01-01",
             "2018-13", "2019-02-30", "2O19", "２０１９-01-01", "20190", "2019-1", ""]
    for pub in dates:
        for created in dates:
            assert pp.is_late_arrival(pub, created) == (bool(pub and created) and late(pub, created)), (pub, created)

    def ymd(*parts):
        xml = "<D>" + "".join(f"<{t}>{v}</{t}>" for t, v in parts) + "</D>"
        return pp._ymd(etree.fromstring(xml))

    assert ymd(("Year", "2024"), ("Month", "03"), ("Day", "05")) == "2024-03-05"
    assert ymd(("Year", "2024"), ("Month", "3"), ("Day", "5")) == "2024-03-05"
    assert ymd(("Year", "2024"), ("Month", "Mar"), ("Day", "05")) == "2024-03-05"
    assert ymd(("Year", "2024"), ("Month", "13"), ("Day", "05")) == "2024"
    assert ymd(("Year", "2024"), ("Month", "02"), ("Day", "00")) == "2024-02"
    assert ymd(("Year", "2024"), ("Month", "02"), ("Day", "32")) == "2024-02"
    assert ymd(("Year", " 2024 "), ("Month", "02"), ("Day", "09")) == "2024-02-09"
    assert ymd(("Year", "20x4"), ("Month", "02"), ("Day", "09")) is None
    assert ymd(("Year", "2024"), ("Month", "3"), ("Day", " 5")) == "2024-03-05"
    assert ymd(("Year", "2024"), ("Month", "0"), ("Day", "5")) == "2024"
    assert ymd(("Year", "2024"), ("Month", "12"), ("Day", "0")) == "2024-12"
    assert ymd(("Year", "2024"), ("Month", "1")) == "2024-01"

    for text in ["NCT01234567", "see nct01234567.", "function and distinct", "NCT0123456", "xNCT01234567",
                 "NcT01234567 and NCT07654321", "instinct NCT", "NCT 01234567", "<i>NCT01234567</i>"]:
        expected = list(dict.fromkeys(m.upper() for m in ids.NCT_IN_TEXT_RE.findall(text)))
        assert pp._text_ncts(text) == expected, text


def test_fast_text_checks_agree_with_the_plain_ones():
    """``markup.printable`` is ``str.isprintable``; a text-only fragment is what ``_inline`` and
    ``_norm`` make of it; a PubDate read child by child is what ``findtext`` gave."""
    from litwatch.crawler import pubmed_parse as pp
    from litwatch.vocab import markup
    from litwatch.vocab.text import clean_text

    long = "Results were significant (p < 0.05) & consistent across groups. " * 3
    for ch in map(chr, range(0x300)):
        for text in (ch, long + ch, ch + long, long[:40] + ch + long):
            assert markup.printable(text) == text.isprintable(), repr(text)
    for text in ["", " ", "a  b", " lead", "trail ", "tab\there", "nl\nhere", "cr\rhere", "a & b < c", long, " " + long + " ",
                 long.replace(" ", "  ", 1), long + "\t", "caf\u00e9 " * 30, "\u00a0" + long, "\u2028" + long]:
        el = etree.Element("AbstractText")
        el.text = text
        assert pp._fragment(el) == pp._norm(pp._inline(el)), repr(text)
    for text in ["Smith", " Smith ", "a\tb", "x\x01y", "caf\u00e9", "a  b", "  ", "\u2028x", "\u00a0Anna", "x" * 64, "x" * 65,
                 long, long + "\x0b", "\u00e9" * 70]:
        assert pp._fold(text) == " ".join(clean_text(text).split()), repr(text)

    def pub_date(xml):
        return pp._pub_date_of(etree.fromstring(xml))

    assert pub_date("<PubDate><Year>2019</Year><Season>Spring</Season></PubDate>") == ("2019", "2019 Spring")
    assert pub_date("<PubDate><MedlineDate>2019 Mar-Apr</MedlineDate></PubDate>") == ("2019-03", "2019 Mar-Apr")
    assert pub_date("<PubDate><MedlineDate/><Year>2019</Year><Month>Feb</Month></PubDate>") == ("2019-02", None)
    assert pub_date("<PubDate><Season>Winter</Season></PubDate>") == (None, "Winter")
    assert pub_date("<PubDate><Year>2019</Year><Season>Fall</Season><Season>Winter</Season></PubDate>") == ("2019", "2019 Fall")
