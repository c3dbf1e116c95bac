"""How a crawl's result is shown: counts per source, then warnings and errors."""

from __future__ import annotations

import json

import click

from litwatch.crawler.run import CrawlSummary
from litwatch.vocab.text import redact


def print_summary(summary: CrawlSummary, *, as_json: bool = False) -> None:
    if as_json:
        click.echo(redact(json.dumps(summary.as_dict(), indent=2, sort_keys=True)))
        return
    for r in summary.results:
        counts = ", ".join(f"{k}={v}" for k, v in sorted(r.counts.items())) or "nothing new"
        click.echo(f"{r.source:<7} {r.status:<8} {counts}")
    # Part of the report, so on stdout: stderr keeps the one "litwatch: error:" line of a
    # failed crawl (CONTRACT.md), and a cron job's `>> log 2>&1` still gets everything.
    for w in summary.warnings:
        click.echo(redact(f"warning: {w}"))
    for e in summary.errors:
        click.echo(redact(f"error: {e}"))
