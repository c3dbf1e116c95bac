"""Catch-up and no-double-run, with an injected clock: nothing here waits for real time.

The jobs are tiny Python scripts (tests/scheduler_helpers.py) that record each run, so
the tests see exactly what ran, in which order, and how often.  Calendar used below:
2026-11-16 and 2026-11-23 are Mondays.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from scheduler_helpers import (
    UTC,
    Clock,
    fake_command,
    recorded,
    write_fake_job,
    write_watchlist,
)

from litwatch import scheduler
from litwatch.config import Schedule, load_settings, load_watchlist
from litwatch.jobledger import JobLedger
from litwatch.jobrun import ChildRunner


@pytest.fixture
def env(tmp_path):
    """Everything a JobRunner needs; ``make(crawl=..., digest=...)`` builds one (a "start")."""

    class Env:
        script = write_fake_job(tmp_path)
        record = tmp_path / "runs.jsonl"
        db_path = tmp_path / "litwatch.db"
        clock = Clock(dt.datetime(2026, 11, 13, 12, tzinfo=UTC))  # a Friday

        def make(self, crawl="ok", digest="ok", schedule: Schedule | None = None, timeouts=(30.0, 30.0)):
            schedule = schedule or Schedule()
            wl = load_watchlist(write_watchlist(tmp_path / "wl.toml", schedule.crawl, schedule.digest, schedule.timezone))
            settings = load_settings({"LITWATCH_DB": str(self.db_path)})
            specs = scheduler.job_specs(settings, wl, {})
            for name, behaviour, timeout in (("crawl", crawl, timeouts[0]), ("digest", digest, timeouts[1])):
                specs[name].command = fake_command(self.script, self.record, name, behaviour)
                specs[name].timeout = timeout
            ledger = JobLedger(self.db_path)
            ledger.migrate()
            runner = scheduler.JobRunner(specs, scheduler.make_triggers(wl.schedule), ledger,
                                         ChildRunner(kill_grace=2.0), clock=self.clock)
            runner.register()
            return runner

        def jobs(self):
            return [r["job"] for r in recorded(self.record)]

    return Env()


def test_first_start_runs_nothing_that_was_due_before_it(env):
    # A fresh install on a Monday at 08:00 does not send a digest for 07:00.
    env.clock.set(2026, 11, 16, 8)
    runner = env.make()
    assert runner.pending() == {}
    assert runner.run_due(reason="catch-up") == []
    assert env.jobs() == []


def test_digest_missed_while_the_machine_was_off_runs_once_on_start(env):
    runner = env.make()
    env.clock.set(2026, 11, 15, 5)  # Sunday's crawl ran while it was up
    assert runner.run_due(("crawl",)) == [("crawl", "ok")]
    # Off from Sunday until Tuesday 10:00: Monday 07:00 (and Monday/Tuesday's crawls) passed.
    env.clock.set(2026, 11, 17, 10)
    runner = env.make()  # a restart
    pending = runner.pending()
    assert pending == {"crawl": dt.datetime(2026, 11, 17, 5, tzinfo=UTC), "digest": dt.datetime(2026, 11, 16, 7, tzinfo=UTC)}
    assert runner.run_due(reason="catch-up") == [("crawl", "ok"), ("digest", "ok")]
    assert env.jobs() == ["crawl", "crawl", "digest"]  # crawl before digest, each once
    # Later the same day, and after yet another restart: nothing runs again.
    env.clock.set(2026, 11, 17, 23)
    assert env.make().run_due(reason="catch-up") == []
    assert env.make().run_due() == []
    assert env.jobs() == ["crawl", "crawl", "digest"]
    runs = JobLedger(env.db_path).runs("digest")
    assert [(r["due_at"], r["reason"], r["status"]) for r in runs] == [("2026-11-16T07:00:00Z", "catch-up", "ok")]


def test_crawl_missed_for_three_days_runs_once(env):
    runner = env.make()
    env.clock.set(2026, 11, 16, 5, 0, 30)
    runner.run_due(("crawl",))
    env.clock.set(2026, 11, 19, 10)  # Tue, Wed, Thu 05:00 missed
    runner = env.make()
    assert runner.run_due(("crawl",), "catch-up") == [("crawl", "ok")]
    assert runner.run_due(("crawl",), "catch-up") == []
    assert env.jobs() == ["crawl", "crawl"]
    assert [r["due_at"] for r in JobLedger(env.db_path).runs("crawl")] == ["2026-11-16T05:00:00Z", "2026-11-19T05:00:00Z"]


def test_digest_job_runs_a_due_crawl_first(env):
    # Both fire at the same minute; whichever APScheduler submits first, the crawl runs first.
    schedule = Schedule(crawl="0 7 * * *", digest="0 7 * * mon")
    runner = env.make(schedule=schedule)
    env.clock.set(2026, 11, 16, 7)
    assert runner.run_due(("crawl", "digest")) == [("crawl", "ok"), ("digest", "ok")]  # the digest job's args
    assert runner.run_due(("crawl",)) == []  # the crawl job, queued behind it, finds nothing to do
    assert env.jobs() == ["crawl", "digest"]


def test_restart_right_after_a_delivered_digest_does_not_send_it_again(env):
    runner = env.make()
    env.clock.set(2026, 11, 16, 7, 0, 5)
    assert runner.run_due(("crawl", "digest")) == [("crawl", "ok"), ("digest", "ok")]
    env.clock.set(2026, 11, 16, 7, 1)
    restarted = env.make()
    assert restarted.pending() == {}
    assert restarted.run_due(reason="catch-up") == []
    assert env.jobs() == ["crawl", "digest"]
    # The next Monday it is sent again, once.
    env.clock.set(2026, 11, 23, 7)
    assert [name for name, _ in env.make().run_due(("crawl", "digest"))] == ["crawl", "digest"]
    assert env.jobs().count("digest") == 2


def test_a_due_time_is_claimed_once_even_if_two_paths_ask(env):
    runner = env.make()
    env.clock.set(2026, 11, 16, 7)
    due = runner.pending()["digest"]
    assert runner.ledger.claim("digest", due, "schedule", env.clock()) is not None
    assert runner.ledger.claim("digest", due, "catch-up", env.clock()) is None
    assert runner.run_due(("digest",)) == []


@pytest.mark.parametrize("behaviour,status,reason", [
    ("fail", "failed", "exit status 1: litwatch: error: crawl of pubmed did not complete: boom"),
    ("crash", "crashed", "killed by SIGKILL"),
    ("hang", "timeout", "timed out after"),
])
def test_a_failing_crawl_is_logged_and_the_next_run_still_happens(env, caplog, behaviour, status, reason):
    caplog.set_level(logging.INFO, logger="litwatch.scheduler")
    runner = env.make(crawl=behaviour, timeouts=(0.5, 30.0))  # a hang is cut after 0.5 s
    env.clock.set(2026, 11, 16, 7)
    assert runner.run_due(("crawl", "digest")) == [("crawl", status), ("digest", "ok")]  # the digest still goes
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("crawl ")]
    assert line.startswith(f"crawl {status} in ") and reason in line
    assert "retried at the next run (2026-11-17 05:00 UTC)" in line
    row = JobLedger(env.db_path).runs("crawl")[-1]
    assert row["status"] == status and reason in row["detail"]
    # Not retried for the same due time...
    env.clock.set(2026, 11, 16, 12)
    assert runner.run_due(("crawl",)) == []
    # ...but at the next one, and now it works.
    runner = env.make()
    env.clock.set(2026, 11, 17, 5)
    assert runner.run_due(("crawl",)) == [("crawl", "ok")]
    assert env.jobs() == ["crawl", "digest", "crawl"]


def test_one_log_line_per_run_with_counts(env, caplog):
    caplog.set_level(logging.INFO, logger="litwatch.scheduler")
    runner = env.make()
    env.clock.set(2026, 11, 16, 7)
    runner.run_due()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("crawl ok in ") and "(due 2026-11-16 05:00 UTC, schedule): pubmed=ok ctgov=ok; added=4" in lines[0]
    assert lines[1].startswith("digest ok in ") and "publications=2 trials=0 trial_changes=0 retractions=0; delivered to outbox:/x" in lines[1]


def test_the_child_gets_the_database_path(env):
    runner = env.make()
    env.clock.set(2026, 11, 16, 5)
    runner.run_due(("crawl",))
    assert recorded(env.record)[0]["db"] == str(env.db_path.resolve())


def test_runs_cut_short_by_a_dead_scheduler_are_closed_at_the_next_start(env):
    runner = env.make()
    env.clock.set(2026, 11, 16, 7)
    claim = runner.ledger.claim("digest", runner.pending()["digest"], "schedule", env.clock())  # then: SIGKILL
    env.clock.set(2026, 11, 16, 9)
    runner = env.make()
    assert runner.ledger.abandon_running(env.clock()) == [("digest", "2026-11-16T07:00:00Z")]
    assert runner.ledger.runs("digest")[0]["status"] == "abandoned"
    assert "digest" not in runner.pending()  # not tried twice for one due time
    assert claim is not None


def test_stopping_refuses_further_runs(env):
    runner = env.make()
    env.clock.set(2026, 11, 16, 7)
    runner.children.stop()
    assert runner.run_due() == []
    assert env.jobs() == []


def test_catch_up_uses_the_watchlist_timezone(env):
    # Digest Monday 07:00 in New York is 12:00 UTC: at 11:00 UTC it is not due yet.
    runner = env.make(schedule=Schedule(timezone="America/New_York"))
    env.clock.set(2026, 11, 16, 11)
    assert "digest" not in runner.pending()
    env.clock.set(2026, 11, 16, 12)
    assert runner.pending()["digest"] == dt.datetime(2026, 11, 16, 12, tzinfo=UTC)


def test_an_error_outside_the_child_is_logged_and_the_other_job_still_runs(env, caplog):
    import sqlite3

    runner = env.make()
    env.clock.set(2026, 11, 16, 7)
    real_due = runner.ledger.due

    def flaky_due(job, trigger, now):
        if job == "crawl":
            raise sqlite3.OperationalError("disk I/O error")
        return real_due(job, trigger, now)

    runner.ledger.due = flaky_due
    assert runner.run_due() == [("crawl", "error"), ("digest", "ok")]
    assert any("crawl: could not run: OperationalError: disk I/O error" in r.getMessage() for r in caplog.records)
