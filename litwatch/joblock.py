"""One scheduler per database: an exclusive ``flock`` on ``<db>.lock``.

Why a file lock and not a row in the database's ``locks`` table:

* The kernel releases an ``flock`` the moment its holder dies, however it dies (SIGKILL,
  OOM killer, power loss of a container).  A database row needs a liveness test instead:
  a pid check is wrong across hosts and pid namespaces (containers), and a heartbeat
  needs a thread plus a staleness threshold that either blocks a restart for minutes
  after a crash or lets two schedulers overlap when one is merely slow.
* ``flock(1)`` takes the very same lock, so the cron alternative
  (``flock -n litwatch.db.lock litwatch run``) and the scheduler exclude each other.
* The lock is a separate file, not the database itself: SQLite uses POSIX record locks
  on the database file, and mixing lock kinds on one file invites surprises.

The limit: ``flock`` is unreliable on network file systems, where SQLite itself is
unsafe anyway; keep the database on a local disk.

The lock file also records who holds it (pid, host, since), only so that a refused second
instance can say which process to look for; the lock itself is the ``flock``.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from litwatch.vocab.errors import LitwatchError
from litwatch.vocab.times import utcnow


class LockHeld(LitwatchError):
    """Another scheduler (or ``flock ... litwatch run``) holds the database's lock."""


def lock_path_for(db_path: str | os.PathLike) -> Path:
    """``/data/litwatch.db`` -> ``/data/litwatch.db.lock`` (absolute, so messages are clear)."""
    db = Path(db_path).resolve()
    return db.with_name(db.name + ".lock")


class JobLock:
    """An exclusive, non-blocking lock tied to one database file.

    ``fd`` stays open while the lock is held; a job child started with
    ``pass_fds=(lock.fd,)`` shares the lock, so a scheduler killed mid-crawl cannot be
    replaced by a second one while its orphaned crawl still writes.
    """

    def __init__(self, db_path: str | os.PathLike):
        self.db_path = Path(db_path).resolve()
        self.path = lock_path_for(db_path)
        self.fd: int | None = None

    def acquire(self) -> "JobLock":
        if not self.path.parent.is_dir():
            raise LitwatchError(f"{self.db_path}: folder {self.path.parent} does not exist (set LITWATCH_DB)")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe_holder(os.pread(fd, 200, 0).decode("utf-8", "replace").strip())
            os.close(fd)
            raise LockHeld(
                f"another litwatch scheduler ({holder}) is running on {self.db_path}; "
                f"stop it first, or give this one another database (--db / LITWATCH_DB)"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise LitwatchError(f"{self.path}: cannot lock: {exc.strerror or exc}") from None
        since = utcnow()
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {since}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        """Unlock and close; the file stays (deleting it would race with a new holder)."""
        if self.fd is not None:
            fd, self.fd = self.fd, None
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> "JobLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _describe_holder(text: str) -> str:
    """The lock file's "pid N on HOST, since T", plus what we can tell about that process."""
    if not text:
        # Held by something that does not write the file: ``flock(1)`` around
        # ``litwatch run`` from cron, say.
        return "holder unknown: perhaps `flock ... litwatch run` from cron"
    parts = text.split()
    if len(parts) >= 4 and parts[0] == "pid" and parts[2] == "on" and parts[3].rstrip(",") == socket.gethostname():
        try:
            os.kill(int(parts[1]), 0)
        except ProcessLookupError:
            return f"{text}; that process has exited but a job it started still runs and holds the lock"
        except (ValueError, PermissionError):
            pass
    return text
