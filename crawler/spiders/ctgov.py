"""ClinicalTrials.gov API v2 spider: each topic's recently updated studies, and followed trials.

Per topic: ``/studies`` with the topic's query and a LastUpdatePostDate range starting at
the topic's watermark minus the overlap, paged with ``nextPageToken``.  Followed trials
(watchlist ``follow_trials``, seed citations) and trials quarantined by an earlier crawl
are fetched one by one with ``/studies/{nct}`` on every crawl, whatever their update date.

The spider only requests and parses: it yields ``{"_type": "study", ...}`` items and, after
a topic's last page, a ``{"_type": "topic_done", ...}`` marker; ``crawler.pipelines_ctgov``
normalises, validates and stores them and moves the watermark on the marker.
"""

from __future__ import annotations

import datetime as dt
import json
import os

import scrapy

from litwatch.crawler import ctgov
from litwatch.crawler.base import LitwatchSpider
from litwatch.crawler.middlewares import RetriesExhausted, retry_request
from litwatch.vocab.ids import NCT_RE
from litwatch.vocab.times import today_utc

# ClinicalTrials.gov publishes no rate limit; third parties report ~50 requests a minute
# per IP.  1.5 s between requests is 40 a minute: under it with a margin.
DEFAULT_DELAY_S = 1.5
SOURCE = "ctgov"


def _first_line(body: bytes, limit: int = 200) -> str:
    text = body.decode("utf-8", "replace").strip()
    return (text.splitlines() or [""])[0][:limit]


class CtgovSpider(LitwatchSpider):
    name = "ctgov"
    source = SOURCE
    custom_settings = {
        "ITEM_PIPELINES": {
            "litwatch.crawler.pipelines_ctgov.NormaliseStudyPipeline": 100,
            "litwatch.crawler.pipelines_ctgov.ValidateTrialPipeline": 200,
            "litwatch.crawler.pipelines_ctgov.StoreTrialPipeline": 300,
        },
        # Study items must reach the store in the order the spider yields them, so that a
        # topic's "done" marker is stored after all of its studies (pipelines are sync).
        "CONCURRENT_ITEMS": 1,
        # A page of studies (full records) is usually a few MB; past this it is cut off,
        # reported with its URL, and its topic fails (bounded memory, issue 10).
        "DOWNLOAD_MAXSIZE": 64 * 1024 * 1024,
        "DOWNLOAD_WARNSIZE": 16 * 1024 * 1024,
    }

    @classmethod
    def update_settings(cls, settings):
        super().update_settings(settings)
        delay = float(os.environ.get("LITWATCH_CTGOV_DELAY", DEFAULT_DELAY_S))
        settings.set("DOWNLOAD_DELAY", delay, priority="spider")

    def _state(self):
        """Watermarks, followed trials and quarantined studies, read once at the start."""
        from litwatch.db import open_db
        from litwatch.db.crawl_state import get_watermark, quarantined_keys
        from litwatch.db.trials import followed_nct_ids

        db = open_db(self.lw_settings.db_path)
        try:
            marks = {t.name: get_watermark(db, SOURCE, t.name) for t in self.topics}
            followed = list(dict.fromkeys([*self.watchlist.follow_trials, *followed_nct_ids(db)]))
            quarantined = quarantined_keys(db, SOURCE)
        finally:
            db.conn.close()
        return marks, followed, [k for k in quarantined if NCT_RE.match(k) and k not in followed]

    def topic_since(self, topic, watermark: dt.date | None) -> dt.date:
        if self.since:
            return self.since
        if watermark:
            return watermark - dt.timedelta(days=self.watchlist.overlap_days)
        return topic.backfill_from or self.watchlist.backfill_from

    async def start(self):
        self.crawl_date = today_utc()
        marks, followed, quarantined = self._state()
        base = self.lw_settings.ctgov_url
        for topic in self.topics:
            watermark = marks.get(topic.name)
            since = self.topic_since(topic, watermark)
            params = ctgov.studies_params(topic, since)
            # A --since later than the watermark leaves a gap behind it: that crawl must
            # not move the watermark past the gap.
            may_move = not (self.since and watermark and self.since > watermark)
            yield scrapy.Request(
                ctgov.studies_url(base, params),
                callback=self.parse_page,
                errback=self.errback,
                meta={"lw_what": f"topic {topic.name}", "lw_topic": topic.name, "lw_params": params,
                      "lw_page": 1, "lw_seen": 0, "lw_backfill": watermark is None or bool(self.since), "lw_may_move": may_move,
                      "handle_httpstatus_list": [400]},
            )
        for nct in followed:
            yield self._study_request(base, nct, "followed trial")
        for nct in quarantined:
            yield self._study_request(base, nct, "quarantined trial")

    def _study_request(self, base: str, nct: str, why: str) -> scrapy.Request:
        return scrapy.Request(
            ctgov.study_url(base, nct),
            callback=self.parse_study,
            errback=self.errback,
            meta={"lw_what": f"{why} {nct}", "lw_nct": nct, "handle_httpstatus_list": [400, 404]},
        )

    def _load_json(self, response):
        """The body as JSON, or a retry of the request (None, request) when it is not."""
        try:
            return json.loads(response.body), None
        except ValueError:
            pass
        what = response.meta["lw_what"]
        try:
            return None, retry_request(response.request, "malformed JSON", self.settings)
        except RetriesExhausted as exc:
            self.fail(f"{what}: {exc}: {_first_line(response.body, 80)!r}")
            self.counts["requests_failed"] += 1
            return None, None

    def _bad_request(self, response) -> None:
        what = response.meta["lw_what"]
        self.fail(f"{what}: ClinicalTrials.gov refused the request (HTTP 400): {_first_line(response.body)}")
        self.counts["requests_failed"] += 1

    def parse_page(self, response):
        meta = response.meta
        if response.status == 400:
            self._bad_request(response)
            return
        data, retry = self._load_json(response)
        if retry is not None:
            yield retry
        if data is None:
            return
        try:
            studies, token, total = ctgov.parse_studies_page(data)
        except ValueError as exc:
            self.fail(f"{meta['lw_what']} page {meta['lw_page']}: {exc}")
            self.counts["requests_failed"] += 1
            return
        self.counts["ctgov_pages"] += 1
        if total is not None:
            meta["lw_total"] = total
        for index, study in enumerate(studies):
            yield {"_type": "study", "study": study, "topic": meta["lw_topic"], "key": f"{meta['lw_topic']}:p{meta['lw_page']}:{index}"}
        seen = meta["lw_seen"] + len(studies)
        if token:
            params = dict(meta["lw_params"], pageToken=token)
            yield response.request.replace(
                url=ctgov.studies_url(self.lw_settings.ctgov_url, params),
                meta={**{k: v for k, v in meta.items() if k.startswith("lw_") and k not in ("lw_retry", "lw_delay", "lw_last_reason")},
                      "lw_page": meta["lw_page"] + 1, "lw_seen": seen, "handle_httpstatus_list": [400]},
                dont_filter=True,
            )
            return
        total = meta.get("lw_total")
        complete = total is None or seen >= total
        if not complete:
            # Paging ended before the count the first page announced: some studies were
            # never served.  Store what came, but ask the same window again next time.
            self.warn(f"topic {meta['lw_topic']}: ClinicalTrials.gov announced {total} studies but paging ended after {seen}: "
                      "the topic is incomplete and will be asked again from the same date")
            self.counts["topics_incomplete"] += 1
        elif seen == 0 and meta["lw_backfill"]:
            self.warn(f"topic {meta['lw_topic']}: ClinicalTrials.gov found no studies at all: check the topic's ctgov query")
        yield {"_type": "topic_done", "topic": meta["lw_topic"], "watermark": self.crawl_date.isoformat(),
               "result_count": seen, "move_watermark": meta["lw_may_move"] and complete}

    def parse_study(self, response):
        nct = response.meta["lw_nct"]
        if response.status == 404:
            self.warn(f"{nct}: not found on ClinicalTrials.gov (HTTP 404): check the NCT number in the watchlist or seeds")
            self.counts["followed_not_found"] += 1
            return
        if response.status == 400:
            self._bad_request(response)
            return
        data, retry = self._load_json(response)
        if retry is not None:
            yield retry
        if data is not None:
            yield {"_type": "study", "study": data, "topic": None, "key": nct}
