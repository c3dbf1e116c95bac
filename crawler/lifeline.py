"""A child process dies with its parent, whatever kills the parent (kill -9 included).

The parent puts its pid in the child's environment (``child_env``); the child, first thing
at start-up, asks Linux to SIGKILL it when that parent goes (``prctl(PR_SET_PDEATHSIG)``)
and exits at once if the parent is already gone (it died between fork and this call).
SIGKILL, not SIGTERM: a crawl child busy parsing a huge answer must not be able to ignore
it.  Whatever the dead run leaves (a ``running`` crawl_runs row, a temporary folder) is
cleaned up by the next crawl (``crawler.run``).

Done in the child rather than in a ``preexec_fn``: the scheduler that starts jobs has
threads, and ``preexec_fn`` is unsafe with threads.  Elsewhere than on Linux this is a
no-op (the scheduler's process group still ends a job's tree on a stop).
"""

from __future__ import annotations

import ctypes
import os
import signal

PARENT_ENV = "LITWATCH_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) plus this process's pid as the child's lifeline."""
    out = dict(os.environ if env is None else env)
    out[PARENT_ENV] = str(os.getpid())
    return out


def die_with_parent() -> bool:
    """Called first thing in a child: die with the parent named in the environment.

    Returns whether the parent-death signal is set (False: no parent named, or not Linux).
    The variable is removed, so this process's own children get their own lifeline.
    """
    wanted = os.environ.pop(PARENT_ENV, None)
    if not wanted or not wanted.isdigit():
        return False
    try:
        # The C library's symbols as this process already has them loaded: no library
        # search (``ctypes.util.find_library`` imports subprocess and runs ``ldconfig -p``,
        # ~10-15 ms of every crawl child's start-up).
        libc = ctypes.CDLL(None, use_errno=True)
        ok = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        ok = False
    if os.getppid() != int(wanted):  # the parent died before the lifeline was tied
        os._exit(1)
    return ok
