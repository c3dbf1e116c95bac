"""Shared by tests/test_scheduler_*.py: an injected clock, fake job commands, a runner."""

from __future__ import annotations

import datetime as dt
import sys
import textwrap
from pathlib import Path

UTC = dt.timezone.utc

# A stand-in for `litwatch crawl` / `litwatch digest --send`: records each run in a file,
# then behaves as told: ok | fail | crash | hang.
FAKE_JOB = textwrap.dedent(
    """
    import json, os, signal, sys, time
    record, name, behaviour = sys.argv[1:4]
    with open(record, "a") as fh:
        fh.write(json.dumps({"job": name, "pid": os.getpid(), "behaviour": behaviour,
                             "db": os.environ.get("LITWATCH_DB")}) + "\\n")
    if behaviour == "ok":
        if name == "crawl":
            print(json.dumps({"ok": True, "sources": {"pubmed": {"status": "ok", "counts": {"added": 3}},
                                                       "ctgov": {"status": "ok", "counts": {"added": 1}}}}))
        else:
            print(json.dumps({"publications": ["1", "2"], "trials": [], "trial_changes": [],
                              "retractions": [], "delivered_to": "outbox:/x"}))
        sys.exit(0)
    if behaviour == "fail":
        print("litwatch: error: crawl of pubmed did not complete: boom", file=sys.stderr)
        sys.exit(1)
    if behaviour == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    if behaviour == "hang":
        time.sleep(120)
    """
)


class Clock:
    """The injected clock: tests move it; nothing waits for real time."""

    def __init__(self, start: dt.datetime):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def set(self, *args) -> None:
        self.now = dt.datetime(*args, tzinfo=UTC)


def write_fake_job(tmp_path: Path) -> Path:
    script = tmp_path / "fake_job.py"
    script.write_text(FAKE_JOB)
    return script


def fake_command(script: Path, record: Path, name: str, behaviour: str) -> list[str]:
    return [sys.executable, str(script), str(record), name, behaviour]


def recorded(record: Path) -> list[dict]:
    import json

    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line.strip()]


def write_watchlist(path: Path, crawl: str = "0 5 * * *", digest: str = "0 7 * * mon", timezone: str = "UTC") -> Path:
    path.write_text(
        textwrap.dedent(
            f"""
            [[topic]]
            name = "t"
            pubmed = "ketamine[tiab]"
            ctgov = "ketamine"

            [schedule]
            timezone = "{timezone}"
            crawl = "{crawl}"
            digest = "{digest}"
            """
        )
    )
    return path
