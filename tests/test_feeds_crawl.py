"""The feeds crawl end to end: the real spider in its own process against a fake feed host,
then the store's dedup/linking rules and the CLI (show, search --json, export)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import PROJECT_ROOT

from litwatch.fakes.feeds import FakeFeedServer, atom, fixture_bytes, malformed, rss1
from litwatch.vocab.records import FeedItem

STORED_DOI = "10.1016/j.jad.2024.01.001"
STORED_PMID = "38000001"
JOURNAL_VERSION_PMID = "38000002"
PREPRINT_TITLE = "Repeated intravenous ketamine for suicidal ideation in borderline personality disorder"


def _journal_items():
    return [
        {"title": "Esketamine nasal spray in treatment-resistant depression: a randomised trial",  # stored in PubMed
         "link": f"https://www.j.example/doi/{STORED_DOI}?af=R", "summary": "RCT.", "date": "2024-02-01"},
        {"title": "Ketamine infusions and dissociation in adolescents", "link": "https://www.j.example/doi/10.1016/j.jad.2024.01.003",
         "summary": "Open-label study of ketamine.", "date": "2024-02-02", "authors": ["Ann Lee"]},
        {"title": "Lithium levels and renal function", "link": "https://www.j.example/doi/10.1016/j.jad.2024.01.002",
         "summary": "Renal.", "date": "2024-02-02"},  # no keyword: not kept
    ]


def _preprint_items():
    return [
        {"title": PREPRINT_TITLE, "link": "http://medrxiv.org/cgi/content/short/2023.11.02.23297987v1?rss=1",
         "summary": "Preprint: ketamine in BPD.", "doi": "10.1101/2023.11.02.23297987", "authors": ["Smith, J."], "date": "2023-11-05"},
        {"title": "Esketamine and sleep architecture: a polysomnography study", "link": "http://medrxiv.org/cgi/content/short/2024.01.09.24301041v1?rss=1",
         "summary": "Esketamine sleep study.", "doi": "10.1101/2024.01.09.24301041", "authors": ["Doe, A.", "Roe, B."], "date": "2024-01-10"},
    ]


def _watchlist(path, feeds, keywords=("ketamine", "esketamine")):
    path.write_text(
        "[[topic]]\n"
        'name = "ketamine-trd"\n'
        'pubmed = "ketamine[tiab]"\n'
        'ctgov = "ketamine"\n'
        f"feeds = {json.dumps(list(feeds))}\n"
        f"keywords = {json.dumps(list(keywords))}\n",
        encoding="utf-8",
    )
    return path


def _env():
    env = dict(os.environ)
    env.update(LITWATCH_BACKOFF_BASE="0.05", LITWATCH_RETRY_TIMES="1", LITWATCH_FEEDS_DELAY="0")
    return env


def cli(config, db_path, *args):
    cmd = [sys.executable, "-m", "litwatch.cli", "--config", str(config), "--db", str(db_path), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=PROJECT_ROOT, timeout=120)


def crawl(config, db_path):
    proc = cli(config, db_path, "crawl", "--source", "feeds", "--json")
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)["sources"]["feeds"]


def _store_publications(db):
    """Two PubMed records, stored as a PubMed crawl stores them."""
    _save_publications(db, [
        (STORED_PMID, _journal_items()[0]["title"] + ".", "10.1016/J.JAD.2024.01.001", "Randomized Controlled Trial"),
        (JOURNAL_VERSION_PMID, PREPRINT_TITLE.upper(), "10.1176/appi.ajp.2024.1", "Journal Article"),
    ])


@pytest.fixture
def host():
    with FakeFeedServer() as server:
        server.serve("/ct.xml", fixture_bytes())
        server.serve("/jad.atom", atom("Journal of Affective Disorders", "https://www.j.example/", _journal_items()),
                     content_type="application/atom+xml")
        server.serve("/psych.rdf", rss1("medRxiv Subject Collection: Psychiatry", "http://medrxiv.org", _preprint_items()),
                     content_type="application/rdf+xml", etag="")  # Last-Modified only
        server.cut_short("/cut.xml", fixture_bytes())
        server.serve("/bad.xml", malformed(rss1("medRxiv Subject Collection: Psychiatry", "http://medrxiv.org",
                                                _preprint_items() + _preprint_items()), keep_items=1))
        server.answer("/gone.xml", 410)
        server.answer("/down.xml", 500)
        yield server


def test_feeds_crawl_stores_links_and_stays_polite(tmp_path, db, db_path, host):
    _store_publications(db)
    paths = ["/ct.xml", "/jad.atom", "/psych.rdf", "/bad.xml", "/gone.xml", "/down.xml", "/cut.xml"]
    config = _watchlist(tmp_path / "w.toml", [host.url(p) for p in paths])

    # First crawl: everything readable is stored; broken feeds are warnings, not failures.
    code, result = crawl(config, db_path)
    assert code == 0 and result["status"] == "ok", result
    counts, warnings = result["counts"], "\n".join(result["warnings"])
    assert counts["feeds_fetched"] == 4 and counts["feeds_gone"] == 1 and counts["requests_failed"] == 2
    # filtered: the lithium paper, and bad.xml's item cut short at "Esketami" (no keyword left)
    assert counts["feeds_malformed"] == 1 and counts["items_filtered_out"] == 2
    assert host.url("/gone.xml") in warnings and "410" in warnings
    assert host.url("/bad.xml") in warnings and "malformed" in warnings
    assert host.url("/down.xml") in warnings and "HTTP 500" in warnings
    assert host.url("/cut.xml") in warnings  # body shorter than its Content-Length
    assert len(host.requests("/down.xml")) == 2  # one retry (LITWATCH_RETRY_TIMES=1), then reported
    assert len(host.requests("/cut.xml")) == 2
    assert len(host.requests("/gone.xml")) == 1  # a 410 is not retried

    rows = {r["id"]: r for r in db["feed_items"].rows}
    kinds = [r["kind"] for r in rows.values()]
    assert kinds.count("trial") == 971 and kinds.count("journal") == 2 and kinds.count("preprint") == 2
    assert counts["feed_items_new"] == 975
    # Dedup against PubMed by DOI: recorded, linked, never a second piece of evidence.
    linked = [r for r in rows.values() if r["doi"] == STORED_DOI]
    assert len(linked) == 1 and linked[0]["pmid"] == STORED_PMID
    # Preprint -> publication by normalised title.
    preprint = next(r for r in rows.values() if r["doi"] == "10.1101/2023.11.02.23297987")
    assert preprint["published_as_pmid"] == JOURNAL_VERSION_PMID and preprint["pmid"] is None
    # The malformed copy of the preprint feed added nothing twice (same DOIs, same links).
    assert sum(r["doi"] == "10.1101/2024.01.09.24301041" for r in rows.values()) == 1
    feeds = {r["url"]: r for r in db["feeds"].rows}
    assert feeds[host.url("/gone.xml")]["gone"] == 1
    assert feeds[host.url("/bad.xml")]["etag"] is None  # a malformed body's validators are not kept
    assert feeds[host.url("/ct.xml")]["etag"] and feeds[host.url("/ct.xml")]["kind"] == "trial"

    # Second crawl: 304s cost nothing and store nothing; the gone feed is not asked again.
    code, result = crawl(config, db_path)
    assert code == 0, result
    counts = result["counts"]
    assert counts["not_modified"] == 3 and counts.get("feed_items_new", 0) == 0
    assert counts["feeds_gone_skipped"] == 1 and len(host.requests("/gone.xml")) == 1
    for path in ("/ct.xml", "/jad.atom"):
        last = host.requests(path)[-1]
        assert last["status"] == 304 and last["headers"].get("If-None-Match")
    last = host.requests("/psych.rdf")[-1]
    assert last["status"] == 304 and last["headers"].get("If-Modified-Since") and "If-None-Match" not in last["headers"]
    assert "If-None-Match" not in host.requests("/bad.xml")[-1]["headers"]  # read in full again
    assert db.execute("SELECT count(*) FROM feed_items").fetchone()[0] == 975

    # A watchlist change (new keywords) asks every feed in full again, the gone one too.
    _watchlist(config, [host.url(p) for p in paths], keywords=("ketamine", "esketamine", "lithium"))
    code, result = crawl(config, db_path)
    assert "If-None-Match" not in host.requests("/jad.atom")[-1]["headers"]
    assert host.requests("/jad.atom")[-1]["status"] == 200 and len(host.requests("/gone.xml")) == 2
    assert result["counts"]["feed_items_new"] == 1  # the lithium paper, now wanted


def test_feed_items_through_the_cli(tmp_path, db, db_path, host):
    pytest.importorskip("litwatch.db.publications")
    _store_publications(db)
    config = _watchlist(tmp_path / "w.toml", [host.url("/jad.atom"), host.url("/psych.rdf"), host.url("/ct.xml")])
    code, _ = crawl(config, db_path)
    assert code == 0

    proc = cli(config, db_path, "show", "10.1101/2024.01.09.24301041", "--json")
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    for key in ("kind", "id", "feed_kind", "feed_url", "title", "link", "summary", "authors", "published", "doi",
                "pmid", "nct_id", "published_as_pmid", "topics", "first_seen_at"):
        assert key in shown
    assert shown["kind"] == "feed_item" and shown["feed_kind"] == "preprint"
    assert shown["authors"] == ["Doe, A.", "Roe, B."] and shown["topics"] == ["ketamine-trd"]
    assert shown["feed_title"] == "medRxiv Subject Collection: Psychiatry"

    text = cli(config, db_path, "show", shown["id"])
    assert text.returncode == 0 and "Preprint (not peer reviewed)" in text.stdout and "Esketamine and sleep" in text.stdout

    trial = json.loads(cli(config, db_path, "show", "NCT02821221", "--json").stdout)
    assert trial["kind"] in ("trial", "feed_item")  # the trial if stored, else its feed item

    hits = json.loads(cli(config, db_path, "search", "esketamine", "--json").stdout)
    ids = [h.get("id") or h.get("pmid") for h in hits]
    assert shown["id"] in ids
    assert not any(h.get("kind") == "feed_item" and h.get("doi") == STORED_DOI for h in hits)  # the publication is the hit

    exported = json.loads(cli(config, db_path, "export", "--kind", "feed_items").stdout)
    assert len(exported) == 971 + 2 + 2 and all(e["kind"] == "feed_item" for e in exported)
    linked = next(e for e in exported if e["doi"] == STORED_DOI)
    assert linked["pmid"] == STORED_PMID


def test_every_feed_failing_is_an_error(tmp_path, db_path, host, monkeypatch):
    from litwatch.config import load_settings
    from litwatch.crawler.run import crawl_one

    config = _watchlist(tmp_path / "w.toml", [host.url("/down.xml")])
    for name, value in dict(LITWATCH_BACKOFF_BASE="0.05", LITWATCH_RETRY_TIMES="1", LITWATCH_FEEDS_DELAY="0").items():
        monkeypatch.setenv(name, value)
    settings = load_settings({"LITWATCH_DB": str(db_path)})
    result = crawl_one(settings, "feeds", config_path=str(config), timeout=120)
    assert result.status == "failed" and "every feed request failed" in result.errors[0]
    assert any(host.url("/down.xml") in w for w in result.warnings)


# --- the store on its own: dedup, linking, lookups (no crawl) ---------------------------

def _item(**kw):
    base = {"id": "x", "feed_url": "http://f/1", "kind": "journal", "title": "A title long enough to link on",
            "published": "2024-01-01"}
    return FeedItem(**{**base, **kw})


def test_one_item_per_doi_across_feeds_and_topics(db):
    from litwatch.db.feeds import save_feed_items

    first = save_feed_items(db, [_item(id="guid-1", doi="10.1000/ABC", title="Old title")], "t1")
    again = save_feed_items(db, [_item(id="https://other.example/abc", feed_url="http://f/2", doi="10.1000/abc", title="New title")], "t2")
    assert first["feed_items_new"] == 1 and again["feed_items_new"] == 0 and again["feed_items_new_for_topic"] == 1
    rows = list(db["feed_items"].rows)
    assert len(rows) == 1 and rows[0]["id"] == "guid-1" and rows[0]["title"] == "New title"
    assert sorted(r["topic"] for r in db["feed_item_topics"].rows) == ["t1", "t2"]
    # Items recovered from a malformed feed never overwrite what is stored.
    save_feed_items(db, [_item(id="guid-1", title="Cut sh")], "t1", refresh=False)
    assert db["feed_items"].get("guid-1")["title"] == "New title"


def _save_publications(db, specs) -> None:
    """Publications (pmid, title, doi, type) made from a recorded efetch record, stored the way
    a crawl stores them: through the PubMed parser and ``save_publications``."""
    import copy

    from lxml import etree

    from litwatch.crawler.pubmed_parse import parse_pubmed
    from litwatch.db.publications import save_publications
    from litwatch.fakes.eutils import FIXTURES

    template = etree.fromstring((FIXTURES / "efetch" / "29226023.xml").read_bytes()).find("PubmedArticle")
    root = etree.Element("PubmedArticleSet")
    for pmid, title, doi, ptype in specs:
        art = copy.deepcopy(template)
        art.find("MedlineCitation/PMID").text = pmid
        for aid in art.findall("PubmedData/ArticleIdList/ArticleId"):
            if aid.get("IdType") == "pubmed":
                aid.text = pmid
            else:
                aid.getparent().remove(aid)
        article = art.find("MedlineCitation/Article")
        for loc in article.findall("ELocationID"):
            article.remove(loc)
        if doi:
            etree.SubElement(article, "ELocationID", EIdType="doi", ValidYN="Y").text = doi
        article.find("ArticleTitle").text = title
        types = article.find("PublicationTypeList")
        for old in list(types):
            types.remove(old)
        etree.SubElement(types, "PublicationType", UI="D016428").text = ptype
        root.append(art)
    save_publications(db, list(parse_pubmed(etree.tostring(root))))


def test_linking_rules(db):
    from litwatch.db.feeds import (
        get_feed_item,
        link_feed_items,
        save_feed_items,
        search_feed_items,
    )

    _save_publications(db, [
        ("1", "Ketamine for depression", "10.1000/pub", "Journal Article"),
        ("2", "Esketamine in older adults with resistant depression: a trial", None, "Journal Article"),
        ("3", "Ketamine and memory in a large naturalistic cohort study", None, "Preprint"),
        ("4", "Duplicate title of two different records here", None, "Journal Article"),
        ("5", "Duplicate title of two different records here", None, "Journal Article"),
        ("6", "A PubMed record a PubMed feed names", None, "Journal Article"),
    ])
    counts = save_feed_items(db, [
        _item(id="a", doi="10.1000/PUB", title="Ketamine for depression"),  # DOI: same document
        _item(id="b", kind="preprint", doi="10.1101/2024.01.01.1", title="Esketamine in older adults with resistant depression - a trial"),
        _item(id="c", kind="preprint", doi="10.1101/2024.01.01.2", title="Ketamine and memory in a large naturalistic cohort study"),
        _item(id="d", kind="preprint", doi="10.1101/2024.01.01.3", title="Duplicate title of two different records here"),
        _item(id="e", kind="preprint", doi="10.1101/2024.01.01.4", title="Ketamine for depression"),  # too short to link on
        _item(id="pubmed:6", kind="pubmed", feed_pmid="6", title="Named"),
        _item(id="pubmed:7", kind="pubmed", feed_pmid="7", title="Not stored ketamine record"),
    ], "t")
    assert counts["feed_items_linked"] == 2  # a (DOI) and pubmed:6 (PMID), at once
    counts = link_feed_items(db)
    assert counts == {"preprints_published": 1, "feed_items_linked": 1}
    get = lambda i: db["feed_items"].get(i)  # noqa: E731
    assert get("a")["pmid"] == "1" and get("pubmed:6")["pmid"] == "6" and get("pubmed:7")["pmid"] is None
    assert get("b")["published_as_pmid"] == "2" and get("b")["pmid"] is None
    assert get("c")["pmid"] == "3"  # PubMed's record of the preprint itself
    assert get("d")["pmid"] is None and get("d")["published_as_pmid"] is None  # ambiguous
    assert get("e")["published_as_pmid"] is None
    # Lookups: DOI of an unlinked item, a PMID that is not stored, never a linked item's DOI.
    assert get_feed_item(db, "https://doi.org/10.1101/2024.01.01.4")["id"] == "e"
    assert get_feed_item(db, "7")["id"] == "pubmed:7" and get_feed_item(db, "10.1000/pub") is None
    # search leaves out linked items (a, c): the publication is the hit
    assert sorted(s["id"] for _, s in search_feed_items(db, '"ketamine"')) == ["e", "pubmed:7"]


def test_feed_item_text():
    from litwatch.text_feeds import format_feed_item

    text = format_feed_item({
        "kind": "feed_item", "id": "NCT02821221", "feed_kind": "trial", "feed_url": "http://f", "feed_title": "CT.gov",
        "title": "A trial", "link": "https://clinicaltrials.gov/ct2/show/NCT02821221", "url": None, "summary": "Condition: x",
        "authors": [], "published": "2016-06-29", "doi": None, "pmid": None, "feed_pmid": None, "nct_id": "NCT02821221",
        "published_as_pmid": None, "trial": {"nct_id": "NCT02821221", "title": "A trial", "status": "RECRUITING", "url": "u"},
        "topics": ["t"], "first_seen_at": "2024-01-01T00:00:00Z",
    })
    assert "ClinicalTrials.gov feed item" in text and "NCT02821221: RECRUITING (litwatch show NCT02821221)" in text
