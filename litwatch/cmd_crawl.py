"""``litwatch crawl``: fetch what is new from each source, each in its own process."""

from __future__ import annotations

import datetime as dt
import sys

import click

from litwatch.cli_common import pass_ctx
from litwatch.config import contact_warning
from litwatch.crawler.run import SOURCES, run_crawl


def _date(ctx, param, value):
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@click.command("crawl")
@click.option("--source", "sources", multiple=True, type=click.Choice(SOURCES), help="Source to crawl (repeatable; default: all, in the order seeds, ctgov, pubmed, feeds).")
@click.option("--since", callback=_date, metavar="YYYY-MM-DD", help="Reach back to this date instead of each topic's watermark.")
@click.option("--topic", "topics", multiple=True, metavar="NAME", help="Only these topics (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pass_ctx
def crawl(ctx, sources, since, topics, as_json):
    """Fetch what is new since the last successful crawl of each source and topic."""
    from litwatch.crawl_report import print_summary

    for name in topics:
        ctx.watchlist.topic(name)  # unknown topic: one error line
    ctx.db  # migrate before the children start
    if (warning := contact_warning(ctx.settings)) and not {"ctgov", "feeds"} >= set(sources or SOURCES):
        click.echo(warning, err=True)  # once per crawl, only when an NCBI service is asked
    summary = run_crawl(ctx.settings, ctx.watchlist, list(sources) or None, since, topics=list(topics) or None, config_path=ctx.watchlist.path, progress=not as_json and sys.stderr.isatty(),
                        log_level="INFO" if ctx.debug else "ERROR")
    print_summary(summary, as_json=as_json)
    summary.raise_for_failure()


COMMANDS = [crawl]
