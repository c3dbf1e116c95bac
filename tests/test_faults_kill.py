"""Crashes: kill -9 or SIGTERM of a crawl at several points, then a normal crawl.

Whatever the moment, the final database equals an uninterrupted run's (same records, no
duplicates), no crawl process outlives the killed one, the dead crawl's ``running`` rows
are closed as ``interrupted`` (and reported) and its temporary folders removed.  Also: a
child tied with ``crawler.lifeline`` dies with its parent, and the scheduler's
``ChildRunner.stop`` returns only after the job's whole process group is gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT
from fault_support import env_for, litwatch, litwatch_cmd, rows, watchlist

from litwatch.fakes.ctgov import FakeCtgov, ketamine_bpd_study
from litwatch.fakes.eutils import FakeEutils
from litwatch.fakes.feeds import FakeFeedServer, fixture_bytes

# Two sources, two children: enough kill points, and a crawl of a few seconds.  (A feed is
# stored in one transaction with its validators, so a kill there is the simplest case.)
SOURCES = ("--source", "ctgov", "--source", "pubmed")
# Product tables compared between runs (bookkeeping such as crawl_runs differs by design).
TABLES = ("publications", "publication_topics", "publication_raw", "trials", "trial_topics", "trial_links",
          "trial_history", "feed_items", "feed_item_topics", "pubmed_queue", "quarantine")
KEYS = {"publications": "pmid", "trials": "nct_id", "feed_items": "id"}


@pytest.fixture(scope="module")
def world():
    eutils = FakeEutils().start()
    ctgov = FakeCtgov().start()
    ctgov.put_study(ketamine_bpd_study())
    feeds = FakeFeedServer().start()
    feed_url = feeds.serve("/rss.xml", fixture_bytes())
    yield eutils, ctgov, feed_url
    for fake in (eutils, ctgov, feeds):
        fake.stop()


def _setup(tmp: Path, world):
    eutils, ctgov, feed_url = world
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "tmp").mkdir(exist_ok=True)
    config = watchlist(tmp / "watchlist.toml", feeds=[feed_url], keywords=["study", "trial", "ketamine"])
    env = env_for(tmp / "litwatch.db", eutils=eutils, ctgov_url=ctgov.base_url, TMPDIR=str(tmp / "tmp"))
    return config, env, tmp / "litwatch.db"


def snapshot(db_path: Path) -> dict:
    """Per product table: its row count and (for the main ones) its sorted keys."""
    out = {}
    existing = {r[0] for r in rows(db_path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table in TABLES:
        if table not in existing:
            continue
        out[table] = rows(db_path, f'SELECT COUNT(*) FROM "{table}"')[0][0]
        if table in KEYS:
            keys = [r[0] for r in rows(db_path, f'SELECT {KEYS[table]} FROM "{table}" ORDER BY 1')]
            assert len(keys) == len(set(keys)), f"duplicates in {table}"
            out[table + ".keys"] = keys
    return out


def crawl_processes(marker: str) -> list[int]:
    """Pids whose command line holds ``marker`` (the test's unique watchlist path)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read()
            with open(f"/proc/{entry}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != b"Z":
            found.append(int(entry))
    return found


def wait_for(predicate, timeout: float = 60.0, what: str = "") -> None:
    """Poll a condition on another process (the crawl): there is no clock to inject."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _count(db_path: Path, table: str) -> int:
    try:
        return rows(db_path, f'SELECT COUNT(*) FROM "{table}"')[0][0]
    except Exception:  # not created yet
        return 0


@pytest.fixture(scope="module")
def reference(world, tmp_path_factory):
    config, env, db_path = _setup(tmp_path_factory.mktemp("reference"), world)
    proc = litwatch(env, config, "crawl", *SOURCES, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    snap = snapshot(db_path)
    assert snap["publications"] > 50 and snap["trials"] >= 1
    return snap


POINTS = {
    # a crawl_runs row is open: the first child is starting
    "child starting": lambda db, world: _count(db, "crawl_runs") > 0,
    # ClinicalTrials.gov stored its trials; PubMed has not started
    "after ctgov": lambda db, world: _count(db, "trials") > 0,
    # PubMed asked E-utilities and is fetching or storing
    "inside pubmed": lambda db, world: len(world[0].calls("efetch")) > 0 or _count(db, "publications") > 0,
}


@pytest.mark.parametrize("point", list(POINTS))
def test_kill_9_then_normal_crawl_equals_uninterrupted_run(point, world, reference, tmp_path):
    config, env, db_path = _setup(tmp_path / point.replace(" ", "-"), world)
    start_calls = len(world[0].log)
    proc = subprocess.Popen(litwatch_cmd(config, "crawl", *SOURCES), env=env, cwd=PROJECT_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        check = POINTS[point]
        wait_for(lambda: check(db_path, (FakeEutilsView(world[0], start_calls),)) or proc.poll() is not None, what=point)
        proc.kill()  # kill -9 of `litwatch crawl`
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    # No orphan: the per-source child died with it (crawler.lifeline).
    wait_for(lambda: not crawl_processes(str(config)), timeout=10, what="the crawl children to die")

    again = litwatch(env, config, "crawl", *SOURCES, "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert snapshot(db_path) == reference
    # The dead run is closed as interrupted and said so; nothing stays "running".
    statuses = [r[0] for r in rows(db_path, "SELECT status FROM crawl_runs")]
    assert "running" not in statuses
    if "interrupted" in statuses:
        assert any("was interrupted" in n for n in json.loads(again.stdout)["notices"])
    assert not [p for p in os.listdir(tmp_path / point.replace(" ", "-") / "tmp") if p.startswith("litwatch-crawl-")]


class FakeEutilsView:
    """The E-utilities fake's calls since a test started (the fake is shared by the module)."""

    def __init__(self, fake: FakeEutils, since: int):
        self.fake, self.since = fake, since

    def calls(self, path: str):
        return [c for c in self.fake.log[self.since:] if c.path == path]


def test_sigterm_ends_the_crawl_and_its_child_and_closes_the_run(world, tmp_path):
    config, env, db_path = _setup(tmp_path, world)
    start_calls = len(world[0].log)
    proc = subprocess.Popen(litwatch_cmd(config, "crawl", "--source", "pubmed"), env=env, cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    view = FakeEutilsView(world[0], start_calls)
    wait_for(lambda: len(view.calls("esearch")) > 0 or proc.poll() is not None, what="the first esearch")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    if "interrupted" not in err:  # the crawl finished before the signal landed: nothing to see
        pytest.skip("the crawl ended before SIGTERM arrived")
    assert proc.returncode != 0
    assert err.strip().count("\n") == 0 and "crawl interrupted by SIGTERM" in err
    assert [r[0] for r in rows(db_path, "SELECT status FROM crawl_runs")] == ["interrupted"]
    assert not crawl_processes(str(config))
    assert not [p for p in os.listdir(tmp_path / "tmp") if p.startswith("litwatch-crawl-")]
    # The watermark did not move: the next crawl fetches the same window, and everything.
    assert rows(db_path, "SELECT watermark FROM crawl_state WHERE source = 'pubmed' AND watermark IS NOT NULL") == []
    # The digest says so.
    digest = litwatch(env, config, "digest", "--json")
    assert any(w.startswith("pubmed: crawl was interrupted") for w in json.loads(digest.stdout)["warnings"])


LIFELINE_PARENT = """
import subprocess, sys, time
from litwatch.crawler.lifeline import child_env
child = subprocess.Popen([sys.executable, "-c",
    "from litwatch.crawler.lifeline import die_with_parent; import time; die_with_parent(); print('tied', flush=True); time.sleep(60)"],
    env=child_env(), stdout=subprocess.PIPE, text=True)
assert child.stdout.readline().strip() == "tied"
print(child.pid, flush=True)
time.sleep(60)
"""


def test_a_tied_child_dies_with_its_parent_on_kill_9():
    parent = subprocess.Popen([sys.executable, "-c", LIFELINE_PARENT], stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT)
    try:
        child_pid = int(parent.stdout.readline())
        parent.kill()
        parent.wait()
        wait_for(lambda: not _running(child_pid), timeout=10, what="the child to die")
    finally:
        if parent.poll() is None:
            parent.kill()


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def test_child_runner_stop_returns_after_the_whole_group_exited(tmp_path):
    """A job whose grandchild ignores SIGTERM: stop() waits for it, then kills it."""
    import threading

    from litwatch.jobrun import ChildRunner

    pidfile = tmp_path / "grandchild.pid"
    grandchild_py = tmp_path / "grandchild.py"
    grandchild_py.write_text(
        "import os, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
        "time.sleep(60)\n"
    )
    script = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, {str(grandchild_py)!r}, {str(pidfile)!r}])\n"
        "time.sleep(60)\n"
    )
    runner = ChildRunner(kill_grace=0.5)
    done = {}
    thread = threading.Thread(target=lambda: done.setdefault("result", runner.run([sys.executable, "-c", script], timeout=60)))
    thread.start()
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), timeout=20, what="the grandchild")
    grandchild = int(pidfile.read_text())
    runner.stop()
    assert not _running(grandchild)  # gone by the time stop() returned
    thread.join(10)
    assert done["result"].status == "interrupted"
