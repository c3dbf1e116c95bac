"""Run crawls, each source in a child process, and gather their results.

This is what ``litwatch crawl``, ``litwatch run`` and the scheduler call.  A child that
crashes, hangs past its timeout or reports errors makes the summary fail for that source
only; the others still run, and their watermarks move as usual.

Nothing outlives the crawl and nothing it leaves lies: each child dies with this process
(``crawler.lifeline``), a SIGTERM/SIGINT here ends the running child and closes its
``crawl_runs`` row as ``interrupted``; and since kill -9 allows no clean-up, each crawl
starts by closing the rows a dead crawl left ``running`` (reported as warnings) and
removing the temporary folders of dead crawls.  A database SQLite finds damaged is an
error before anything is fetched.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from litwatch.config import Settings, Watchlist
from litwatch.crawler.lifeline import child_env
from litwatch.vocab.errors import LitwatchError
from litwatch.vocab.text import redact

# Order matters: seeds decide which trials and papers are followed; ClinicalTrials.gov then
# queues the PMIDs its trials reference; PubMed fetches topics, the queue and the followed
# trials' [si] searches; feeds come last so their items can be matched to stored records.
SOURCES = ("seeds", "ctgov", "pubmed", "feeds")
DEFAULT_TIMEOUT_S = 2 * 60 * 60
TEMP_PREFIX = "litwatch-crawl-"
_TEMP_RE = re.compile(rf"^{TEMP_PREFIX}(\d+)-")


class CrawlInterrupted(LitwatchError):
    """SIGTERM or SIGINT reached the crawl: the running child was ended, nothing claimed."""


@dataclass
class SourceResult:
    source: str
    status: str  # ok | partial | failed
    counts: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class CrawlSummary:
    results: list[SourceResult] = field(default_factory=list)
    # Said once for the whole crawl (a dead crawl's rows closed as interrupted).
    notices: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.status == "ok" for r in self.results)

    @property
    def warnings(self) -> list[str]:
        return list(self.notices) + [f"{r.source}: {w}" for r in self.results for w in r.warnings]

    @property
    def errors(self) -> list[str]:
        return [f"{r.source}: {e}" for r in self.results for e in r.errors]

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "notices": list(self.notices),
            "sources": {
                r.source: {
                    "status": r.status,
                    "counts": r.counts,
                    "warnings": r.warnings,
                    "errors": r.errors,
                    "seconds": round(r.seconds, 1),
                }
                for r in self.results
            },
        }

    def raise_for_failure(self) -> None:
        failed = [r for r in self.results if r.status != "ok"]
        if failed:
            first = failed[0]
            detail = first.errors[0] if first.errors else first.status
            more = f" (and {len(self.errors) - 1} more problems)" if len(self.errors) > 1 else ""
            raise LitwatchError(
                f"crawl of {', '.join(r.source for r in failed)} did not complete: {detail}{more}; "
                "what was fetched is stored and the next crawl resumes from there"
            )


def child_command(source: str, config_path: str | None, since: dt.date | None, topics: list[str] | None, result_path: str, log_level: str) -> list[str]:
    cmd = [sys.executable, "-m", "litwatch.crawler.process", "--source", source, "--result", result_path, "--log-level", log_level]
    if config_path:
        cmd += ["--config", str(config_path)]
    if since:
        cmd += ["--since", since.isoformat()]
    for topic in topics or ():
        cmd += ["--topic", topic]
    return cmd


def crawl_one(
    settings: Settings,
    source: str,
    *,
    config_path: str | None,
    since: dt.date | None = None,
    topics: list[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    log_level: str = "WARNING",
) -> SourceResult:
    """Crawl one source in a child process and return what it reported."""
    env = child_env()
    env["LITWATCH_DB"] = str(Path(settings.db_path).resolve())
    started = time.monotonic()
    # At the quiet levels the child's stderr is kept, not shown: its error lines repeat the
    # result's errors, and CONTRACT.md allows one line on stderr for a failed command.
    # What the result does not already say is reported below; --debug (INFO) shows it all.
    quiet = log_level.upper() not in ("DEBUG", "INFO")
    with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-") as tmp:
        result_path = os.path.join(tmp, "result.json")
        err_path = os.path.join(tmp, "stderr.log")
        cmd = child_command(source, config_path, since, topics, result_path, log_level)
        try:
            with open(err_path, "wb") if quiet else contextlib.nullcontext() as err:
                proc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stderr=err, timeout=timeout)
        except subprocess.TimeoutExpired:
            return SourceResult(source, "failed", errors=[f"timed out after {timeout:.0f}s"], seconds=time.monotonic() - started)
        child_log = _tail(err_path) if quiet else []
        try:
            with open(result_path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            last = f": {redact(child_log[-1])}" if child_log else ""
            return SourceResult(
                source, "failed", errors=[f"crawl process exited with status {proc.returncode} and no result{last}"],
                seconds=time.monotonic() - started,
            )
    errors = [redact(e) for e in data.get("errors") or []]
    warnings = [redact(w) for w in data.get("warnings") or []]
    child_log = [redact(line) for line in child_log]
    counts = dict(data.get("counts") or {})
    stray = [line for line in child_log if _is_error_log(line) and not any(m in line for m in errors + warnings)]
    if not stray and not errors and any(line.startswith("Traceback") for line in child_log):
        stray = [child_log[-1]]  # an exception the result does not mention: its last line says what
    if stray:
        more = f" (and {len(stray) - 1} more lines)" if len(stray) > 1 else ""
        warnings.append(f"the crawl process logged: {stray[0]}{more}; run litwatch --debug crawl --source {source} to see it in full")
    stored_something = any(v for k, v in counts.items() if k not in ("requests", "requests_failed"))
    status = "ok" if not errors else ("partial" if stored_something else "failed")
    return SourceResult(source, status, counts, warnings, errors, time.monotonic() - started)


def prepare(db) -> list[str]:
    """Before a crawl: refuse a damaged database, clean up after crawls that died.

    Returns the notices for the summary (one per ``running`` row closed as interrupted).
    """
    from litwatch.db.connection import database_path
    from litwatch.db.crawl_state import close_interrupted_runs, integrity_problems

    problems = integrity_problems(db)
    if problems:
        raise LitwatchError(
            f"{database_path(db)}: the database is damaged (SQLite: {'; '.join(problems)}); nothing was crawled: "
            "restore it from a backup (or recover it with sqlite3's .recover)"
        )
    remove_stale_temp_dirs()
    return [
        f"{row['source']}: the crawl started {row['started_at']} was interrupted (its process is gone); "
        "its watermarks stayed, this crawl fetches the same window again"
        for row in close_interrupted_runs(db, _alive)
    ]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale_temp_dirs(tmpdir: str | None = None) -> list[str]:
    """Remove the ``litwatch-crawl-<pid>-*`` folders whose crawl process is gone."""
    base = tmpdir or tempfile.gettempdir()
    removed = []
    try:
        names = os.listdir(base)
    except OSError:
        return removed
    for name in names:
        m = _TEMP_RE.match(name)
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
            removed.append(name)
    return removed


@contextlib.contextmanager
def _interruptible():
    """SIGTERM (systemd, the scheduler's stop, kill) raises CrawlInterrupted here, so the
    running child is ended (subprocess kills it), the run row is closed and the temporary
    folder removed; SIGINT already raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum, _frame):
        raise CrawlInterrupted(f"crawl interrupted by {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _tail(path: str, limit: int = 64 * 1024) -> list[str]:
    """The last lines a child wrote to stderr (at most ``limit`` bytes of them)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - limit))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip()]


def _is_error_log(line: str) -> bool:
    """A log line at ERROR or above (Scrapy's format: ``date time [logger] LEVEL: message``)."""
    return " ERROR: " in line or " CRITICAL: " in line


def run_crawl(
    settings: Settings,
    watchlist: Watchlist,
    sources: list[str] | None = None,
    since: dt.date | None = None,
    *,
    topics: list[str] | None = None,
    config_path: str | None = None,
    progress: bool = False,
    timeout: float | None = None,
    echo: Callable[[str], None] | None = None,
    log_level: str = "ERROR",
) -> CrawlSummary:
    """Crawl ``sources`` (default: all, in SOURCES order) and record each run in the db.

    The children log at ``log_level`` only (ERROR: their warnings come back in the summary,
    so they are printed once, by the caller).

    ``timeout`` (default: the watchlist's ``crawl_timeout_minutes``) is the budget of the
    whole crawl: each source gets what the sources before it left, so the scheduler can
    put one limit around the whole job.  A source whose turn comes after the budget is spent
    is reported as failed, not silently skipped.
    """
    from litwatch.db import open_db
    from litwatch.db.crawl_state import finish_run, start_run
    from litwatch.db.topics import sync_topics

    if echo is None:
        echo = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    wanted = [s for s in SOURCES if sources is None or s in sources]
    if timeout is None:
        timeout = watchlist.schedule.crawl_timeout_minutes * 60
    deadline = time.monotonic() + timeout
    db = open_db(settings.db_path)
    summary = CrawlSummary(notices=prepare(db))
    sync_topics(db, watchlist.topic_rows())  # the topics table a browser links and facets by
    for source in wanted:
        if progress:
            echo(f"crawling {source} ...")
        run_id = start_run(db, source)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            result = SourceResult(source, "failed", errors=[f"not started: the crawl's time budget of {timeout:.0f}s was spent"])
        else:
            try:
                with _interruptible():
                    result = crawl_one(
                        settings, source, config_path=config_path or watchlist.path, since=since, topics=topics,
                        timeout=remaining, log_level=log_level,
                    )
            except (CrawlInterrupted, KeyboardInterrupt) as exc:
                why = str(exc) or "interrupted"
                finish_run(db, run_id, "interrupted", {}, [], f"{source}: {why}; its topics' watermarks stayed")
                raise
        finish_run(db, run_id, result.status, result.counts, result.warnings, "; ".join(result.errors) or None)
        summary.results.append(result)
        if progress:
            problems = len(result.warnings) + len(result.errors)
            echo(f"  {source}: {result.status} in {result.seconds:.1f}s" + (f", {problems} warnings/errors (below)" if problems else ""))
    return summary
