"""E-utilities calls and answers: parameters, recorded esearch answers, in-band errors, windows."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import PUBMED_FIXTURES

from litwatch.config import load_settings
from litwatch.crawler import eutils


def settings(**env):
    return load_settings({"LITWATCH_EUTILS_URL": "http://127.0.0.1:1/eutils", **env})


def test_every_call_carries_identity_and_the_key_only_when_set():
    call = eutils.esearch(settings(NCBI_EMAIL="a@b.org", NCBI_API_KEY="k123"), "ketamine[tiab]",
                          mindate=dt.date(2024, 1, 2), maxdate=dt.date(2024, 2, 3), retmax=500, usehistory=True)
    assert call.url == "http://127.0.0.1:1/eutils/esearch.fcgi"
    assert call.params == {"db": "pubmed", "term": "ketamine[tiab]", "retstart": "0", "retmax": "500", "datetype": "edat",
                           "mindate": "2024/01/02", "maxdate": "2024/02/03", "usehistory": "y", "tool": "litwatch",
                           "email": "a@b.org", "api_key": "k123"}
    assert "k123" not in call.describe()
    fetch = eutils.efetch(settings(), ["1", "2"])
    assert fetch.params == {"db": "pubmed", "retmode": "xml", "id": "1,2", "tool": "litwatch"}
    assert eutils.esearch(settings(), "x", retmax=50_000).params["retmax"] == "10000"
    with pytest.raises(ValueError):
        eutils.esearch(settings(), "x", mindate=dt.date(2024, 1, 1))


def test_request_delay_keeps_under_the_published_rates():
    assert 1 / eutils.request_delay(3) < 3 and 1 / eutils.request_delay(10) < 10
    assert eutils.request_delay(3) < 0.4  # and does not waste the allowance


@pytest.mark.parametrize("name, count, n_ids, webenv", [("esearch1.xml", 63, 20, False), ("esearch2.xml", 42249, 100, True), ("esearch3.xml", 2651, 6, False)])
def test_recorded_esearch_answers(name, count, n_ids, webenv):
    result = eutils.parse_esearch((PUBMED_FIXTURES / name).read_bytes())
    assert result.count == count and len(result.ids) == n_ids
    assert (result.webenv is not None) == webenv and (result.query_key == "1") == webenv
    assert result.query_translation and not result.not_searched


def test_in_band_errors():
    cap = b"<eSearchResult><ERROR>Search Backend failed: Exception:\n'retstart' cannot be larger than 9998.</ERROR></eSearchResult>"
    with pytest.raises(eutils.SearchCapError):
        eutils.parse_esearch(cap)
    with pytest.raises(eutils.EUtilsError, match="Database is not supported"):
        eutils.parse_esearch(b"<eSearchResult><ERROR>Database is not supported</ERROR></eSearchResult>")
    for body in (b"", b"  \n", b"<html><body>502 Bad Gateway</body></html>", b"<eSearchResult><Count>1</Count><IdList>"):
        with pytest.raises(eutils.EUtilsError):
            eutils.parse_esearch(body)
    partly = (b"<eSearchResult><Count>0</Count><RetMax>0</RetMax><RetStart>0</RetStart><IdList/><TranslationSet/>"
              b"<ErrorList><PhraseNotFound>ketamin</PhraseNotFound></ErrorList><WarningList><QuotedPhraseNotFound>\"x y\"</QuotedPhraseNotFound>"
              b"<OutputMessage>No items found.</OutputMessage></WarningList></eSearchResult>")
    result = eutils.parse_esearch(partly)
    assert result.count == 0 and result.not_searched == ["PhraseNotFound: ketamin"]
    assert result.warnings == ['QuotedPhraseNotFound: "x y"']


def test_efetch_answer_checks():
    good = (PUBMED_FIXTURES / "pubmed1.xml").read_bytes()
    eutils.check_efetch(good)
    eutils.check_efetch(b'<?xml version="1.0" ?>\n<PubmedArticleSet>\n</PubmedArticleSet>\n')
    for body, message in (
        (b"", "empty"),
        (good[: len(good) // 2], "cut short"),
        (b'<?xml version="1.0"?>\n<eFetchResult>\n\t<ERROR>Cannot retrieve history data</ERROR>\n</eFetchResult>', "Cannot retrieve"),
        ((PUBMED_FIXTURES / "epost2.xml").read_bytes(), "Invalid db name"),
        (b"<!DOCTYPE html><html><h1>500 Internal Server Error</h1></html>", "not a PubmedArticleSet"),
    ):
        with pytest.raises(eutils.EUtilsError, match=message):
            eutils.check_efetch(body)


def test_split_window_covers_the_window_without_overlap():
    lo, hi = dt.date(2015, 1, 1), dt.date(2026, 11, 21)
    for count in (10_000, 25_000, 1_000_000):
        pieces = eutils.split_window(lo, hi, count)
        assert pieces[0][0] == lo and pieces[-1][1] == hi
        assert len(pieces) >= 2
        for (a, b), (c, _) in zip(pieces, pieces[1:]):
            assert a <= b and c == b + dt.timedelta(days=1)
    assert eutils.split_window(lo, lo, 50_000) == []
    assert eutils.split_window(lo, lo + dt.timedelta(days=1), 50_000) == [(lo, lo), (lo + dt.timedelta(days=1),) * 2]
