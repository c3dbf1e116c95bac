"""Secrets never leave (issue 10, item 4): an E-utilities answer of HTTP 200 whose JSON
body quotes the API key (as NCBI's "API key invalid" answer does) must not carry the key
into stderr, ``crawl --json``, any table of the database, or the digest preview; nor may
the SMTP password of ``LITWATCH_SMTP_URL``."""

from __future__ import annotations

import json
import logging

from fault_support import API_KEY, all_text, env_for, litwatch, watchlist

from litwatch.fakes.server import ScriptedServer
from litwatch.vocab import text

SMTP_PASSWORD = "smtp-Pa55word-91"


def test_an_echoed_api_key_is_in_no_output_no_table_and_no_digest(tmp_path):
    db_path = tmp_path / "litwatch.db"
    config = watchlist(tmp_path / "watchlist.toml")
    with ScriptedServer() as server:
        server.echo()
        env = env_for(db_path, LITWATCH_EUTILS_URL=server.base, LITWATCH_SMTP_URL=f"smtp://mailer:{SMTP_PASSWORD}@127.0.0.1:9")
        crawl = litwatch(env, config, "crawl", "--source", "pubmed", "--json")
        debug = litwatch(env, config, "--debug", "crawl", "--source", "pubmed")
        preview = litwatch(env, config, "digest", "--out", str(tmp_path / "preview"))
        preview_json = litwatch(env, config, "digest", "--json")
    assert crawl.returncode != 0
    errors = json.loads(crawl.stdout)["sources"]["pubmed"]["errors"]
    assert any("API key invalid" in e and text.MASK in e for e in errors)  # the echo is reported, masked
    outputs = [crawl.stdout, crawl.stderr, debug.stdout, debug.stderr, preview.stdout, preview.stderr,
               preview_json.stdout, preview_json.stderr, all_text(db_path)]
    outputs += [p.read_text(errors="replace") for p in (tmp_path / "preview").rglob("*") if p.is_file()]
    assert any("API key invalid" in o for o in outputs[-3:] + [preview_json.stdout])  # the digest does warn
    for secret in (API_KEY, SMTP_PASSWORD):
        assert not [o[:200] for o in outputs if secret in o]


def test_the_log_filter_redacts_messages_and_tracebacks(caplog):
    text.add_secret("filter-secret-123")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "answer %s", ("quoting filter-secret-123",), None)
    try:
        raise ValueError("filter-secret-123 in an exception")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert text.RedactFilter().filter(record)
    assert "filter-secret-123" not in record.getMessage() and "filter-secret-123" not in record.exc_text
