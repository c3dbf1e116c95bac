"""The real thing, as subprocesses: the lock, SIGKILL, SIGTERM/SIGINT and a running child.

These wait for processes to start (well under a second each) but never for a fire time:
the watchlist's cron expressions fire on January 1st only, and a run is made due by
back-dating the ledger, so the catch-up runs it at once.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scheduler_helpers import (
    UTC,
    fake_command,
    recorded,
    write_fake_job,
    write_watchlist,
)

from litwatch.jobledger import JobLedger
from litwatch.joblock import JobLock, LockHeld
from litwatch.vocab.errors import LitwatchError

PROJECT_ROOT = Path(__file__).parent.parent
# Upper bound for a subprocess to reach a state; the tests usually get there in < 1 s.
DEADLINE_S = 20


def _wait_for(predicate, what: str):
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _alive(pid: int) -> bool:
    """Running (a zombie whose reaper is slow or absent, as PID 1 in some containers, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


@pytest.fixture
def setup(tmp_path):
    wl = write_watchlist(tmp_path / "wl.toml", crawl="0 5 1 1 *", digest="0 7 1 1 *")
    db = tmp_path / "litwatch.db"
    log = tmp_path / "scheduler.log"
    script = write_fake_job(tmp_path)
    record = tmp_path / "runs.jsonl"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PROJECT_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["LITWATCH_SCHEDULER_CRAWL_CMD"] = " ".join(fake_command(script, record, "crawl", "ok"))
    env["LITWATCH_SCHEDULER_DIGEST_CMD"] = " ".join(fake_command(script, record, "digest", "ok"))

    class Setup:
        pass

    s = Setup()
    s.tmp, s.wl, s.db, s.log, s.script, s.record, s.env = tmp_path, wl, db, log, script, record, env

    def start(*, via="scheduler.py", extra_env=None):
        if via == "scheduler.py":
            cmd = [sys.executable, str(PROJECT_ROOT / "scheduler.py"), "--config", str(wl), "--db", str(db), "--log-file", str(log)]
        else:
            cmd = [sys.executable, "-m", "litwatch.cli", "--config", str(wl), "--db", str(db), "schedule", "--log-file", str(log)]
        return subprocess.Popen(cmd, env={**env, **(extra_env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def started():
        return log.exists() and "scheduler started" in log.read_text()

    s.start, s.started = start, started
    return s


def _stop(proc, sig=signal.SIGKILL):
    if proc.poll() is None:
        proc.send_signal(sig)
    proc.communicate(timeout=DEADLINE_S)


# ---------------------------------------------------------------- the lock, in-process


def test_second_lock_on_the_same_database_is_refused_with_one_clear_line(tmp_path):
    db = tmp_path / "litwatch.db"
    with JobLock(db):
        with pytest.raises(LockHeld) as err:
            JobLock(db).acquire()
    message = str(err.value)
    assert "\n" not in message
    assert f"another litwatch scheduler (pid {os.getpid()} on " in message
    assert f"is running on {db.resolve()}" in message
    JobLock(db).acquire().release()  # free again once released


def test_lock_on_another_database_is_independent(tmp_path):
    with JobLock(tmp_path / "a.db"), JobLock(tmp_path / "b.db"):
        pass


def test_lock_in_a_missing_folder_says_so(tmp_path):
    with pytest.raises(LitwatchError, match="does not exist"):
        JobLock(tmp_path / "nope" / "litwatch.db").acquire()


# ---------------------------------------------------------------- real schedulers


def test_second_scheduler_exits_non_zero_and_the_lock_is_free_after_sigkill(setup):
    first = setup.start()
    try:
        _wait_for(setup.started, "the first scheduler")
        second = setup.start(via="litwatch")
        out, err = second.communicate(timeout=DEADLINE_S)
        assert second.returncode != 0
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith(f"litwatch: error: another litwatch scheduler (pid {first.pid} on ")
        assert f"is running on {setup.db.resolve()}" in lines[0]
    finally:
        _stop(first, signal.SIGKILL)  # killed: no clean-up code runs
    assert first.returncode == -signal.SIGKILL
    JobLock(setup.db).acquire().release()  # the kernel released it
    third = setup.start()
    try:
        _wait_for(lambda: setup.log.read_text().count("scheduler started") == 2, "a new scheduler after the kill")
    finally:
        _stop(third, signal.SIGTERM)
    assert third.returncode == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_idle_scheduler_stops_cleanly_and_promptly(setup, sig):
    proc = setup.start()
    _wait_for(setup.started, "the scheduler")
    sent = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 0, err
    assert time.monotonic() - sent < 5
    text = setup.log.read_text()
    assert f"stopping on {signal.Signals(sig).name}" in text and "scheduler stopped" in text
    JobLock(setup.db).acquire().release()


def _backdate(db: Path, job: str, days: int) -> None:
    """Pretend the scheduler was registered ``days`` ago and has been off since: ``job`` is due."""
    ledger = JobLedger(db)
    ledger.migrate()
    ledger.register(job, dt.datetime.now(UTC) - dt.timedelta(days=days))


def test_sigterm_stops_a_running_crawl_child_and_the_scheduler(setup):
    _backdate(setup.db, "crawl", 400)  # a fire time (Jan 1st) has passed: caught up at start
    hang = " ".join(fake_command(setup.script, setup.record, "crawl", "hang"))
    proc = setup.start(extra_env={"LITWATCH_SCHEDULER_CRAWL_CMD": hang})
    child = _wait_for(lambda: recorded(setup.record), "the crawl child")[0]["pid"]
    assert _alive(child)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 0, err
    _wait_for(lambda: not _alive(child), "the child to be gone")
    text = setup.log.read_text()
    assert "catch-up: missed while stopped: crawl" in text
    assert "terminating the running job" in text
    assert "crawl interrupted in " in text
    [run] = JobLedger(setup.db).runs("crawl")
    assert run["status"] == "interrupted"


def test_catch_up_at_start_runs_crawl_then_digest_once(setup):
    _backdate(setup.db, "crawl", 400)
    _backdate(setup.db, "digest", 400)
    proc = setup.start(via="litwatch")
    try:
        _wait_for(lambda: "digest ok in" in setup.log.read_text() if setup.log.exists() else False, "the catch-up")
    finally:
        _stop(proc, signal.SIGTERM)
    assert proc.returncode == 0
    assert [r["job"] for r in recorded(setup.record)] == ["crawl", "digest"]
    # A restart does not run them again.
    again = setup.start()
    try:
        _wait_for(lambda: setup.log.read_text().count("scheduler started") == 2, "the restart")
    finally:
        _stop(again, signal.SIGTERM)
    assert "catch-up" not in setup.log.read_text().split("scheduler started")[-1]
    assert [r["job"] for r in recorded(setup.record)] == ["crawl", "digest"]


def test_a_broken_watchlist_stops_the_start_with_one_line(setup):
    setup.wl.write_text("[schedule]\ncrawl = 'every day'\n")
    proc = setup.start(via="litwatch")
    out, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 2
    assert err.count("\n") == 1 and err.startswith("litwatch: error: ")


def test_a_job_orphaned_by_a_killed_scheduler_keeps_the_lock_until_it_ends(setup):
    # The job child shares the scheduler's lock: a new scheduler must not start a second
    # crawl beside the orphan of a killed one.
    _backdate(setup.db, "crawl", 400)
    hang = " ".join(fake_command(setup.script, setup.record, "crawl", "hang"))
    proc = setup.start(extra_env={"LITWATCH_SCHEDULER_CRAWL_CMD": hang})
    child = _wait_for(lambda: recorded(setup.record), "the crawl child")[0]["pid"]
    _stop(proc, signal.SIGKILL)
    try:
        with pytest.raises(LockHeld, match="that process has exited but a job it started still runs"):
            JobLock(setup.db).acquire()
    finally:
        os.kill(child, signal.SIGKILL)  # the orphan this test made
    _wait_for(lambda: not _alive(child), "the orphan to be gone")
    JobLock(setup.db).acquire().release()


def test_cron_flock_and_the_scheduler_exclude_each_other(setup):
    import shutil

    if not shutil.which("flock"):
        pytest.skip("flock(1) is not installed")
    lock = setup.db.resolve().with_name(setup.db.name + ".lock")
    # What the crontab line of the README does, with a job that waits for stdin.
    holder = subprocess.Popen(
        ["flock", "-n", str(lock), sys.executable, "-c", "import sys; print('locked', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(LockHeld, match="holder unknown: perhaps `flock ... litwatch run` from cron"):
            JobLock(setup.db).acquire()
    finally:
        holder.communicate(input="", timeout=DEADLINE_S)
    with JobLock(setup.db):
        busy = subprocess.run(["flock", "-n", str(lock), "true"])
        assert busy.returncode != 0

