"""Item pipelines of the ClinicalTrials.gov spider: normalise, validate, store.

Each does one thing.  A study that cannot be normalised or fails validation is quarantined
with its raw JSON (source "ctgov", key = its NCT number when it has one) and retried by
the next crawl, which fetches quarantined NCT numbers by id; nothing is dropped silently.
"""

from __future__ import annotations

import datetime as dt
import json

from scrapy.exceptions import DropItem

from litwatch.crawler import ctgov
from litwatch.crawler.pipelines_base import DbPipeline
from litwatch.crawler.spiders.ctgov import SOURCE
from litwatch.vocab.times import today_utc

KNOWN_STATUSES = {
    "NOT_YET_RECRUITING", "RECRUITING", "ENROLLING_BY_INVITATION", "ACTIVE_NOT_RECRUITING",
    "SUSPENDED", "TERMINATED", "COMPLETED", "WITHDRAWN", "UNKNOWN", "AVAILABLE",
    "NO_LONGER_AVAILABLE", "TEMPORARILY_NOT_AVAILABLE", "APPROVED_FOR_MARKETING", "WITHHELD",
}


class _DbPipeline(DbPipeline):
    """The base pipeline plus quarantine of a study that cannot be used."""

    def quarantine(self, item: dict, key: str, reason: str) -> None:
        from litwatch.db.crawl_state import quarantine

        quarantine(self.db, SOURCE, key, reason, json.dumps(item.get("study"), ensure_ascii=False))
        self.spider.counts["trials_quarantined"] += 1
        self.spider.warn(f"study {key} kept in quarantine: {reason}")

    def quarantine_failed(self, item, reason: str) -> bool:
        """Hook of ``pipelines_base``: a study whose validation raised is kept, raw JSON and all."""
        if not isinstance(item, dict) or item.get("_type") != "study" or self.db is None:
            return False
        self.quarantine(item, getattr(item.get("record"), "nct_id", None) or item["key"], reason)
        return True


class NormaliseStudyPipeline(_DbPipeline):
    """Study JSON -> ``item["record"]``, a ``Trial`` carrying the JSON as ``raw``."""

    stage = "normalise"

    def process_item(self, item):
        if item.get("_type") != "study":
            return item
        try:
            record = ctgov.normalise_study(item["study"])
        except (ctgov.StudyError, TypeError, ValueError, AttributeError) as exc:
            self.quarantine(item, item["key"], f"not a usable study: {exc}")
            raise DropItem(f"study {item['key']}: {exc}", log_level="DEBUG")  # already warned
        item["record"] = record
        return item


class ValidateTrialPipeline(_DbPipeline):
    """A record without title or status is not something a reader can use: quarantine it."""

    stage = "validate"

    def process_item(self, item):
        if item.get("_type") != "study":
            return item
        rec = item["record"]
        missing = [f for f in ("title", "status") if not getattr(rec, f)]
        if missing:
            self.quarantine(item, rec.nct_id, f"study has no {' and no '.join(missing)}")
            raise DropItem(f"{rec.nct_id}: missing {missing}", log_level="DEBUG")  # already warned
        if rec.status not in KNOWN_STATUSES:
            self.spider.warn(f"{rec.nct_id}: unknown overall status {rec.status!r} (stored as given)")
        return item


class StoreTrialPipeline(_DbPipeline):
    """Upsert trials (history, links, PubMed queue); move a topic's watermark on its marker."""

    def open_spider(self):
        from litwatch.db.trials import follow_trial

        super().open_spider()
        # The watchlist's follow_trials join the followed_trials table, where the PubMed
        # crawl (NCT…[si] searches) and ``litwatch trials --followed`` find them.
        for nct in self.spider.watchlist.follow_trials:
            follow_trial(self.db, nct, "watchlist")

    def close_spider(self):
        """Re-derive every stored trial's reporting flags as of the crawl date: a trial
        becomes overdue with time, not only when its record changes."""
        from litwatch.db.trials import iter_trials, record_trial_flags
        from litwatch.signals.overdue import trial_flags

        if self.db is not None:
            stored = list(iter_trials(self.db))
            day = getattr(self.spider, "crawl_date", None) or today_utc()
            new = record_trial_flags(self.db, trial_flags(stored, day), checked=[t.nct_id for t in stored])
            if new:
                self.spider.counts["trial_flags_new"] += new
        super().close_spider()

    def process_item(self, item):
        from litwatch.db.crawl_state import record_failure, release, set_watermark
        from litwatch.db.trials import save_trials

        kind = item.get("_type")
        if kind == "study":
            rec = item["record"]
            counts = save_trials(self.db, [rec], topic=item.get("topic"))
            self.spider.counts.update(counts)
            release(self.db, SOURCE, rec.nct_id)
            return {"nct_id": rec.nct_id}
        if kind == "topic_done":
            if item.get("move_watermark", True):
                set_watermark(self.db, SOURCE, item["topic"], dt.date.fromisoformat(item["watermark"]),
                              result_count=item["result_count"])
            self.spider.counts["topics_done"] += 1
            return {"topic": item["topic"]}
        if kind == "topic_failed":  # see pipelines_base: a study of the topic was not stored
            record_failure(self.db, SOURCE, item["topic"], item["error"])
            return {"topic": item["topic"], "failed": True}
        return item
