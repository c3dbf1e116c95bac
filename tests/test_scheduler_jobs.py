"""Job registration, triggers, fire-time arithmetic, job commands and `schedule --help`."""

from __future__ import annotations

import datetime as dt
import sys

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from click.testing import CliRunner
from scheduler_helpers import UTC, Clock, write_watchlist

from litwatch import scheduler
from litwatch.config import Schedule, load_settings, load_watchlist
from litwatch.jobledger import JobLedger, latest_fire
from litwatch.jobrun import ChildRunner


def _runner(tmp_path, schedule: Schedule) -> scheduler.JobRunner:
    wl = load_watchlist(write_watchlist(tmp_path / "wl.toml", schedule.crawl, schedule.digest, schedule.timezone))
    settings = load_settings({"LITWATCH_DB": str(tmp_path / "l.db")})
    ledger = JobLedger(settings.db_path)
    ledger.migrate()
    return scheduler.JobRunner(scheduler.job_specs(settings, wl, {}), scheduler.make_triggers(wl.schedule), ledger,
                               ChildRunner(), clock=Clock(dt.datetime(2026, 11, 20, tzinfo=UTC)))


def test_jobs_registered_with_fixed_ids_and_safe_options(tmp_path):
    sched = Schedule(timezone="Europe/Berlin", crawl="30 4 * * *", digest="0 7 * * mon")
    runner = _runner(tmp_path, sched)
    aps = scheduler.build_scheduler(runner, sched)
    scheduler.register_jobs(aps, runner, sched)  # again: replace_existing, no duplicates
    aps.start(paused=True)  # pending jobs reach the store (and replace) at start
    try:
        listed = aps.get_jobs()
    finally:
        aps.shutdown(wait=False)
    jobs = {job.id: job for job in listed}
    assert sorted(job.id for job in listed) == ["crawl", "digest", "wakeup"]
    for name in ("crawl", "digest"):
        job = jobs[name]
        assert job.coalesce is True
        assert job.max_instances == 1
        assert job.misfire_grace_time == scheduler.MISFIRE_GRACE_S >= 7 * 24 * 3600
        assert job.executor == "default"
        assert isinstance(job.trigger, CronTrigger)
        assert str(job.trigger.timezone) == "Europe/Berlin"
    assert str(jobs["crawl"].trigger) == str(CronTrigger.from_crontab("30 4 * * *", timezone="Europe/Berlin"))
    assert str(jobs["digest"].trigger) == str(CronTrigger.from_crontab("0 7 * * mon", timezone="Europe/Berlin"))
    # The crawl job runs only the crawl; the digest job runs a due crawl first.
    assert jobs["crawl"].args == (("crawl",),)
    assert jobs["digest"].args == (("crawl", "digest"),)
    assert jobs["wakeup"].executor == "wakeup"
    # One worker thread for the jobs: they can never overlap.
    assert aps._executors["default"]._pool._max_workers == 1
    assert str(aps.timezone) == "Europe/Berlin"


def test_catch_up_job_is_one_date_job_running_crawl_then_digest(tmp_path):
    runner = _runner(tmp_path, Schedule())
    aps = BackgroundScheduler()
    aps.start(paused=True)
    try:
        scheduler.schedule_catch_up(aps, runner)
        scheduler.schedule_catch_up(aps, runner)  # a second request replaces the first
        [job] = aps.get_jobs()
    finally:
        aps.shutdown(wait=False)
    assert job.id == "catch-up" and job.args == (("crawl", "digest"), "catch-up")
    assert job.coalesce and job.max_instances == 1 and job.misfire_grace_time == scheduler.MISFIRE_GRACE_S


def _dt(*args, tz=UTC):
    return dt.datetime(*args, tzinfo=tz)


def test_latest_fire_finds_the_last_missed_time_only():
    daily = CronTrigger.from_crontab("0 5 * * *", timezone="UTC")
    assert latest_fire(daily, _dt(2026, 11, 16, 5), _dt(2026, 11, 19, 10)) == _dt(2026, 11, 19, 5)
    assert latest_fire(daily, _dt(2026, 11, 19, 5), _dt(2026, 11, 19, 10)) is None  # handled already
    assert latest_fire(daily, _dt(2026, 11, 19, 6), _dt(2026, 11, 20, 4, 59)) is None
    assert latest_fire(daily, _dt(2026, 11, 19, 6), _dt(2026, 11, 20, 5)) == _dt(2026, 11, 20, 5)  # inclusive
    # An every-minute cron idle for a year: the backward search keeps this instant.
    minutely = CronTrigger.from_crontab("* * * * *", timezone="UTC")
    assert latest_fire(minutely, _dt(2025, 11, 1), _dt(2026, 11, 20, 10, 30, 30)) == _dt(2026, 11, 20, 10, 30)


def test_latest_fire_respects_the_trigger_timezone_across_dst():
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    weekly = CronTrigger.from_crontab("0 7 * * mon", timezone="America/New_York")
    # 2026-11-02 is the first Monday after the end of DST: 07:00 EST is 12:00 UTC.
    got = latest_fire(weekly, _dt(2026, 10, 27), _dt(2026, 11, 4))
    assert got == _dt(2026, 11, 2, 7, tz=ny) and got.astimezone(UTC).hour == 12
    got = latest_fire(weekly, _dt(2026, 10, 20), _dt(2026, 10, 27))
    assert got.astimezone(UTC) == _dt(2026, 10, 26, 11)  # 07:00 EDT


def test_default_job_commands_run_this_installation(tmp_path):
    wl = load_watchlist(write_watchlist(tmp_path / "wl.toml"))
    settings = load_settings({"LITWATCH_DB": str(tmp_path / "l.db")})
    specs = scheduler.job_specs(settings, wl, {})
    db, config = str((tmp_path / "l.db").resolve()), str((tmp_path / "wl.toml").resolve())
    assert specs["crawl"].command == [sys.executable, "-m", "litwatch.cli", "--config", config, "--db", db, "crawl", "--json"]
    assert specs["digest"].command[-3:] == ["digest", "--send", "--json"]
    assert specs["crawl"].timeout == 120 * 60 + scheduler.CRAWL_BACKSTOP_S  # crawl enforces 120 min itself
    assert specs["digest"].timeout == scheduler.DIGEST_TIMEOUT_S
    assert specs["crawl"].env["LITWATCH_DB"] == db and specs["crawl"].env["LITWATCH_CONFIG"] == config


def test_job_commands_can_be_replaced_by_hooks(tmp_path):
    wl = load_watchlist(write_watchlist(tmp_path / "wl.toml"))
    settings = load_settings({"LITWATCH_DB": str(tmp_path / "l.db")})
    env = {"LITWATCH_SCHEDULER_CRAWL_CMD": "/bin/echo 'a b' c", "LITWATCH_SCHEDULER_DIGEST_TIMEOUT": "5"}
    specs = scheduler.job_specs(settings, wl, env)
    assert specs["crawl"].command == ["/bin/echo", "a b", "c"]
    assert specs["digest"].timeout == 5


def test_counts_are_read_from_the_jobs_json():
    crawl = '{"ok": false, "sources": {"pubmed": {"status": "ok", "counts": {"added": 3, "updated": 0}},' \
            ' "ctgov": {"status": "failed", "counts": {"added": 2}}}}'
    assert scheduler.summarize_crawl(crawl) == "pubmed=ok ctgov=failed; added=5"
    assert scheduler.summarize_crawl("not json") is None
    digest = '{"publications": ["1"], "trials": ["NCT1", "NCT2"], "trial_changes": [], "retractions": [], "delivered_to": "smtp"}'
    assert scheduler.summarize_digest(digest) == "publications=1 trials=2 trial_changes=0 retractions=0; delivered to smtp"
    assert scheduler.summarize_digest("nothing new to send\n") == "nothing new to send"


def _help(args, env=None):
    from litwatch.cli import cli

    return CliRunner().invoke(cli, args + ["schedule", "--help"], env=env or {})


def test_help_shows_the_effective_schedule(tmp_path):
    wl = write_watchlist(tmp_path / "wl.toml", crawl="15 3 * * *", digest="0 8 * * fri", timezone="Europe/Berlin")
    result = _help(["--config", str(wl), "--db", str(tmp_path / "l.db")])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert f"from {wl}" in out
    assert "timezone Europe/Berlin" in out
    assert "crawl '15 3 * * *', next " in out and "digest '0 8 * * fri', next " in out
    assert "CET" in out or "CEST" in out
    assert f"(lock:{tmp_path / 'l.db.lock'})" in "".join(out.split())


@pytest.mark.parametrize("content", [None, "[[topic]]\nname = 'x'\n", "[schedule]\ncrawl = 'every day'\n"])
def test_help_works_with_a_broken_or_absent_watchlist(tmp_path, content):
    wl = tmp_path / "wl.toml"
    if content is not None:
        wl.write_text(content)
    result = _help(["--config", str(wl)])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "DEFAULTS, because the watchlist could not be loaded" in out
    assert "crawl '0 5 * * *'" in out and "digest '0 7 * * mon'" in out and "timezone UTC" in out


def test_effective_schedule_next_runs_use_the_given_clock(tmp_path):
    from litwatch.cmd_schedule import effective_schedule

    wl = write_watchlist(tmp_path / "wl.toml")
    origin, rows = effective_schedule(str(wl), str(tmp_path / "l.db"), now=_dt(2026, 11, 18, 12))  # a Wednesday
    rows = dict(rows)
    assert rows["crawl"] == "'0 5 * * *', next 2026-11-19 05:00 UTC"
    assert rows["digest"] == "'0 7 * * mon', next 2026-11-23 07:00 UTC"
