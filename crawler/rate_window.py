"""At most N requests in any window of time: the E-utilities rate as NCBI states it.

NCBI allows 3 requests a second (10 with an API key).  Scrapy's ``DOWNLOAD_DELAY`` keeps
that by spacing every two starts 1/N s apart (with a margin), which is stricter than the
rule: a crawl's first requests form a chain (count, window search, the pieces of a split
window, the first fetch), each waiting its 0.115 s turn although nothing else was sent,
and ~0.45 s of a backfill went by before anything could be parsed
(``bench/bench_crawl.py``).  A sliding window keeps the rule itself: a request may start
when fewer than ``limit`` started in the last ``span`` seconds.

The margin stays (``eutils.RATE_MARGIN``): the window is 1.15 s long, not 1 s, so network
jitter of up to 0.15 s cannot put ``limit + 1`` requests into one of NCBI's 1-second
windows.  NCBI counts per address, not per process: the start times live in a small file
shared by every litwatch process on the machine that talks to the same service host (one crawl
after another, the scheduler's and a user's at once), under an exclusive lock while a
process reads and adds to it (``fcntl.flock``; CLOCK_MONOTONIC, which all processes share;
a time from before a reboot is ignored).  The file sits in the shared temporary
directory, so it is opened only if it is this user's own regular file (never through a
symbolic link someone planted there: the crawl would otherwise write its times into the
link's target); anything else, or a system without ``fcntl``, leaves the window to the
process, with one warning.  Without a file (``path=None``) the window is this process's
alone.  ``RateWindowMiddleware`` holds a request in ``process_request``,
after any retry backoff and just before the download slot (which has no delay of its own).
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import time
from typing import Callable

from litwatch.crawler.middlewares import sleep


class RateWindow:
    """Start times of the last ``limit`` requests, and when the next one may start."""

    def __init__(self, limit: int, span: float, clock: Callable[[], float] = time.monotonic, path: str | None = None):
        if limit < 1 or span <= 0:
            raise ValueError(f"a rate window needs limit >= 1 and span > 0, not {limit} in {span} s")
        self.limit = limit
        self.span = span
        self.clock = clock
        self._store = _SharedFile(path) if path else _InMemory()

    def _wait(self, starts: list[float], now: float) -> float:
        if len(starts) < self.limit:
            return 0.0
        return max(0.0, starts[-self.limit] + self.span - now)

    def wait(self) -> float:
        """Seconds until a request may start (0: now)."""
        return self._shared_or_own(self._wait_in)

    def take(self) -> bool:
        """Start a request now if the window allows it (True), else leave it unchanged."""
        return self._shared_or_own(self._take_in)

    def _wait_in(self, store) -> float:
        with store:
            now = self.clock()
            return self._wait(store.read(now, self.span), now)

    def _take_in(self, store) -> bool:
        with store:
            now = self.clock()
            starts = store.read(now, self.span)
            if self._wait(starts, now) > 0:
                return False
            store.write((starts + [now])[-self.limit:])
            return True

    def _shared_or_own(self, step):
        """``step(store)``; a shared file that cannot be used (a read-only or full temporary
        directory) must not fail the crawl: the window becomes this process's own, with
        one warning."""
        try:
            return step(self._store)
        except OSError as exc:
            if not isinstance(self._store, _SharedFile):
                raise
            import logging

            logging.getLogger(__name__).warning("rate window: cannot use %s (%s); counting this process's requests only",
                                                self._store.path, exc)
            self._store = _InMemory()
            return step(self._store)


class _InMemory:
    """This process's start times alone."""

    def __init__(self):
        self.starts: list[float] = []

    def __enter__(self) -> _InMemory:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def read(self, now: float, span: float) -> list[float]:
        return [t for t in self.starts if now - span < t <= now]

    def write(self, starts: list[float]) -> None:
        self.starts = starts


class _SharedFile:
    """The start times in a file every process shares, locked for as long as a ``with`` lasts."""

    def __init__(self, path: str):
        self.path = path

    def __enter__(self) -> _SharedFile:
        try:
            import fcntl
        except ImportError:  # no flock here (Windows): OSError, so the window becomes our own
            raise OSError("file locks are not available on this system") from None
        # O_NOFOLLOW: a symbolic link in its place (ELOOP) is refused, never followed.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
                raise OSError(f"{self.path} is not this user's own file")
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        os.close(self.fd)  # releases the lock

    def read(self, now: float, span: float) -> list[float]:
        """The start times still inside the window (a damaged file counts as empty)."""
        os.lseek(self.fd, 0, os.SEEK_SET)
        out = []
        for word in os.read(self.fd, 4096).split():
            try:
                t = float(word)
            except ValueError:
                continue
            if now - span < t <= now:  # older: out of the window; later: before a reboot
                out.append(t)
        return sorted(out)

    def write(self, starts: list[float]) -> None:
        data = " ".join(f"{t:.6f}" for t in starts).encode()
        os.lseek(self.fd, 0, os.SEEK_SET)
        os.write(self.fd, data)
        os.ftruncate(self.fd, len(data))


def shared_path(service_url: str) -> str:
    """The file of a service's start times: one per user and service host (NCBI counts the
    requests of an address; the fakes of the tests, all on 127.0.0.1, share one file)."""
    from urllib.parse import urlsplit

    host = (urlsplit(service_url).hostname or service_url).lower()
    key = hashlib.sha1(host.encode()).hexdigest()[:12]
    return os.path.join(tempfile.gettempdir(), f"litwatch-{os.getuid() if hasattr(os, 'getuid') else 0}-rate-{key}")


def use_ncbi_window(settings, lw_settings) -> None:
    """A spider's settings for NCBI's rate (3 requests, 10 with an API key, in any
    ``eutils.RATE_MARGIN`` seconds) in the window every process asking E-utilities shares,
    instead of a ``DOWNLOAD_DELAY``: the PubMed and seeds spiders, one after the other."""
    from litwatch.crawler import eutils

    settings.set("LITWATCH_RATE_LIMIT", int(lw_settings.eutils_rate), priority="spider")
    settings.set("LITWATCH_RATE_SPAN", eutils.RATE_MARGIN, priority="spider")
    settings.set("LITWATCH_RATE_FILE", shared_path(lw_settings.eutils_url), priority="spider")
    settings.set("DOWNLOAD_DELAY", 0, priority="spider")


class RateWindowMiddleware:
    """Downloader middleware: a spider's requests keep ``LITWATCH_RATE_LIMIT`` starts in any
    ``LITWATCH_RATE_SPAN`` seconds (not loaded when the limit is 0, the default), shared
    with every process that names the same ``LITWATCH_RATE_FILE``."""

    def __init__(self, limit: int, span: float, path: str | None = None):
        self.window = RateWindow(limit, span, path=path)

    @classmethod
    def from_crawler(cls, crawler):
        limit = crawler.settings.getint("LITWATCH_RATE_LIMIT", 0)
        if limit <= 0:  # the spider spaces its requests with DOWNLOAD_DELAY instead
            from scrapy.exceptions import NotConfigured

            raise NotConfigured
        return cls(limit, crawler.settings.getfloat("LITWATCH_RATE_SPAN", 1.0), crawler.settings.get("LITWATCH_RATE_FILE"))

    async def process_request(self, request, spider=None):
        while not self.window.take():
            await sleep(self.window.wait())
        return None
