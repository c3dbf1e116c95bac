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

import datetime as dt
import hashlib

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
    def open_spider(self):
        super().open_spider()
        publications.tune_for_bulk(self.db)

    def process_item(self, item):
        kind = item.get("_type")
        counts = self.spider.counts
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
                    self.spider.warn(f"{len(missing)} PMIDs found by esearch were not returned by efetch; queued for the next crawl: {', '.join(missing[:5])}")
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
