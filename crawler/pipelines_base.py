"""What every litwatch item pipeline shares: the crawler's spider, a database connection,
and one rule for failures.

Each pipeline opens its own connection when the spider opens (SQLite connections are
cheap, and one per pipeline keeps their transactions independent) and closes it when the
spider closes.

The rule (issue 10): an exception while validating or storing an item is never just a log
line.  ``process_item`` of every subclass is wrapped once, here: the exception fails the
item's topic (``LitwatchSpider.item_failed``: an error line naming the topic and the cause,
so the crawl is not ``ok`` and exits non-zero), a pipeline that can keep the record
(``quarantine_failed``) keeps it with its raw bytes for the next crawl, and the item goes
no further.  The topic's later ``topic_done`` marker then reaches the pipelines as
``topic_failed``: its watermark stays, so the next crawl asks for the same window again
and stores what this one could not (saves are upserts: nothing doubles).
"""

from __future__ import annotations

import functools
import inspect

from scrapy.exceptions import DropItem

from litwatch.vocab.text import clean_text


def _guarded(process_item):
    """``process_item`` under the rule above; a coroutine (a pipeline whose SQL runs in a
    thread of its own) is awaited under the same rule."""

    @functools.wraps(process_item)
    def wrapper(self, item, *args, **kwargs):
        spider = self.spider
        if isinstance(item, dict) and item.get("_type") == "topic_done" and spider is not None:
            error = spider.topic_error(item.get("topic"))
            if error is not None:
                item = {"_type": "topic_failed", "topic": item["topic"], "error": error}
        try:
            result = process_item(self, item, *args, **kwargs)
        except DropItem:
            raise
        except Exception as exc:
            _failed(self, item, exc)
        if inspect.isawaitable(result):
            return _awaited(self, item, result)
        return result

    wrapper._lw_guarded = True
    return wrapper


async def _awaited(pipeline, item, result):
    try:
        return await result
    except DropItem:
        raise
    except Exception as exc:
        _failed(pipeline, item, exc)


def _failed(pipeline, item, exc: Exception):
    """Report a failed item (its topic fails; quarantine when the pipeline can) and drop it."""
    spider = pipeline.spider
    if spider is None:
        raise exc
    cause = f"{type(exc).__name__}: {exc}"
    stage = getattr(pipeline, "stage", "store")
    quarantined = False
    if hasattr(pipeline, "quarantine_failed"):
        try:
            quarantined = bool(pipeline.quarantine_failed(item, f"could not {stage} it: {cause}"))
        except Exception:  # the store itself is failing (disk full): the refetch keeps it
            quarantined = False
    spider.item_failed(item, stage, cause, quarantined=quarantined)
    raise DropItem(f"{stage} failed: {cause}", log_level="DEBUG") from exc  # already reported


class CrawlerPipeline:
    # What the pipeline does, for the failure line ("could not validate", "could not store").
    stage = "store"

    def __init__(self, crawler):
        self.crawler = crawler

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        method = cls.__dict__.get("process_item")
        if method is not None and not getattr(method, "_lw_guarded", False):
            cls.process_item = _guarded(method)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    @property
    def spider(self):
        return self.crawler.spider


class DbPipeline(CrawlerPipeline):
    db = None

    def open_spider(self):
        from litwatch.db import open_db

        self.db = open_db(self.spider.lw_settings.db_path)

    def close_spider(self):
        if self.db is not None:
            self.db.conn.close()
            self.db = None


def clean_strings(value):
    """``value`` with control characters removed from every string in it (dicts and lists
    are walked; bytes, such as the raw XML kept for quarantine, are left as they are)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        for key, inner in value.items():
            value[key] = clean_strings(inner)
        return value
    if isinstance(value, list):
        for i, inner in enumerate(value):
            value[i] = clean_strings(inner)
        return value
    if isinstance(value, tuple):
        return tuple(clean_strings(v) for v in value)
    return value


class CleanTextPipeline(CrawlerPipeline):
    """First step of every spider's pipelines (``ITEM_PIPELINES_BASE`` in
    ``crawler.settings``): upstream text loses its control characters (ESC sequences, BEL,
    C1) before anything validates, stores or shows it, so a hostile title cannot repaint a
    terminal through ``litwatch show`` or hide text in a digest."""

    stage = "clean"

    def process_item(self, item):
        return clean_strings(item)
