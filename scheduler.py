"""litwatch's background job: crawl on a schedule, send the digest on its day, unattended.

``litwatch schedule`` and ``python scheduler.py`` run this in the foreground until SIGTERM
or SIGINT.  The design, and why:

* **APScheduler 3.x** fires two cron jobs with fixed ids, ``crawl`` and ``digest``
  (``replace_existing``, ``coalesce``, ``max_instances=1``), from the watchlist's
  ``[schedule]`` cron expressions and timezone.  The job store is the in-memory one: the
  state that must survive a restart lives in the database (``litwatch.jobledger``, its
  SQL in ``litwatch.db.jobs``).
* **One worker thread** runs every job, so runs never overlap; the digest job runs a due
  crawl first, so "crawl, then digest" holds whatever order the triggers fire in.
* **Catch-up** at start (and whenever APScheduler reports a missed run): a job whose fire
  time passed unhandled while the scheduler was down runs once, crawl before digest.
* **Each run is a child process** (``litwatch.jobrun``) with a timeout; a failure is one
  log line and a row in ``job_runs``, retried at the next due time, never fatal.
* **One scheduler per database** (``litwatch.joblock``): an flock the kernel drops when
  the holder dies.

Test and operations hooks (environment):
``LITWATCH_SCHEDULER_CRAWL_CMD`` / ``LITWATCH_SCHEDULER_DIGEST_CMD`` replace a job's
command (split like a shell line; the child gets ``LITWATCH_DB`` and ``LITWATCH_CONFIG``);
``LITWATCH_SCHEDULER_DIGEST_TIMEOUT`` sets the digest's timeout in seconds.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import os
import shlex
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NoReturn

from apscheduler.events import EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from litwatch.config import Schedule, Settings, Watchlist
from litwatch.jobledger import JobLedger
from litwatch.joblock import JobLock
from litwatch.jobrun import ChildResult, ChildRunner
from litwatch.vocab.errors import LitwatchError

CRAWL, DIGEST = "crawl", "digest"
ORDER = (CRAWL, DIGEST)  # when both are due, the digest must see the fresh crawl
CATCH_UP_ID = "catch-up"
WAKEUP_ID = "wakeup"

# A digest builds and sends one mail: 30 minutes means it hangs (SMTP, a lock).
DIGEST_TIMEOUT_S = 30 * 60
# ``litwatch crawl`` enforces crawl_timeout_minutes itself, as one budget across its
# sources; the scheduler's own limit is a backstop a little later, so the crawl can report
# which source ran out of time before it is killed.
CRAWL_BACKSTOP_S = 5 * 60
# How late a coalesced run may start and still run.  Lateness comes from the digest
# queued behind a crawl (at most the crawl timeout) and from a machine asleep past a fire
# time: after a suspend APScheduler runs the latest missed fire time, at most one period
# late; 8 days covers the weekly digest's 7 plus a day.  A run later still is reported
# as missed and goes through the ledger's catch-up, so nothing is lost either way
# (APScheduler's default of 1 s would silently drop runs).
MISFIRE_GRACE_S = 8 * 24 * 60 * 60
# The scheduler thread sleeps on a monotonic clock, which stands still while the machine
# is suspended; this no-op job wakes it at least this often, so a fire time passed during
# a suspend runs within 5 minutes of resume instead of one whole sleep later.
WAKEUP_INTERVAL_S = 5 * 60

log = logging.getLogger("litwatch.scheduler")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# ---------------------------------------------------------------- jobs and their output


@dataclass
class JobSpec:
    """What one job runs: its cron expression, its command, its timeout."""

    name: str
    cron: str
    command: list[str]
    timeout: float
    env: dict[str, str] | None = None
    summarize: Callable[[str], str | None] = field(default=lambda out: None)


def _json_tail(stdout: str):
    """The JSON document a ``--json`` command printed, or None."""
    text = stdout.strip()
    if not text:
        return None
    start = text.find("{")
    try:
        return json.loads(text[start:]) if start >= 0 else None
    except ValueError:
        return None


def summarize_crawl(stdout: str) -> str | None:
    """``litwatch crawl --json`` -> 'seeds=ok ctgov=ok ...; added=12 updated=3'."""
    data = _json_tail(stdout)
    if not isinstance(data, dict) or not isinstance(data.get("sources"), dict):
        return None
    states, totals = [], {}
    for source, info in data["sources"].items():
        states.append(f"{source}={info.get('status')}")
        for key, value in (info.get("counts") or {}).items():
            if isinstance(value, (int, float)):
                totals[key] = totals.get(key, 0) + value
    counts = " ".join(f"{k}={v}" for k, v in sorted(totals.items()) if v) or "nothing new"
    return f"{' '.join(states)}; {counts}"


def summarize_digest(stdout: str) -> str | None:
    """``litwatch digest --send --json`` -> 'publications=3 trials=1 ...; delivered to smtp'."""
    data = _json_tail(stdout)
    if not isinstance(data, dict):
        lines = [ln for ln in stdout.splitlines() if ln.strip()]
        return lines[-1].strip()[:200] if lines else None
    if data.get("status") == "empty":
        return "nothing new since the last digest: nothing sent"
    keys = ("publications", "trials", "trial_changes", "retractions", "feed_items")
    counts = " ".join(f"{k}={len(data.get(k) or [])}" for k in keys if k in data)
    return f"{counts}; delivered to {data.get('delivered_to') or 'nobody'}"


def digest_timeout_s(env: dict[str, str] | None = None) -> float:
    """The digest job's timeout: ``LITWATCH_SCHEDULER_DIGEST_TIMEOUT`` seconds, else 30 minutes."""
    env = os.environ if env is None else env
    try:
        return float(env.get("LITWATCH_SCHEDULER_DIGEST_TIMEOUT") or DIGEST_TIMEOUT_S)
    except ValueError:
        raise LitwatchError("LITWATCH_SCHEDULER_DIGEST_TIMEOUT: not a number of seconds") from None


def job_specs(settings: Settings, watchlist: Watchlist, env: dict[str, str] | None = None) -> dict[str, JobSpec]:
    """The two jobs, as child commands of this very installation (``python -m litwatch.cli``)."""
    env = dict(os.environ if env is None else env)
    db = str(Path(settings.db_path).resolve())
    config = str(Path(watchlist.path).resolve())
    child_env = {**env, "LITWATCH_DB": db, "LITWATCH_CONFIG": config}
    base = [sys.executable, "-m", "litwatch.cli", "--config", config, "--db", db]
    commands = {CRAWL: base + ["crawl", "--json"], DIGEST: base + ["digest", "--send", "--json"]}
    for name in ORDER:
        override = env.get(f"LITWATCH_SCHEDULER_{name.upper()}_CMD")
        if override:
            commands[name] = shlex.split(override)
    digest_timeout = digest_timeout_s(env)
    sched = watchlist.schedule
    return {
        CRAWL: JobSpec(CRAWL, sched.crawl, commands[CRAWL], sched.crawl_timeout_minutes * 60 + CRAWL_BACKSTOP_S, child_env, summarize_crawl),
        DIGEST: JobSpec(DIGEST, sched.digest, commands[DIGEST], digest_timeout, child_env, summarize_digest),
    }


def make_triggers(schedule: Schedule) -> dict[str, CronTrigger]:
    return {
        CRAWL: CronTrigger.from_crontab(schedule.crawl, timezone=schedule.timezone),
        DIGEST: CronTrigger.from_crontab(schedule.digest, timezone=schedule.timezone),
    }


def next_fire(trigger: CronTrigger, now: dt.datetime) -> dt.datetime | None:
    return trigger.get_next_fire_time(None, now)


def format_when(moment: dt.datetime | None, tz) -> str:
    """A run time as people read it in the schedule's zone: ``2026-11-23 07:00 CET``."""
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if moment else "never"


# ---------------------------------------------------------------- running due jobs


class JobRunner:
    """Runs whatever is due, in ORDER, against the ledger.  The clock is injected.

    Every path to a run (a cron fire, the start-up catch-up, a missed-run report) goes
    through ``run_due``, which claims the due time in the ledger first: so one due time
    runs once, whoever asks.
    """

    def __init__(self, specs: dict[str, JobSpec], triggers: dict[str, CronTrigger], ledger: JobLedger,
                 children: ChildRunner, *, clock: Callable[[], dt.datetime] = utcnow):
        self.specs, self.triggers, self.ledger, self.children, self.clock = specs, triggers, ledger, children, clock

    def register(self) -> None:
        now = self.clock()
        for name in ORDER:
            self.ledger.register(name, now)

    def pending(self) -> dict[str, dt.datetime]:
        """Jobs due now, with the due time each run would handle."""
        now = self.clock()
        due = {name: self.ledger.due(name, self.triggers[name], now) for name in ORDER}
        return {name: when for name, when in due.items() if when is not None}

    def run_due(self, names=ORDER, reason: str = "schedule") -> list[tuple[str, str]]:
        """Run each of ``names`` that is due, in ORDER; returns (job, status) of each run."""
        done = []
        for name in ORDER:
            if name not in names or self.children.stopping:
                continue
            try:
                status = self._run_if_due(name, reason)
            except Exception as exc:  # the database, the disk: log it, keep scheduling
                log.error("%s: could not run: %s: %s; retried at its next due time", name, type(exc).__name__, exc)
                status = "error"
            if status:
                done.append((name, status))
        return done

    def _run_if_due(self, name: str, reason: str) -> str | None:
        spec, trigger = self.specs[name], self.triggers[name]
        now = self.clock()
        due = self.ledger.due(name, trigger, now)
        if due is None:
            return None
        claim = self.ledger.claim(name, due, reason, now)
        if claim is None:
            return None
        result = self.children.run(spec.command, timeout=spec.timeout, env=spec.env)
        summary = spec.summarize(result.stdout) if result.status in ("ok", "failed") else None
        detail = "; ".join(x for x in (result.reason, summary) if x) or "done"
        finished = self.clock()
        self.ledger.finish(claim, result.status, exit_code=result.exit_code, seconds=result.seconds, detail=detail, now=finished)
        self._log_run(spec, due, reason, result, detail, finished)
        return result.status

    def _log_run(self, spec: JobSpec, due: dt.datetime, reason: str, result: ChildResult, detail: str, now: dt.datetime) -> None:
        tz = self.triggers[spec.name].timezone
        line = f"{spec.name} {result.status} in {result.seconds:.1f}s (due {format_when(due, tz)}, {reason}): {detail}"
        if result.status == "ok":
            log.info(line)
        else:
            upcoming = format_when(next_fire(self.triggers[spec.name], now), tz)
            log.warning("%s; retried at the next run (%s)", line, upcoming)


# ---------------------------------------------------------------- the APScheduler side


def _wakeup() -> None:
    """No-op: its only effect is that the scheduler thread wakes (see WAKEUP_INTERVAL_S)."""


def register_jobs(scheduler, runner: JobRunner, schedule: Schedule) -> None:
    """Add (or replace) the crawl, digest and wake-up jobs; fixed ids, one instance each.

    The in-memory store holds bound methods, so no textual references are needed; the
    digest job also runs a due crawl first, so the digest never goes out on a stale crawl.
    """
    common = dict(replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=MISFIRE_GRACE_S)
    scheduler.add_job(runner.run_due, runner.triggers[CRAWL], id=CRAWL, name="litwatch crawl",
                      args=[(CRAWL,)], **common)
    scheduler.add_job(runner.run_due, runner.triggers[DIGEST], id=DIGEST, name="litwatch digest --send",
                      args=[(CRAWL, DIGEST)], **common)
    # The wake-up tick does nothing, so running it however late is harmless (None: no
    # limit); a finite grace would only log a "missed" warning after every suspend.
    scheduler.add_job(_wakeup, "interval", seconds=WAKEUP_INTERVAL_S, id=WAKEUP_ID, name="wake-up",
                      executor="wakeup", replace_existing=True, coalesce=True, max_instances=1,
                      misfire_grace_time=None)


def schedule_catch_up(scheduler, runner: JobRunner) -> None:
    """Queue one run of every due job (crawl first) on the job thread, now."""
    scheduler.add_job(runner.run_due, "date", run_date=runner.clock(), id=CATCH_UP_ID, name="catch-up",
                      args=[ORDER, "catch-up"], replace_existing=True, coalesce=True, max_instances=1,
                      misfire_grace_time=MISFIRE_GRACE_S)


def build_scheduler(runner: JobRunner, schedule: Schedule) -> BackgroundScheduler:
    """One worker thread for the jobs (they never overlap), another for the wake-up tick."""
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=1), "wakeup": ThreadPoolExecutor(max_workers=1)},
        timezone=schedule.timezone,
    )
    register_jobs(scheduler, runner, schedule)

    def on_missed(event) -> None:
        if event.job_id in (CRAWL, DIGEST, CATCH_UP_ID):
            log.warning("%s: run of %s was missed; catching up now", event.job_id, event.scheduled_run_time)
            schedule_catch_up(scheduler, runner)

    scheduler.add_listener(on_missed, EVENT_JOB_MISSED)
    return scheduler


# ---------------------------------------------------------------- the service


def setup_logging(log_file: str | None, debug: bool = False) -> None:
    """One line per event to stderr and, with ``--log-file``, to a file (logrotate-safe)."""
    fmt = logging.Formatter("%(asctime)s litwatch-scheduler %(levelname)s: %(message)s", "%Y-%m-%dT%H:%M:%S%z")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        try:
            handlers.append(logging.handlers.WatchedFileHandler(log_file, encoding="utf-8"))
        except OSError as exc:
            raise LitwatchError(f"{log_file}: cannot open the log file: {exc.strerror or exc}") from None
    for old in list(log.handlers):
        log.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.setFormatter(fmt)
        log.addHandler(handler)
    log.setLevel(logging.DEBUG if debug else logging.INFO)
    log.propagate = False
    # APScheduler reports its own trouble (a job error) at WARNING; its INFO is chatter.
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if debug else logging.WARNING)


def serve(settings: Settings, watchlist: Watchlist, *, log_file: str | None = None, debug: bool = False,
          env: dict[str, str] | None = None) -> int:
    """Run until SIGTERM/SIGINT; returns the exit status (0 on a clean stop)."""
    setup_logging(log_file, debug)
    lock = JobLock(settings.db_path).acquire()
    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum, _frame) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        ledger = JobLedger(settings.db_path)
        ledger.migrate()
        # The child shares the lock (pass_fds): if this process is killed mid-crawl, no
        # new scheduler starts until the orphaned crawl has finished too.
        runner = JobRunner(job_specs(settings, watchlist, env), make_triggers(watchlist.schedule), ledger,
                           ChildRunner(pass_fds=(lock.fd,)))
        runner.register()
        for job, due in ledger.abandon_running(runner.clock()):
            log.warning("%s: the run due %s was cut short by the previous scheduler's end; retried at its next run", job, due)
        scheduler = build_scheduler(runner, watchlist.schedule)
        _log_start(settings, watchlist, runner)
        pending = runner.pending()
        if pending:
            missed = ", ".join(f"{name} (due {format_when(due, runner.triggers[name].timezone)})" for name, due in pending.items())
            log.info("catch-up: missed while stopped: %s; running once now", missed)
            schedule_catch_up(scheduler, runner)
        if not stop.is_set():  # a signal during start-up: do not start anything
            scheduler.start()
        while not stop.wait(60):  # the timeout only guards against a lost wake-up
            pass
        log.info("stopping on %s%s", received[0] if received else "request",
                 "; terminating the running job" if runner.children.busy else "")
        runner.children.stop()
        if scheduler.running:
            scheduler.shutdown(wait=True)  # queued jobs see 'stopping' and return at once
        log.info("scheduler stopped")
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        lock.release()


def _log_start(settings: Settings, watchlist: Watchlist, runner: JobRunner) -> None:
    now = runner.clock()
    parts = []
    for name in ORDER:
        trig = runner.triggers[name]
        parts.append(f"{name} '{runner.specs[name].cron}' next {format_when(next_fire(trig, now), trig.timezone)}")
    log.info("scheduler started (pid %d) on %s, watchlist %s, timezone %s: %s", os.getpid(),
             Path(settings.db_path).resolve(), Path(watchlist.path).resolve(), watchlist.schedule.timezone, "; ".join(parts))


def main(argv: list[str] | None = None) -> NoReturn:
    """``python scheduler.py [--config P] [--db P] [--debug] [schedule options]``: as ``litwatch schedule``.

    The command line belongs to the CLI, which sits above this module: rather than import
    it, this process becomes ``python -m litwatch.cli ... schedule ...`` (same pid, so
    systemd and signals see no difference), exactly as the jobs' children are started.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    group, rest = [], []
    while args:
        arg = args.pop(0)
        if arg in ("--config", "--db") and args:
            group += [arg, args.pop(0)]
        elif arg.startswith(("--config=", "--db=")) or arg == "--debug":
            group.append(arg)
        else:
            rest.append(arg)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "litwatch.cli", *group, "schedule", *rest])


if __name__ == "__main__":
    sys.exit(main())
