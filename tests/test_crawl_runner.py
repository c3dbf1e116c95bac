"""The parent side of a crawl: each source in a child process; failures are contained."""

import json
import sys

import pytest

from crawler import run as crawl_run
from litwatch.config import load_settings, parse_watchlist
from litwatch.errors import LitwatchError

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
