"""Scrapy settings every litwatch spider starts from.

Spiders add their own (rate, pipelines) through ``custom_settings``/``update_settings``.
"""

from __future__ import annotations

from litwatch.config import Settings

# These are APIs, not web sites: their usage policies (NCBI's E-utilities guidelines,
# ClinicalTrials.gov's API terms) govern access, not robots.txt.  Obeying robots.txt on an
# API host can block every request with only a DEBUG line (a redirect or a blanket
# Disallow), which is the silent empty crawl we must never have.
ROBOTSTXT_OBEY = False


def base_settings(settings: Settings, *, log_level: str = "WARNING") -> dict:
    return {
        "BOT_NAME": "litwatch",
        "USER_AGENT": settings.user_agent,
        "ROBOTSTXT_OBEY": ROBOTSTXT_OBEY,
        "LOG_LEVEL": log_level,
        "TELNETCONSOLE_ENABLED": False,
        "COOKIES_ENABLED": False,
        # Politeness: one request at a time per host; each spider sets DOWNLOAD_DELAY from
        # the service's published limit.  No random jitter: the delay is the floor.
        "CONCURRENT_REQUESTS": 4,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        "RANDOMIZE_DOWNLOAD_DELAY": False,
        "AUTOTHROTTLE_ENABLED": False,
        "DOWNLOAD_TIMEOUT": 60,
        # A body shorter than its Content-Length is a failure (retried), never parsed.
        "DOWNLOAD_FAIL_ON_DATALOSS": True,
        # Our retry middleware replaces Scrapy's: it backs off and honours Retry-After.
        "RETRY_ENABLED": False,
        "DOWNLOADER_MIDDLEWARES": {
            "crawler.middlewares.BackoffRetryMiddleware": 550,
        },
        "LITWATCH_RETRY_TIMES": 6,
        "LITWATCH_BACKOFF_BASE": 2.0,  # seconds; doubles each try (tests set it small)
        "LITWATCH_BACKOFF_MAX": 120.0,
        # Error responses reach the spider's errback rather than vanishing.
        "HTTPERROR_ALLOW_ALL": False,
        "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
        "HTTPPROXY_ENABLED": True,  # honours HTTPS_PROXY / HTTP_PROXY
    }
