"""Item pipelines of the PubMed spider: quarantine -> store.

The spider yields one ``pubmed_batch`` item per efetch answer (its records as rows ready
for the store, the error markers and the PMIDs PubMed did not return), so the store writes
each answer in one transaction; plus small bookkeeping items (``topic_link``,
``trial_link``, ``queue_stored``, ``topic_done``, ``topic_failed``).  Records are
normalised and checked where they are parsed, in the parsing processes
(``crawler.pubmed_checks`` through ``crawler.parse_worker``): one that fails a check comes
as an error marker, like one that did not parse.  Each pipeline does one thing:

- ``QuarantinePipeline``: every error keeps its raw XML in ``quarantine`` (key = PMID) with
  one log line (PMID + reason); the next crawl fetches quarantined PMIDs again;
- ``StorePublicationPipeline``: ``db.publications.save_rows`` (SQL only), the queue, trial
  links, and the topic's watermark after its records are committed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections import Counter

from litwatch.crawler.pipelines_base import DbPipeline as _DbPipeline
from litwatch.crawler.spiders.pubmed import SOURCE
from litwatch.db import publications
from litwatch.db.crawl_state import quarantine, record_failure, set_watermark


class QuarantinePipeline(_DbPipeline):
    def process_item(self, item):
        if item.get("_type") != "pubmed_batch" or not item["errors"]:
            return item
        for err in item["errors"]:
            key = err.pmid or ("sha1:" + hashlib.sha1(err.raw or b"").hexdigest()[:16])
            quarantine(self.db, SOURCE, key, err.reason, err.raw)
            self.spider.counts["quarantined"] += 1
            self.spider.warn(f"PMID {key}: record kept in quarantine, not stored: {err.reason[:200]}")
        return item


class StorePublicationPipeline(_DbPipeline):
    """The store's SQL runs in one writer thread of its own (``db.publications.save_rows``
    of a 500-record answer is 30-120 ms; sqlite3 gives the GIL away while SQLite works), so
    the reactor keeps reading answers and sending the next requests at the service's pace
    meanwhile.  Still one item at a time, in the order the items reach this pipeline: the
    thread runs them one after the other, and each item's ``process_item`` returns only when
    its SQL is done (``CONCURRENT_ITEMS`` = 1: a callback's next item waits for it), so a
    failure is reported (``pipelines_base``) before anything later of its topic is stored.
    The connection lives in that thread (SQLite connections are not shared between threads);
    counts and warnings are applied back in the reactor's thread."""

    def open_spider(self):
        from concurrent.futures import ThreadPoolExecutor

        self._writer = ThreadPoolExecutor(1, thread_name_prefix="litwatch-store")
        # topic -> why a store failed, as the writer saw it: a later topic_done of that
        # topic, run after it in the same thread, becomes topic_failed whatever the timing
        # of the reactor's bookkeeping.
        self._failed: dict[str, str] = {}
        self.db = self._writer.submit(self._open).result()

    def _open(self):
        from litwatch.db import open_db

        db = open_db(self.spider.lw_settings.db_path)
        publications.tune_for_bulk(db)
        return db

    def close_spider(self):
        if self.db is not None:
            self._writer.submit(self.db.conn.close).result()
            self.db = None
        self._writer.shutdown(wait=True)

    async def process_item(self, item):
        output, counts, warnings = await asyncio.wrap_future(self._writer.submit(self._store, item))
        self.spider.counts.update(counts)
        for message in warnings:
            self.spider.warn(message)
        return output

    def _store(self, item) -> tuple[object, Counter, list[str]]:
        """In the writer thread: the item's SQL; (what to pass on, counts, warnings)."""
        counts: Counter = Counter()
        warnings: list[str] = []
        try:
            return self._sql(item, counts, warnings), counts, warnings
        except Exception as exc:
            topic = item.get("topic") if isinstance(item, dict) else None
            if topic:
                self._failed.setdefault(topic, f"{type(exc).__name__}: {exc}")
            raise

    def _sql(self, item, counts: Counter, warnings: list[str]):
        kind = item.get("_type")
        if kind == "topic_done" and item["topic"] in self._failed:
            kind = "topic_failed"
            item = {"_type": "topic_failed", "topic": item["topic"],
                    "error": f"topic {item['topic']}: could not store its records: {self._failed[item['topic']]}"}
        if kind == "pubmed_batch":
            saved = publications.save_rows(self.db, item["records"], topic=item.get("topic"))
            counts.update(saved)
            if item.get("topic"):
                # A quarantined or missing record still belongs to the topic that found it:
                # the later crawl that stores it (from the queue) does not know the topic.
                held = [e.pmid for e in item["errors"] if e.pmid] + list(item["missing"])
                if held:
                    publications.add_topic(self.db, held, item["topic"])
            if item["purpose"] == "queue":
                counts["queue_fetched"] += len(item["records"])
            missing = item["missing"]
            if missing:
                counts["not_returned"] += len(missing)
                if item["purpose"] == "queue":
                    publications.mark_queue_missing(self.db, missing, "PubMed did not return this PMID")
                else:
                    # Nothing lost: the queue step of the next crawl asks for them again.
                    publications.enqueue(self.db, missing, f"{item.get('topic') or 'followed trial'}: not returned by efetch")
                    warnings.append(f"{len(missing)} PMIDs found by esearch were not returned by efetch; queued for the next crawl: {', '.join(missing[:5])}")
            return {"stored": len(item["records"]), "topic": item.get("topic")}
        if kind == "topic_link":
            publications.add_topic(self.db, item["pmids"], item["topic"])
            return {"topic": item["topic"], "linked": len(item["pmids"])}
        if kind == "trial_link":
            counts["si_links"] += publications.link_trial(self.db, item["nct_id"], item["pmids"], "si_search")
            return {"nct_id": item["nct_id"], "linked": len(item["pmids"])}
        if kind == "citing_links":
            from litwatch.db.follows import record_citing

            counts["citing_new"] += record_citing(self.db, item["links"])
            return {"citing_links": len(item["links"])}
        if kind == "queue_stored":
            publications.mark_queue_stored(self.db, item["pmids"])
            return {"queue_stored": len(item["pmids"])}
        if kind == "topic_done":
            if item["watermark"]:
                set_watermark(self.db, SOURCE, item["topic"], dt.date.fromisoformat(item["watermark"]),
                              counts={"found": item["found"]}, result_count=item["result_count"])
            counts["topics_done"] += 1
            return {"topic": item["topic"], "done": True}
        if kind == "topic_failed":
            record_failure(self.db, SOURCE, item["topic"], item["error"])
            return {"topic": item["topic"], "failed": True}
        return item
