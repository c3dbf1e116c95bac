"""Retries with exponential backoff for what is transient, and nothing else.

Transient: HTTP 429 and 5xx (and 408), timeouts and dropped connections, a body cut short
(Scrapy's data-loss check), an empty 200 body.  A spider that finds an in-band error inside
a 200 (E-utilities ``<ERROR>``) asks for the same treatment with ``retry_request``.

The wait is ``Retry-After`` when the server sends it, else ``base * 2**(try-1)`` capped at
``LITWATCH_BACKOFF_MAX``; it is spent in ``process_request`` before the retry enters the
download slot, so the spider's politeness delay still applies on top.
"""

from __future__ import annotations

import email.utils
import logging
import time

from scrapy import Request
from scrapy import exceptions as scrapy_exceptions
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet import defer, task
from twisted.internet import error as twisted_error
from twisted.web._newclient import ResponseFailed
from twisted.web.client import ResponseNeverReceived

logger = logging.getLogger(__name__)

RETRY_STATUSES = {408, 429, 500, 502, 503, 504, 522, 524}
TRANSIENT_EXCEPTIONS = (
    defer.TimeoutError,
    twisted_error.TimeoutError,
    twisted_error.DNSLookupError,
    twisted_error.ConnectionRefusedError,
    twisted_error.ConnectionDone,
    twisted_error.ConnectError,
    twisted_error.ConnectionLost,
    twisted_error.TCPTimedOutError,
    ResponseFailed,
    ResponseNeverReceived,
    IOError,
    # Scrapy >= 2.14 wraps download failures in its own types (a body cut short arrives as
    # ResponseDataLossError, not ResponseFailed).
    *(
        getattr(scrapy_exceptions, name)
        for name in ("ResponseDataLossError", "DownloadConnectionRefusedError", "DownloadTimeoutError", "DownloadFailedError")
        if hasattr(scrapy_exceptions, name)
    ),
)


# Errors that mean the host could not be reached at all (nothing listening, no such name,
# no route), as opposed to a slow or failing answer.
UNREACHABLE_EXCEPTIONS = (
    twisted_error.DNSLookupError,
    twisted_error.ConnectionRefusedError,
    twisted_error.ConnectError,
    twisted_error.TCPTimedOutError,
    *(
        getattr(scrapy_exceptions, name)
        for name in ("DownloadConnectionRefusedError",)
        if hasattr(scrapy_exceptions, name)
    ),
)


class RetriesExhausted(IgnoreRequest):
    """A request failed on every try; the spider's errback gets this with the last reason."""


def parse_retry_after(value: bytes | str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Wait before try ``attempt`` (1 = first retry)."""
    if retry_after is not None:
        return min(retry_after, cap)
    return min(base * (2 ** (attempt - 1)), cap)


def retry_request(
    request: Request, reason: str, settings, retry_after: float | None = None, max_retries: int | None = None
) -> Request:
    """The next try of ``request``, or raise RetriesExhausted when the tries are used up."""
    attempt = request.meta.get("lw_retry", 0) + 1
    max_tries = request.meta.get("lw_max_retries", settings.getint("LITWATCH_RETRY_TIMES"))
    if max_retries is not None:
        max_tries = min(max_tries, max_retries)
    if attempt > max_tries:
        raise RetriesExhausted(f"{reason} (gave up after {max_tries} retries)")
    delay = backoff_delay(
        attempt,
        settings.getfloat("LITWATCH_BACKOFF_BASE"),
        settings.getfloat("LITWATCH_BACKOFF_MAX"),
        retry_after,
    )
    # The downloader's own bookkeeping (latency, timeout of the last try) must not travel
    # with the retry; the download slot (politeness) must.
    meta = {k: v for k, v in request.meta.items() if not k.startswith("download_") or k == "download_slot"}
    new = request.replace(dont_filter=True, meta=meta)
    new.meta["lw_retry"] = attempt
    new.meta["lw_delay"] = delay
    new.meta["lw_last_reason"] = reason
    new.priority = request.priority + 1
    logger.info("retry %d of %s in %.1fs: %s", attempt, _safe_url(request.url), delay, reason)
    return new


def _safe_url(url: str) -> str:
    """A URL fit for logs: the api_key parameter is masked."""
    import re

    return re.sub(r"(api_key=)[^&]+", r"\1***", url)


class BackoffRetryMiddleware:
    """See the module docstring.  One more rule, for a host that cannot be reached at all:
    its connection errors get ``LITWATCH_CONNECT_RETRY_TIMES`` retries (default 3: 2+4+8 s),
    and once a request to it has used them up, the host counts as unreachable for the rest
    of this crawl and its other requests fail at once, instead of each waiting out its own
    backoff (with the service down, a full crawl would otherwise take half an hour to say
    so).  The next crawl tries again; any answer from the host clears the mark.
    """

    def __init__(self, crawler):
        self.crawler = crawler
        self.settings = crawler.settings
        self.stats = crawler.stats
        self.connect_retries = self.settings.getint("LITWATCH_CONNECT_RETRY_TIMES", 3)
        self.unreachable: dict[str, str] = {}  # host -> why

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    async def process_request(self, request, spider=None):
        delay = request.meta.pop("lw_delay", 0)
        if delay:
            await sleep(delay)
        host = urlparse_cached(request).netloc
        if host in self.unreachable:
            raise RetriesExhausted(f"{host} could not be reached earlier in this crawl ({self.unreachable[host]})")
        return None

    def process_response(self, request, response: Response, spider=None):
        self.unreachable.pop(urlparse_cached(request).netloc, None)
        if request.meta.get("dont_retry"):
            return response
        reason = None
        retry_after = None
        if response.status in RETRY_STATUSES:
            reason = f"HTTP {response.status}"
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        elif response.status == 200 and (not response.body or response.body.isspace()) and request.method != "HEAD":
            reason = "empty body"
        if reason is None:
            return response
        self.stats.inc_value(f"litwatch/retry/{reason}")
        try:
            return retry_request(request, reason, self.settings, retry_after)
        except RetriesExhausted:
            # Hand the last response on: the spider's errback/HttpError policy reports it.
            if response.status == 200:
                raise
            return response

    def process_exception(self, request, exception, spider=None):
        if request.meta.get("dont_retry") or not isinstance(exception, TRANSIENT_EXCEPTIONS):
            return None
        reason = f"{type(exception).__name__}: {exception}"[:200]
        self.stats.inc_value("litwatch/retry/exception")
        if not isinstance(exception, UNREACHABLE_EXCEPTIONS):
            return retry_request(request, reason, self.settings)
        host = urlparse_cached(request).netloc
        if host in self.unreachable:
            raise RetriesExhausted(f"{host} could not be reached earlier in this crawl ({self.unreachable[host]})")
        try:
            return retry_request(request, reason, self.settings, max_retries=self.connect_retries)
        except RetriesExhausted:
            self.unreachable[host] = reason
            raise


async def sleep(seconds: float) -> None:
    """Wait in the reactor (a coroutine for async middleware methods)."""
    # Imported here, not at module level: importing the reactor installs the default one,
    # and Scrapy must install its asyncio reactor first (spiders import this module).
    from scrapy.utils.defer import maybe_deferred_to_future
    from twisted.internet import reactor

    await maybe_deferred_to_future(task.deferLater(reactor, seconds, lambda: None))
