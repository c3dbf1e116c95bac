"""PubMed spider (E-utilities): each topic's new records, queued PMIDs, followed trials and papers.

Per topic:
1. a *count* esearch (whole query, no dates, ``retmax=0``): the total PubMed holds.  It
   catches a query PubMed partly ignored (``ErrorList``: phrase/field not found) and a
   topic that used to find records and now finds none: both are warnings, never a silent
   empty crawl.
2. the *new-records window* esearch, ``(query) AND (lo:hi[edat] OR lo:hi[crdt])`` with
   ``usehistory=y``, from the topic's watermark minus ``overlap_days`` (first run: the
   topic's or the watchlist's ``backfill_from``; ``--since`` overrides) to today.  The
   create date catches records that entered PubMed more than a year after publication
   (their entry date is set to the old publication date).  One answer carries every id of
   a window (``retmax`` up to the cap), so a window is searched once.  A window over
   PubMed's 9,999-id cap is split where its records are (``eutils.next_cut``: by the
   counts the searches return; the later part's count is the difference, so it is never
   searched just to be counted); a cap error met anyway (in-band, "Position N is out of
   acceptable range", HTTP 400) splits too: nothing is truncated, nothing retried in vain.
   The new records of a window are fetched through the history server (WebEnv +
   query_key + retstart, one consistent result set; when they are one run of it, part of
   the window being stored already); when the WebEnv has expired the window is searched
   again (and split if it has grown past the cap meanwhile).  An over-cap answer still
   holds the first 9,999 ids of its result set: they are fetched through its history at
   once, while the window is split, and its pieces fetch only what it left out (if that
   history expires, what it had not served is fetched by id: searching the window again
   would split it again).  A
   short page (fewer records than the result set holds) leaves the topic incomplete: its
   watermark stays, with a warning, and the missing PMIDs are queued.
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
and linked to what PubMed returns (``trial_links`` source ``si_search``, and a citing link
for "Citing papers you follow"); the followed papers (``db.follows``) are asked about in
one batched ``elink`` (``pubmed_pubmed_citedin``, one ``id=`` per PMID) and only citing
PMIDs not stored yet are fetched.

The spider only requests; each efetch answer is parsed, checked and turned into rows by
the parsing processes (``crawler.parse_worker``) while the next answers download, and the
spider yields items the pipelines of ``crawler.pipelines_pubmed`` quarantine and store.  A
topic's watermark moves (``topic_done`` item) only after every one of its requests
succeeded and its records were stored; a failed topic (a parsing process that died
included) keeps its watermark and is repeated next crawl.

Politeness: one download slot for the whole crawl, and at most the allowed number of
requests (3, 10 with an API key) starting in any 1.15 s (``crawler.rate_window``: NCBI's
rate with the margin of ``crawler.eutils.RATE_MARGIN``).
"""

from __future__ import annotations

import datetime as dt
import os
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import scrapy
from lxml import etree

from litwatch.crawler import eutils
from litwatch.crawler.base import LitwatchSpider
from litwatch.crawler.middlewares import RetriesExhausted, retry_request
from litwatch.crawler.parse_worker import ParsePool, WorkerDied
from litwatch.crawler.pubmed_parse import check_container
from litwatch.db.publications import ROW_PMID, RowBatch
from litwatch.vocab.times import today_utc

SOURCE = "pubmed"
SLOT = "eutils"
# ids per esearch answer: every id of a window under the cap in one answer (about 20 bytes
# each), so a window is never searched twice.  LITWATCH_ESEARCH_PAGE lowers it (test knob).
ESEARCH_PAGE = eutils.ESEARCH_MAX_RETMAX
# Test knob: DOWNLOAD_MAXSIZE in bytes (an answer over it is asked for again in halves).
MAXSIZE_ENV = "LITWATCH_PUBMED_MAXSIZE"
# History slices asked for at a time (see _history_fetch).
HISTORY_AHEAD = 3
# Window searches go before waiting fetches (Scrapy: higher first).
WINDOW_PRIORITY = 1
# PMIDs per elink request (POST, one id= each).
ELINK_BATCH = 200
# A queued or quarantined PMID PubMed keeps not returning is given up after this many
# crawls (it stays in the table with its error, visible to `litwatch citations`).
MAX_QUEUE_ATTEMPTS = 5


def search_cap() -> int:
    """PubMed's 9,999; LITWATCH_PUBMED_CAP lowers it (test knob: split with few records)."""
    return int(os.environ.get("LITWATCH_PUBMED_CAP") or eutils.SEARCH_CAP)


def esearch_page() -> int:
    return int(os.environ.get("LITWATCH_ESEARCH_PAGE") or ESEARCH_PAGE)


def efetch_batch() -> int:
    """``eutils.EFETCH_BATCH``; LITWATCH_EFETCH_BATCH lowers it (test knob: many slices, few records)."""
    return int(os.environ.get("LITWATCH_EFETCH_BATCH") or eutils.EFETCH_BATCH)


@dataclass(frozen=True)
class Window:
    """One esearch window of a topic: its query, days, and kind ("new" or "mdat")."""

    term: str
    lo: dt.date
    hi: dt.date
    kind: str

    @property
    def days(self) -> int:
        return (self.hi - self.lo).days + 1

    def part(self, lo: dt.date, hi: dt.date) -> "Window":
        return Window(self.term, lo, hi, self.kind)


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
    # A short page or a lost history: the records are queued, the watermark stays.
    incomplete: bool = False
    total: int | None = None
    found: set = field(default_factory=set)
    # PMIDs this run itself is fetching: stored with the topic, so never sent as links too.
    fetching: set = field(default_factory=set)


@dataclass(eq=False)
class Span:
    """``ids[lo:hi]`` of one search's result set, read from the history server (WebEnv +
    query_key + retstart) in slices of ``history_batch``.  ``search_again``: when the WebEnv
    expires, search the window again (its new records were all in this span), or fetch what
    is not back yet by id (the span is the part an over-cap answer returned: searching that
    window again would split it again)."""

    window: Window
    history: tuple[str, str]
    ids: list
    lo: int
    hi: int
    search_again: bool = True


def contiguous_run(ids: list[str], wanted: list[str]) -> tuple[int, int] | None:
    """(lo, hi) when ``wanted`` (in ``ids``' order) is exactly ``ids[lo:hi]``, else None: such
    a run of a result set is read from the history server, 1,000 records a request, where
    ids scattered through it are fetched by id, 200 a request."""
    if not wanted:
        return None
    try:
        lo = ids.index(wanted[0])
    except ValueError:
        return None
    hi = lo + len(wanted)
    return (lo, hi) if ids[lo:hi] == wanted else None


class PubmedSpider(LitwatchSpider):
    name = "pubmed"
    source = SOURCE
    # Rows of one answer stored together, at least (``_parse_in_workers``): a history slice
    # of 1,000 records is stored in two parts, the first while its second half is parsed.
    # Not smaller: each stored batch fills its own pages (``db.page_fill``) and is one
    # FTS5 segment.
    STREAM_ROWS = 500
    custom_settings = {
        "ITEM_PIPELINES": {
            "litwatch.crawler.pipelines_pubmed.QuarantinePipeline": 300,
            "litwatch.crawler.pipelines_pubmed.StorePublicationPipeline": 400,
        },
        # Items reach the store in the order yielded, so a topic's "done" marker is stored
        # after its records (each item waits for the one before it to be stored).
        "CONCURRENT_ITEMS": 1,
        # One download slot for the whole crawl (NCBI counts per IP, not per query); the
        # rate window (``update_settings``) holds the requests' starts to the allowed rate.
        # Two may be in flight, so a slow answer (a big window's search, a slice on its way)
        # does not hold the next request past its turn; the rate stays the same.
        "CONCURRENT_REQUESTS": 2,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
        # efetch answers with reference lists are large (a history slice of 1,000 records
        # typically 20-50 MB): generous, yet a runaway answer is cut off before it costs
        # 500 MB, and one over it is asked for again in halves (``on_error``).
        "DOWNLOAD_MAXSIZE": 128 * 1024 * 1024,
        "DOWNLOAD_WARNSIZE": 64 * 1024 * 1024,
        # Scrapy stops downloading while the answers being processed exceed 5 MB; one
        # history slice (~24 MB) is larger, which would serialise download and parse.
        # A few slices waiting for the parsing processes keep them busy; more would only
        # hold memory (parsing, not downloading, sets the pace of a backfill).
        "SCRAPER_SLOT_MAX_ACTIVE_SIZE": 48 * 1024 * 1024,
    }

    @classmethod
    def update_settings(cls, settings):
        super().update_settings(settings)
        from litwatch.config import load_settings
        from litwatch.crawler.rate_window import use_ncbi_window

        # NCBI's rate as a window (at most that many starts in any RATE_MARGIN seconds,
        # counted with every other litwatch process asking E-utilities), not a fixed gap
        # between every two requests.
        use_ncbi_window(settings, load_settings())
        if os.environ.get(MAXSIZE_ENV):  # test knob: small answers count as too large
            settings.set("DOWNLOAD_MAXSIZE", int(os.environ[MAXSIZE_ENV]), priority="spider")

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
        from litwatch.db.follows import followed_pmids
        from litwatch.db.publications import queue_pending
        from litwatch.db.trials import followed_nct_ids

        if not self.lw_settings.ncbi_email:
            self.logger.warning("NCBI_EMAIL is not set: NCBI asks every E-utilities client for a contact address")
        self.db = self._open_db()
        # The parsing processes forked at start-up (``crawler.process``), if any.  Where
        # they could not be forked, they are spawned when a window search finds more than
        # the cap (a backfill), with a backfill's first history fetch, or with the first
        # answer too big to parse here; until then small answers are parsed in this
        # process (``ParsePool.blocks``).
        self.parse_pool = ParsePool()
        self.today = today_utc()
        self.cap = search_cap()
        self.page = min(esearch_page(), self.cap)
        self.batch = efetch_batch()
        self.history_batch = int(os.environ.get("LITWATCH_EFETCH_BATCH") or eutils.HISTORY_BATCH)
        self.in_flight: set[str] = set()
        self.expired: set[tuple[str, str]] = set()  # WebEnvs the history server lost
        # WebEnv -> the starts of its slices that came back (their records are being stored).
        self.slices_back: dict[tuple[str, str], set[int]] = {}
        for topic in self.topics:
            state = get_state(self.db, SOURCE, topic.name) or {}
            watermark = dt.date.fromisoformat(state["watermark"]) if state.get("watermark") else None
            mindate, move = self._mindate(topic, watermark)
            run = Run(topic.name, topic.name, mindate, self.today, move, state.get("last_result_count"))
            # Build all of the topic's first requests before yielding one: each counts in
            # run.pending, which must not reach 0 (topic done) before the last is issued.
            first = [
                self._search(run, eutils.esearch(self.lw_settings, topic.pubmed), self.parse_count, "count"),
                self._window(run, Window(topic.pubmed, mindate, self.today, "new")),
            ]
            if watermark is not None and not self.since:
                first.append(self._window(run, Window(topic.pubmed, mindate, self.today, "mdat")))
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

        papers = followed_pmids(self.db)
        for i in range(0, len(papers), ELINK_BATCH):
            run = Run("followed papers")
            call = eutils.elink_citedin(self.lw_settings, papers[i : i + ELINK_BATCH])
            yield self._search(run, call, self.parse_citedin, f"papers citing {len(papers[i : i + ELINK_BATCH])} followed papers")

    # ------------------------------------------------------------ requests
    def _request(self, run: Run, call: eutils.EUtilsCall, callback, what: str, *, priority: int = 0,
                 **meta) -> scrapy.FormRequest:
        run.pending += 1
        return scrapy.FormRequest(
            call.url,
            priority=priority,
            formdata=call.form(),
            callback=callback,
            errback=self.on_error,
            dont_filter=True,
            meta={"lw_run": run, "lw_what": f"{run.name}: {what}" if run.topic else what, "lw_call": call,
                  "download_slot": SLOT, **meta},
        )

    def _search(self, run, call, callback, what, **meta):
        return self._request(run, call, callback, what, **meta)

    def _window(self, run: Run, window: Window, *, retstart: int = 0, parent=None, ids=(), count=None):
        """esearch of one window; ``parent`` = (Window, count, skew, exact) when it is the first
        piece of a split window (the answer then tells the later part's count)."""
        if window.kind == "new":
            call = eutils.esearch(self.lw_settings, eutils.window_term(window.term, window.lo, window.hi),
                                  retstart=retstart, retmax=self.page, usehistory=True)
        else:
            call = eutils.esearch(self.lw_settings, window.term, mindate=window.lo, maxdate=window.hi,
                                  datetype=window.kind, retstart=retstart, retmax=self.page, usehistory=True)
        what = f"esearch {window.kind} {window.lo}..{window.hi}" + (f" from {retstart}" if retstart else "")
        # Ahead of any fetch waiting for its turn: a search opens up more work (the later part
        # of a split window waits for it), a fetch only finishes some.
        return self._request(run, call, self.parse_window, what, priority=WINDOW_PRIORITY, lw_window=window, lw_parent=parent,
                             lw_ids=list(ids), lw_count=count, handle_httpstatus_list=[400])

    def _put_in_flight(self, run: Run, pmids: list[str]) -> None:
        """``pmids`` are being fetched, by this run (never sent as its topic links too)."""
        self.in_flight.update(pmids)
        run.fetching.update(pmids)

    def _fetches(self, run: Run, pmids: list[str], purpose: str):
        fresh = [p for p in pmids if p not in self.in_flight]
        self._put_in_flight(run, fresh)
        for i in range(0, len(fresh), self.batch):
            yield self._id_fetch(run, fresh[i : i + self.batch], purpose)

    def _id_fetch(self, run: Run, pmids: list[str], purpose: str) -> scrapy.FormRequest:
        """One efetch of these PMIDs (POST ``id=``)."""
        return self._request(run, eutils.efetch(self.lw_settings, pmids), self.parse_efetch, f"efetch of {len(pmids)} PMIDs",
                             lw_pmids=pmids, lw_purpose=purpose)

    def _history_fetches(self, run: Run, span: Span):
        """The first ``HISTORY_AHEAD`` slices of a span; each answer asks for the next one
        (``_slice_ahead``).  Its records are put in flight, for this run."""
        self._put_in_flight(run, span.ids[span.lo : span.hi])
        for start in range(span.lo, min(span.hi, span.lo + HISTORY_AHEAD * self.history_batch), self.history_batch):
            yield self._history_fetch(run, span, start)

    def _history_fetch(self, run: Run, span: Span, start: int):
        """One slice of a span of a result set on the history server.  ``HISTORY_AHEAD``
        slices are asked for at a time, the next when one arrives: the requests keep the
        service's pace instead of waiting for each answer's transfer and its callback (an
        expired WebEnv then costs at most that many requests)."""
        if span.hi - span.lo > self.history_batch:  # a backfill: warm the workers while this downloads
            self.parse_pool.start()
        batch = span.ids[start : min(start + self.history_batch, span.hi)]
        call = eutils.efetch_history(self.lw_settings, span.history[0], span.history[1], start, len(batch))
        window = span.window
        # Slices in order (Scrapy's scheduler is last-in first-out within a priority).
        return self._request(run, call, self.parse_efetch, f"efetch {start}..{start + len(batch)} of {window.kind} {window.lo}..{window.hi}",
                             priority=-((start - span.lo) // self.history_batch), lw_pmids=batch, lw_purpose="topic",
                             lw_history=(span, start))

    def _known(self, pmids) -> set[str]:
        from litwatch.db.publications import known_pmids

        return known_pmids(self.db, pmids)

    # ------------------------------------------------------------- answers
    def _retry(self, response, reason: str):
        """The same request again (in-band error, truncated or malformed answer)."""
        return retry_request(response.request, reason, self.settings)

    def _answer(self, response, reader, *, passthrough=(eutils.SearchCapError,)):
        """(result, None) or (None, retry request); a retry that is used up fails the run.
        Exceptions in ``passthrough`` (the cap, an expired history) are the caller's."""
        self.counts["requests"] += 1
        try:
            return reader(response.body), None
        except passthrough:
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
        if run.incomplete:
            self.warn(f"topic {run.topic}: incomplete this crawl (PubMed served fewer records than it found); "
                      "the missing ones are queued and the next crawl covers the same days again")
        yield {
            "_type": "topic_done",
            "topic": run.topic,
            "watermark": run.maxdate.isoformat() if run.move_watermark and not run.incomplete else None,
            "result_count": run.total,
            "found": len(run.found),
        }

    def on_error(self, failure):
        run = failure.request.meta["lw_run"]
        pieces = self._in_halves(failure.request) if self.too_big(failure) else []
        if pieces:
            # Records with very long reference lists made an efetch answer larger than
            # DOWNLOAD_MAXSIZE: the same records in two requests, not a failed topic.
            self.counts["efetch_halved"] += 1
            self.logger.info("%s: answer too large, asking for its records in two halves", failure.request.meta["lw_what"])
            yield from pieces
            hist = failure.request.meta.get("lw_history")
            if hist:
                span, start = hist
                self.slices_back.setdefault(span.history, set()).add(start)  # fetched by id now
                yield from self._slice_ahead(run, hist)
        else:
            run.failed = True
            self.errback(failure)
        self.counts["requests"] += 1
        yield from self._finish(run)

    def _in_halves(self, request) -> list:
        """The records of an efetch (a history slice or a batch of ids) as two id efetches."""
        pmids = request.meta.get("lw_pmids") or []
        if len(pmids) < 2:
            return []
        half = (len(pmids) + 1) // 2
        return [self._id_fetch(request.meta["lw_run"], part, request.meta["lw_purpose"]) for part in (pmids[:half], pmids[half:])]

    def _slice_ahead(self, run: Run, hist: tuple):
        """After a history slice came back: the slice ``HISTORY_AHEAD`` further on, if any."""
        span, start = hist
        ahead = start + HISTORY_AHEAD * self.history_batch
        if ahead < span.hi and not run.failed and span.history not in self.expired:
            yield self._history_fetch(run, span, ahead)

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
        window: Window = response.meta["lw_window"]
        parent = response.meta["lw_parent"]
        retstart = int(response.request.meta["lw_call"].params["retstart"])
        result = retry = None
        try:
            if response.status == 400:
                if retstart == 0:
                    self.counts["requests"] += 1
                    self._failed(run, f"{response.meta['lw_what']}: HTTP 400 from esearch")
                    yield from self._finish(run)
                    return
                raise eutils.SearchCapError(f"HTTP 400 for retstart={retstart}")
            result, retry = self._answer(response, eutils.parse_esearch)
        except eutils.SearchCapError as exc:
            # Past the cap while paging: the result set grew (or the cap is lower than we
            # thought).  Split the window where its records are; never retry in vain.
            self.logger.info("%s: %s: splitting", response.meta["lw_what"], exc)
            yield from self._split(run, window, max(response.meta["lw_count"] or 0, self.cap + 1), exact=False)
            yield from self._rest(run, parent, None)
            yield from self._finish(run)
            return
        if retry is not None:
            yield retry
            return
        if result is not None:
            if result.count > self.cap:
                if window.kind == "new":  # a backfill: the parsing processes start meanwhile
                    self.parse_pool.start()
                yield from self._split(run, window, result.count, self._first_skew(window, parent, result.count))
                yield from self._rest(run, parent, result.count)
                if window.kind == "new" and retstart == 0 and result.webenv and result.query_key and not run.failed:
                    yield from self._prefetch(run, window, (result.webenv, result.query_key), result.ids)
                yield from self._finish(run)
                return
            ids = response.meta["lw_ids"] + result.ids
            if len(ids) < result.count and result.ids:
                # The answer was shorter than the window (a small retmax): page on.  The
                # split bookkeeping waits for the last page.
                yield self._window(run, window, retstart=len(ids), parent=parent, ids=ids, count=result.count)
                yield from self._finish(run)
                return
            if len(ids) < result.count:
                run.incomplete = True
                self.warn(f"{response.meta['lw_what']}: PubMed returned no ids from {len(ids)} of {result.count}")
            single = retstart == 0 and result.webenv and result.query_key
            history = (result.webenv, result.query_key) if single else None
            # The later part's search first: it opens up more work than these fetches, and
            # an idle download slot sends whatever comes first.
            yield from self._rest(run, parent, result.count)
            yield from self._ids(run, window, ids, history)
        yield from self._finish(run)

    def _split(self, run: Run, window: Window, count: int, skew: int = 0, *, exact: bool = True):
        cut = eutils.next_cut(window.lo, window.hi, count, self.cap, skew)
        if cut is None:
            run.failed = True
            self.fail(
                f"{run.name}: {count} records with {window.kind} date {window.lo}: more than PubMed serves for one search "
                f"({self.cap}) on a single day; narrow the topic's query"
            )
            return
        self.counts["windows_split"] += 1
        yield self._window(run, window.part(window.lo, cut), parent=(window, count, skew, exact))

    def _first_skew(self, window: Window, parent, count: int) -> int:
        """The skew to split an over-cap first piece with (records crowding its early days?)."""
        if parent is None:
            return 0
        whole, whole_count, skew, exact = parent
        if not exact:
            return 0
        return eutils.next_skews(count, window.days, whole_count, whole.days, self.cap, skew)[0]

    def _rest(self, run: Run, parent, first_count: int | None):
        """After the first piece of a split window: the later part, whose count is the
        parent's minus the first piece's (searched only to read its ids, or split again)."""
        if parent is None:
            return
        whole, count, skew, exact = parent
        cut = eutils.next_cut(whole.lo, whole.hi, count, self.cap, skew)
        first_days = (cut - whole.lo).days + 1
        rest = whole.part(cut + dt.timedelta(days=1), whole.hi)
        if first_count is None or not exact:  # the whole's count was a guess: search the rest
            yield self._window(run, rest)
            return
        left = count - first_count
        if left > self.cap:
            yield from self._split(run, rest, left, eutils.next_skews(first_count, first_days, count, whole.days, self.cap, skew)[1])
        elif left > 0:
            yield self._window(run, rest)

    def _prefetch(self, run: Run, window: Window, history: tuple[str, str], ids: list[str]):
        """An over-cap window's answer still holds the first 9,999 ids of its result set, and
        the history server serves them: the new ones are fetched now, while the window is
        split and its pieces searched, instead of after (a backfill's parsing starts a search
        chain earlier).  The pieces' searches still find every record of the window; the
        ones in flight already are skipped (``_ids``)."""
        known = self._known(ids)
        span = contiguous_run(ids, [p for p in ids if p not in known and p not in self.in_flight])
        if span is not None:
            yield from self._history_fetches(run, Span(window, history, ids, *span, search_again=False))

    def _ids(self, run: Run, window: Window, ids: list[str], history: tuple[str, str] | None):
        if not ids:
            return
        known = self._known(ids)
        if window.kind == "new":
            self.counts["found"] += len(set(ids) - run.found)
            run.found.update(ids)
            linked = [p for p in ids if (p in known or p in self.in_flight) and p not in run.fetching]
            if linked:
                yield {"_type": "topic_link", "topic": run.topic, "pmids": linked}
            new = [p for p in ids if p not in known and p not in self.in_flight]
            span = contiguous_run(ids, new) if history else None
            if span is not None:
                # The new records are one run of the result set (all of it, or what an
                # over-cap answer's prefetch left): read it from the history server.
                yield from self._history_fetches(run, Span(window, history, ids, *span))
            else:
                yield from self._fetches(run, new, purpose="topic")
        else:  # mdat: records we hold that PubMed revised since
            revised = [p for p in ids if p in known and p not in self.in_flight]
            self.counts["revised"] += len(revised)
            yield from self._fetches(run, revised, purpose="topic")

    async def parse_efetch(self, response):
        run: Run = response.meta["lw_run"]
        hist = response.meta.get("lw_history")
        if hist is not None:
            span, start = hist
            history = span.history
            try:
                _, retry = self._answer(response, eutils.check_efetch, passthrough=(eutils.HistoryExpired,))
            except eutils.HistoryExpired:
                # The WebEnv is gone: what is not fetched yet is searched for again, once
                # (a slice asked for ahead comes back expired too; the new search covers it).
                # Every slice that has not come back is "not fetched", whichever expired
                # answer arrives first: two slices are in flight at once, and a later one's
                # ids alone would leave an earlier one's in flight forever (never fetched).
                if history not in self.expired:
                    self.expired.add(history)
                    self.counts["history_expired"] += 1
                    back = self.slices_back.pop(history, set())
                    lost = [p for first in range(span.lo, span.hi, self.history_batch) if first not in back
                            for p in span.ids[first : min(first + self.history_batch, span.hi)]]
                    self.in_flight.difference_update(lost)
                    if span.search_again:
                        yield self._window(run, span.window)
                    else:  # an over-cap answer's records: its pieces' searches skipped them
                        for request in self._fetches(run, lost, purpose="topic"):
                            yield request
                for item in self._finish(run):
                    yield item
                return
            if retry is not None:
                yield retry
                return
            self.counts["requests"] -= 1  # counted once, below
            self.slices_back.setdefault(history, set()).add(start)
            # Ask for a further slice before parsing this one: downloads overlap parsing.
            for request in self._slice_ahead(run, hist):
                yield request

        returned: set[str] = set()
        complete = retry = None
        async for kind, *got in self._parse_in_workers(response):  # (to its end: nothing left suspended)
            if kind == "retry":
                retry = got[0]
            elif kind == "done":
                complete = True
            else:
                rows, errors = got
                returned.update(r[ROW_PMID] for r in rows)
                returned.update(e.pmid for e in errors if e.pmid)
                self.counts["fetched"] += len(rows) + len(errors)
                yield self._batch(run, response, rows, errors, [])
        if retry is not None:
            yield retry
            return
        if complete:
            requested = response.meta["lw_pmids"]
            missing = [p for p in requested if p not in returned]
            if missing:
                if hist is not None:
                    run.incomplete = True
                    self.warn(f"{response.meta['lw_what']}: a short page ({len(returned)} of {len(requested)} records)")
                yield self._batch(run, response, [], [], missing)
        for item in self._finish(run):
            yield item

    @staticmethod
    def _batch(run: Run, response, rows: list, errors: list, missing: list[str]) -> dict:
        return {"_type": "pubmed_batch", "topic": run.topic, "purpose": response.meta["lw_purpose"],
                "records": RowBatch(rows), "errors": errors, "missing": missing}

    async def _parse_in_workers(self, response):
        """``_answer`` with the parse in the worker processes (``crawler.parse_worker``):
        the reactor keeps downloading meanwhile, and parsing holds no GIL of this process.

        Yields ("rows", rows, errors) as the answer's blocks come back, in order, at least
        ``STREAM_ROWS`` rows at a time (the store writes the first part of an answer while
        the workers parse the rest: at the end of a backfill only the last part is left to
        store), then ("done",); or ("retry", request); or nothing more once the run failed
        (retries used up, or a parsing process died: the topic fails, its watermark stays,
        and the next crawl asks for these records again; what was stored stays stored)."""
        import asyncio

        body = response.body
        self.counts["requests"] += 1
        try:
            eutils.check_efetch(body)
            futures = self.parse_pool.blocks(body)
            rows, errors, found = [], [], 0
            for i, future in enumerate(futures):
                try:
                    batch, bad, n = await asyncio.wrap_future(future)
                except BrokenProcessPool as exc:
                    raise WorkerDied(f"a parsing process died ({exc})") from None
                rows += batch.rows
                errors += bad
                found += n
                if len(rows) >= self.STREAM_ROWS and len(futures) - i > 2:  # (not a last sliver)
                    yield "rows", rows, errors
                    rows, errors = [], []
            if not found:
                check_container(body[:4096])
            if rows or errors:
                yield "rows", rows, errors
            yield ("done",)
        except WorkerDied as exc:
            self._failed(response.meta["lw_run"], f"{response.meta['lw_what']}: {exc}")
        except (eutils.EUtilsError, etree.XMLSyntaxError) as exc:
            try:
                yield "retry", self._retry(response, str(exc)[:200])
            except RetriesExhausted as final:
                self._failed(response.meta["lw_run"], f"{response.meta['lw_what']}: {final}")

    def parse_trial_search(self, response):
        run: Run = response.meta["lw_run"]
        nct = response.meta["lw_nct"]
        result, retry = self._answer(response, eutils.parse_esearch)
        if retry is not None:
            yield retry
            return
        if result is not None and result.ids:
            yield {"_type": "trial_link", "nct_id": nct, "pmids": result.ids}
            yield {"_type": "citing_links", "links": [(p, nct) for p in result.ids]}
            known = self._known(result.ids)
            yield from self._fetches(run, [p for p in result.ids if p not in known], purpose="trial")
        yield from self._finish(run)

    def parse_citedin(self, response):
        run: Run = response.meta["lw_run"]
        linked, retry = self._answer(response, eutils.parse_elink)
        if retry is not None:
            yield retry
            return
        if linked is not None:
            links = [(citing, cited) for cited, citing_ids in linked.items() for citing in citing_ids]
            if links:
                yield {"_type": "citing_links", "links": links}
                citing = list(dict.fromkeys(c for c, _ in links))
                known = self._known(citing)
                self.counts["citing_found"] += len(citing)
                yield from self._fetches(run, [p for p in citing if p not in known], purpose="citing")
        yield from self._finish(run)

    def closed(self, reason):
        if self.counts.get("requests_failed") and self.counts["requests_failed"] >= self.counts.get("requests", 0):
            self.warn("every request to PubMed (E-utilities) failed: nothing was fetched; see the errors above")
        db = getattr(self, "db", None)
        if db is not None:
            db.conn.close()
        pool = getattr(self, "parse_pool", None)
        if pool is not None:
            pool.close()
