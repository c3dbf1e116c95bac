"""PubMed spider (E-utilities): each topic's new records, queued PMIDs, followed trials.

Per topic:
1. a *count* esearch (whole query, no dates, ``retmax=0``): the total PubMed holds.  It
   catches a query PubMed partly ignored (``ErrorList``: phrase/field not found) and a
   topic that used to find records and now finds none: both are warnings, never a silent
   empty crawl.
2. the *entry-date window* esearch (``datetype=edat``, ``usehistory=y``) from the topic's
   watermark minus ``overlap_days`` (first run: the topic's or the watchlist's
   ``backfill_from``; ``--since`` overrides) to today.  A window holding more than PubMed's
   9,999-id cap is split into narrower windows (recursively) before paging, and a cap error
   met anyway splits too: nothing is truncated.  Ids are paged with ``retstart``.
3. the *modification-date window* esearch (``datetype=mdat``, same window, incremental runs
   only).  How we know a stored record changed without fetching it: PubMed moves a record's
   modification date whenever NLM revises it (retraction or erratum notice linked, MeSH
   indexing done, corrections), so the stored PMIDs in this window are fetched again; the
   store compares ``record_hash`` and counts ``updated`` only when the XML differs.  Cheaper
   and more complete than guessing from ``DateRevised`` of records we hold.
4. efetch (POST ``id=``) in batches of ``EFETCH_BATCH`` for the PMIDs not stored yet (and
   the revised ones).  A PMID found by two topics is fetched once per crawl.

Besides the topics: every PMID in ``pubmed_queue`` not fetched yet (seed citations, trial
references) and every PMID quarantined by an earlier crawl is fetched; every followed trial
(``followed_trials`` and the watchlist's ``follow_trials``) is searched as ``NCT…[si]``
and linked to what PubMed returns (``trial_links`` source ``si_search``).

The spider only requests and parses; it yields items the pipelines of
``crawler.pipelines_pubmed`` normalise, validate, quarantine and store.  A topic's
watermark moves (``topic_done`` item) only after every one of its requests succeeded and
its records were stored; a failed topic keeps its watermark and is repeated next crawl.

Politeness: one download slot for the whole crawl and ``DOWNLOAD_DELAY`` from the allowed
rate (3/s, 10/s with an API key) with a margin (``crawler.eutils.RATE_MARGIN``).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

import scrapy
from lxml import etree

from litwatch.crawler import eutils
from litwatch.crawler.base import LitwatchSpider
from litwatch.crawler.middlewares import RetriesExhausted, retry_request
from litwatch.crawler.pubmed_parse import RecordError, parse_pubmed

SOURCE = "pubmed"
SLOT = "eutils"
# ids per esearch page: well under retmax's 10,000 so an answer stays small.
ESEARCH_PAGE = 5_000
# A queued or quarantined PMID PubMed keeps not returning is given up after this many
# crawls (it stays in the table with its error, visible to `litwatch citations`).
MAX_QUEUE_ATTEMPTS = 5


def search_cap() -> int:
    """PubMed's 9,999; LITWATCH_PUBMED_CAP lowers it (test knob: split with few records)."""
    return int(os.environ.get("LITWATCH_PUBMED_CAP") or eutils.SEARCH_CAP)


@dataclass
class Run:
    """One unit whose requests must all succeed: a topic, the queue, the followed trials."""

    name: str
    topic: str | None = None
    mindate: dt.date | None = None
    maxdate: dt.date | None = None
    move_watermark: bool = False
    previous_total: int | None = None
    pending: int = 0
    failed: bool = False
    total: int | None = None
    found: set = field(default_factory=set)


class PubmedSpider(LitwatchSpider):
    name = "pubmed"
    source = SOURCE
    custom_settings = {
        "ITEM_PIPELINES": {
            "litwatch.crawler.pipelines_pubmed.NormalisePublicationPipeline": 100,
            "litwatch.crawler.pipelines_pubmed.ValidatePublicationPipeline": 200,
            "litwatch.crawler.pipelines_pubmed.QuarantinePipeline": 300,
            "litwatch.crawler.pipelines_pubmed.StorePublicationPipeline": 400,
        },
        # Items reach the store in the order yielded, so a topic's "done" marker is stored
        # after its records (pipelines are synchronous).
        "CONCURRENT_ITEMS": 1,
        # One request at a time across the whole crawl (NCBI counts per IP, not per query).
        "CONCURRENT_REQUESTS": 1,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        # efetch answers of 200 records with reference lists can be large (typically
        # 5-20 MB): generous, yet a runaway answer is cut off before it costs 500 MB.
        "DOWNLOAD_MAXSIZE": 128 * 1024 * 1024,
        "DOWNLOAD_WARNSIZE": 64 * 1024 * 1024,
    }

    @classmethod
    def update_settings(cls, settings):
        super().update_settings(settings)
        from litwatch.config import load_settings

        settings.set("DOWNLOAD_DELAY", eutils.request_delay(load_settings().eutils_rate), priority="spider")

    # --------------------------------------------------------------- start
    def _open_db(self):
        from litwatch.db import open_db

        return open_db(self.lw_settings.db_path)

    def _mindate(self, topic, watermark: dt.date | None) -> tuple[dt.date, bool]:
        """(mindate, whether a success may move the watermark to maxdate)."""
        default = (watermark - dt.timedelta(days=self.watchlist.overlap_days)) if watermark else (
            topic.backfill_from or self.watchlist.backfill_from
        )
        if self.since:
            # --since later than where we would have started leaves a gap: do not claim it.
            return self.since, self.since <= default
        return default, True

    async def start(self):
        from litwatch.db.crawl_state import get_state, quarantined_keys
        from litwatch.db.publications import queue_pending
        from litwatch.db.trials import followed_nct_ids

        if not self.lw_settings.ncbi_email:
            self.logger.warning("NCBI_EMAIL is not set: NCBI asks every E-utilities client for a contact address")
        self.db = self._open_db()
        self.today = dt.datetime.now(dt.timezone.utc).date()
        self.cap = search_cap()
        self.in_flight: set[str] = set()
        for topic in self.topics:
            state = get_state(self.db, SOURCE, topic.name) or {}
            watermark = dt.date.fromisoformat(state["watermark"]) if state.get("watermark") else None
            mindate, move = self._mindate(topic, watermark)
            run = Run(topic.name, topic.name, mindate, self.today, move, state.get("last_result_count"))
            # Build all of the topic's first requests before yielding one: each counts in
            # run.pending, which must not reach 0 (topic done) before the last is issued.
            first = [
                self._search(run, eutils.esearch(self.lw_settings, topic.pubmed), self.parse_count, "count"),
                self._window(run, topic.pubmed, mindate, self.today, "edat"),
            ]
            if watermark is not None and not self.since:
                first.append(self._window(run, topic.pubmed, mindate, self.today, "mdat"))
            for request in first:
                yield request

        queued = set(queue_pending(self.db, MAX_QUEUE_ATTEMPTS))
        queued |= {key for key in quarantined_keys(self.db, SOURCE, MAX_QUEUE_ATTEMPTS) if str(key).isdigit()}
        if queued:
            run = Run("queue")
            stored = sorted(self._known(queued))
            if stored:
                yield {"_type": "queue_stored", "pmids": stored}
            for request in self._fetches(run, sorted(queued - set(stored), key=int), purpose="queue"):
                yield request

        trials = list(dict.fromkeys([*self.watchlist.follow_trials, *followed_nct_ids(self.db)]))
        for nct in trials:
            run = Run(f"trial {nct}")
            call = eutils.esearch(self.lw_settings, f"{nct}[si]", retmax=self.cap)
            yield self._search(run, call, self.parse_trial_search, f"followed trial {nct}", lw_nct=nct)

    # ------------------------------------------------------------ requests
    def _request(self, run: Run, call: eutils.EUtilsCall, callback, what: str, **meta) -> scrapy.FormRequest:
        run.pending += 1
        return scrapy.FormRequest(
            call.url,
            formdata=call.params,
            callback=callback,
            errback=self.on_error,
            dont_filter=True,
            meta={"lw_run": run, "lw_what": f"{run.name}: {what}" if run.topic else what, "lw_call": call,
                  "download_slot": SLOT, **meta},
        )

    def _search(self, run, call, callback, what, **meta):
        return self._request(run, call, callback, what, **meta)

    def _window(self, run: Run, term: str, lo: dt.date, hi: dt.date, datetype: str, retstart: int = 0):
        call = eutils.esearch(
            self.lw_settings, term, mindate=lo, maxdate=hi, datetype=datetype, retstart=retstart,
            retmax=min(ESEARCH_PAGE, self.cap), usehistory=True,
        )
        what = f"esearch {datetype} {lo}..{hi}" + (f" from {retstart}" if retstart else "")
        return self._request(run, call, self.parse_window, what, lw_window=(lo, hi), lw_datetype=datetype, lw_term=term)

    def _fetches(self, run: Run, pmids: list[str], purpose: str):
        fresh = [p for p in pmids if p not in self.in_flight]
        self.in_flight.update(fresh)
        for i in range(0, len(fresh), eutils.EFETCH_BATCH):
            batch = fresh[i : i + eutils.EFETCH_BATCH]
            call = eutils.efetch(self.lw_settings, batch)
            yield self._request(run, call, self.parse_efetch, f"efetch of {len(batch)} PMIDs", lw_pmids=batch, lw_purpose=purpose)

    def _known(self, pmids) -> set[str]:
        from litwatch.db.publications import known_pmids

        return known_pmids(self.db, pmids)

    # ------------------------------------------------------------- answers
    def _retry(self, response, reason: str):
        """The same request again (in-band error, truncated or malformed answer)."""
        return retry_request(response.request, reason, self.settings)

    def _answer(self, response, reader):
        """(result, None) or (None, retry request); a retry that is used up fails the run."""
        self.counts["requests"] += 1
        try:
            return reader(response.body), None
        except eutils.SearchCapError:
            raise
        except (eutils.EUtilsError, etree.XMLSyntaxError) as exc:
            try:
                return None, self._retry(response, str(exc)[:200])
            except RetriesExhausted as final:
                self._failed(response.meta["lw_run"], f"{response.meta['lw_what']}: {final}")
                return None, None

    def _failed(self, run: Run, message: str) -> None:
        run.failed = True
        self.counts["requests_failed"] += 1
        self.fail(message)

    def _finish(self, run: Run):
        """One request of ``run`` is done; when it was the last, report the run."""
        run.pending -= 1
        if run.pending > 0 or run.topic is None:
            return
        if run.failed:
            yield {"_type": "topic_failed", "topic": run.topic, "error": "; ".join(self.errors[-1:]) or "failed"}
            return
        yield {
            "_type": "topic_done",
            "topic": run.topic,
            "watermark": run.maxdate.isoformat() if run.move_watermark else None,
            "result_count": run.total,
            "found": len(run.found),
        }

    def on_error(self, failure):
        run = failure.request.meta["lw_run"]
        run.failed = True
        self.errback(failure)
        self.counts["requests"] += 1
        yield from self._finish(run)

    def parse_count(self, response):
        run: Run = response.meta["lw_run"]
        result, retry = self._answer(response, eutils.parse_esearch)
        if retry is not None:
            yield retry
            return
        if result is not None:
            run.total = result.count
            if result.not_searched or result.warnings:
                self.warn(
                    f"topic {run.topic}: PubMed did not search part of the query ({'; '.join(result.not_searched + result.warnings)}); "
                    f"it searched: {result.query_translation or '?'}"
                )
            if result.count == 0:
                if run.previous_total:
                    self.warn(f"topic {run.topic}: PubMed now finds no records for the query, where it found {run.previous_total} before")
                else:
                    self.warn(f"topic {run.topic}: PubMed finds no records at all for the query: check the topic's pubmed query")
        yield from self._finish(run)

    def parse_window(self, response):
        run: Run = response.meta["lw_run"]
        lo, hi = response.meta["lw_window"]
        datetype = response.meta["lw_datetype"]
        term = response.meta["lw_term"]
        retstart = int(response.request.meta["lw_call"].params["retstart"])
        try:
            result, retry = self._answer(response, eutils.parse_esearch)
        except eutils.SearchCapError:
            result, retry = None, None
            yield from self._split(run, term, lo, hi, datetype, count=self.cap + 1)
        if retry is not None:
            yield retry
            return
        if result is not None:
            if result.count > self.cap:
                yield from self._split(run, term, lo, hi, datetype, result.count)
            else:
                yield from self._ids(run, result.ids, datetype)
                nxt = retstart + len(result.ids)
                if result.ids and nxt < result.count:
                    yield self._window(run, term, lo, hi, datetype, retstart=nxt)
        yield from self._finish(run)

    def _split(self, run: Run, term, lo, hi, datetype, count):
        pieces = eutils.split_window(lo, hi, count, self.cap)
        if not pieces:
            run.failed = True
            self.fail(
                f"{run.name}: {count} records with {datetype} {lo}: more than PubMed serves for one search "
                f"({self.cap}) on a single day; narrow the topic's query"
            )
            return
        self.counts["windows_split"] += 1
        for a, b in pieces:
            yield self._window(run, term, a, b, datetype)

    def _ids(self, run: Run, ids: list[str], datetype: str):
        if not ids:
            return
        known = self._known(ids)
        if datetype == "edat":
            self.counts["found"] += len(set(ids) - run.found)
            run.found.update(ids)
            linked = [p for p in ids if p in known or p in self.in_flight]
            if linked:
                yield {"_type": "topic_link", "topic": run.topic, "pmids": linked}
            yield from self._fetches(run, [p for p in ids if p not in known], purpose="topic")
        else:  # mdat: records we hold that PubMed revised since
            revised = [p for p in ids if p in known and p not in self.in_flight]
            self.counts["revised"] += len(revised)
            yield from self._fetches(run, revised, purpose="topic")

    def parse_efetch(self, response):
        run: Run = response.meta["lw_run"]

        def read(body):
            eutils.check_efetch(body)
            return list(parse_pubmed(body))

        records, retry = self._answer(response, read)
        if retry is not None:
            yield retry
            return
        if records is not None:
            requested = response.meta["lw_pmids"]
            returned = {r.pmid for r in records if r.pmid}
            missing = [p for p in requested if p not in returned]
            self.counts["fetched"] += len(records)
            yield {
                "_type": "pubmed_batch",
                "topic": run.topic,
                "purpose": response.meta["lw_purpose"],
                "records": [r for r in records if not isinstance(r, RecordError)],
                "errors": [r for r in records if isinstance(r, RecordError)],
                "missing": missing,
            }
        yield from self._finish(run)

    def parse_trial_search(self, response):
        run: Run = response.meta["lw_run"]
        nct = response.meta["lw_nct"]
        result, retry = self._answer(response, eutils.parse_esearch)
        if retry is not None:
            yield retry
            return
        if result is not None and result.ids:
            yield {"_type": "trial_link", "nct_id": nct, "pmids": result.ids}
            known = self._known(result.ids)
            yield from self._fetches(run, [p for p in result.ids if p not in known], purpose="trial")
        yield from self._finish(run)

    def closed(self, reason):
        if self.counts.get("requests_failed") and self.counts["requests_failed"] >= self.counts.get("requests", 0):
            self.warn("every request to PubMed (E-utilities) failed: nothing was fetched; see the errors above")
        db = getattr(self, "db", None)
        if db is not None:
            db.conn.close()
