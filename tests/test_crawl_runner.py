"""The parent side of a crawl: each source in a child process; failures are contained."""

import json
import sys

import pytest

from litwatch.config import load_settings, parse_watchlist
from litwatch.crawler import run as crawl_run
from litwatch.vocab.errors import LitwatchError

WATCHLIST = parse_watchlist({"topic": [{"name": "t", "pubmed": "ketamine[tiab]", "ctgov": "ketamine"}]}, "w.toml")


def fake_child(script: str):
    """Replace the child command by a tiny Python program (gets the result path as argv[1])."""

    def command(source, config_path, since, topics, result_path, log_level):
        return [sys.executable, "-c", script, result_path, source]

    return command


@pytest.fixture
def settings(db_path):
    return load_settings({"LITWATCH_DB": str(db_path)})


def test_child_result_is_read(monkeypatch, settings):
    script = "import json,sys; json.dump({'counts': {'new': 3}, 'warnings': ['w'], 'errors': []}, open(sys.argv[1], 'w'))"
    monkeypatch.setattr(crawl_run, "child_command", fake_child(script))
    summary = crawl_run.run_crawl(settings, WATCHLIST, ["pubmed"])
    assert summary.ok
    assert summary.results[0].counts == {"new": 3}
    assert summary.warnings == ["pubmed: w"]
    summary.raise_for_failure()


def test_crashing_child_fails_its_source_only(monkeypatch, settings, db):
    script = "import sys; sys.exit(3) if sys.argv[2] == 'ctgov' else open(sys.argv[1], 'w').write('{\"counts\": {\"new\": 1}, \"errors\": []}')"
    monkeypatch.setattr(crawl_run, "child_command", fake_child(script))
    summary = crawl_run.run_crawl(settings, WATCHLIST, ["ctgov", "pubmed"])
    statuses = {r.source: r.status for r in summary.results}
    assert statuses == {"ctgov": "failed", "pubmed": "ok"}
    assert "exited with status 3" in summary.errors[0]
    with pytest.raises(LitwatchError) as info:
        summary.raise_for_failure()
    assert "\n" not in str(info.value)
    runs = {r["source"]: r["status"] for r in db["crawl_runs"].rows}
    assert runs == {"ctgov": "failed", "pubmed": "ok"}


def test_hanging_child_times_out(monkeypatch, settings):
    monkeypatch.setattr(crawl_run, "child_command", fake_child("import time; time.sleep(30)"))
    result = crawl_run.crawl_one(settings, "feeds", config_path=None, timeout=0.5)
    assert result.status == "failed" and "timed out" in result.errors[0]


def test_partial_when_some_records_stored(monkeypatch, settings):
    script = "import json,sys; json.dump({'counts': {'new': 5}, 'errors': ['topic x: HTTP 500']}, open(sys.argv[1], 'w'))"
    monkeypatch.setattr(crawl_run, "child_command", fake_child(script))
    result = crawl_run.crawl_one(settings, "pubmed", config_path=None)
    assert result.status == "partial"
    assert json.loads(json.dumps(crawl_run.CrawlSummary([result]).as_dict()))["sources"]["pubmed"]["status"] == "partial"


def test_quiet_child_stderr_is_kept_out_of_the_terminal(monkeypatch, settings, capfd):
    """CONTRACT: a failed crawl is one line on stderr; the child's log lines repeat its
    result's errors, and what they add comes back as a warning of the report."""
    script = ("import json,sys; print('2026-01-01 00:00:00 [pubmed] ERROR: topic t: HTTP 500', file=sys.stderr);"
              "print('2026-01-01 00:00:00 [scrapy.core.scraper] ERROR: Spider error processing <GET http://x/>', file=sys.stderr);"
              "json.dump({'counts': {}, 'errors': ['topic t: HTTP 500']}, open(sys.argv[1], 'w'))")
    monkeypatch.setattr(crawl_run, "child_command", fake_child(script))
    result = crawl_run.crawl_one(settings, "pubmed", config_path=None, log_level="ERROR")
    assert capfd.readouterr().err == ""
    assert result.status == "failed" and result.errors == ["topic t: HTTP 500"]
    assert len(result.warnings) == 1 and "Spider error processing" in result.warnings[0]


def test_quiet_child_that_dies_says_why(monkeypatch, settings, capfd):
    script = "raise SystemExit('boom: cannot start')"
    monkeypatch.setattr(crawl_run, "child_command", fake_child(script))
    result = crawl_run.crawl_one(settings, "pubmed", config_path=None, log_level="ERROR")
    assert capfd.readouterr().err == ""
    assert result.errors == ["crawl process exited with status 1 and no result: boom: cannot start"]
