"""The crawl process's start-up shortcuts change nothing Scrapy computes."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import PROJECT_ROOT

ALIASES = """
import json, sys, warnings
warnings.simplefilter("error")  # Scrapy warns when it cannot name an alias's module
if sys.argv[1] == "quick":
    from litwatch.crawler import process
    process._load_download_handler()
from scrapy.core.downloader import contextfactory, tls
import scrapy.core.downloader.handlers.http11
from scrapy.utils import deprecate
print(json.dumps({
    "modules": [c.__module__ for c in (tls.ScrapyClientTLSOptions, contextfactory.ScrapyClientContextFactory,
                                       contextfactory.AcceptableProtocolsContextFactory)],
    "inspect restored": deprecate.inspect.__name__,
}))
"""


def _aliases(mode: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", ALIASES, mode], capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_scrapys_deprecated_aliases_get_the_same_modules_without_reading_the_stack():
    """``crawler.process._load_download_handler`` answers Scrapy's frame look-ups from the
    frames (~45 ms of start-up): each alias names the module Scrapy itself finds, no
    warning, and ``inspect`` is Scrapy's own again afterwards."""
    quick, plain = _aliases("quick"), _aliases("plain")
    assert quick == plain
    assert quick["modules"] == ["scrapy.core.downloader.tls", "scrapy.core.downloader.contextfactory",
                                "scrapy.core.downloader.contextfactory"]
    assert quick["inspect restored"] == "inspect"


def test_no_spider_callback_is_a_generator_returning_a_value():
    """What Scrapy's WARN_ON_GENERATOR_RETURN_VALUE checks at run time (turned off in
    ``crawler.settings``: it costs every crawl's first callbacks), checked here instead."""
    import inspect

    from scrapy.utils.misc import is_generator_with_return_value

    from litwatch.config import load_settings
    from litwatch.crawler import process
    from litwatch.crawler.settings import base_settings

    checked = 0
    for source in process.SPIDERS:
        spider = process.load_spider(source)
        for name, member in inspect.getmembers(spider, inspect.isfunction):
            if inspect.isgeneratorfunction(member) or inspect.isasyncgenfunction(member):
                assert not is_generator_with_return_value(member), f"{spider.__name__}.{name}"
                checked += 1
    assert checked >= 8
    assert base_settings(load_settings())["WARN_ON_GENERATOR_RETURN_VALUE"] is False


def test_versions_are_looked_up_only_for_a_log_that_shows_them():
    """Scrapy's "Versions" line is INFO: at the crawl's usual WARNING nobody sees it, so its
    lookups (ten package versions, ``uname -p``) are skipped; at INFO or DEBUG it is logged."""
    from scrapy.settings import Settings as ScrapySettings

    from litwatch.config import load_settings
    from litwatch.crawler.settings import base_settings

    quiet = ScrapySettings(base_settings(load_settings(), log_level="WARNING"))
    assert quiet.getlist("LOG_VERSIONS") == []
    for level in ("INFO", "DEBUG", "debug"):
        loud = ScrapySettings(base_settings(load_settings(), log_level=level))
        assert "Platform" in loud.getlist("LOG_VERSIONS")
