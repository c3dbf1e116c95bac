"""Following papers and trials, and "Citing papers you follow": store, CLI and crawl."""

from __future__ import annotations

import datetime as dt
import json

from test_pubmed_crawl import DEP_PMIDS, DEP_TERM, TODAY, child_env, crawl_child, litwatch, make_fake, query

from litwatch.crawler.pubmed_parse import parse_pubmed
from litwatch.db import follows, open_db
from litwatch.db.publications import save_publications
from litwatch.db.trials import follow_trial
from litwatch.fakes.eutils import FIXTURES as PUBMED_FIXTURES

WATCHLIST = f"""
backfill_from = "2015-01-01"
overlap_days = 7

[[topic]]
name = "dep"
pubmed = '{DEP_TERM}'
ctgov = "ketamine"
"""
CITED = "38011560"


def test_follow_unfollow_and_the_seed_cited_papers(db):
    db["citations"].insert({"document": "004.txt", "line": 3, "kind": "pmc", "value": "PMC1", "status": "resolved",
                            "resolved_kind": "publication", "resolved_id": "35664002"}, pk=("document", "line", "kind", "value"))
    assert follows.followed_pmids(db) == ["35664002"]  # a seed-cited paper is followed from the start
    assert follows.follow_paper(db, "38011560") is True
    assert follows.follow_paper(db, "38011560") is False
    assert follows.followed_pmids(db) == ["35664002", "38011560"]
    assert follows.unfollow_paper(db, "35664002") is True  # a seed-cited one can be unfollowed too
    assert follows.followed_pmids(db) == ["38011560"]
    assert follows.unfollow_paper(db, "35664002") is False
    follow_trial(db, "NCT03395314", "user")
    assert [(f["kind"], f["id"]) for f in follows.followed(db)] == [("paper", "38011560"), ("trial", "NCT03395314")]
    assert follows.unfollow_trial(db, "nct03395314") is True and follows.unfollow_trial(db, "NCT03395314") is False


def test_citing_links_first_check_is_baseline_then_news(db):
    records = list(parse_pubmed((PUBMED_FIXTURES / "efetch" / "38011560.xml").read_bytes()))
    save_publications(db, records)
    assert follows.record_citing(db, [("111", CITED), ("112", "NCT03395314")], now="2026-11-01T00:00:00Z") == 2
    assert follows.record_citing(db, [("111", CITED), ("113", CITED)], now="2026-11-20T00:00:00Z") == 1
    news = follows.citing_since(db, "2026-11-10")
    assert [(c.citing_pmid, c.cited_id, c.cited_kind, c.baseline) for c in news] == [("113", CITED, "paper", False)]
    assert news[0].cited_title.startswith("Ketamine and the neurobiology of depression")
    everything = follows.citing_since(db, None, include_baseline=True)
    assert {(c.citing_pmid, c.cited_kind, c.baseline) for c in everything} == {("111", "paper", True), ("112", "trial", True), ("113", "paper", False)}
    assert follows.citing_of(db, CITED) == ["111", "113"]


def test_cli_follow_and_unfollow(tmp_path):
    config = tmp_path / "watchlist.toml"
    config.write_text(WATCHLIST)
    with make_fake() as fake:
        env = child_env(fake, tmp_path / "litwatch.db")
        assert litwatch(env, config, "follow", "38011560").stdout.strip() == "following paper 38011560"
        assert litwatch(env, config, "follow", "38011560").stdout.strip() == "already following paper 38011560"
        assert litwatch(env, config, "follow", "nct03395314").stdout.strip() == "following trial NCT03395314"
        missing = litwatch(env, config, "follow", "10.1073/pnas.2305772120")
        assert missing.returncode != 0 and missing.stderr.count("\n") == 1 and "not in the store" in missing.stderr
        bad = litwatch(env, config, "follow", "liver")
        assert bad.returncode != 0 and "is not a PMID, DOI or NCT number" in bad.stderr
        listed = json.loads(litwatch(env, config, "follow", "--json").stdout)
        assert [(i["kind"], i["id"]) for i in listed] == [("paper", "38011560"), ("trial", "NCT03395314")]
        # the followed paper is not stored yet: queued for the next crawl
        assert query(tmp_path / "litwatch.db", "SELECT pmid, reason FROM pubmed_queue") == [("38011560", "followed")]
        assert litwatch(env, config, "unfollow", "NCT03395314").stdout.strip() == "no longer following trial NCT03395314"
        again = litwatch(env, config, "unfollow", "NCT03395314")
        assert again.returncode != 0 and "is not followed" in again.stderr
        # crawl, then a DOI resolves to the stored PMID
        crawl_child(env, config, tmp_path)
        assert litwatch(env, config, "unfollow", "https://doi.org/10.1073/PNAS.2305772120").stdout.strip() == "no longer following paper 38011560"


def test_each_crawl_asks_elink_once_and_fetches_only_new_citing_papers(tmp_path):
    config = tmp_path / "watchlist.toml"
    config.write_text(WATCHLIST)
    db_path = tmp_path / "litwatch.db"
    with make_fake() as fake:
        env = child_env(fake, db_path)
        old = fake.derive("37167981", "41000010", entrez=dt.date(2024, 3, 1), references=[CITED])
        fake.add_citation("36577847", "35664002")  # a dep paper citing a second followed paper
        litwatch(env, config, "follow", CITED)
        litwatch(env, config, "follow", "35664002")
        before = len(fake.log)
        result, proc = crawl_child(env, config, tmp_path)
        assert proc.returncode == 0, proc.stderr
        log = fake.log[before:]
        elinks = [e for e in log if e.path == "elink"]
        assert len(elinks) == 1
        assert [v for k, v in elinks[0].pairs if k == "id"] == ["35664002", CITED]  # one id= each
        assert elinks[0].params["linkname"] == "pubmed_pubmed_citedin"
        fetched = [p for e in log if e.path == "efetch" for p in e.pmids]
        assert fetched.count(old) == 1 and fetched.count("36577847") == 1  # found by the topic too: fetched once
        links = query(db_path, "SELECT citing_pmid, cited_id, baseline FROM citing_links ORDER BY citing_pmid")
        assert links == [("36577847", "35664002", 1), (old, CITED, 1)]
        # A new paper cites the followed one: the next crawl fetches it, and only it.
        new = fake.derive("37167981", "41000011", entrez=TODAY, references=[CITED])
        before = len(fake.log)
        result, proc = crawl_child(env, config, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert [p for e in fake.log[before:] if e.path == "efetch" for p in e.pmids] == [new]
        assert len([e for e in fake.log[before:] if e.path == "elink"]) == 1
        news = follows.citing_since(open_db(db_path), None)
        assert [(c.citing_pmid, c.cited_id) for c in news] == [(new, CITED)]
        assert news[0].citing_title and news[0].cited_title.startswith("Ketamine and the neurobiology")
        assert set(DEP_PMIDS) <= {r[0] for r in query(db_path, "SELECT pmid FROM publications")}
