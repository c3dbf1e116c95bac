"""``litwatch digest`` (build, preview or deliver the digest) and ``litwatch run`` (crawl, then deliver)."""

from __future__ import annotations

import sys

import click

from litwatch.cli_common import pass_ctx
from litwatch.vocab.errors import LitwatchError


def _report(outcome, *, as_json: bool, send: bool) -> None:
    """stdout: the JSON, or the text part of a preview, or one line; stderr: what was not done."""
    if as_json:
        click.echo(outcome.to_json())
    for claim in outcome.resumed:
        click.echo(f"digest {claim['id']} resumed: its process had died mid-delivery; the same message "
                   f"({claim['message_id']}) was delivered again", err=as_json)
    if outcome.status == "empty":
        if outcome.in_flight:
            claim = outcome.in_flight[0]
            click.echo(f"digest {claim['id']} is being delivered by process {claim['claim_pid']} on {claim['claim_host']} "
                       f"(since {claim['created_at']}); nothing else new; nothing {'sent' if send else 'to show'}", err=as_json)
            return
        if outcome.resumed:
            return
        since = outcome.content.since[:10] if outcome.content.since else None
        line = f"nothing new since the last digest ({since})" if since else "nothing new: no evidence stored yet"
        click.echo(f"{line}; nothing {'sent' if send else 'to show'}", err=as_json)
        return
    if outcome.status == "delivered":
        if not as_json:
            where = "smtp (" + ", ".join(outcome.recipients) + ")" if outcome.delivered_to == "smtp" else outcome.delivered_to
            click.echo(f"digest {outcome.digest_id} delivered to {where}: {outcome.subject}")
            for path in (outcome.preview_paths or {}).values():
                click.echo(f"copy: {path}")
        return
    if outcome.preview_paths:
        if not as_json:
            for path in outcome.preview_paths.values():
                click.echo(str(path))
    elif not as_json:
        click.echo(outcome.text, nl=False)
    click.echo("preview only: nothing marked delivered (use --send to deliver)", err=True)


@click.command("digest")
@click.option("--send", is_flag=True, help="Deliver it (SMTP from LITWATCH_SMTP_URL, else the outbox) and mark its items delivered.")
@click.option("--out", "out_dir", metavar="DIR", type=click.Path(file_okay=False), help="Write the digest (.html, .txt, .eml) into DIR. Alone it is a preview and marks nothing delivered; with --send it is a copy of what was sent.")
@click.option("--json", "as_json", is_flag=True, help="Print the digest as JSON (CONTRACT's shape).")
@pass_ctx
def digest(ctx, send, out_dir, as_json):
    """Build the digest of evidence not yet delivered.

    Without --send it is a preview: the text part (or --json) is printed and nothing is
    marked delivered.  With --send it is delivered once; a failed delivery exits non-zero
    and leaves every item pending for the next run.
    """
    from litwatch.digest.pipeline import run_digest

    outcome = run_digest(ctx.db, ctx.settings, ctx.watchlist, send=send, out_dir=out_dir)
    _report(outcome, as_json=as_json, send=send)


@click.command("run")
@click.option("--json", "as_json", is_flag=True, help="Print the delivered digest as JSON.")
@pass_ctx
def run(ctx, as_json):
    """Crawl every source for every topic, then deliver the digest.

    The digest goes out even when a source failed (it then lists the crawl's warnings
    and errors); the exit status is non-zero if the crawl or the delivery failed.
    """
    from litwatch.crawl_report import print_summary
    from litwatch.crawler.run import run_crawl
    from litwatch.digest.pipeline import run_digest

    watchlist = ctx.watchlist
    ctx.db  # migrate before the crawl children start
    summary = run_crawl(ctx.settings, watchlist, None, None, config_path=watchlist.path, progress=not as_json and sys.stderr.isatty(),
                        log_level="INFO" if ctx.debug else "ERROR")
    if not as_json:  # --json: stdout is the digest's JSON alone (it carries the crawl's warnings)
        print_summary(summary)
    crawl_error: LitwatchError | None = None
    try:
        summary.raise_for_failure()
    except LitwatchError as exc:
        crawl_error = exc
    try:
        outcome = run_digest(ctx.db, ctx.settings, watchlist, send=True)
    except LitwatchError as exc:
        if crawl_error is not None:
            raise LitwatchError(f"{crawl_error}; and the digest was not delivered: {exc}") from None
        raise
    _report(outcome, as_json=as_json, send=True)
    if crawl_error is not None:
        raise crawl_error


COMMANDS = [digest, run]
