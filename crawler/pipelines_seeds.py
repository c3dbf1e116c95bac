"""Item pipeline of the seeds spider: store citations and what each resolved to.

A resolved paper joins the PubMed queue (the PubMed crawl fetches it like any other
record); a resolved trial joins the followed trials (the ClinicalTrials.gov crawl fetches
it by id, the PubMed crawl searches ``NCT…[si]`` for its papers).
"""

from __future__ import annotations

from litwatch.crawler.pipelines_base import DbPipeline
from litwatch.db import citations
from litwatch.db.connection import transaction
from litwatch.db.pubmed_queue import enqueue_pmids
from litwatch.db.trials import follow_trial


class StoreCitationsPipeline(DbPipeline):
    def process_item(self, item):
        spider = self.crawler.spider
        kind = item.get("_type")
        if kind == "citations":
            counts = citations.sync_citations(self.db, item["citations"], item["documents"], item["present"])
            spider.counts.update({k: v for k, v in counts.items() if v})
            return {"documents": len(item["documents"])}
        if kind == "resolution":
            if item["status"] == "resolved":
                with transaction(self.db):  # followed or queued, and marked resolved: both or neither
                    self._apply(item)
                    n = citations.mark_resolved(self.db, item["kind"], item["value"], item["resolved_kind"], item["resolved_id"])
                spider.counts["citations_resolved"] += n
            else:
                n = citations.mark_unresolved(self.db, item["kind"], item["value"], item["reason"])
                spider.counts["citations_unresolved"] += n
            return {"kind": item["kind"], "value": item["value"]}
        return item

    def _apply(self, item: dict) -> None:
        reason = f"seed:{citations.first_place(self.db, item['kind'], item['value']) or '?'}"
        if item["resolved_kind"] == "trial":
            follow_trial(self.db, item["resolved_id"], reason)
        else:
            enqueue_pmids(self.db, [(item["resolved_id"], reason)])
