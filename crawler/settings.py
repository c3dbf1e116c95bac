"""Scrapy settings every litwatch spider starts from.

Spiders add their own (rate, pipelines) through ``custom_settings``/``update_settings``.
"""

from __future__ import annotations

import os

from litwatch.config import Settings

# These are APIs, not web sites: their usage policies (NCBI's E-utilities guidelines,
# ClinicalTrials.gov's API terms) govern access, not robots.txt.  Obeying robots.txt on an
# API host can block every request with only a DEBUG line (a redirect or a blanket
# Disallow), which is the silent empty crawl we must never have.
ROBOTSTXT_OBEY = False


def _no_jitter() -> dict:
    """Turn off Scrapy's random variation of DOWNLOAD_DELAY (by default +-50%, which would
    let two requests come 0.5 x delay apart and break a service's rate limit).  Scrapy 2.19
    calls it DOWNLOAD_DELAY_JITTER; older releases RANDOMIZE_DOWNLOAD_DELAY (now deprecated)."""
    from scrapy.settings import default_settings

    if hasattr(default_settings, "DOWNLOAD_DELAY_JITTER"):
        return {"DOWNLOAD_DELAY_JITTER": 0}
    return {"RANDOMIZE_DOWNLOAD_DELAY": False}


_NO_JITTER = _no_jitter()

# Scrapy components no litwatch crawl uses, left out of Scrapy's own component lists (the
# ``*_BASE`` settings): Scrapy imports every component named there to compare them, even
# one switched off by ``None`` or its setting, and these imports were a third of every
# crawl child's start-up (remote control: aiohttp, ~0.2 s; cookies: tldextract, ~0.1 s;
# telnet: twisted.conch).  The rest of each list stays Scrapy's, whatever its version.
UNUSED = {
    "EXTENSIONS_BASE": ("remote_control.RemoteControl", "telnet.TelnetConsole", "feedexport.FeedExporter",
                        "memdebug.MemoryDebugger", "spiderstate.SpiderState", "throttle.AutoThrottle"),
    # Cookies are off (COOKIES_ENABLED), robots.txt is not obeyed (ROBOTSTXT_OBEY says
    # why), no HTTP cache, and litwatch's own retry middleware replaces Scrapy's.
    "DOWNLOADER_MIDDLEWARES_BASE": ("cookies.CookiesMiddleware", "robotstxt.RobotsTxtMiddleware",
                                    "httpcache.HttpCacheMiddleware", "retry.RetryMiddleware"),
}


def _unused_off() -> dict:
    from scrapy.settings import default_settings

    out = {}
    for name, unwanted in UNUSED.items():
        base = getattr(default_settings, name, None)
        if isinstance(base, dict):
            out[name] = {path: prio for path, prio in base.items() if not path.endswith(unwanted)}
    return out


_UNUSED_OFF = _unused_off()


def _shows_info(log_level: str) -> bool:
    import logging

    level = logging.getLevelName(str(log_level).upper())
    return not isinstance(level, int) or level <= logging.INFO


def base_settings(settings: Settings, *, log_level: str = "WARNING") -> dict:
    return {
        "BOT_NAME": "litwatch",
        "USER_AGENT": settings.user_agent,
        "ROBOTSTXT_OBEY": ROBOTSTXT_OBEY,
        "LOG_LEVEL": log_level,
        "TELNETCONSOLE_ENABLED": False,
        "COOKIES_ENABLED": False,
        # Politeness: one request at a time per host (PubMed allows two in flight); each
        # spider sets DOWNLOAD_DELAY from the service's published limit, or (NCBI's
        # spiders) the rate window of ``crawler.rate_window``.  No random jitter: the
        # delay is the floor.
        "CONCURRENT_REQUESTS": 4,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        **_NO_JITTER,
        "AUTOTHROTTLE_ENABLED": False,
        "DOWNLOAD_TIMEOUT": 60,
        # A body shorter than its Content-Length is a failure (retried), never parsed.
        "DOWNLOAD_FAIL_ON_DATALOSS": True,
        # Our retry middleware replaces Scrapy's: it backs off and honours Retry-After.
        "RETRY_ENABLED": False,
        "DOWNLOADER_MIDDLEWARES": {
            "litwatch.crawler.middlewares.BackoffRetryMiddleware": 550,
            # Last before the download (after any backoff wait): a spider that sets
            # LITWATCH_RATE_LIMIT is held to that many starts in any LITWATCH_RATE_SPAN s.
            "litwatch.crawler.rate_window.RateWindowMiddleware": 950,
        },
        **_UNUSED_OFF,
        # Six retries with doubling waits from 2 s span about two minutes: longer than
        # the NCBI and ClinicalTrials.gov hiccups we have seen, short enough for a cron job.
        # The environment may override them (the tests make the waits tiny).
        "LITWATCH_RETRY_TIMES": int(os.environ.get("LITWATCH_RETRY_TIMES", 6)),
        "LITWATCH_BACKOFF_BASE": float(os.environ.get("LITWATCH_BACKOFF_BASE", 2.0)),
        "LITWATCH_BACKOFF_MAX": float(os.environ.get("LITWATCH_BACKOFF_MAX", 120.0)),
        # A host that refuses connections or has no address gets fewer retries (2+4+8 s),
        # then fails the rest of the crawl's requests to it at once (see the middleware).
        "LITWATCH_CONNECT_RETRY_TIMES": int(os.environ.get("LITWATCH_CONNECT_RETRY_TIMES", 3)),
        # Error responses reach the spider's errback rather than vanishing.
        "HTTPERROR_ALLOW_ALL": False,
        "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
        # Scrapy reads and tokenises the source of each generator callback the first time
        # it is called, to warn about a ``return value`` in it: ~5 ms a callback, in the
        # chain of searches before a backfill's first fetch.  The same check runs in the test
        # suite instead (tests/test_crawl_process.py), over every litwatch spider.
        "WARN_ON_GENERATOR_RETURN_VALUE": False,
        # Scrapy looks up the versions of ten packages and the platform (``uname -p``, a
        # subprocess) for one INFO line, whatever the log level: looked up only when an INFO
        # line is shown.
        **({} if _shows_info(log_level) else {"LOG_VERSIONS": []}),
        "HTTPPROXY_ENABLED": True,  # honours HTTPS_PROXY / HTTP_PROXY
        # Before any spider's own pipelines: control characters leave upstream text
        # (crawler.pipelines_base.CleanTextPipeline).  The base dict merges with each
        # spider's ITEM_PIPELINES, so no spider can forget it.
        "ITEM_PIPELINES_BASE": {"litwatch.crawler.pipelines_base.CleanTextPipeline": 10},
        # Bounded memory whatever upstream sends: Scrapy's default maximum is 1 GiB.  Each
        # spider sets its own (custom_settings); an answer past it is cancelled, reported
        # with its URL, and fails its topic or feed.
        "DOWNLOAD_MAXSIZE": 32 * 1024 * 1024,
        "DOWNLOAD_WARNSIZE": 8 * 1024 * 1024,
    }
