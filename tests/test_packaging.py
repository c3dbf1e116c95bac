"""The wheel installs one name: ``litwatch`` (and its dist-info), nothing generic.

The checkout's top-level ``crawler/``, ``db/``, ``digest/``, ``scheduler.py`` and ``seeds/``
install as ``litwatch.crawler`` and so on (pyproject's package-dir mapping), so they can
never shadow another distribution's ``db`` or ``scheduler`` in site-packages.  The wheel
is built from a copy of the checkout (a build writes ``build/`` and ``*.egg-info`` into its
source tree), once, in about 10 seconds: marked ``slow`` (``-m "not slow"`` skips it).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                    ".ruff_cache", "*.db", "*.db-wal", "*.db-shm", "outbox", "out")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> dict[str, str]:
    """File name -> text (for the dist-info's small files; "" for the rest)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    shutil.copytree(ROOT, source, ignore=NOT_COPIED, symlinks=True)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--quiet", "-w", str(tmp / "dist")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    [wheel] = (tmp / "dist").glob("litwatch-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        return {name: zf.read(name).decode() if ".dist-info/" in name and name.endswith(".txt") else ""
                for name in zf.namelist()}


@pytest.fixture(scope="module")
def wheel_names(wheel) -> list[str]:
    return sorted(wheel)


def test_only_litwatch_at_the_top(wheel_names):
    top = {name.split("/", 1)[0] for name in wheel_names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"litwatch"}
    assert len([t for t in top if t.endswith(".dist-info")]) == 1


def test_the_design_folders_are_inside(wheel_names):
    names = set(wheel_names)
    for module in ("litwatch/crawler/run.py", "litwatch/db/connection.py", "litwatch/db/jobs.py",
                   "litwatch/digest/templates/digest.html", "litwatch/scheduler.py", "litwatch/seeds/watchlist.toml",
                   "litwatch/vocab/ids.py", "litwatch/fakes/recordings/MANIFEST.md", "litwatch/cli.py"):
        assert module in names, module
    assert not any(name.startswith("litwatch/tests/") for name in names)


def test_console_script_is_the_cli(wheel):
    entry_points = next(text for name, text in wheel.items() if name.endswith(".dist-info/entry_points.txt"))
    assert "litwatch = litwatch.cli:main" in entry_points
