"""What a crawl child loads before its first request (bench/README, bench_crawl.py): the
Scrapy components no crawl uses stay out of Scrapy's lists, so they are never imported;
nor is sqlite-utils, whose API no crawl's SQL needs (``db.connection.WriterDatabase``)."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import PROJECT_ROOT
from test_pubmed_crawl import WATCHLIST, child_env, expected_all, make_fake, stored

from litwatch.crawler.settings import UNUSED, _unused_off


def test_unused_components_are_left_out_and_the_rest_of_scrapys_lists_kept():
    from scrapy.settings import default_settings

    lists = _unused_off()
    assert set(lists) == set(UNUSED)
    for name, kept in lists.items():
        base = getattr(default_settings, name)
        dropped = set(base) - set(kept)
        assert dropped and all(path.endswith(UNUSED[name]) for path in dropped)
        assert all(kept[path] == base[path] for path in kept)
    assert not any("RemoteControl" in p or "TelnetConsole" in p for p in lists["EXTENSIONS_BASE"])
    assert "scrapy.extensions.corestats.CoreStats" in lists["EXTENSIONS_BASE"]  # finish_reason comes from it


def test_a_crawl_child_never_imports_aiohttp_tldextract_or_telnet():
    code = (
        "import sys\n"
        "from litwatch.crawler.settings import base_settings\n"
        "from litwatch.config import load_settings\n"
        "from scrapy.crawler import CrawlerRunner\n"
        "from scrapy.utils.reactor import install_reactor\n"
        "install_reactor('twisted.internet.asyncioreactor.AsyncioSelectorReactor')\n"
        "from litwatch.crawler.spiders.pubmed import PubmedSpider\n"
        "crawler = CrawlerRunner(base_settings(load_settings())).create_crawler(PubmedSpider)\n"
        "crawler._apply_settings()\n"
        "from scrapy.core.engine import ExecutionEngine\n"
        "ExecutionEngine(crawler, lambda _: None)\n"
        "print(sorted(m for m in ('aiohttp', 'tldextract', 'twisted.conch') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def _backfill_in_a_child(tmp_path, before: str, after: str = "") -> subprocess.CompletedProcess:
    """A PubMed backfill (topics, a followed trial, citing papers) into a database already
    set up, by ``crawler.process.main`` in a child process that runs ``before`` first and
    ``after`` once the crawl is over; checked to have stored everything without an error."""
    from litwatch.db import open_db

    db_path = tmp_path / "litwatch.db"
    open_db(db_path).close()
    config = tmp_path / "watchlist.toml"
    config.write_text(WATCHLIST)
    result_path = tmp_path / "result.json"
    code = (before + "from litwatch.crawler import process\n"
            f"code = process.main(['--source', 'pubmed', '--config', {str(config)!r}, '--result', {str(result_path)!r}])\n"
            + after + "process._exit_now(code)\n")
    with make_fake() as fake:
        proc = subprocess.run([sys.executable, "-c", code], env=child_env(fake, db_path), capture_output=True, text=True,
                              timeout=180, cwd=PROJECT_ROOT)
        result = json.loads(result_path.read_text())
        assert proc.returncode == 0 and result["errors"] == [], (result["errors"], proc.stderr[-2000:])
        assert sorted(stored(db_path)) == sorted(expected_all(fake))
        assert result["counts"]["topics_done"] == 2
    return proc


def test_a_pubmed_crawl_stores_everything_without_sqlite_utils(tmp_path):
    """In a crawl process where sqlite-utils cannot be imported: its store and bookkeeping
    are SQL only, so nothing asks for it and nothing is lost."""
    _backfill_in_a_child(tmp_path, "import sys; sys.modules['sqlite_utils'] = None\n")


def test_a_crawl_child_runs_no_garbage_collection_until_its_crawl_starts(tmp_path):
    """``crawler.heap.no_collection_at_start_up``: no cyclic collection while the child
    imports Scrapy and sets up (~150 passes, 50-60 ms before the first request, found
    nothing worth it); from ``collect_seldom`` on it runs again, seldom, and the crawl
    stores everything."""
    from litwatch.crawler.heap import GC_THRESHOLDS

    before = ("import gc, json\n"
              "passes = []\n"
              "gc.callbacks.append(lambda phase, info: passes.append(info['generation']) if phase == 'stop' else None)\n"
              "from litwatch.crawler import heap\n"
              "seen = {}\n"
              "real = heap.collect_seldom\n"
              "def collect_seldom():\n"
              "    seen.update(before=len(passes), enabled_before=gc.isenabled())\n"
              "    real()\n"
              "    seen.update(enabled=gc.isenabled(), threshold=list(gc.get_threshold()), frozen=gc.get_freeze_count())\n"
              "heap.collect_seldom = collect_seldom\n"
              "import litwatch.crawler.process\n"
              "start = len(passes)\n")
    proc = _backfill_in_a_child(tmp_path, before, "seen['before'] -= start\nprint(json.dumps(seen))\n")
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["before"] == 0 and seen["enabled_before"] is False
    assert seen["enabled"] is True and seen["threshold"] == list(GC_THRESHOLDS) and seen["frozen"] > 10_000
