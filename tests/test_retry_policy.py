"""The retry policy: backoff, Retry-After, what counts as transient."""

import datetime as dt
import email.utils

import pytest
from scrapy import Request
from scrapy.settings import Settings

from litwatch.crawler.middlewares import (
    RetriesExhausted,
    _safe_url,
    backoff_delay,
    parse_retry_after,
    retry_request,
)


def test_retry_after_seconds_and_date():
    assert parse_retry_after(b"7") == 7.0
    now = 1_700_000_000.0
    when = email.utils.format_datetime(dt.datetime.fromtimestamp(now + 30, dt.timezone.utc), usegmt=True)
    assert parse_retry_after(when, now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None


def test_backoff_doubles_and_is_capped():
    assert [backoff_delay(n, 2.0, 10.0) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 10.0]
    assert backoff_delay(1, 2.0, 60.0, retry_after=30) == 30
    assert backoff_delay(1, 2.0, 60.0, retry_after=3600) == 60


def test_retry_request_counts_tries_then_gives_up():
    settings = Settings({"LITWATCH_RETRY_TIMES": 2, "LITWATCH_BACKOFF_BASE": 1.0, "LITWATCH_BACKOFF_MAX": 60.0})
    req = Request("http://127.0.0.1/x?api_key=SECRET")
    first = retry_request(req, "HTTP 429", settings)
    assert first.meta["lw_retry"] == 1 and first.meta["lw_delay"] == 1.0 and first.dont_filter
    second = retry_request(first, "HTTP 429", settings)
    assert second.meta["lw_delay"] == 2.0
    with pytest.raises(RetriesExhausted, match="gave up after 2 retries"):
        retry_request(second, "HTTP 429", settings)


def test_api_key_masked_in_urls():
    assert _safe_url("http://h/esearch.fcgi?db=pubmed&api_key=abc123&term=x") == "http://h/esearch.fcgi?db=pubmed&api_key=***&term=x"


def test_unreachable_host_gets_short_retries_then_fails_fast():
    """After one request used up its connect retries, the host's other requests fail at once."""
    import asyncio

    from scrapy.statscollectors import MemoryStatsCollector
    from twisted.internet import error as twisted_error

    from litwatch.crawler.middlewares import BackoffRetryMiddleware

    class Crawler:
        settings = Settings({"LITWATCH_RETRY_TIMES": 6, "LITWATCH_BACKOFF_BASE": 2.0, "LITWATCH_BACKOFF_MAX": 60.0,
                             "LITWATCH_CONNECT_RETRY_TIMES": 2})

    Crawler.stats = MemoryStatsCollector(Crawler)
    mw = BackoffRetryMiddleware(Crawler)
    refused = twisted_error.ConnectionRefusedError()
    req = Request("http://127.0.0.1:9/a")
    retries = [mw.process_exception(req, refused)]
    retries.append(mw.process_exception(retries[-1], refused))
    assert [r.meta["lw_delay"] for r in retries] == [2.0, 4.0]
    with pytest.raises(RetriesExhausted, match="gave up after 2 retries"):
        mw.process_exception(retries[-1], refused)
    other = Request("http://127.0.0.1:9/b")
    with pytest.raises(RetriesExhausted, match="could not be reached earlier in this crawl"):
        asyncio.run(mw.process_request(other))
    # a connection dropped mid-answer is not "unreachable": the full retry budget applies
    assert mw.process_exception(Request("http://other.example/x"), twisted_error.ConnectionLost()).meta["lw_retry"] == 1
