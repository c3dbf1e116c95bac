"""Run one scheduled job as a child process: own process group, timeout, clean stop.

Why a child process per job: Scrapy's Twisted reactor cannot be restarted inside one
process, and a crash, a leak or a hang in a job must never take the long-running
scheduler with it.  Why its own process group (a new session): on timeout or on a stop
request the whole tree (``litwatch crawl`` and its per-source crawl processes) is
terminated, not just its top.  Output goes to temporary files rather than pipes, so a
chatty child can never block on a full pipe, and nothing has to drain it.

The tree never outlives the scheduler: each child dies with its parent, kill -9 included
(``crawler.lifeline``: the job, and in turn its crawl children), and ``stop()`` returns
only once the job's whole process group has exited (SIGTERM, then SIGKILL after the
grace period), so the scheduler releases its lock after the last writer is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass

from litwatch.crawler.lifeline import child_env

# After SIGTERM, the child gets this long to clean up before SIGKILL; it must stay well
# under systemd's TimeoutStopSec (30 s in the README's unit file).
KILL_GRACE_S = 10.0
# Output kept for the log line and the ledger: the end of each stream is where the
# error is; 1 MiB of stdout is far more than a crawl's JSON summary.
TAIL_BYTES = 4000
STDOUT_MAX_BYTES = 1 << 20


@dataclass
class ChildResult:
    status: str  # ok | failed | timeout | crashed | interrupted
    exit_code: int | None
    seconds: float
    stdout: str = ""
    stderr: str = ""

    @property
    def reason(self) -> str:
        """Why it did not succeed, in one line (empty when ok)."""
        if self.status == "ok":
            return ""
        last = _last_line(self.stderr) or _last_line(self.stdout)
        if self.status == "timeout":
            head = f"timed out after {self.seconds:.0f}s and was killed"
        elif self.status == "interrupted":
            return "stopped with the scheduler"  # its output tail is only the noise of the stop
        elif self.status == "crashed":
            head = f"killed by {_signal_name(-(self.exit_code or 0))}"
        elif self.exit_code is None:
            head = "could not start"
        else:
            head = f"exit status {self.exit_code}"
        return f"{head}: {last}" if last else head


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _read(fh, limit: int) -> str:
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    fh.seek(max(0, size - limit))
    return fh.read().decode("utf-8", "replace")


class ChildRunner:
    """Runs one child at a time; ``stop()`` (from a signal handler too) ends it and any later one."""

    def __init__(self, *, kill_grace: float = KILL_GRACE_S, pass_fds: tuple[int, ...] = ()):
        self.kill_grace = kill_grace
        self.pass_fds = pass_fds
        # Re-entrant: stop() may run in a signal handler on a thread that is already
        # inside stop().
        self._lock = threading.RLock()
        self._proc: subprocess.Popen | None = None
        self._stopping = False

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def busy(self) -> bool:
        return self._proc is not None

    def run(self, cmd: list[str], *, timeout: float, env: dict[str, str] | None = None) -> ChildResult:
        started = time.monotonic()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            with self._lock:
                if self._stopping:
                    return ChildResult("interrupted", None, 0.0)
                try:
                    proc = subprocess.Popen(
                        cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=child_env(env),
                        start_new_session=True, pass_fds=self.pass_fds,
                    )
                except OSError as exc:
                    return ChildResult("failed", None, 0.0, stderr=f"cannot start {cmd[0]}: {exc.strerror or exc}")
                self._proc = proc
            timed_out = False
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                self._terminate(proc)
            finally:
                with self._lock:
                    self._proc = None
            seconds = time.monotonic() - started
            stdout, stderr = _read(out, STDOUT_MAX_BYTES), _read(err, TAIL_BYTES)
        code = proc.returncode
        if self._stopping and code != 0:
            status = "interrupted"
        elif timed_out:
            status = "timeout"
        elif code == 0:
            status = "ok"
        elif code < 0:
            status = "crashed"
        else:
            status = "failed"
        return ChildResult(status, code, seconds, stdout, stderr)

    def stop(self, *, wait: bool = True) -> None:
        """Refuse new children and terminate the running one's whole process group
        (SIGTERM, then SIGKILL after ``kill_grace``).  With ``wait`` (not from a signal
        handler) it returns once every process of the group has exited."""
        with self._lock:
            self._stopping = True
            proc = self._proc
        if proc is None:
            return
        _signal_group(proc, signal.SIGTERM)
        if not wait:
            timer = threading.Timer(self.kill_grace, _signal_group, (proc, signal.SIGKILL))
            timer.daemon = True
            timer.start()
            return
        if not _wait_group_gone(proc, self.kill_grace):
            _signal_group(proc, signal.SIGKILL)
            _wait_group_gone(proc, self.kill_grace)

    def _terminate(self, proc: subprocess.Popen) -> None:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=self.kill_grace)
        except subprocess.TimeoutExpired:
            pass
        _signal_group(proc, signal.SIGKILL)  # also whatever the child left behind
        proc.wait()


def _wait_group_gone(proc: subprocess.Popen, timeout: float) -> bool:
    """Wait until no process of the child's group is left (the job's thread reaps the
    child itself; orphaned grandchildren are reaped by init).  True when they are gone."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        if time.monotonic() >= deadline:
            return False
        try:  # reap the child here too when the job's thread has not yet
            proc.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            pass


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Signal the child's whole process group (its pid is the group id: new session)."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
