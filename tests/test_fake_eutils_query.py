"""The fake E-utilities reads PubMed's query syntax: each paper reaches the right topic."""

from __future__ import annotations

import datetime as dt
import urllib.parse
import urllib.request

import pytest
from conftest import PROJECT_ROOT
from lxml import etree

from litwatch.config import load_watchlist
from litwatch.fakes import pubmed_query as pq
from litwatch.fakes.eutils import FakeEutils
from litwatch.fakes.world import (
    CITING_PMID,
    PII_PMID,
    PMC_PMID,
    RESULTS_PMID,
    TOPIC_PAPERS,
    add_citing_paper,
    start_seed_world,
)
from litwatch.vocab.errors import QueryError


def rec(pmid="1", **fields) -> pq.Index:
    return pq.Index(pmid=pmid, **fields)


PAPER = rec(
    "10", title="Esketamine in treatment-resistant depression: a trial", abstract="Suicidal ideation fell after ketamine.",
    mesh=["Depressive Disorder, Treatment-Resistant", "Ketamine"], pt=["Randomized Controlled Trial"], si={"NCT01234567"},
    aids={"10.1/abc", pq.pii_key("S0165-0327(22)00822-9")},
    dates={"entrez": dt.date(2024, 3, 5), "created": dt.date(2026, 11, 20), "published": dt.date(2023, 1, 1)},
)


@pytest.mark.parametrize("query, expected", [
    ("ketamine", True),  # bare term: all fields
    ("ketamine[ti]", False),  # only in the abstract
    ("ketamine[tiab]", True),
    ("esketamine[ti] AND depress*[tiab]", True),
    ("depress*[ti] NOT ketamine[tiab]", False),
    ("(liver[tiab] OR esketamine[tiab]) AND suicid*[tiab]", True),
    ("liver[tiab] OR esketamine[tiab] AND lung[tiab]", False),  # left to right: (liver OR esketamine) AND lung
    ('"treatment resistant depression"[tiab]', True),  # punctuation read as space
    ('"depression treatment"[tiab]', False),  # a phrase is words in order
    ('"Depressive Disorder"[mh]', True),  # narrower headings ("..., Treatment-Resistant") count
    ('"Depressive Disorder"[mh:noexp]', False),
    ('"Ketamine"[mh]', True),
    ('"randomized controlled trial"[pt]', True),
    ("review[pt]", False),
    ("NCT01234567[si]", True),
    ("NCT07654321[si]", False),
    ('"10.1/ABC"[aid] OR 99[uid]', True),
    ("S0165032722008229[aid]", True),
    ("10[uid]", True),
    ("2024/01/01:2024/12/31[edat]", True),
    ("2025/01/01:2026/12/31[edat]", False),
    ("2026/11/01:2026/11/30[crdt]", True),  # a late arrival: created this month, entered long ago
    ("2023[dp]", True),
    ("ketamine[tiab] AND (2026/11/23:2026/11/30[edat] OR 2026/11/20:2026/11/30[crdt])", True),
    ("all[sb]", True),
    ("liver", False),
])
def test_query_syntax(query, expected):
    assert pq.match(pq.parse(query), PAPER) is expected


OTHERS = [
    rec("11", title="Liver lesions on imaging", abstract="No ketamine here.", dates={"entrez": dt.date(2026, 11, 25)}),
    rec("12", title="Lung function", mesh=["Ketamine"], pt=["Review"], dates={"created": dt.date(2026, 11, 21)}),
    rec("13", title="Esketamine and suicidal ideation", dates={"entrez": dt.date(2024, 6, 1), "published": dt.date(2023, 5, 1)}),
]


@pytest.mark.parametrize("query", [
    "all[sb]", "ketamine", "liver[tiab] OR esketamine[tiab] AND lung[tiab]", "depress*[ti] NOT ketamine[tiab]",
    "ketamine NOT liver[ti] NOT lung[ti]", "(liver[ti] OR lung[ti]) OR 2024[edat]",
    "(all[sb]) AND (2026/11/23:2026/11/30[edat] OR 2026/11/20:2026/11/30[crdt])", "2023[dp] NOT review[pt]",
])
def test_a_search_keeps_what_match_says_of_each_record(query):
    """``evaluate`` narrows node by node (the fake's speed, bench/bench_crawl.py); the answer
    is what the record-by-record ``match`` gives."""
    records = [PAPER, *OTHERS]
    tree = pq.parse(query)
    assert pq.evaluate(query, records) == {r.pmid for r in records if pq.match(tree, r)}


@pytest.mark.parametrize("query", ["(ketamine[tiab]", "ketamine[tiab])", "AND", "ketamine[nosuchfield]"])
def test_unreadable_queries_are_query_errors(query):
    with pytest.raises(QueryError):
        pq.match(pq.parse(query), PAPER)


@pytest.fixture(scope="module")
def world():
    eutils, idconv, ctgov, _ = start_seed_world()
    add_citing_paper(eutils)
    yield eutils
    for fake in (eutils, idconv, ctgov):
        fake.stop()


def test_the_shipped_watchlist_queries_find_their_own_papers(world):
    """Each topic of seeds/watchlist.toml finds the papers written for it, and no liver lesions."""
    topics = {t.name: t.pubmed for t in load_watchlist(PROJECT_ROOT / "seeds" / "watchlist.toml").topics}
    found = {name: world.evaluate(query) for name, query in topics.items()}
    trd, suicide, meta = TOPIC_PAPERS
    assert found["ketamine-bpd"] == {PII_PMID, PMC_PMID, RESULTS_PMID, CITING_PMID}
    assert found["ketamine-trd"] == {trd}
    assert found["ketamine-suicidality"] == {PMC_PMID, suicide}
    assert found["ketamine-depression"] == {"38011560", PII_PMID, trd, meta, CITING_PMID}
    everything = set().union(*found.values())
    for pmid in everything:  # every paper served to a ketamine watch is about ketamine
        index = world.index[pmid]
        assert "ketamine" in (index.title + index.abstract).lower(), pmid
    assert len(world.records) > len(everything) + 50  # the other recordings reach no topic


def esearch(fake: FakeEutils, **params) -> etree._Element:
    data = urllib.parse.urlencode({"db": "pubmed", **params}).encode()
    with urllib.request.urlopen(fake.base_url + "esearch.fcgi", data, timeout=10) as resp:
        return etree.fromstring(resp.read())


def test_create_date_windows_over_http():
    with FakeEutils(rate_limit=100) as fake:
        late = fake.derive("38011560", "41000020", entrez=dt.date(2023, 2, 1), created=dt.date(2026, 11, 25))
        assert fake.created[late] == dt.date(2026, 11, 25) and fake.entrez[late] == dt.date(2023, 2, 1)
        # the derived record says so in its History (PubStatus "entrez" is the Create Date)
        xml = etree.fromstring(fake.records[late])
        assert xml.findtext("PubmedData/History/PubMedPubDate[@PubStatus='entrez']/Year") == "2026"  # CRDT
        by_crdt = esearch(fake, term="ketamine[tiab]", datetype="crdt", mindate="2026/11/20", maxdate="2026/11/30", retmax="20")
        assert by_crdt.xpath("IdList/Id/text()") == [late]
        by_edat = esearch(fake, term="ketamine[tiab]", datetype="edat", mindate="2026/11/20", maxdate="2026/11/30")
        assert by_edat.findtext("Count") == "0"
        in_term = esearch(fake, term="(ketamine[tiab]) AND (2026/11/20:2026/11/30[edat] OR 2026/11/20:2026/11/30[crdt])")
        assert in_term.findtext("Count") == "1"
        broken = esearch(fake, term="(ketamine[tiab]")
        assert broken.findtext("Count") == "0" and broken.find("ErrorList") is not None


@pytest.mark.parametrize("form, status, text", [("retstart", 200, "cannot be larger than"),
                                                ("position", 200, "Position 5 is out of acceptable range"),
                                                ("400", 400, None)])
def test_every_form_of_the_cap_error(form, status, text):
    with FakeEutils(cap=5) as fake:
        fake.cap_error = form
        data = urllib.parse.urlencode({"db": "pubmed", "term": "all[sb]", "retstart": "5"}).encode()
        try:
            with urllib.request.urlopen(fake.base_url + "esearch.fcgi", data, timeout=10) as resp:
                got, body = resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            got, body = exc.code, exc.read().decode()
        assert got == status
        if text:
            assert text in body


def test_elink_answers_like_the_real_one(world):
    data = urllib.parse.urlencode([("dbfrom", "pubmed"), ("db", "pubmed"), ("linkname", "pubmed_pubmed_citedin"),
                                   ("id", PII_PMID), ("id", RESULTS_PMID), ("id", f"{PII_PMID},{RESULTS_PMID}")]).encode()
    with urllib.request.urlopen(world.base_url + "elink.fcgi", data, timeout=10) as resp:
        root = etree.fromstring(resp.read())
    sets = root.findall("LinkSet")
    assert len(sets) == 3  # one per id=, a comma list merged into one
    assert sets[0].xpath("IdList/Id/text()") == [PII_PMID]
    assert sets[0].xpath("LinkSetDb/Link/Id/text()") == [CITING_PMID]
    assert sets[0].findtext("LinkSetDb/LinkName") == "pubmed_pubmed_citedin" and sets[0].findtext("DbFrom") == "pubmed"
    assert sets[1].find("LinkSetDb") is None  # nothing cites it: no LinkSetDb, as NCBI answers
    assert sets[2].xpath("IdList/Id/text()") == [PII_PMID, RESULTS_PMID]
    # the same shape as the recordings (elink3.xml is a real citedin answer)
    real = etree.parse(str(PROJECT_ROOT / "litwatch" / "fakes" / "recordings" / "pubmed" / "elink3.xml")).getroot()
    shape = lambda el: [c.tag for c in el]  # noqa: E731
    assert shape(real.find("LinkSet"))[:2] == shape(sets[0])[:2] == ["DbFrom", "IdList"]
    assert shape(real.find("LinkSet/LinkSetDb"))[:2] == shape(sets[0].find("LinkSetDb"))[:2] == ["DbTo", "LinkName"]


def test_a_crawl_of_the_shipped_watchlist_puts_each_paper_under_its_topics(world, tmp_path):
    """The real spider, the shipped watchlist, the seed world: topics as PubMed would give them."""
    import sqlite3

    from test_pubmed_crawl import child_env, crawl_child

    db_path = tmp_path / "litwatch.db"
    result, proc = crawl_child(child_env(world, db_path), PROJECT_ROOT / "seeds" / "watchlist.toml", tmp_path)
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT topic, group_concat(pmid) FROM (SELECT * FROM publication_topics ORDER BY pmid) GROUP BY topic").fetchall()
    topics = {topic: set(pmids.split(",")) for topic, pmids in rows}
    trd, suicide, meta = TOPIC_PAPERS
    assert topics == {
        "ketamine-bpd": {PII_PMID, PMC_PMID, RESULTS_PMID, CITING_PMID},
        "ketamine-trd": {trd},
        "ketamine-suicidality": {PMC_PMID, suicide},
        "ketamine-depression": {"38011560", PII_PMID, trd, meta, CITING_PMID},
    }
