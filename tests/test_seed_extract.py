"""Cited identifiers in seed documents: the repository's seeds, and every supported form."""

from __future__ import annotations

import pytest
from conftest import PROJECT_ROOT

from litwatch.crawler.seed_extract import extract_citations, extract_line
from litwatch.vocab.ids import pii_compact, pii_punctuated

SEED = "004_d9bf24e30c0d9d9e.txt"


def repository_citations():
    out = []
    for path in sorted((PROJECT_ROOT / "seeds").glob("*.txt")):
        out += list(extract_citations(path.name, path.read_text(encoding="utf-8")))
    return out


def test_repository_seeds():
    found = {(c.document, c.line, c.kind, c.value) for c in repository_citations()}
    assert found == {
        (SEED, 169, "pii", "S0165032722008229"),
        (SEED, 171, "nct", "NCT03395314"),
        (SEED, 173, "pmcid", "PMC9156400"),
    }
    raws = {c.value: c.raw for c in repository_citations()}
    assert raws["NCT03395314"] == "https://clinicaltrials.gov/ct2/show/NCT03395314"
    assert raws["PMC9156400"] == "https://www.ncbi.nlm.nih.gov/pmc/articles/PMC9156400/"
    assert raws["S0165032722008229"] == "https://www.sciencedirect.com/science/article/abs/pii/S0165032722008229"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("https://pubmed.ncbi.nlm.nih.gov/38011560/", ("pmid", "38011560")),
        ("pubmed.ncbi.nlm.nih.gov/38011560", ("pmid", "38011560")),
        ("http://www.ncbi.nlm.nih.gov/pubmed/29226023", ("pmid", "29226023")),
        ("https://pmc.ncbi.nlm.nih.gov/articles/PMC9156400/", ("pmcid", "PMC9156400")),
        ("https://www.ncbi.nlm.nih.gov/pmc/articles/pmc9156400", ("pmcid", "PMC9156400")),
        ("see https://clinicaltrials.gov/study/NCT03395314?tab=results.", ("nct", "NCT03395314")),
        ("https://classic.clinicaltrials.gov/ct2/show/NCT03395314", ("nct", "NCT03395314")),
        ("(https://doi.org/10.1016/J.JAD.2022.06.072)", ("doi", "10.1016/j.jad.2022.06.072")),
        ("https://dx.doi.org/10.1038/s41586-020-2649-2", ("doi", "10.1038/s41586-020-2649-2")),
        ("https://www.sciencedirect.com/science/article/pii/S0165032722008229?via%3Dihub", ("pii", "S0165032722008229")),
        ("doi: 10.1073/pnas.2220839120.", ("doi", "10.1073/pnas.2220839120")),
        ("PMID: 38011560", ("pmid", "38011560")),
        ("(PMID 38011560)", ("pmid", "38011560")),
        ("ClinicalTrials.gov number, nct01761786;", ("nct", "NCT01761786")),
        ("full text: PMC1234567", ("pmcid", "PMC1234567")),
    ],
)
def test_forms(text, expected):
    assert [(k, v) for k, v, _ in extract_line(text)] == [expected]


@pytest.mark.parametrize("text", [
    "In 1962 ketamine was synthesized; 38011560 patients",  # bare numbers are not PMIDs
    "https://www.youtube.com/watch?v=e0mdOODbGNU",
    "NCT123 is too short, NCT0339531412 too long",
])
def test_not_citations(text):
    assert list(extract_line(text)) == []


def test_an_identifier_in_a_url_is_one_citation():
    line = "Trial https://clinicaltrials.gov/study/NCT03395314 (NCT03395314)"
    assert [(k, v) for k, v, _ in extract_line(line)] == [("nct", "NCT03395314")]


def test_line_numbers():
    text = "title\n\nPMID: 1\nx\nsee NCT03395314 and PMC9156400\n"
    assert [(c.line, c.kind) for c in extract_citations("d.txt", text)] == [(3, "pmid"), (5, "nct"), (5, "pmcid")]


def test_pii_forms():
    assert pii_punctuated("S0165032722008229") == "S0165-0327(22)00822-9"
    assert pii_punctuated("s016503272200822x") == "S0165-0327(22)00822-X"  # check character X
    assert pii_punctuated("B9780128012345000019") is None  # a book PII has no journal form
    assert pii_compact("S0165-0327(22)00822-9") == "S0165032722008229"


def test_non_utf8_seed_is_reported_and_skipped(tmp_path):
    from litwatch.config import load_settings, parse_watchlist
    from litwatch.crawler.spiders.seeds import SeedsSpider

    (tmp_path / "good.txt").write_text("see NCT03395314\n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 PMC9156400\n".encode("latin-1"))
    (tmp_path / "watchlist.toml").write_text("", encoding="utf-8")
    (tmp_path / ".hidden").write_text("NCT00000001", encoding="utf-8")
    watchlist = parse_watchlist({"topic": [{"name": "t", "pubmed": "x", "ctgov": "x"}]}, str(tmp_path / "watchlist.toml"))
    spider = SeedsSpider(lw_settings=load_settings({"LITWATCH_SEEDS": str(tmp_path)}), watchlist=watchlist)
    texts, present = spider.read_documents()
    assert list(texts) == ["good.txt"] and present == ["good.txt", "latin1.txt"]
    assert spider.warnings == ["seed document latin1.txt is not UTF-8 text (byte 3): skipped"]
