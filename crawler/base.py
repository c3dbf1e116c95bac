"""What every litwatch spider has: its inputs, counts, warnings and a failure report.

A spider is constructed by ``crawler.process`` with the loaded ``Settings`` and
``Watchlist`` (never re-read inside the crawl), the ``since`` override and a topic filter.
It counts what it did in ``self.counts`` and says what a reader must know in
``self.warnings`` (a query PubMed partly ignored, a feed that is gone, a topic whose every
request failed).  A warning is never a silent empty result: see API_NOTES "Out there".
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import scrapy
from scrapy import signals

from litwatch.config import Settings, Topic, Watchlist
from litwatch.crawler.middlewares import RetriesExhausted, _safe_url
from litwatch.vocab.text import redact

MB = 1024 * 1024


class LitwatchSpider(scrapy.Spider):
    source = ""  # "pubmed", "ctgov", "feeds", "seeds"

    def __init__(
        self,
        *args,
        lw_settings: Settings,
        watchlist: Watchlist,
        since: dt.date | None = None,
        topics: list[str] | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.lw_settings = lw_settings
        self.watchlist = watchlist
        self.since = since
        self.topic_filter = set(topics) if topics else None
        self.counts: Counter[str] = Counter()
        self.warnings: list[str] = []
        self.errors: list[str] = []
        # topic -> the first error that failed it while its items were validated or stored
        # (crawler.pipelines_base): its topic_done marker must not move the watermark.
        self.failed_topics: dict[str, str] = {}

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.on_spider_error, signal=signals.spider_error)
        return spider

    @property
    def topics(self) -> list[Topic]:
        return [t for t in self.watchlist.topics if self.topic_filter is None or t.name in self.topic_filter]

    def warn(self, message: str) -> None:
        """Something the reader of the crawl report (and the digest) must see."""
        message = redact(_safe_url(message))
        if message not in self.warnings:
            self.warnings.append(message)
        self.logger.warning(message)

    def fail(self, message: str) -> None:
        """A request or topic that failed for good: the crawl ends 'partial' or 'failed'."""
        message = redact(_safe_url(message))
        self.errors.append(message)
        self.logger.error(message)

    # ------------------------------------------------------------ failures
    def topic_error(self, topic: str | None) -> str | None:
        """Why ``topic`` failed while its items were validated or stored (None: it did not)."""
        return self.failed_topics.get(topic) if topic else None

    def item_failed(self, item, stage: str, cause: str, *, quarantined: bool = False) -> None:
        """An item pipeline raised (see ``crawler.pipelines_base``): fail the item's topic."""
        topic = item.get("topic") if isinstance(item, dict) else None
        what = describe_item(item)
        kept = "; kept in quarantine for the next crawl" if quarantined else ""
        if topic:
            message = f"topic {topic}: could not {stage} {what}: {cause}{kept}; its watermark stays, the next crawl asks again"
        else:
            message = f"could not {stage} {what}: {cause}{kept}; the next crawl asks again"
        if topic and topic not in self.failed_topics:
            self.failed_topics[topic] = message
        self.counts["items_failed"] += 1
        self.fail(message)

    def on_spider_error(self, failure, response, spider=None):
        """A callback raised: its answer was not handled, so the crawl is not ``ok``."""
        if spider is not None and spider is not self:
            return
        meta = getattr(response, "meta", None) or {}
        what = meta.get("lw_what") or _safe_url(getattr(response, "url", "?"))
        run = meta.get("lw_run")
        topic = meta.get("lw_topic") or getattr(run, "topic", None)
        message = f"{what}: the answer could not be handled: {type(failure.value).__name__}: {failure.value}"
        if run is not None and hasattr(run, "failed"):
            run.failed = True
        if topic and topic not in self.failed_topics:
            self.failed_topics[topic] = message
        self.fail(message)

    def too_big(self, failure) -> str | None:
        """The problem line when ``failure`` is an answer cut off at DOWNLOAD_MAXSIZE, else None."""
        exc = failure.value
        if type(exc).__name__ not in ("DownloadCancelledError", "CancelledError"):
            return None
        request = failure.request
        limit = request.meta.get("download_maxsize") or self.settings.getint("DOWNLOAD_MAXSIZE")
        return (
            f"{_safe_url(request.url)}: the answer is larger than {limit / MB:g} MB, the most litwatch reads "
            f"from {self.source or 'this source'} (DOWNLOAD_MAXSIZE): not read"
        )

    def errback(self, failure):
        """Default errback: a request that failed for good is reported with its URL."""
        request = failure.request
        exc = failure.value
        what = request.meta.get("lw_what") or _safe_url(request.url)
        big = self.too_big(failure)
        if big:
            self.warn(big)
            self.fail(f"{what}: answer too large, not read")
        elif isinstance(exc, RetriesExhausted):
            self.fail(f"{what}: {exc}")
        elif hasattr(exc, "response") and exc.response is not None:
            self.fail(f"{what}: HTTP {exc.response.status}")
        else:
            self.fail(f"{what}: {type(exc).__name__}: {exc}")
        self.counts["requests_failed"] += 1

    def summary(self) -> dict:
        return {"counts": dict(self.counts), "warnings": list(self.warnings), "errors": list(self.errors)}


def describe_item(item) -> str:
    """A few words for an item in a failure line."""
    if not isinstance(item, dict):
        return type(item).__name__
    kind = item.get("_type")
    if kind == "pubmed_batch":
        return f"{len(item.get('records') or [])} PubMed records"
    if kind == "study":
        rec = item.get("record")
        nct = rec.get("nct_id") if isinstance(rec, dict) else getattr(rec, "nct_id", None)
        return f"study {nct or item.get('key')}"
    if item.get("feed_url"):
        return f"the items of feed {_safe_url(item['feed_url'])}"
    return f"a {kind or 'record'} item"
