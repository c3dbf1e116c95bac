"""Feed bytes -> FeedItem records: the recorded RSS 2.0 feed, Atom, RSS 1.0, 0.91, bozo feeds,
keys, kinds, DOIs/PMIDs/NCT numbers and the topic keyword filter."""

from __future__ import annotations

import pytest

from litwatch.crawler.feed_parse import (
    feed_kind,
    is_preprint_doi,
    items_for_topic,
    keyword_patterns,
    matches_keywords,
    parse_feed,
)
from litwatch.fakes.feeds import atom, fixture_bytes, fixture_items, malformed, rss1, rss2
from litwatch.vocab.ids import normalise_doi, normalise_link
from litwatch.vocab.records import FeedItem
from litwatch.vocab.text import normalise_title

CT_URL = "http://127.0.0.1:1/ct.xml"  # a mirror: the kind comes from the channel link


@pytest.fixture(scope="module")
def recorded():
    return parse_feed(fixture_bytes(), CT_URL, {"Content-Type": "application/rss+xml; charset=UTF-8"})


def journal_items():
    return [
        {"title": "Esketamine nasal spray in <i>treatment-resistant</i> depression", "link": "https://www.j.example/doi/10.1016/j.jad.2024.01.001?af=R",
         "summary": "<p>A randomised trial.</p>", "date": "2024-02-01", "authors": ["Ann Lee", "Bo Li"]},
        {"title": "Lithium levels and renal function", "link": "https://www.j.example/doi/10.1016/j.jad.2024.01.002",
         "summary": "Renal.", "date": "2024-02-02"},
    ]


def test_recorded_clinicaltrials_rss(recorded):
    assert recorded.version == "rss20" and recorded.problem is None
    assert recorded.kind == "trial" and recorded.title.startswith("ClinicalTrials.gov")
    assert len(recorded.items) == 971
    assert len({i.id for i in recorded.items}) == 971  # guid = NCT number: unique keys
    first = recorded.items[0]
    assert first.id == first.nct_id == "NCT02821221"
    assert first.kind == "trial" and first.published == "2016-06-29"
    # HTML turned into plain text; the doubly escaped "&amp;amp;" of the classic site undone
    assert first.summary.startswith("Condition: Japanese Encephalitis Intervention:")
    assert "<b>" not in first.summary and "amp;" not in first.link
    assert first.link.startswith("https://clinicaltrials.gov/ct2/show/NCT02821221?")
    assert all(i.nct_id and i.doi is None for i in recorded.items)


def test_trial_key_from_link_when_guid_is_missing():
    items = [dict(fixture_items(1)[0], guid=None)]
    parsed = parse_feed(rss2("ClinicalTrials.gov", "https://clinicaltrials.gov/api/rss?intr=ketamine", items), "http://x/ct")
    assert parsed.items[0].id == "NCT02821221" and parsed.items[0].kind == "trial"
    new_site = [{"title": "t", "link": "https://clinicaltrials.gov/study/NCT03395314?tab=history", "guid": "https://clinicaltrials.gov/study/NCT03395314"}]
    parsed = parse_feed(rss2("ClinicalTrials.gov", "https://clinicaltrials.gov/", new_site), "http://x/ct")
    assert parsed.items[0].id == "NCT03395314"


def test_atom_journal_feed():
    body = atom("Journal of Affective Disorders", "https://www.j.example/", journal_items())
    parsed = parse_feed(body, "http://127.0.0.1:1/jad.atom")
    assert parsed.version == "atom10" and parsed.kind == "journal" and parsed.problem is None
    first = parsed.items[0]
    assert first.kind == "journal"
    assert first.doi == "10.1016/j.jad.2024.01.001"  # from the /doi/ link
    assert first.title == "Esketamine nasal spray in treatment-resistant depression"
    assert first.summary == "A randomised trial."
    assert first.authors == ["Ann Lee", "Bo Li"] and first.published == "2024-02-01"
    # Atom id is the guid; Wiley's "?af=R" is not part of the link
    assert first.id == "https://www.j.example/doi/10.1016/j.jad.2024.01.001"
    assert first.link == "https://www.j.example/doi/10.1016/j.jad.2024.01.001"


def test_rss1_medrxiv_subject_feed():
    items = [{"title": "Ketamine and suicidal ideation: a cohort", "link": "http://medrxiv.org/cgi/content/short/2024.01.02.24300123v1?rss=1",
              "summary": "Background ...", "doi": "10.1101/2024.01.02.24300123", "authors": ["Smith, J.", "Doe, A."], "date": "2024-01-05"}]
    parsed = parse_feed(rss1("medRxiv Subject Collection: Psychiatry", "http://medrxiv.org", items), "http://127.0.0.1:1/psych.rdf")
    assert parsed.version == "rss10" and parsed.kind == "preprint"
    item = parsed.items[0]
    assert item.kind == "preprint" and item.doi == "10.1101/2024.01.02.24300123"
    assert item.authors == ["Smith, J.", "Doe, A."] and item.published == "2024-01-05"
    assert item.link == "https://medrxiv.org/cgi/content/short/2024.01.02.24300123v1"
    assert item.id == item.link  # rdf:about is the guid


def test_preprint_doi_in_a_journal_feed_is_a_preprint():
    items = [{"title": "A preprint", "link": "https://www.medrxiv.org/content/10.1101/2023.05.06.23289612v2", "guid": "x1"}]
    parsed = parse_feed(rss2("Aggregator", "https://agg.example/", items), "http://x/agg")
    assert parsed.kind == "journal"
    assert parsed.items[0].kind == "preprint" and parsed.items[0].doi == "10.1101/2023.05.06.23289612"


def test_rss091_and_pubmed_feed():
    body = (b'<?xml version="1.0"?><rss version="0.91"><channel><title>pubmed: ketamine</title>'
            b"<link>https://pubmed.ncbi.nlm.nih.gov/?term=ketamine</link><description>d</description>"
            b"<item><title>Ketamine and BPD</title><link>https://pubmed.ncbi.nlm.nih.gov/38011560/?utm_source=rss</link></item>"
            b"</channel></rss>")
    parsed = parse_feed(body, "http://x/pubmed")
    assert parsed.version.startswith("rss09") and parsed.kind == "pubmed"
    item = parsed.items[0]
    assert item.kind == "pubmed" and item.feed_pmid == "38011560"
    assert item.id == "https://pubmed.ncbi.nlm.nih.gov/38011560"  # no guid, no DOI: the link
    guid = rss2("pubmed", "https://pubmed.ncbi.nlm.nih.gov/", [{"title": "t", "link": "https://pubmed.ncbi.nlm.nih.gov/1/", "guid": "pubmed:36804489"}])
    assert parse_feed(guid, "http://x/p").items[0].feed_pmid == "36804489"


def test_keys_guid_then_doi_then_link():
    items = [
        {"title": "a", "link": "https://j.example/a", "guid": "tag:j.example,2024:a"},
        {"title": "b", "link": "https://j.example/b", "doi": "10.1000/B"},
        {"title": "c", "link": "HTTP://J.Example/c/?utm_source=feed&id=3#top"},
    ]
    ids = [i.id for i in parse_feed(rss2("J", "https://j.example/", items), "http://x/j").items]
    assert ids == ["tag:j.example,2024:a", "10.1000/b", "https://j.example/c?id=3"]


def test_malformed_feed_keeps_what_was_read_and_says_so():
    parsed = parse_feed(malformed(fixture_bytes(), keep_items=3), CT_URL)
    assert parsed.problem and "SAXParseException" in parsed.problem and "line" in parsed.problem
    assert [i.id for i in parsed.items] == ["NCT02821221", "NCT02820610", "NCT02820662"]
    assert parsed.damaged == 1  # the item cut short before its guid is not stored


def test_not_a_feed_at_all():
    parsed = parse_feed(b"<html><body><h1>Sign in</h1></body></html>", "http://x/login", {"Content-Type": "text/html"})
    assert parsed.items == [] and parsed.problem


def test_benign_bozo_is_no_problem():
    body = rss2("J", "https://j.example/", journal_items())
    parsed = parse_feed(body, "http://x/j", {"Content-Type": "text/plain"})  # feedparser: NonXMLContentType
    assert parsed.problem is None and len(parsed.items) == 2


@pytest.mark.parametrize("raw, doi", [
    ("doi:10.1101/2024.01.02.24300123", "10.1101/2024.01.02.24300123"),
    ("https://doi.org/10.1016/J.JAD.2022.06.074", "10.1016/j.jad.2022.06.074"),
    ("https://www.biorxiv.org/content/10.1101/2020.01.01.123456v3.full", "10.1101/2020.01.01.123456"),
    ("https://onlinelibrary.wiley.com/doi/full/10.1111/acps.13500", "10.1111/acps.13500"),
    ("urn:doi:10.1176/appi.ajp.2019.19020172", "10.1176/appi.ajp.2019.19020172"),
    ("https://example.org/no-doi-here", None),
])
def test_normalise_doi(raw, doi):
    assert normalise_doi(raw) == doi


def test_preprint_dois():
    assert is_preprint_doi("10.1101/2024.01.02.24300123") and is_preprint_doi("10.1101/123456")
    assert not is_preprint_doi("10.1101/gr.123456.111")  # Genome Research (CSHL Press)
    assert is_preprint_doi("10.21203/rs.3.rs-123456/v1") and not is_preprint_doi("10.1016/j.jad.2024.01.001")


def test_feed_kind_by_host():
    assert feed_kind("https://connect.medrxiv.org/medrxiv_xml.php?subject=Psychiatry") == "preprint"
    assert feed_kind("https://clinicaltrials.gov/api/rss?intr=ketamine") == "trial"
    assert feed_kind("https://pubmed.ncbi.nlm.nih.gov/rss/search/abc/?limit=20") == "pubmed"
    assert feed_kind("https://www.cambridge.org/core/rss/product/id/X") == "journal"
    assert feed_kind("http://127.0.0.1:5/x", "http://biorxiv.org") == "preprint"


def test_normalisers():
    assert normalise_link("http://WWW.X.org/a/?rss=1&utm_medium=x&p=2#f") == "https://www.x.org/a?p=2"
    assert normalise_title("Ketamine <i>vs</i> Électroconvulsive   therapy: an RCT.") == "ketamine vs electroconvulsive therapy an rct"


def test_keyword_filter_applies_to_general_feeds_only():
    journal = parse_feed(rss2("J", "https://j.example/", journal_items()), "http://x/j")
    assert [i.title[:10] for i in items_for_topic(journal, ["ketamine", "esketamine"])] == ["Esketamine"]
    assert items_for_topic(journal, ["ketamine"]) == []  # word start: "ketamine" is not "esketamine"
    assert len(items_for_topic(journal, [])) == 2  # no keywords: every item
    trials = parse_feed(rss2("ClinicalTrials.gov", "https://clinicaltrials.gov/", fixture_items(5)), "http://x/ct")
    assert len(items_for_topic(trials, ["ketamine"])) == 5  # a search feed: its query chose the items


def test_keyword_matching_rules():
    pats = keyword_patterns(["suicid", "treatment resistant", "BPD"])
    assert matches_keywords(FeedItem("x", "http://f", title="Suicidality after ketamine"), pats)
    assert matches_keywords(FeedItem("x", "http://f", summary="in treatment-resistant depression"), pats)
    assert matches_keywords(FeedItem("x", "http://f", title="Ketamine in bpd"), pats)
    assert not matches_keywords(FeedItem("x", "http://f", title="Antisuicidal effects"), pats)  # not at a word start
