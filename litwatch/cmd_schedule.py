"""``litwatch schedule``: the background job (``scheduler.py``) in the foreground.

Its ``--help`` shows the *effective* schedule, computed from the watchlist the command
would load (cron expressions, timezone, next run times), because "when will it run?" is
the question a user has before starting a months-long process.  Help must never fail: a
missing or broken watchlist shows the defaults and says why.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from litwatch.cli_common import Context, pass_ctx
from litwatch.config import Schedule, load_settings, load_watchlist
from litwatch.joblock import lock_path_for
from litwatch.vocab.errors import LitwatchError


def effective_schedule(config_path: str | None, db_path: str | None = None,
                       now: dt.datetime | None = None) -> tuple[str, list[tuple[str, str]]]:
    """(where it comes from, rows of name/value) for the help text; never raises."""
    from litwatch import scheduler  # APScheduler: loaded only when the schedule is shown or run

    try:
        watchlist = load_watchlist(config_path)
        schedule, origin = watchlist.schedule, f"from {watchlist.path}"
    except LitwatchError as exc:
        schedule, origin = Schedule(), f"DEFAULTS, because the watchlist could not be loaded: {exc}"
    now = now or dt.datetime.now(dt.timezone.utc)
    try:
        triggers = scheduler.make_triggers(schedule)
    except Exception as exc:  # validated at load; still, help must not crash
        return origin, [("error", f"cannot compute run times: {exc}")]
    rows = [("timezone", schedule.timezone)]
    for name, cron in (("crawl", schedule.crawl), ("digest", schedule.digest)):
        trig = triggers[name]
        rows.append((name, f"'{cron}', next {scheduler.format_when(scheduler.next_fire(trig, now), trig.timezone)}"))
    try:
        digest_timeout = scheduler.digest_timeout_s()
    except LitwatchError:
        digest_timeout = scheduler.DIGEST_TIMEOUT_S
    rows.append(("timeouts", f"crawl {schedule.crawl_timeout_minutes} min, digest {digest_timeout / 60:g} min"))
    db = db_path or load_settings().db_path
    rows.append(("database", f"{Path(db).resolve()} (lock: {lock_path_for(db)})"))
    return origin, rows


class ScheduleCommand(click.Command):
    """A command whose epilog is the effective schedule, computed when help is shown."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        obj = ctx.find_object(Context)
        try:
            origin, rows = effective_schedule(obj.config_path if obj else None, obj.db_path if obj else None)
        except Exception as exc:  # help must always print
            origin, rows = f"unavailable: {type(exc).__name__}: {exc}", []
        with formatter.section("Effective schedule"):
            formatter.write_text(origin)
            formatter.write_paragraph()
            formatter.write_dl(rows)
        super().format_epilog(ctx, formatter)


@click.command("schedule", cls=ScheduleCommand)
@click.option("--log-file", metavar="PATH", help="Also append the log lines to this file (reopened after logrotate).")
@pass_ctx
def schedule(ctx, log_file):
    """Run the scheduler in the foreground until stopped (SIGTERM or Ctrl-C).

    Crawls and sends the digest on the watchlist's [schedule] (cron expressions in its
    timezone); what was missed while it was not running runs once at start, crawl before
    digest.  Each job runs in its own process with a timeout; a failure is logged and
    retried at the next run.  Only one scheduler runs per database: a second one exits
    with an error.  Reads the schedule at start: restart it after editing the watchlist.
    """
    from litwatch import scheduler  # APScheduler: loaded only when the schedule is shown or run

    code = scheduler.serve(ctx.settings, ctx.watchlist, log_file=log_file, debug=ctx.debug)
    if code:
        click.get_current_context().exit(code)


COMMANDS = [schedule]
