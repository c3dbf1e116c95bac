"""The real PubMed spider, in its own process, against the fake E-utilities server.

Each crawl is a real ``litwatch crawl`` / ``python -m crawler.process`` child talking HTTP
to ``tests.fakes.eutils.FakeEutils`` on 127.0.0.1; assertions are on the database and on the
fake's request log.  Backoff waits are made tiny through LITWATCH_BACKOFF_BASE; most crawls
send an API key so the rate is 10 requests in any 1.15 s instead of 3 (one test checks 3/s).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, PUBMED_FIXTURES

from litwatch.db import publications
from litwatch.fakes.eutils import FakeEutils

API_KEY = "SECRET-ncbi-key-7f3a9c"
DEP_TERM = "ketamine[tiab] AND depress*[tiab]"
DEP_PMIDS = {"38011560", "36577847", "37552767"}
ALL_TERM = "all[sb]"  # PubMed's (and the fake's) "every record"
TODAY = dt.datetime.now(dt.timezone.utc).date()
NEW_PMID = "41000001"  # derived in tests: entered today, reports NCT03395314
CONTRACT_KEYS = {"kind", "pmid", "title", "abstract", "journal", "pub_date", "entrez_date", "doi", "pmcid", "authors",
                 "publication_types", "mesh", "nct_ids", "topics", "retracted", "url"}

WATCHLIST = f"""
follow_trials = ["NCT03395314"]
backfill_from = "2015-01-01"
overlap_days = 7

[[topic]]
name = "dep"
pubmed = '{DEP_TERM}'
ctgov = "ketamine"

[[topic]]
name = "all"
pubmed = '{ALL_TERM}'
ctgov = "ketamine"
"""


def child_env(fake: FakeEutils, db_path: Path, *, api_key: str | None = API_KEY, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LITWATCH_", "NCBI_")) and k.lower() not in ("http_proxy", "https_proxy")}
    env.update(
        LITWATCH_EUTILS_URL=fake.base_url,
        LITWATCH_CTGOV_URL="http://127.0.0.1:9/api/v2/",
        LITWATCH_DB=str(db_path),
        LITWATCH_BACKOFF_BASE="0.05",
        # The crawl's today is this module's TODAY: a test started before midnight UTC and
        # a crawl child started after it must not disagree (litwatch.vocab.times).
        LITWATCH_TODAY=TODAY.isoformat(),
        NCBI_EMAIL="watcher@example.org",
        NO_PROXY="127.0.0.1,localhost",
    )
    if api_key:
        env["NCBI_API_KEY"] = api_key
    env.update(extra)
    return env


def litwatch(env: dict, config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "litwatch.cli", "--config", str(config), *args],
        env=env, capture_output=True, text=True, timeout=180, cwd=PROJECT_ROOT,
    )


def crawl_child(env: dict, config: Path, tmp: Path, log_level: str = "WARNING") -> tuple[dict, subprocess.CompletedProcess]:
    """``python -m crawler.process --source pubmed``: returns its result JSON and the process."""
    result = tmp / "result.json"
    proc = subprocess.run(
        [sys.executable, "-m", "litwatch.crawler.process", "--source", "pubmed", "--config", str(config), "--result", str(result),
         "--log-level", log_level],
        env=env, capture_output=True, text=True, timeout=180, cwd=PROJECT_ROOT,
    )
    return json.loads(result.read_text()), proc


def make_fake(**kwargs) -> FakeEutils:
    fake = FakeEutils(**kwargs)
    fake.term_results[DEP_TERM] = set(DEP_PMIDS)
    return fake


def expected_all(fake: FakeEutils) -> set[str]:
    """What a backfill from 2015 must store: every record entered since."""
    return {p for p, d in fake.entrez.items() if d >= dt.date(2015, 1, 1)}


def stored(db_path: Path) -> list[str]:
    with sqlite3.connect(db_path) as conn:
        return [r[0] for r in conn.execute("SELECT pmid FROM publications ORDER BY pmid")]


def query(db_path: Path, sql: str, params=()) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    """One backfill with `litwatch crawl --source pubmed`, then a second crawl (DEBUG logs)."""
    tmp = tmp_path_factory.mktemp("pubmed-crawl")
    config = tmp / "watchlist.toml"
    config.write_text(WATCHLIST)
    db_path = tmp / "litwatch.db"
    with make_fake() as fake:
        fake.derive("38011560", NEW_PMID, entrez=TODAY, nct_ids=["NCT03395314"], title="Ketamine for borderline personality disorder: a pilot trial")
        env = child_env(fake, db_path)
        first = litwatch(env, config, "crawl", "--source", "pubmed")
        first_log = list(fake.log)
        second_result, second = crawl_child(env, config, tmp, log_level="DEBUG")
        second_log = fake.log[len(first_log):]
        yield {"fake": fake, "db": db_path, "env": env, "config": config, "first": first, "first_log": first_log,
               "second": second, "second_result": second_result, "second_log": second_log}


def test_backfill_stores_every_record_once(crawled):
    fake, db_path = crawled["fake"], crawled["db"]
    assert crawled["first"].returncode == 0, crawled["first"].stderr
    pmids = stored(db_path)
    assert sorted(pmids) == sorted(expected_all(fake))
    assert len(pmids) == len(set(pmids))
    # efetch asked for each record exactly once
    fetched = [p for r in crawled["first_log"] if r.path == "efetch" for p in r.pmids]
    assert sorted(fetched) == sorted(expected_all(fake))
    topics = query(db_path, "SELECT topic, count(*) FROM publication_topics GROUP BY topic ORDER BY topic")
    assert topics == [("all", len(expected_all(fake))), ("dep", len(DEP_PMIDS))]
    marks = dict(query(db_path, "SELECT topic, watermark FROM crawl_state WHERE source = 'pubmed'"))
    assert marks == {"dep": TODAY.isoformat(), "all": TODAY.isoformat()}
    # the followed trial: its [si] search linked the paper that reports it
    links = query(db_path, "SELECT nct_id, pmid, source FROM trial_links ORDER BY source")
    assert ("NCT03395314", NEW_PMID, "databank") in links and ("NCT03395314", NEW_PMID, "si_search") in links
    assert "pubmed" in crawled["first"].stdout and "new=" in crawled["first"].stdout


def test_every_call_identifies_itself_politely(crawled):
    log = crawled["first_log"] + crawled["second_log"]
    assert log
    for entry in log:
        assert entry.method == "POST"
        assert entry.params.get("tool") == "litwatch"
        assert entry.params.get("email") == "watcher@example.org"
        assert entry.params.get("api_key") == API_KEY
        assert entry.status == 200
    windows = [e for e in log if e.path == "esearch" and (e.params.get("mindate") or "[crdt]" in e.params["term"])]
    assert windows and all(e.params.get("usehistory") == "y" for e in windows)
    assert all(e.params.get("datetype") == "mdat" or "[edat] OR " in e.params["term"] for e in windows)
    assert crawled["fake"].max_in_window(1.0) <= 10


def test_second_crawl_with_nothing_new_fetches_no_records(crawled):
    assert crawled["second"].returncode == 0, crawled["second"].stderr
    assert [e for e in crawled["second_log"] if e.path == "efetch"] == []
    counts = crawled["second_result"]["counts"]
    assert not counts.get("new") and not counts.get("fetched")
    # the incremental window starts overlap_days before the watermark
    new = [e for e in crawled["second_log"] if "[crdt]" in e.params.get("term", "")]
    lo = (TODAY - dt.timedelta(days=7)).strftime("%Y/%m/%d")
    assert new and all(f"{lo}:{TODAY:%Y/%m/%d}[edat] OR {lo}:{TODAY:%Y/%m/%d}[crdt]" in e.params["term"] for e in new)


def test_api_key_never_in_db_logs_or_output(crawled):
    key = API_KEY.encode()
    for proc in (crawled["first"], crawled["second"]):
        assert API_KEY not in proc.stdout and API_KEY not in proc.stderr
    assert "DEBUG" in crawled["second"].stderr  # the DEBUG log was really on
    raw = Path(crawled["db"]).read_bytes()
    assert key not in raw
    for row in query(crawled["db"], f"SELECT {publications.RAW_SELECT} FROM publication_raw r JOIN publications p USING (pmid)"):
        assert key not in publications.raw_from_row(*row)
    for row in query(crawled["db"], "SELECT * FROM crawl_runs UNION ALL SELECT source, topic, watermark, last_success_at, last_run_at, last_status, last_counts, last_error FROM crawl_state"):
        assert API_KEY not in json.dumps(row, default=str)


def test_cli_queries_return_contract_shapes(crawled):
    env, config = crawled["env"], crawled["config"]
    out = litwatch(env, config, "show", NEW_PMID, "--json")
    assert out.returncode == 0, out.stderr
    shape = json.loads(out.stdout)
    assert CONTRACT_KEYS <= set(shape)
    assert shape["nct_ids"] == ["NCT03395314"] and shape["topics"] == ["all"] and shape["retracted"] is False
    assert shape["entrez_date"] == TODAY.isoformat()
    by_pmc = json.loads(litwatch(env, config, "show", "pmc10710048", "--json").stdout)
    by_doi = json.loads(litwatch(env, config, "show", "https://doi.org/10.1073/PNAS.2305772120", "--json").stdout)
    assert by_pmc["pmid"] == by_doi["pmid"] == "38011560" and by_pmc["topics"] == ["all", "dep"]
    hits = litwatch(env, config, "search", "borderline personality", "--json", "--topic", "all")
    assert hits.returncode == 0, hits.stderr
    hits = json.loads(hits.stdout)
    assert hits[0]["pmid"] == NEW_PMID and all(CONTRACT_KEYS <= set(h) for h in hits)
    export = litwatch(env, config, "export", "--format", "json", "--kind", "publications")
    assert export.returncode == 0, export.stderr
    records = json.loads(export.stdout)
    assert sorted(r["pmid"] for r in records) == sorted(stored(crawled["db"]))
    assert all(CONTRACT_KEYS <= set(r) and r["kind"] == "publication" for r in records)


def test_new_and_revised_records_are_picked_up_next_crawl(tmp_path):
    config = tmp_path / "watchlist.toml"
    config.write_text(WATCHLIST.split("[[topic]]\nname = \"all\"")[0])  # the "dep" topic only
    db_path = tmp_path / "litwatch.db"
    with make_fake() as fake:
        env = child_env(fake, db_path)
        result, proc = crawl_child(env, config, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert set(stored(db_path)) == DEP_PMIDS
        before = len(fake.log)
        # Seeds and trials queue PMIDs whatever the topics find; a trial is followed.
        fake.derive("37167981", "20000001", entrez=dt.date(2010, 5, 1), nct_ids=["NCT01761786"])
        with sqlite3.connect(db_path) as conn:
            conn.executemany("INSERT INTO pubmed_queue (pmid, reason, added_at, attempts) VALUES (?, 'seed', '2026-01-01', 0)",
                             [("9997",), ("99999999",)])
            conn.execute("INSERT INTO followed_trials (nct_id, reason, added_at) VALUES ('NCT01761786', 'seed', '2026-01-01')")
        # A new paper enters PubMed today; an old one is retracted (its record is revised).
        fake.derive("38988993", "41000002", entrez=TODAY)
        fake.term_results[DEP_TERM].add("41000002")
        fake.derive("36577847", entrez=fake.entrez["36577847"], date_revised=TODAY, retracted_in="41000003")
        result, proc = crawl_child(env, config, tmp_path)
        assert proc.returncode == 0, proc.stderr
        fetched = sorted(p for e in fake.log[before:] if e.path == "efetch" for p in e.pmids)
        assert fetched == ["20000001", "36577847", "41000002", "9997"]
        assert result["counts"]["new"] == 3 and result["counts"]["updated"] == 1
        assert set(stored(db_path)) == DEP_PMIDS | {"41000002", "9997", "20000001"}
        queue = dict(query(db_path, "SELECT pmid, fetched_at IS NOT NULL FROM pubmed_queue"))
        assert queue == {"9997": 1, "99999999": 0}
        assert query(db_path, "SELECT attempts, error FROM pubmed_queue WHERE pmid = '99999999'") == [(1, "PubMed did not return this PMID")]
        links = query(db_path, "SELECT source FROM trial_links WHERE nct_id = 'NCT01761786' AND pmid = '20000001' ORDER BY source")
        assert links == [("databank",), ("si_search",)]
        # topics: only the topic's own records carry it
        assert query(db_path, "SELECT count(*) FROM publication_topics WHERE pmid IN ('9997', '20000001')") == [(0,)]
        assert query(db_path, "SELECT retracted FROM publications WHERE pmid = '36577847'") == [(1,)]
        assert ("36577847", "RetractionIn", "41000003") in query(db_path, "SELECT pmid, ref_type, other_pmid FROM corrections")
        # The query breaks (PubMed now finds nothing, and says a phrase was not found): warnings.
        fake.term_results[DEP_TERM] = set()
        fake.phrases_not_found[DEP_TERM] = ["depress*"]
        result, proc = crawl_child(env, config, tmp_path)
        warnings = " | ".join(result["warnings"])
        assert "now finds no records" in warnings and "PhraseNotFound: depress*" in warnings


def test_nothing_lost_under_faults_and_never_over_3_per_second(tmp_path):
    config = tmp_path / "watchlist.toml"
    config.write_text(WATCHLIST)
    db_path = tmp_path / "litwatch.db"
    with make_fake() as fake:
        fake.inject("500", "esearch")
        fake.inject("error", "esearch")
        fake.inject("429", "efetch", retry_after=0)
        fake.inject("truncated", "efetch")
        fake.inject("error", "efetch")
        fake.inject("empty", "efetch")
        fake.inject("bad_record", "efetch", pmid="38011560")
        env = child_env(fake, db_path, api_key=None)
        result, proc = crawl_child(env, config, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert result["errors"] == []
        assert fake.faults == []  # every fault was served
        assert fake.max_in_window(1.0) <= 3
        assert all(e.status != 429 or e.fault == "429" for e in fake.log)  # never over NCBI's limit
        assert result["counts"]["quarantined"] == 1
        assert any("PMID 38011560" in w for w in result["warnings"])
        assert set(stored(db_path)) == expected_all(fake) - {"38011560"}
        assert query(db_path, "SELECT key FROM quarantine WHERE source = 'pubmed'") == [("38011560",)]
        # the quarantined record is fetched again by the next crawl and then stored, with its topics
        before = len(fake.log)
        result, proc = crawl_child(env, config, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert [p for e in fake.log[before:] if e.path == "efetch" for p in e.pmids] == ["38011560"]
        assert set(stored(db_path)) == expected_all(fake)
        assert query(db_path, "SELECT count(*) FROM quarantine") == [(0,)]
        assert query(db_path, "SELECT topic FROM publication_topics WHERE pmid = '38011560' ORDER BY topic") == [("all",), ("dep",)]
        assert fake.max_in_window(1.0) <= 3


def test_result_over_the_cap_is_split_never_truncated(tmp_path):
    """The fake serves at most 5 ids per search (test knob for PubMed's 9,999)."""
    config = tmp_path / "watchlist.toml"
    config.write_text(WATCHLIST)
    db_path = tmp_path / "litwatch.db"
    with make_fake(cap=5) as fake:
        # 24 records (of the recordings entered since 2015) for the "all" topic: enough to
        # need several levels of splitting, few enough to crawl quickly.
        fake.term_results[ALL_TERM] = set(sorted(expected_all(fake))[:24])
        # Without telling the spider the cap: it learns it from PubMed's in-band error.
        result, proc = crawl_child(child_env(fake, db_path), config, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert result["counts"]["windows_split"] > 0
        assert set(stored(db_path)) == fake.term_results[ALL_TERM] | DEP_PMIDS
        # Told the cap (LITWATCH_PUBMED_CAP), it splits before paging into the error.
        db2 = tmp_path / "second.db"
        before = len(fake.log)
        result, proc = crawl_child(child_env(fake, db2, LITWATCH_PUBMED_CAP="5"), config, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert set(stored(db2)) == fake.term_results[ALL_TERM] | DEP_PMIDS
        assert all(int(e.params.get("retstart", 0)) < 5 for e in fake.log[before:] if e.path == "esearch")


def test_every_request_failing_is_an_error_and_a_warning(tmp_path):
    config = tmp_path / "watchlist.toml"
    config.write_text(WATCHLIST)
    with make_fake() as fake:
        env = child_env(fake, tmp_path / "litwatch.db", LITWATCH_EUTILS_URL="http://127.0.0.1:9/entrez/eutils/", LITWATCH_RETRY_TIMES="1")
        proc = litwatch(env, config, "crawl", "--source", "pubmed")
    assert proc.returncode != 0
    assert "every request to PubMed (E-utilities) failed" in proc.stdout  # the report's warnings are on stdout
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]  # CONTRACT: one line on stderr
    assert proc.stderr.startswith("litwatch: error: crawl of pubmed did not complete")
    assert query(tmp_path / "litwatch.db", "SELECT count(*) FROM crawl_state WHERE watermark IS NOT NULL") == [(0,)]


ALL_ONLY = f"""
backfill_from = "2015-01-01"
overlap_days = 7

[[topic]]
name = "all"
pubmed = '{ALL_TERM}'
ctgov = "ketamine"
"""


def watermark(db_path: Path, topic: str = "all"):
    rows = query(db_path, "SELECT watermark FROM crawl_state WHERE source = 'pubmed' AND topic = ?", [topic])
    return rows[0][0] if rows else None


def test_a_late_arrival_is_stored_by_the_next_incremental_crawl(tmp_path):
    """Entered PubMed this week with a two-year-old entry date (NLM sets EDAT = DP for records
    more than a year late): only its create date is recent."""
    config = tmp_path / "watchlist.toml"
    config.write_text(WATCHLIST.split("[[topic]]\nname = \"all\"")[0])
    db_path = tmp_path / "litwatch.db"
    with make_fake() as fake:
        env = child_env(fake, db_path)
        result, proc = crawl_child(env, config, tmp_path)
        assert proc.returncode == 0, proc.stderr
        two_years_ago = TODAY - dt.timedelta(days=730)
        late = fake.derive("38988993", "41000030", entrez=two_years_ago, created=TODAY - dt.timedelta(days=1))
        fake.term_results[DEP_TERM].add(late)
        before = len(fake.log)
        result, proc = crawl_child(env, config, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert late in stored(db_path) and [p for e in fake.log[before:] if e.path == "efetch" for p in e.pmids] == [late]
        assert query(db_path, "SELECT topic FROM publication_topics WHERE pmid = ?", [late]) == [("dep",)]
        # an entry-date window alone would not have found it
        assert late not in fake.evaluate(eutils_window(DEP_TERM, TODAY - dt.timedelta(days=7), TODAY, ("edat",)))


def test_a_crawl_takes_its_today_from_litwatch_today_and_refuses_a_bad_one(tmp_path):
    """``LITWATCH_TODAY`` (``litwatch.vocab.times.today_utc``): every date a crawl works out
    from today (its search windows' end, the watermark it moves to) is the pinned one, so a
    test that works out the same dates agrees with its crawl child at any hour; a bad value
    is one line, and nothing is fetched."""
    config = tmp_path / "watchlist.toml"
    config.write_text(WATCHLIST.split("[[topic]]\nname = \"all\"")[0])
    db_path = tmp_path / "litwatch.db"
    pinned = TODAY - dt.timedelta(days=3)
    with make_fake() as fake:
        result, proc = crawl_child(child_env(fake, db_path, LITWATCH_TODAY=pinned.isoformat()), config, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert watermark(db_path, "dep") == pinned.isoformat()
        windows = [e.params["term"] for e in fake.calls("esearch") if "[crdt]" in e.params["term"]]
        assert windows and all(f":{pinned:%Y/%m/%d}[crdt]" in t for t in windows)
        before = len(fake.log)
        result, proc = crawl_child(child_env(fake, tmp_path / "other.db", LITWATCH_TODAY="next tuesday"), config, tmp_path)
        assert proc.returncode != 0 and len(fake.log) == before
        assert result["errors"] == ["LITWATCH_TODAY: bad date 'next tuesday' (use YYYY-MM-DD)"]


def eutils_window(term, lo, hi, fields):
    from litwatch.crawler.eutils import window_term

    return window_term(term, lo, hi, fields)


@pytest.mark.parametrize("form", ["retstart", "position", "400"])
def test_every_form_of_the_cap_error_splits_the_window_and_is_never_retried(tmp_path, form):
    """The spider is not told the cap; PubMed's answer past it (in-band, position, HTTP 400) splits."""
    config = tmp_path / "watchlist.toml"
    config.write_text(ALL_ONLY)
    db_path = tmp_path / "litwatch.db"
    with make_fake(cap=5) as fake:
        fake.cap_error = form
        fake.term_results[ALL_TERM] = set(sorted(expected_all(fake))[:12])
        result, proc = crawl_child(child_env(fake, db_path, LITWATCH_ESEARCH_PAGE="3"), config, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert result["errors"] == [] and result["counts"]["windows_split"] > 0
        assert set(stored(db_path)) == fake.term_results[ALL_TERM]
        # No search was sent twice: the cap error is never retried.  (A search the fake refused
        # for the rate, which it counts when its thread handles a request, is retried as it
        # must be: on a loaded machine two requests sent 0.115 s apart can be handled closer.)
        searches = [(e.params["term"], e.params.get("retstart")) for e in fake.calls("esearch") if e.status != 429]
        assert len(searches) == len(set(searches))
        assert watermark(db_path) == TODAY.isoformat()


def test_an_expired_history_is_searched_again_and_a_grown_result_set_is_split(tmp_path):
    """Fetching through the history server; the WebEnv expires after the first slice and the
    topic has meanwhile grown past the cap: the window is searched again and split, not failed."""
    config = tmp_path / "watchlist.toml"
    config.write_text(ALL_ONLY)
    db_path = tmp_path / "litwatch.db"
    with make_fake(cap=30) as fake:
        first = set(sorted(expected_all(fake))[:20])
        fake.term_results[ALL_TERM] = set(first)

        def grow():
            for i in range(15):
                fake.term_results[ALL_TERM].add(fake.derive("38988993", str(41000100 + i), entrez=TODAY - dt.timedelta(days=i % 3)))

        fake.expire_history_after(1, then=grow)
        env = child_env(fake, db_path, LITWATCH_PUBMED_CAP="30", LITWATCH_EFETCH_BATCH="5")
        result, proc = crawl_child(env, config, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert result["errors"] == [] and result["counts"]["history_expired"] == 1 and result["counts"]["windows_split"] >= 1
        history = [e for e in fake.calls("efetch") if e.params.get("WebEnv")]
        assert len(history) >= 2 and all(int(e.params["retmax"]) <= 5 for e in history)
        # (two slices are in flight at once: either may reach the service first)
        assert all(e.params["query_key"] for e in history) and "0" in {e.params["retstart"] for e in history}
        # Whichever slice's "expired" answer came first, every record is stored.
        assert set(stored(db_path)) == fake.term_results[ALL_TERM] and len(stored(db_path)) == 35
        fetched = fake.fetched_pmids()
        assert len(fetched) == len(set(fetched)) == 35  # each record fetched once
        assert watermark(db_path) == TODAY.isoformat()


def test_a_short_page_leaves_the_topic_incomplete_and_nothing_is_lost(tmp_path):
    config = tmp_path / "watchlist.toml"
    config.write_text(ALL_ONLY)
    db_path = tmp_path / "litwatch.db"
    with make_fake() as fake:
        fake.term_results[ALL_TERM] = set(sorted(expected_all(fake))[:10])
        fake.inject("short", "efetch")
        env = child_env(fake, db_path)
        result, proc = crawl_child(env, config, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert any("short page" in w for w in result["warnings"]) and any("incomplete" in w for w in result["warnings"])
        assert len(stored(db_path)) == 9 and watermark(db_path) is None  # the watermark stays
        result, proc = crawl_child(env, config, tmp_path)
        assert set(stored(db_path)) == fake.term_results[ALL_TERM] and watermark(db_path) == TODAY.isoformat()


def _over_cap_fake(n: int, cap: int) -> FakeEutils:
    fake = FakeEutils(load_fixtures=False, cap=cap)
    fake.add_file((PUBMED_FIXTURES / "efetch" / "38988993.xml").read_bytes())
    fake.term_results[ALL_TERM] = {fake.derive("38988993", str(41200000 + i), entrez=dt.date(2015, 1, 2) + dt.timedelta(days=i * 41)) for i in range(n)}
    return fake


def test_an_over_cap_window_is_fetched_while_it_is_split(tmp_path):
    """The over-cap answer's ids (the first ``cap`` of its result set) are read from its
    history server at once; the pieces' searches then fetch only the records it left out:
    every record fetched once, requests within 1.2x the lower bound."""
    config = tmp_path / "watchlist.toml"
    config.write_text(ALL_ONLY)
    db_path = tmp_path / "litwatch.db"
    n, cap, batch = 100, 70, 10
    with _over_cap_fake(n, cap) as fake:
        env = child_env(fake, db_path, LITWATCH_PUBMED_CAP=str(cap), LITWATCH_EFETCH_BATCH=str(batch))
        result, proc = crawl_child(env, config, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert result["errors"] == [] and result["counts"]["windows_split"] >= 1
        assert set(stored(db_path)) == fake.term_results[ALL_TERM] and watermark(db_path) == TODAY.isoformat()
        fetched = fake.fetched_pmids()
        assert len(fetched) == len(set(fetched)) == n  # each record fetched once
        first_fetch = fake.log.index(fake.calls("efetch")[0])
        assert first_fetch < fake.log.index(fake.calls("esearch")[-1])  # fetching began before the last piece was searched
        # Every fetch from a history server: what a piece's search left to fetch (its ids
        # but the ones in flight already) is one run of its result set, read from there too.
        assert all(e.params.get("WebEnv") for e in fake.calls("efetch"))
        lower_bound = 1 + -(-n // cap) + -(-n // batch)
        assert len(fake.log) <= 1.2 * lower_bound, (len(fake.log), lower_bound)
        links = query(db_path, "SELECT count(*), count(DISTINCT pmid) FROM publication_topics WHERE topic = 'all'")
        assert links == [(n, n)]


def test_an_over_cap_answer_whose_history_expires_is_fetched_by_id(tmp_path):
    """The history of the over-cap answer expires after its first slice: what it had not
    served yet is fetched by id (its pieces' searches skipped those records as in flight);
    the window is not split a second time, and nothing is lost."""
    config = tmp_path / "watchlist.toml"
    config.write_text(ALL_ONLY)
    db_path = tmp_path / "litwatch.db"
    n, cap, batch = 100, 70, 10
    with _over_cap_fake(n, cap) as fake:
        fake.expire_history_after(1)
        env = child_env(fake, db_path, LITWATCH_PUBMED_CAP=str(cap), LITWATCH_EFETCH_BATCH=str(batch))
        result, proc = crawl_child(env, config, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert result["errors"] == [] and result["counts"]["history_expired"] >= 1
        assert set(stored(db_path)) == fake.term_results[ALL_TERM] and watermark(db_path) == TODAY.isoformat()
        whole = [e for e in fake.calls("esearch") if e.params.get("usehistory") == "y"][0]
        assert sum(e.params["term"] == whole.params["term"] for e in fake.calls("esearch")) == 1  # not split again
        assert query(db_path, "SELECT count(*) FROM publication_topics WHERE topic = 'all'") == [(n,)]


def test_an_answer_bigger_than_one_store_is_stored_in_parts_and_loses_nothing(tmp_path):
    """A history slice of more than ``STREAM_ROWS`` records is stored in parts as its blocks
    come back from the parsing processes; a bad record in it is quarantined, the record
    PubMed left out of the page is queued and the topic stays incomplete, the rest is
    stored, and the next crawl completes it."""
    from litwatch.crawler.spiders.pubmed import PubmedSpider

    config = tmp_path / "watchlist.toml"
    config.write_text(ALL_ONLY)
    db_path = tmp_path / "litwatch.db"
    n = PubmedSpider.STREAM_ROWS * 2 + 100
    with FakeEutils(load_fixtures=False) as fake:
        fake.add_file((PUBMED_FIXTURES / "efetch" / "38988993.xml").read_bytes())
        made = [fake.derive("38988993", str(41100000 + i), entrez=TODAY - dt.timedelta(days=i % 3)) for i in range(n)]
        fake.term_results[ALL_TERM] = set(made)
        # The first answer (n - 100 records, the newest) leaves its last out.  Named by a
        # record it holds: the two efetches run concurrently and may arrive in either order.
        newest = max(made, key=lambda p: (fake.entrez[p], int(p)))
        fake.inject("short", "efetch", pmid=newest)
        bad = made[2]  # the oldest entry, smallest PMID: the last of the newest-first history
        fake.inject("bad_record", "efetch", pmid=bad)  # ...so it comes in the second answer
        env = child_env(fake, db_path, LITWATCH_EFETCH_BATCH=str(n - 100))
        result, proc = crawl_child(env, config, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert fake.faults == []
        second, first = sorted((e for e in fake.calls("efetch") if e.pmids), key=lambda e: len(e.pmids))
        assert len(first.pmids) == n - 101 and bad not in second.pmids
        left_out = (set(made) - set(first.pmids) - set(second.pmids) - {bad}).pop()
        assert set(stored(db_path)) == set(made) - {bad, left_out}
        assert query(db_path, "SELECT key FROM quarantine WHERE source = 'pubmed'") == [(bad,)]
        assert query(db_path, "SELECT pmid FROM pubmed_queue WHERE fetched_at IS NULL") == [(left_out,)]
        assert any("short page" in w for w in result["warnings"]) and watermark(db_path) is None
        result, proc = crawl_child(env, config, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert set(stored(db_path)) == set(made) and watermark(db_path) == TODAY.isoformat()


def test_a_clustered_backfill_costs_at_most_1_2_times_the_lower_bound(tmp_path):
    """Most records entered in the last three days (a big deposit), the rest spread over ten
    years: the over-cap window is cut where the records are.  Lower bound = the count search
    + the fewest windows under the cap + ceil(n / batch) efetches."""
    config = tmp_path / "watchlist.toml"
    config.write_text(ALL_ONLY)
    db_path = tmp_path / "litwatch.db"
    cap, batch = 150, 10
    with make_fake(cap=cap) as fake:
        spread = sorted(expected_all(fake))
        clustered = {fake.derive("38988993", str(41001000 + i), entrez=TODAY - dt.timedelta(days=i % 3)) for i in range(140)}
        fake.term_results[ALL_TERM] = set(spread) | clustered
        n = len(fake.term_results[ALL_TERM])
        env = child_env(fake, db_path, LITWATCH_PUBMED_CAP=str(cap), LITWATCH_EFETCH_BATCH=str(batch))
        result, proc = crawl_child(env, config, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert set(stored(db_path)) == fake.term_results[ALL_TERM]
        lower_bound = 1 + -(-n // cap) + -(-n // batch)
        assert len(fake.log) <= 1.2 * lower_bound, (len(fake.log), lower_bound)
        windows = [e for e in fake.calls("esearch") if "[crdt]" in e.params["term"]]
        assert len(windows) == len({e.params["term"] for e in windows})  # no window searched twice


def test_book_chapters_and_late_arrivals_served_by_the_fake_are_stored(tmp_path):
    """The written-from-DTD recordings (derived/): Bookshelf chapters and a record created in
    2026 with a 2013 entry date; a backfill from 2015 stores both (the late one by [crdt])."""
    from litwatch.fakes.eutils import FIXTURES

    config = tmp_path / "watchlist.toml"
    config.write_text(ALL_ONLY)
    db_path = tmp_path / "litwatch.db"
    with FakeEutils(load_fixtures=False) as fake:
        books = fake.add_file((FIXTURES / "derived" / "book_chapters.xml").read_bytes())
        articles = fake.add_file((FIXTURES / "derived" / "articles.xml").read_bytes())
        late = [p for p in articles if fake.entrez[p] < dt.date(2015, 1, 1) <= fake.created[p]]
        assert late
        result, proc = crawl_child(child_env(fake, db_path), config, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert set(stored(db_path)) == set(books) | set(articles)
        assert set(late) <= set(fake.fetched_pmids())


def test_an_answer_over_the_size_limit_is_asked_for_again_in_halves(tmp_path):
    """A history slice whose records are too large together (long reference lists) is not a
    failed topic: its records are asked for by id, in halves, until each answer fits."""
    config = tmp_path / "watchlist.toml"
    config.write_text(ALL_ONLY)
    db_path = tmp_path / "litwatch.db"
    with make_fake() as fake:
        wanted = expected_all(fake)
        fake.term_results[ALL_TERM] = set(wanted)
        largest = max(len(fake.records[p]) for p in wanted)
        # Any two records fit in one answer; eight of them do not.
        env = child_env(fake, db_path, LITWATCH_EFETCH_BATCH="8", LITWATCH_PUBMED_MAXSIZE=str(2 * largest + 4096))
        result, proc = crawl_child(env, config, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert result["errors"] == [] and result["counts"]["efetch_halved"] >= 1
        assert set(stored(db_path)) == wanted
        by_id = [e for e in fake.calls("efetch") if e.params.get("id")]
        assert by_id and all(len(e.params["id"].split(",")) <= 4 for e in by_id)
        assert watermark(db_path) == TODAY.isoformat()


def test_an_expired_history_whose_later_slice_answers_first_loses_no_slice(tmp_path):
    """Two slices are in flight when the WebEnv expires, and the later one's "expired" answer
    arrives first: the earlier slice's records are searched for again too (they once stayed
    "in flight" for ever: never fetched, with the topic reported done)."""
    config = tmp_path / "watchlist.toml"
    config.write_text(ALL_ONLY)
    db_path = tmp_path / "litwatch.db"
    with make_fake() as fake:
        wanted = set(sorted(expected_all(fake))[:20])
        fake.term_results[ALL_TERM] = set(wanted)
        fake.expire_history_after(1)
        fake.hold_slice(5, 0.5)  # slice 5..10 answers after slice 10..15
        env = child_env(fake, db_path, LITWATCH_EFETCH_BATCH="5")
        result, proc = crawl_child(env, config, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert result["errors"] == [] and result["counts"]["history_expired"] == 1
        assert {"5", "10"} <= {e.params["retstart"] for e in fake.calls("efetch") if e.params.get("WebEnv")}
        assert set(stored(db_path)) == wanted
        assert watermark(db_path) == TODAY.isoformat()
