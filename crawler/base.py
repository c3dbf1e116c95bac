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

from litwatch.config import Settings, Topic, Watchlist
from litwatch.crawler.middlewares import RetriesExhausted, _safe_url


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

    @property
    def topics(self) -> list[Topic]:
        return [t for t in self.watchlist.topics if self.topic_filter is None or t.name in self.topic_filter]

    def warn(self, message: str) -> None:
        """Something the reader of the crawl report (and the digest) must see."""
        message = _safe_url(message)
        if message not in self.warnings:
            self.warnings.append(message)
        self.logger.warning(message)

    def fail(self, message: str) -> None:
        """A request or topic that failed for good: the crawl ends 'partial' or 'failed'."""
        message = _safe_url(message)
        self.errors.append(message)
        self.logger.error(message)

    def errback(self, failure):
        """Default errback: a request that failed for good is reported with its URL."""
        request = failure.request
        exc = failure.value
        what = request.meta.get("lw_what") or _safe_url(request.url)
        if isinstance(exc, RetriesExhausted):
            self.fail(f"{what}: {exc}")
        elif hasattr(exc, "response") and exc.response is not None:
            self.fail(f"{what}: HTTP {exc.response.status}")
        else:
            self.fail(f"{what}: {type(exc).__name__}: {exc}")
        self.counts["requests_failed"] += 1

    def summary(self) -> dict:
        return {"counts": dict(self.counts), "warnings": list(self.warnings), "errors": list(self.errors)}
