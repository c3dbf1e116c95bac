"""Who holds a delivery claim, and whether that process is still alive.

A claim names its process as (host, pid, process start time).  The start time (field 22
of ``/proc/PID/stat``, clock ticks since boot) tells a live claimant from a later process
that happens to get the same pid.  A claim from another host cannot be checked: the
ledger then falls back on its timeout.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def _start_of(pid: int) -> str | None:
    """The process's start time as the kernel records it, None if there is no such process,
    "" where the system has no /proc (then only the pid can be checked)."""
    if not Path("/proc/self/stat").exists():
        return ""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return ""
    # The command name (field 2) is in parentheses and may hold spaces.
    fields = stat[stat.rfind(")") + 2 :].split()
    if fields and fields[0] in ("Z", "X"):  # a zombie has exited: nothing more will be sent
        return None
    return fields[19] if len(fields) > 19 else ""


def this_process() -> tuple[str, int, str]:
    pid = os.getpid()
    return socket.gethostname(), pid, _start_of(pid) or ""


def is_alive(host: str | None, pid: int | None, start: str | None) -> bool | None:
    """True / False for a claim of this host; None when it cannot be known (another host)."""
    if host != socket.gethostname() or not pid:
        return None
    now_start = _start_of(int(pid))
    if now_start is None:
        return False
    if now_start == "" or not start:  # no /proc detail: a live pid is all we know
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return now_start == start
