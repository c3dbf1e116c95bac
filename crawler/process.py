"""One crawl of one source, in this process: ``python -m crawler.process --source pubmed ...``.

Started by ``crawler.run`` (never imported into a long-lived process: Twisted's reactor
runs once per process).  It writes its result as JSON to ``--result`` so the parent gets
counts, warnings and errors without parsing logs.

It dies with its parent (``crawler.lifeline``), and what it writes (stderr, logs, the
result) passes through ``vocab.text.redact``: an upstream answer that echoes the API key
cannot carry it out of here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib
import json
import os
import sys
import traceback

SPIDERS = {
    "seeds": "litwatch.crawler.spiders.seeds:SeedsSpider",
    "ctgov": "litwatch.crawler.spiders.ctgov:CtgovSpider",
    "pubmed": "litwatch.crawler.spiders.pubmed:PubmedSpider",
    "feeds": "litwatch.crawler.spiders.feeds:FeedsSpider",
}


def load_spider(source: str):
    module_name, _, cls_name = SPIDERS[source].partition(":")
    return getattr(importlib.import_module(module_name), cls_name)


# Bytes a connection reads from its socket at a time (Twisted's default: 64 KB).  An efetch
# slice is ~12 MB: at 64 KB that was ~180 reads, each through Scrapy's body buffer and its
# per-chunk signal, ~1 s of the reactor thread's time over a 10,000-record backfill.
READ_SIZE = 1 << 20


def _read_in_bigger_pieces() -> None:
    from twisted.internet import tcp

    tcp.Connection.bufferSize = READ_SIZE


class _FrameLookups:
    """What ``scrapy.utils.deprecate.create_deprecated_class`` asks of ``inspect`` to name
    the module that defines a deprecated alias, answered from the frames themselves.

    Why: it calls ``inspect.stack()``, which reads the source lines of every frame on the
    stack (an import nests ~30 deep), then ``inspect.getmodule`` of the caller's frame,
    which maps every loaded module's file the first time.  Scrapy's HTTP download handler
    defines three such aliases on import: ~45 ms of every crawl's start-up, for a
    ``__module__`` attribute.  The answer is the same (``tests/test_crawl_process.py``)."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    @staticmethod
    def stack(context: int = 1) -> list:
        here = sys._getframe(1)  # the caller of stack(), then its caller: [1] is what Scrapy reads
        return [(here,), (here.f_back,)]

    def getmodule(self, obj, *args):
        import types

        if isinstance(obj, types.FrameType) and not args:
            return sys.modules.get(obj.f_globals.get("__name__")) or self._real.getmodule(obj)
        return self._real.getmodule(obj, *args)


def _load_download_handler() -> None:
    """Import Scrapy's HTTP download handler now, with ``_FrameLookups`` in place."""
    try:
        from scrapy.utils import deprecate
    except ImportError:
        return
    real = getattr(deprecate, "inspect", None)
    if real is None:  # a Scrapy that no longer looks frames up: nothing to save
        return
    deprecate.inspect = _FrameLookups(real)
    try:
        importlib.import_module("scrapy.core.downloader.handlers.http11")
    except ImportError:
        pass
    finally:
        deprecate.inspect = real


def crawl_source(source: str, config_path: str | None, since: dt.date | None, topics: list[str] | None, log_level: str) -> dict:
    from scrapy.crawler import CrawlerProcess

    from litwatch.config import load_settings, load_watchlist
    from litwatch.crawler.settings import base_settings
    from litwatch.vocab.times import today_utc

    settings = load_settings()
    watchlist = load_watchlist(config_path)
    today_utc()  # a bad LITWATCH_TODAY (a test knob) is one line here, not a spider that never starts
    process = CrawlerProcess(settings=base_settings(settings, log_level=log_level))
    _read_in_bigger_pieces()
    _load_download_handler()
    from litwatch.vocab.text import redact_logging

    redact_logging()  # Scrapy has installed its log handler by now
    crawler = process.create_crawler(load_spider(source))
    process.crawl(crawler, lw_settings=settings, watchlist=watchlist, since=since, topics=topics)
    from litwatch.crawler.heap import collect_seldom

    # Start-up's objects (Scrapy, Twisted: ~70,000) out of every later collection, and the
    # rows coming back from the parsing processes (tuples, strings: no cycles) seldom looked at.
    collect_seldom()
    process.start()
    spider = crawler.spider
    result = spider.summary() if spider is not None else {"counts": {}, "warnings": [], "errors": ["spider did not start"]}
    reason = crawler.stats.get_value("finish_reason")
    if reason not in (None, "finished"):
        result["errors"].append(f"crawl ended early: {reason}")
    return result


def main(argv: list[str] | None = None) -> int:
    # No crawl needs numpy, but sqlite-utils imports it when it is installed (biopython, of
    # the test extra, brings it): ~0.1 s of every crawl's start-up.  Marked absent here, so
    # sqlite-utils takes its path without it.
    sys.modules.setdefault("numpy", None)
    from litwatch.crawler.heap import keep_freed_memory, no_collection_at_start_up

    no_collection_at_start_up()  # until collect_seldom(), just before the crawl runs
    from litwatch.crawler.lifeline import die_with_parent
    from litwatch.vocab.text import redact, redact_std_streams

    die_with_parent()
    redact_std_streams()
    keep_freed_memory()  # before the parsing processes fork: they inherit it
    parser = argparse.ArgumentParser(prog="python -m crawler.process")
    parser.add_argument("--source", required=True, choices=sorted(SPIDERS))
    parser.add_argument("--config")
    parser.add_argument("--since")
    parser.add_argument("--topic", action="append")
    parser.add_argument("--result", required=True)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    since = dt.date.fromisoformat(args.since) if args.since else None
    close_forked = None
    if args.source == "pubmed":
        # Before Scrapy and its threads: the parsing processes fork from this small process
        # and are ready while Scrapy loads (``crawler.parse_worker.fork_workers``).
        from litwatch.config import load_settings
        from litwatch.crawler.parse_worker import close_forked, fork_workers, set_up_database

        if fork_workers():
            try:
                set_up_database(load_settings().db_path)
            except Exception:  # noqa: BLE001 - a bad setting is reported where the crawl loads them
                pass
    try:
        result = crawl_source(args.source, args.config, since, args.topic, args.log_level)
    except Exception as exc:  # reported to the parent as one line; traceback to stderr
        from litwatch.vocab.errors import LitwatchError

        if not isinstance(exc, LitwatchError):
            traceback.print_exc()
        result = {"counts": {}, "warnings": [], "errors": [f"{type(exc).__name__}: {exc}" if not isinstance(exc, LitwatchError) else str(exc)]}
    finally:
        if close_forked is not None:  # workers no spider took (it did not start)
            close_forked()
        gc.enable()  # (a start-up that failed before collect_seldom turned it back on)
    result["source"] = args.source
    for key in ("warnings", "errors"):
        result[key] = [redact(line) for line in result.get(key) or []]
    with open(args.result, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    return 0 if not result["errors"] else 1


def _exit_now(code: int) -> None:
    """End the process once its result is written, without the interpreter's teardown:
    freeing a crawl's heap module by module took ~0.3 s after a backfill, while everything
    that matters is done (the database closed by the pipelines and the spider, the parsing
    processes joined, the result file closed); the log and std streams are flushed here."""
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    _exit_now(main())
