"""A failed validation or store fails its topic: no false ``ok``, the watermark stays,
nothing is lost (issue 10, items 1 and 2).

The full disk is real: the crawl runs under ``RLIMIT_FSIZE`` (the database file and its
WAL may not grow past a limit just above their size), set in the test's crawl child and
inherited by the per-source child.  The unexpected study shape is a ClinicalTrials.gov
study whose ``overallStatus`` is a list.
"""

from __future__ import annotations

import json
import os
import resource
import signal

import pytest
from fault_support import env_for, expected_all, litwatch, rows, stored_pmids, watchlist

from litwatch.db import open_db
from litwatch.fakes.ctgov import FakeCtgov, ketamine_bpd_study
from litwatch.fakes.eutils import FakeEutils


def _file_limit(limit: int):
    def preexec():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing

    return preexec


def test_full_disk_fails_the_topic_keeps_the_watermark_and_the_next_crawl_stores_everything(tmp_path):
    db_path = tmp_path / "litwatch.db"
    config = watchlist(tmp_path / "watchlist.toml")
    with FakeEutils() as fake:
        env = env_for(db_path, eutils=fake)
        open_db(db_path).conn.close()  # the schema, so the limit sits just above its size
        size = os.path.getsize(db_path)
        full = litwatch(env, config, "crawl", "--source", "pubmed", "--json", preexec_fn=_file_limit(size + 64 * 1024))

        assert full.returncode != 0
        report = json.loads(full.stdout)["sources"]["pubmed"]
        assert report["status"] != "ok"
        error = report["errors"][0]
        assert error.startswith("topic all: could not store") and "OperationalError" in error
        assert ("disk I/O error" in error) or ("database or disk is full" in error)
        line = full.stderr.strip()
        assert "\n" not in line and line.startswith("litwatch: error: crawl of pubmed did not complete: topic all:")
        # The watermark did not move; the failure is in crawl_state and crawl_runs.
        state = rows(db_path, "SELECT watermark, last_status, last_error FROM crawl_state WHERE source = 'pubmed' AND topic = 'all'")
        assert state and state[0][0] is None and state[0][1] == "failed" and "could not store" in state[0][2]
        assert rows(db_path, "SELECT status FROM crawl_runs") == [(report["status"],)]
        # ... and in the next digest's warnings.
        digest = litwatch(env, config, "digest", "--json")
        assert any("pubmed" in w and "could not store" in w for w in json.loads(digest.stdout)["warnings"])

        again = litwatch(env, config, "crawl", "--source", "pubmed", "--json")
        assert again.returncode == 0, again.stdout + again.stderr
        assert set(stored_pmids(db_path)) == expected_all(fake)
        assert rows(db_path, "SELECT watermark IS NOT NULL FROM crawl_state WHERE source = 'pubmed' AND topic = 'all'") == [(1,)]


def test_a_study_that_breaks_validation_is_quarantined_fails_the_topic_and_is_stored_once_fixed(tmp_path):
    db_path = tmp_path / "litwatch.db"
    config = watchlist(tmp_path / "watchlist.toml")
    odd = ketamine_bpd_study("NCT09999999")
    odd["protocolSection"]["statusModule"]["overallStatus"] = ["RECRUITING"]
    with FakeCtgov() as fake:
        fake.put_study(odd)
        env = env_for(db_path, ctgov_url=fake.base_url)
        first = litwatch(env, config, "crawl", "--source", "ctgov", "--json")
        assert first.returncode != 0
        report = json.loads(first.stdout)["sources"]["ctgov"]
        assert report["status"] != "ok"
        assert report["errors"][0].startswith("topic all: could not validate study NCT09999999: TypeError")
        assert [k for (k,) in rows(db_path, "SELECT key FROM quarantine WHERE source = 'ctgov'")] == ["NCT09999999"]
        raw = rows(db_path, "SELECT raw FROM quarantine WHERE key = 'NCT09999999'")[0][0]
        assert raw  # its raw bytes are kept
        assert rows(db_path, "SELECT watermark FROM crawl_state WHERE source = 'ctgov' AND topic = 'all'") == [(None,)]
        assert "NCT09999999" not in {n for (n,) in rows(db_path, "SELECT nct_id FROM trials")}

        odd["protocolSection"]["statusModule"]["overallStatus"] = "RECRUITING"  # upstream (or litwatch) fixed
        fake.put_study(odd)
        again = litwatch(env, config, "crawl", "--source", "ctgov", "--json")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "NCT09999999" in {n for (n,) in rows(db_path, "SELECT nct_id FROM trials")}
        assert rows(db_path, "SELECT key FROM quarantine WHERE source = 'ctgov'") == []
        assert rows(db_path, "SELECT watermark IS NOT NULL FROM crawl_state WHERE source = 'ctgov' AND topic = 'all'") == [(1,)]


class _Crawler:
    def __init__(self, spider):
        self.spider = spider


def _spider(tmp_path):
    from litwatch.config import load_settings, load_watchlist
    from litwatch.crawler.base import LitwatchSpider

    config = watchlist(tmp_path / "watchlist.toml")
    return LitwatchSpider(name="t", lw_settings=load_settings({"LITWATCH_DB": str(tmp_path / "x.db")}),
                          watchlist=load_watchlist(str(config)))


@pytest.mark.parametrize("awaited", [False, True], ids=["sync", "async"])
def test_the_pipeline_rule_any_exception_fails_the_topic_and_turns_its_done_marker_into_failed(tmp_path, awaited):
    """The rule of crawler.pipelines_base, without a crawl: every subclass's process_item is
    guarded, a plain one and an ``async`` one alike (the PubMed store awaits its writer
    thread) when its (awaited) work raises."""
    import asyncio
    import sqlite3

    from scrapy.exceptions import DropItem

    from litwatch.crawler.pipelines_base import CrawlerPipeline

    def work(item):
        if item["_type"] == "batch":
            raise sqlite3.OperationalError("database or disk is full")
        return item

    class SyncStore(CrawlerPipeline):
        def process_item(self, item):
            return work(item)

    class AsyncStore(CrawlerPipeline):
        async def process_item(self, item):
            await asyncio.sleep(0)
            return work(item)

    spider = _spider(tmp_path)
    store = (AsyncStore if awaited else SyncStore)(_Crawler(spider))

    def call(item):
        out = store.process_item(item)
        return asyncio.run(out) if awaited else out

    with pytest.raises(DropItem):
        call({"_type": "batch", "topic": "all"})
    assert spider.errors == [
        "topic all: could not store a batch item: OperationalError: database or disk is full; "
        "its watermark stays, the next crawl asks again"
    ]
    out = call({"_type": "topic_done", "topic": "all", "watermark": "2026-11-30"})
    assert out["_type"] == "topic_failed" and "database or disk is full" in out["error"]
    assert call({"_type": "topic_done", "topic": "other"})["_type"] == "topic_done"


def test_the_pubmed_store_thread_turns_a_done_marker_after_a_failed_batch_into_failed(tmp_path):
    """In the writer thread's own order: a topic whose batch failed there is not marked done,
    whenever the reactor's bookkeeping of that failure runs."""
    from litwatch.crawler.pipelines_pubmed import StorePublicationPipeline
    from litwatch.db.publications import RowBatch

    spider = _spider(tmp_path)
    store = StorePublicationPipeline(_Crawler(spider))
    store.open_spider()
    try:
        bad = {"_type": "pubmed_batch", "topic": "all", "purpose": "topic", "records": RowBatch([("1", "h", ("too", "short"),
               None, None, (), (), ())]), "errors": [], "missing": []}
        try:
            store._writer.submit(store._store, bad).result()
        except Exception:
            pass
        else:
            raise AssertionError("a malformed row must fail its batch")
        done = {"_type": "topic_done", "topic": "all", "watermark": "2026-11-30", "found": 1, "result_count": 1}
        output, _, _ = store._writer.submit(store._store, done).result()
        assert output == {"topic": "all", "failed": True}
        assert rows(tmp_path / "x.db", "SELECT watermark, last_status FROM crawl_state WHERE topic = 'all'") == [(None, "failed")]
    finally:
        store.close_spider()


def test_a_callback_that_raises_makes_the_crawl_fail(tmp_path):
    from types import SimpleNamespace

    from twisted.python.failure import Failure

    spider = _spider(tmp_path)
    try:
        raise KeyError("unexpected field")
    except KeyError:
        failure = Failure()
    response = SimpleNamespace(url="http://x/", meta={"lw_what": "topic all: page 2", "lw_topic": "all"})
    spider.on_spider_error(failure, response, spider)
    assert spider.errors == ["topic all: page 2: the answer could not be handled: KeyError: 'unexpected field'"]
    assert spider.topic_error("all")
