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


def test_the_rate_margin_keeps_under_the_published_rates():
    # N requests in any RATE_MARGIN seconds: fewer than N a second, and not wasteful
    assert 3 / eutils.RATE_MARGIN < 3 and 10 / eutils.RATE_MARGIN < 10
    assert eutils.RATE_MARGIN < 1.2


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


def test_every_form_of_the_cap_error_is_a_cap_error():
    for message in (
        "Search Backend failed: Exception:\n'retstart' cannot be larger than 9998. For PubMed, ESearch can only retrieve the first 9,999 records",
        "Search Backend failed: Exception: Position 15000 is out of acceptable range",
    ):
        body = f"<eSearchResult><ERROR>{message}</ERROR></eSearchResult>".encode()
        with pytest.raises(eutils.SearchCapError):
            eutils.parse_esearch(body)


def test_an_expired_history_is_told_apart_from_other_errors():
    for message in ("Unable to obtain query #1", "Cannot retrieve history data. query_key: 1, WebEnv: MCID_x"):
        body = f'<?xml version="1.0"?>\n<eFetchResult>\n\t<ERROR>{message}</ERROR>\n</eFetchResult>'.encode()
        with pytest.raises(eutils.HistoryExpired):
            eutils.check_efetch(body)
    with pytest.raises(eutils.EUtilsError) as info:
        eutils.check_efetch(b"<eFetchResult><ERROR>Database is not supported</ERROR></eFetchResult>")
    assert not isinstance(info.value, eutils.HistoryExpired)


def test_history_efetch_and_window_term():
    call = eutils.efetch_history(settings(), "MCID_1", "2", 200, 200)
    assert call.params == {"db": "pubmed", "retmode": "xml", "WebEnv": "MCID_1", "query_key": "2", "retstart": "200",
                           "retmax": "200", "tool": "litwatch"}
    term = eutils.window_term("ketamine[tiab]", dt.date(2024, 1, 2), dt.date(2024, 2, 3))
    assert term == "(ketamine[tiab]) AND (2024/01/02:2024/02/03[edat] OR 2024/01/02:2024/02/03[crdt])"


def test_elink_sends_one_id_per_pmid_and_reads_one_linkset_each():
    call = eutils.elink_citedin(settings(NCBI_API_KEY="SECRETKEY"), ["1", "2"])
    assert ("id", "1") in call.form() and ("id", "2") in call.form() and ("linkname", "pubmed_pubmed_citedin") in call.form()
    assert "SECRETKEY" not in call.describe() and call.describe() == "elink.fcgi of 2 PMIDs"
    body = (b'<eLinkResult><LinkSet><DbFrom>pubmed</DbFrom><IdList><Id>1</Id></IdList><LinkSetDb><DbTo>pubmed</DbTo>'
            b'<LinkName>pubmed_pubmed_citedin</LinkName><Link><Id>10</Id></Link><Link><Id>11</Id></Link></LinkSetDb></LinkSet>'
            b'<LinkSet><DbFrom>pubmed</DbFrom><IdList><Id>2</Id></IdList></LinkSet></eLinkResult>')
    assert eutils.parse_elink(body) == {"1": ["10", "11"], "2": []}
    # the recording: one LinkSet for two ids (id=a,b merges), many LinkSetDb: only citedin counts
    from lxml import etree

    raw = (PUBMED_FIXTURES / "elink3.xml").read_bytes()
    citedin = etree.fromstring(raw).xpath("//LinkSetDb[LinkName='pubmed_pubmed_citedin']/Link/Id/text()")
    merged = eutils.parse_elink(raw)
    assert set(merged) == {"11812492", "11774222"} and citedin
    assert merged["11812492"] == merged["11774222"] == [i.strip() for i in citedin]
    with pytest.raises(eutils.EUtilsError):
        eutils.parse_elink(b"<eLinkResult><ERROR>Invalid db name specified</ERROR></eLinkResult>")


def _pieces(lo, hi, counts_by_day, cap):
    """Drive next_cut the way the spider does; returns (searches, pieces)."""
    def count(a, b):
        return sum(n for d, n in counts_by_day.items() if a <= d <= b)

    searches, pieces = 1, []  # the whole window was searched once
    todo = [(lo, hi, count(lo, hi), 0)]
    while todo:
        a, b, n, skew = todo.pop()
        cut = eutils.next_cut(a, b, n, cap, skew)
        assert cut is not None and a <= cut < b
        first = count(a, cut)
        searches += 1
        first_skew, rest_skew = eutils.next_skews(first, (cut - a).days + 1, n, (b - a).days + 1, cap, skew)
        if first > cap:
            todo.append((a, cut, first, first_skew))
        else:
            pieces.append((a, cut))
        rest = n - first
        if rest > cap:
            todo.append((cut + dt.timedelta(days=1), b, rest, rest_skew))
        elif rest > 0:
            searches += 1
            pieces.append((cut + dt.timedelta(days=1), b))
    return searches, pieces


def test_split_by_count_finds_a_cluster_of_recent_records_in_few_searches():
    lo, hi = dt.date(2015, 1, 1), dt.date(2026, 11, 21)
    days = [lo + dt.timedelta(days=i) for i in range((hi - lo).days + 1)]
    clustered = {d: 0 for d in days}
    for i in range(1, 4):  # 9,000 records in the last three days, 1,500 spread over the rest
        clustered[hi - dt.timedelta(days=i - 1)] = 3_000
    for i in range(1_500):
        clustered[days[i * 2]] += 1
    searches, pieces = _pieces(lo, hi, clustered, 9_999)
    assert searches == 3, searches  # the over-cap window + its two pieces; equal days took 17
    even = {d: 3 for d in days}  # ~13,000 spread evenly
    searches, _ = _pieces(lo, hi, even, 9_999)
    assert searches <= 4
    big = {d: 30 for d in days}  # ~130,000: 14 pieces at least
    searches, pieces = _pieces(lo, hi, big, 9_999)
    assert searches <= 1.3 * (1 + 14) and len(pieces) >= 14
    assert eutils.next_cut(lo, lo, 50_000) is None


