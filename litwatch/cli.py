"""The ``litwatch`` command: a thin skin over the Python API.

Each command lives in its own module (``litwatch.cmd_*``) and calls functions of the same
name in ``crawler``, ``db`` and ``digest``.  This module only holds the group, the shared
options and the error policy of CONTRACT.md: a ``LitwatchError`` is one line on stderr and
a non-zero exit; anything else is a bug, shown in full only with ``--debug``.
"""

from __future__ import annotations

import logging
import sys

import click

from litwatch import __version__, cmd_browse, cmd_crawl, cmd_demo, cmd_digest, cmd_follow, cmd_query, cmd_schedule
from litwatch.cli_common import READ_COMMANDS, Context
from litwatch.vocab.errors import LitwatchError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="litwatch")
@click.option("--config", "config_path", metavar="PATH", help="Watchlist TOML (default: $LITWATCH_CONFIG or seeds/watchlist.toml).")
@click.option("--db", "db_path", metavar="PATH", help="SQLite database (default: $LITWATCH_DB or ./litwatch.db).")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, db_path: str | None, debug: bool) -> None:
    """litwatch: a weekly watch over PubMed, ClinicalTrials.gov and feeds.

    Crawl the watchlist's topics into one SQLite file, query it, and mail a digest of
    what is new.
    """
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from litwatch.vocab.text import redact_logging

    redact_logging()
    ctx.obj = Context(config_path=config_path, db_path=db_path, debug=debug, read_only=ctx.invoked_subcommand in READ_COMMANDS)


def _register() -> None:
    for module in (cmd_crawl, cmd_query, cmd_digest, cmd_schedule, cmd_browse, cmd_demo, cmd_follow):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script: the error policy lives here."""
    from litwatch.crawler.lifeline import die_with_parent
    from litwatch.vocab.text import redact_std_streams

    die_with_parent()  # a job the scheduler started ends with it (crawler.lifeline)
    redact_std_streams()  # no configured secret leaves through stdout/stderr (issue 10)
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="litwatch", standalone_mode=False)
    except LitwatchError as exc:
        if debug:
            raise
        click.echo(f"litwatch: error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("litwatch: interrupted", err=True)
        return 130
    except click.UsageError as exc:  # CONTRACT: one line, not click's usage block
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `litwatch`: the help, as click prints it
            exc.show()
            return exc.exit_code
        where = exc.ctx.command_path if exc.ctx is not None else "litwatch"
        click.echo(f"litwatch: error: {exc.format_message().rstrip('.')} (see {where} --help)", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"litwatch: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("litwatch: interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: say so in one line unless --debug
        if debug:
            raise
        click.echo(f"litwatch: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
        return 70
    return 0


if __name__ == "__main__":
    sys.exit(main())
