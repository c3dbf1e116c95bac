"""The real ClinicalTrials.gov spider, in its own process, against the fake v2 server.

A topic's search pages with nextPageToken; followed trials are fetched by id; a changed
version of a trial ends up in ``show NCT… --json``'s history; faults lose nothing; a crawl
of unchanged data changes nothing.
"""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from litwatch.cli import main as litwatch_main
from litwatch.config import load_settings
from litwatch.crawler.run import crawl_one
from litwatch.db import open_db
from litwatch.db.crawl_state import get_watermark
from litwatch.fakes.ctgov import FakeCtgov, ketamine_bpd_study

FOLLOWED = "NCT03395314"
# The crawls' today (the children are given it: ``env``).
TODAY = dt.datetime.now(dt.timezone.utc).date()
WATCHLIST = f"""
follow_trials = ["{FOLLOWED}"]
[[topic]]
name = "ketamine-bpd"
pubmed = "ketamine[tiab]"
ctgov = {{ intr = "ketamine OR esketamine", cond = "borderline personality disorder" }}
"""


def followed_study() -> dict:
    return ketamine_bpd_study(FOLLOWED)


def terminated(study: dict, today: dt.date) -> dict:
    """The later version: stopped early, enrollment actual, results and their paper posted."""
    study = copy.deepcopy(study)
    status = study["protocolSection"]["statusModule"]
    status.update(overallStatus="TERMINATED", whyStopped="Slow enrollment",
                  resultsFirstPostDateStruct={"date": today.isoformat(), "type": "ACTUAL"},
                  lastUpdatePostDateStruct={"date": today.isoformat(), "type": "ACTUAL"})
    study["protocolSection"]["designModule"]["enrollmentInfo"] = {"count": 22, "type": "ACTUAL"}
    study["protocolSection"]["referencesModule"]["references"].append(
        {"pmid": "36804489", "type": "RESULT", "citation": "Fineberg SK, et al. Ketamine in BPD. 2023."})
    study["hasResults"] = True
    return study


@pytest.fixture
def env(monkeypatch, tmp_path, db_path):
    fake = FakeCtgov().start()
    config = tmp_path / "watchlist.toml"
    config.write_text(WATCHLIST, encoding="utf-8")
    monkeypatch.setenv("LITWATCH_CTGOV_URL", fake.base_url)
    monkeypatch.setenv("LITWATCH_DB", str(db_path))
    monkeypatch.setenv("LITWATCH_CTGOV_DELAY", "0.02")
    monkeypatch.setenv("LITWATCH_BACKOFF_BASE", "0.05")
    monkeypatch.setenv("LITWATCH_RETRY_TIMES", "3")
    # The crawl's today, pinned: a test and its crawl child on either side of midnight UTC
    # would disagree about the watermark (litwatch.vocab.times).
    monkeypatch.setenv("LITWATCH_TODAY", TODAY.isoformat())
    open_db(db_path)
    yield fake, str(config)
    fake.stop()


def crawl(config, since=None):
    return crawl_one(load_settings(), "ctgov", config_path=config, since=since, timeout=120)


def cli_json(capsys, config, *args):
    capsys.readouterr()
    assert litwatch_main(["--config", config, *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_pages_follow_changes_and_faults(env, db_path, capsys, monkeypatch):
    fake, config = env
    monkeypatch.setenv("LITWATCH_CTGOV_DELAY", "0.1")
    fake.put_study(followed_study())
    fake.match_all = True  # the topic finds every served study ...
    fake.max_page_size = 3  # ... three to a page: 7 studies, 3 pages
    fake.add_fault("429", "/studies?")  # first page: rate limited once
    fake.add_fault("truncated", "pageToken")  # a later page cut short once
    fake.add_fault("malformed", f"/studies/{FOLLOWED}")  # followed trial: bad JSON, then 500
    fake.add_fault("500", f"/studies/{FOLLOWED}")
    today = TODAY

    first = crawl(config)
    assert first.status == "ok", first
    assert first.counts["ctgov_pages"] == 3 and first.counts["trials_new"] == 7
    db = open_db(db_path)
    assert db["trials"].count == 7 and db["trial_history"].count == 0
    assert get_watermark(db, "ctgov", "ketamine-bpd") == today
    first_page = fake.requests("/studies?")[0]["params"]
    assert first_page["filter.advanced"] == ["AREA[LastUpdatePostDate]RANGE[2015-01-01,MAX]"]
    assert {tuple(sorted(k for k in r["params"] if k != "pageToken")) for r in fake.requests("/studies?")} == {
        tuple(sorted(first_page))}  # every page repeats the first page's parameters
    assert not [r for r in fake.log if r["status"] == 400]
    shape = cli_json(capsys, config, "show", FOLLOWED)
    assert shape["status"] == "RECRUITING" and shape["enrollment"] == 60 and shape["history"] == []
    assert shape["followed"] is True and shape["topics"] == ["ketamine-bpd"]
    # politeness: the configured delay (0.1 s) separates the requests.  Checked on average
    # over the crawl, as the server saw them (one gap alone can shrink when the request
    # before it was held up on a loaded machine, so a minimum gap would be a timing test).
    times = sorted(r["time"] for r in fake.log)
    assert times[-1] - times[0] >= 0.05 * (len(times) - 1)
    assert fake.max_requests_per_minute() == len(fake.log)

    # The trial changes on ClinicalTrials.gov; the next crawl records what changed.
    fake.log.clear()
    fake.put_study(terminated(followed_study(), today))
    second = crawl(config)
    assert second.status == "ok", second
    assert second.counts["trials_updated"] == 1 and second.counts["trial_changes"] == 7
    since = (today - dt.timedelta(days=7)).isoformat()
    assert fake.requests("/studies?")[0]["params"]["filter.advanced"] == [f"AREA[LastUpdatePostDate]RANGE[{since},MAX]"]
    shape = cli_json(capsys, config, "show", FOLLOWED)
    history = {h["field"]: (h["old"], h["new"]) for h in shape["history"]}
    assert history["status"] == ("RECRUITING", "TERMINATED")
    assert history["enrollment"] == ("60", "22") and history["enrollment_type"] == ("ESTIMATED", "ACTUAL")
    assert history["results_first_posted"] == (None, today.isoformat()) and history["has_results"] == ("false", "true")
    assert history["references"] == (None, "36804489") and history["why_stopped"] == (None, "Slow enrollment")
    assert shape["status"] == "TERMINATED" and shape["enrollment"] == 22 and shape["has_results"] is True
    assert shape["pmids"][0] == "36804489"
    assert set(CONTRACT_TRIAL_KEYS) <= set(shape)
    db = open_db(db_path)
    assert db["trial_links"].get((FOLLOWED, "36804489", "ctgov_reference"))["ref_type"] == "RESULT"
    assert db["pubmed_queue"].get("36804489")["fetched_at"] is None  # the PubMed crawl fetches it
    listed = cli_json(capsys, config, "trials", "--status", "terminated")
    assert [t["nct_id"] for t in listed] == [FOLLOWED]

    # Nothing new: a third crawl changes nothing.  Asked with a --since later than the
    # watermark, it leaves the watermark where it was (the gap before --since is unasked).
    from litwatch.db.crawl_state import set_watermark

    set_watermark(open_db(db_path), "ctgov", "ketamine-bpd", dt.date(2020, 1, 1))
    third = crawl(config, since=today - dt.timedelta(days=1))
    assert third.status == "ok" and not third.counts.get("trials_updated") and not third.counts.get("trials_new")
    assert open_db(db_path)["trial_history"].count == 7
    assert get_watermark(open_db(db_path), "ctgov", "ketamine-bpd") == dt.date(2020, 1, 1)


CONTRACT_TRIAL_KEYS = (
    "kind", "nct_id", "title", "official_title", "status", "why_stopped", "phases", "study_type", "enrollment",
    "start_date", "primary_completion_date", "completion_date", "first_posted", "last_update_posted",
    "results_first_posted", "has_results", "sponsor", "conditions", "interventions", "pmids", "topics",
    "history", "url",
)


def test_refused_request_bad_study_and_missing_trial_lose_nothing(env, db_path, capsys):
    fake, config = env
    fake.allowed["/studies"].discard("countTotal")  # the service now refuses a parameter we send
    broken = followed_study()
    del broken["protocolSection"]["identificationModule"]["briefTitle"]
    del broken["protocolSection"]["statusModule"]["overallStatus"]
    fake.put_study(broken)
    fake.add_fault("malformed", "/studies/NCT02210780", times=4)  # every try of this crawl (1 + 3 retries)
    followed = f'follow_trials = ["{FOLLOWED}", "NCT02210780", "NCT09999999"]'
    text = open(config).read().replace(f'follow_trials = ["{FOLLOWED}"]', followed)
    open(config, "w").write(text)

    result = crawl(config)
    assert result.status != "ok"
    errors = "\n".join(result.errors)
    assert "topic ketamine-bpd: ClinicalTrials.gov refused the request (HTTP 400): Unknown parameter: countTotal" in errors
    assert "followed trial NCT02210780: malformed JSON (gave up after 3 retries)" in errors
    assert any("NCT09999999: not found on ClinicalTrials.gov (HTTP 404)" in w for w in result.warnings)
    assert any(f"study {FOLLOWED} kept in quarantine: study has no title and no status" in w for w in result.warnings)
    assert all("\n" not in line for line in result.errors + result.warnings)
    db = open_db(db_path)
    assert get_watermark(db, "ctgov", "ketamine-bpd") is None  # the topic is asked again next time
    assert db["quarantine"].get(("ctgov", FOLLOWED))["attempts"] == 1

    # The service is fine again: the next crawl gets everything, and empties the quarantine.
    fake.allowed["/studies"].add("countTotal")
    fake.put_study(followed_study())
    result = crawl(config)
    assert result.status == "ok", result
    db = open_db(db_path)
    assert db["quarantine"].count == 0
    assert get_watermark(db, "ctgov", "ketamine-bpd") is not None
    assert {"NCT02210780", FOLLOWED} <= {r["nct_id"] for r in db["trials"].rows}
    # the derived study matches the topic's query (ketamine, borderline personality disorder)
    assert cli_json(capsys, config, "show", FOLLOWED)["topics"] == ["ketamine-bpd"]


def test_default_rate_is_polite(monkeypatch):
    from scrapy.settings import Settings

    from litwatch.crawler.spiders.ctgov import CtgovSpider

    monkeypatch.delenv("LITWATCH_CTGOV_DELAY", raising=False)
    settings = Settings()
    CtgovSpider.update_settings(settings)
    assert 60 / settings.getfloat("DOWNLOAD_DELAY") < 50  # requests a minute
    monkeypatch.setenv("LITWATCH_CTGOV_DELAY", "3")
    settings = Settings()
    CtgovSpider.update_settings(settings)
    assert settings.getfloat("DOWNLOAD_DELAY") == 3


def test_new_data_release_changes_nothing_and_short_paging_keeps_the_watermark(env, db_path):
    from litwatch.db.crawl_state import set_watermark
    from litwatch.db.trials import get_raw, unreported_trial_flags

    fake, config = env
    fake.put_study(followed_study())
    fake.match_all = True
    fake.max_page_size = 3
    first = crawl(config)
    assert first.status == "ok", first
    assert first.counts["trials_new"] == 7
    served_on = get_raw(open_db(db_path), "NCT03418623")["derivedSection"]["miscInfoModule"]["versionHolder"]

    # A new data release serves every study again, only versionHolder differs: unchanged,
    # and the stored JSON is not rewritten.
    for study in fake.studies.values():
        study.setdefault("derivedSection", {}).setdefault("miscInfoModule", {})["versionHolder"] = "2026-11-29"
    again = crawl(config, since=dt.date(2000, 1, 1))
    assert again.status == "ok", again
    assert not again.counts.get("trials_updated") and not again.counts.get("trials_new")
    assert again.counts["trials_unchanged"] == 8  # 7 by the topic, the followed one again by id
    db = open_db(db_path)
    assert db["trial_history"].count == 0
    assert get_raw(db, "NCT03418623")["derivedSection"]["miscInfoModule"]["versionHolder"] == served_on
    # The crawl re-derived the reporting flags: the completed phase 2 drug trial of 2020
    # without results is overdue, and waits for a digest.
    flags = {(f.nct_id, f.flag) for f in unreported_trial_flags(db)}
    assert ("NCT03418623", "results_overdue") in flags
    assert not any(nct == "NCT00973089" for nct, _ in flags)  # withdrawn

    # Paging ends before the announced totalCount: stored what came, watermark stays.
    fake.lose_studies = 2
    set_watermark(db, "ctgov", "ketamine-bpd", dt.date(2020, 1, 1))
    short = crawl(config, since=dt.date(2000, 1, 1))  # a complete run would move it to today
    assert short.status == "ok", short
    assert any("announced 7 studies but paging ended after 5" in w and "incomplete" in w for w in short.warnings), short.warnings
    assert short.counts["topics_incomplete"] == 1
    assert get_watermark(open_db(db_path), "ctgov", "ketamine-bpd") == dt.date(2020, 1, 1)
