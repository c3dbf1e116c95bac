"""The feeds spider: each watched RSS/Atom feed once per crawl, conditionally.

Each URL is requested once however many topics name it; the parsed items are then
filtered per topic (``crawler.feed_parse.items_for_topic``).  The spider yields one
*fetch* item per feed (its HTTP outcome plus the items each topic keeps); the pipelines
(``crawler.pipelines_feeds``) validate and store it.  Policies (docs/feeds.md):

- Conditional GET with the stored ETag / Last-Modified; a 304 stores nothing and counts
  ``not_modified``.  The validators are skipped (a full GET) when ``--since`` is given or
  the topics/keywords reading the feed changed since the last fetch.
- A malformed feed is a warning naming it; the entries feedparser recovered are kept, but
  its validators are not stored, so the next crawl fetches it in full again.
- 404/410: a warning; the feed is marked gone and not requested again for
  ``GONE_RECHECK_DAYS`` unless the topics reading it change (or ``--since`` is given).
- 5xx/429/timeouts: retried by ``BackoffRetryMiddleware``, then a warning.  One broken
  feed never stops the crawl; only a crawl in which *every* feed request failed is an
  error (a silent empty crawl must not look like "nothing new").
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict

import scrapy

from litwatch.crawler.base import LitwatchSpider
from litwatch.crawler.feed_parse import items_for_topic, parse_feed
from litwatch.crawler.middlewares import RetriesExhausted
from litwatch.db.feeds import GONE_RECHECK_DAYS, feed_states, topics_signature
from litwatch.vocab.times import parse_timestamp

GONE_STATUSES = (404, 410)
# Feeds are asked once per crawl each, one at a time per host; a second between requests
# to the same host honours the Crawl-delay ClinicalTrials.gov's robots.txt is reported to
# ask for, and costs little (a watchlist names a handful of feeds).  The environment may
# override it (the tests make it 0).
DEFAULT_DELAY_S = 1.0
ACCEPT = "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"


class FeedsSpider(LitwatchSpider):
    name = "feeds"
    source = "feeds"
    custom_settings = {
        "ITEM_PIPELINES": {
            "litwatch.crawler.pipelines_feeds.ValidateFeedItemsPipeline": 200,
            "litwatch.crawler.pipelines_feeds.StoreFeedFetchPipeline": 300,
        },
        "DOWNLOAD_DELAY": float(os.environ.get("LITWATCH_FEEDS_DELAY", DEFAULT_DELAY_S)),
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        # A journal feed is tens or hundreds of KB; the parser costs ~40 MB of memory per
        # MB of feed, so a larger answer is cut off, reported, and that feed fails.
        "DOWNLOAD_MAXSIZE": 4 * 1024 * 1024,
        "DOWNLOAD_WARNSIZE": 1024 * 1024,
    }

    def feeds_by_url(self) -> dict[str, list]:
        """Feed URL -> the topics (of this crawl) that name it, in watchlist order."""
        by_url: dict[str, list] = defaultdict(list)
        for topic in self.topics:
            for url in topic.feeds:
                by_url[url.strip()].append(topic)
        return dict(by_url)

    def _stored_states(self) -> dict[str, dict]:
        from litwatch.db import open_db

        db = open_db(self.lw_settings.db_path)
        try:
            return feed_states(db)
        finally:
            db.conn.close()

    def _gone_until(self, state: dict) -> dt.datetime | None:
        if not state.get("gone") or not state.get("gone_at"):
            return None
        gone_at = parse_timestamp(state["gone_at"])
        return gone_at + dt.timedelta(days=GONE_RECHECK_DAYS)

    async def start(self):
        for request in self.feed_requests():
            yield request

    def feed_requests(self):
        # Not in ``counts``: the crawl runner reads any non-zero count but requests_failed
        # as "something was stored".
        self.requested = 0
        by_url = self.feeds_by_url()
        states = self._stored_states() if by_url else {}
        now = dt.datetime.now(dt.timezone.utc)
        for url, topics in by_url.items():
            if not url.lower().startswith(("http://", "https://")):
                self.warn(f"feed {url!r} (topic {topics[0].name}) is not an http(s) URL: skipped; fix it in the watchlist")
                continue
            sig = topics_signature((t.name, t.keywords) for t in topics)
            state = states.get(url) or {}
            force = self.since is not None or not state or state.get("topics_sig") != sig
            until = self._gone_until(state)
            if until and not force and now < until:
                self.warn(
                    f"feed {url} is gone (HTTP {state.get('last_status')} since {state['gone_at'][:10]}): "
                    f"not asked again before {until.date()}; fix or remove it in the watchlist"
                )
                self.counts["feeds_gone_skipped"] += 1
                continue
            headers = {"Accept": ACCEPT}
            if not force and not state.get("gone"):
                if state.get("etag"):
                    headers["If-None-Match"] = state["etag"]
                if state.get("last_modified"):
                    headers["If-Modified-Since"] = state["last_modified"]
            self.requested += 1
            yield scrapy.Request(
                url,
                headers=headers,
                callback=self.on_feed,
                errback=self.feed_failed,
                dont_filter=True,
                meta={
                    "handle_httpstatus_list": [304, *GONE_STATUSES],
                    "lw_what": f"feed {url}",
                    "lw_feed": url,
                    "lw_sig": sig,
                    "lw_topics": [(t.name, t.keywords) for t in topics],
                    "lw_entry_count": state.get("entry_count") or 0,
                },
            )

    def _fetch(self, response_or_request, status: int | None, **fields) -> dict:
        meta = response_or_request.meta
        return {
            "feed_url": meta["lw_feed"],
            "status": status,
            "topics_sig": meta["lw_sig"],
            "topics": {},
            "problem": None,
            **fields,
        }

    def on_feed(self, response):
        url = response.meta["lw_feed"]
        if response.status == 304:
            self.counts["not_modified"] += 1
            yield self._fetch(response, 304)
            return
        if response.status in GONE_STATUSES:
            self.counts["feeds_gone"] += 1
            self.warn(
                f"feed {url}: HTTP {response.status}, the feed is gone: not asked again for "
                f"{GONE_RECHECK_DAYS} days unless the watchlist changes; fix or remove it in the watchlist"
            )
            yield self._fetch(response, response.status, gone=True)
            return
        if {301, 308} & set(response.meta.get("redirect_reasons") or []):
            self.warn(f"feed {url} moved permanently to {response.url}: update the watchlist")
        headers = response.headers.to_unicode_dict()
        parsed = parse_feed(response.body, url, {k: v for k, v in headers.items()})
        self.counts["feeds_fetched"] += 1
        if parsed.truncated:
            self.warn(f"feed {url} lists more than {len(parsed.items)} items: the {parsed.truncated} after them were not read")
        if parsed.problem:
            self.counts["feeds_malformed"] += 1
            if parsed.items:
                dropped = f", dropped {parsed.damaged} cut short" if parsed.damaged else ""
                self.warn(f"feed {url} is malformed ({parsed.problem}): kept the {len(parsed.items)} items that could be read{dropped}")
            else:
                self.warn(f"feed {url} is not a readable RSS/Atom feed ({parsed.problem}): nothing stored")
        elif not parsed.items and response.meta["lw_entry_count"]:
            self.warn(f"feed {url} has no items now (it had {response.meta['lw_entry_count']} last time): check it still publishes")
        topics = {}
        for name, keywords in response.meta["lw_topics"]:
            kept = items_for_topic(parsed, keywords)
            if len(kept) < len(parsed.items):
                self.counts["items_filtered_out"] += len(parsed.items) - len(kept)
            topics[name] = kept
        # A malformed body's validators would turn the next crawl's fetch into a 304 and
        # keep the damage; without them the whole feed is read again.
        good = not parsed.problem
        yield self._fetch(
            response,
            response.status,
            kind=parsed.kind,
            title=parsed.title,
            etag=headers.get("ETag") if good else None,
            last_modified=headers.get("Last-Modified") if good else None,
            entry_count=len(parsed.items),
            problem=parsed.problem,
            topics=topics,
        )

    def feed_failed(self, failure):
        """A feed that failed for good (after retries): a warning, and the crawl goes on."""
        request = failure.request
        exc = failure.value
        url = request.meta["lw_feed"]
        if isinstance(exc, RetriesExhausted):
            why = str(exc)
        elif getattr(exc, "response", None) is not None:
            why = f"HTTP {exc.response.status}"
        else:
            why = f"{type(exc).__name__}: {exc}"
        if "DataLoss" in why:  # Scrapy's word for a body shorter than its Content-Length
            why = f"the body was cut short every time; {why}"
        self.counts["requests_failed"] += 1
        big = self.too_big(failure)
        if big:  # bounded memory: not a passing hiccup, the feed fails (issue 10)
            why = "answer too large, not read"
            self.fail(big)
        self.warn(f"feed {url} could not be fetched ({why}): its items wait for the next crawl")
        yield self._fetch(request, getattr(getattr(exc, "response", None), "status", None), problem=why, failed=True)

    def closed(self, reason):
        requested = getattr(self, "requested", 0)
        if requested and self.counts.get("requests_failed", 0) >= requested:
            self.fail(f"every feed request failed ({requested} feeds): nothing could be read")
