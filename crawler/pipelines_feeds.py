"""Item pipelines of the feeds spider: validate, then store (and link at the end).

The spider yields one *fetch* per feed: ``{"feed_url", "status", "topics_sig", "kind",
"title", "etag", "last_modified", "entry_count", "problem", "gone", "failed",
"topics": {topic: [FeedItem, ...]}}``.  Items are already normalised by
``crawler.feed_parse`` (a pure function, so tests reach it without Scrapy).
"""

from __future__ import annotations

from collections import Counter

from litwatch.crawler.pipelines_base import CrawlerPipeline, DbPipeline
from litwatch.db.connection import transaction
from litwatch.db.feeds import link_feed_items, record_feed_state, save_feed_items
from litwatch.vocab.times import utcnow


class ValidateFeedItemsPipeline(CrawlerPipeline):
    """Drop items nobody could use: no key (nothing to dedupe on) or no title (nothing to
    show).  Duplicates inside one feed (some feeds repeat an entry) are kept once."""

    def process_item(self, fetch, spider=None):
        dropped = 0
        for topic, items in fetch.get("topics", {}).items():
            seen, kept = set(), []
            for item in items:
                if not item.id or not item.title:
                    dropped += 1
                    continue
                if item.id in seen:
                    continue
                seen.add(item.id)
                kept.append(item)
            fetch["topics"][topic] = kept
        if dropped:
            self.spider.counts["items_invalid"] += dropped
            self.spider.warn(f"feed {fetch['feed_url']}: {dropped} items without a title or any id/DOI/link were skipped")
        return fetch


class StoreFeedFetchPipeline(DbPipeline):
    """Store a fetch: its items per topic, then the feed's state, in one transaction, so
    validators are never stored for items that were not."""

    def process_item(self, fetch, spider=None):
        counts = self.spider.counts
        now = utcnow()
        state = {"last_checked_at": now, "last_status": fetch.get("status")}
        status = fetch.get("status")
        if fetch.get("failed"):
            # Keep the old validators, gone flag and topics signature: a server error says
            # nothing about them (and a topic added since must still get a full fetch).
            state["error"] = fetch.get("problem")
        elif fetch.get("gone"):
            state.update(gone=1, gone_at=now, etag=None, last_modified=None, error=f"HTTP {status}", topics_sig=fetch["topics_sig"])
        else:
            state.update(gone=0, gone_at=None, last_ok_at=now, error=fetch.get("problem"), topics_sig=fetch["topics_sig"])
            if status != 304:
                state.update(
                    kind=fetch.get("kind"), title=fetch.get("title"), etag=fetch.get("etag"),
                    last_modified=fetch.get("last_modified"), entry_count=fetch.get("entry_count"),
                )
        try:
            with transaction(self.db):
                stored = Counter()
                for topic, items in fetch.get("topics", {}).items():
                    stored.update(save_feed_items(self.db, items, topic, refresh=not fetch.get("problem")))
                record_feed_state(self.db, fetch["feed_url"], **state)
            counts.update(stored)
        except Exception as exc:
            self.spider.fail(f"feed {fetch['feed_url']}: could not store its items: {type(exc).__name__}: {exc}")
        return fetch

    def close_spider(self, spider=None):
        try:
            self.spider.counts.update(link_feed_items(self.db))
        except Exception as exc:
            self.spider.fail(f"linking feed items to stored records failed: {type(exc).__name__}: {exc}")
        finally:
            super().close_spider()
