"""``litwatch demo``: offline, a database and a digest built from recorded responses."""

from __future__ import annotations

import shlex

import click

from litwatch.cli_common import pass_ctx


@click.command("demo")
@click.option("--dir", "directory", default="litwatch-demo", show_default=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Folder of its own for the demo's database and digest (cleared if a previous demo made it).")
@pass_ctx
def demo(ctx, directory):
    """Try litwatch without network: crawl the built-in fakes (real recorded PubMed and
    ClinicalTrials.gov responses), then write a digest (HTML, text, .eml) into DIR."""
    from litwatch.demo import run_demo

    result = run_demo(directory, echo=lambda line: click.echo(line, err=True))
    db = shlex.quote(str(result.db_path))
    click.echo(f"demo ready in {result.seconds:.0f} s: {result.directory}")
    click.echo(f"  database  {result.db_path}")
    for kind in ("html", "txt", "eml"):
        if kind in result.digest_files:
            click.echo(f"  digest    {result.digest_files[kind]}")
    click.echo("open the .html digest in a browser (or the .eml in a mail client), then try:")
    click.echo(f"  export LITWATCH_DB={db}")
    click.echo("  litwatch search ketamine")
    click.echo("  litwatch show NCT03395314            # the trial, its history and its papers")
    click.echo("  litwatch trials")
    click.echo("  litwatch export --format ris > ketamine.ris   # for Zotero, EndNote, Mendeley")
    click.echo("  litwatch browse                      # Datasette; needs pip install 'litwatch[browse]'")


COMMANDS = [demo]
