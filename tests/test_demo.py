"""``litwatch demo``: offline, a database and a ketamine digest in a folder of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "litwatch.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=180)


def test_demo_builds_a_database_and_a_ketamine_digest_offline(tmp_path):
    # conftest points every service URL at a closed port: only the demo's own fakes answer.
    proc = run("demo", "--dir", "tmp", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "tmp"
    files = {p.suffix: p for p in (folder / "digest").iterdir()}
    assert set(files) == {".html", ".txt", ".eml"}
    for path in files.values():
        assert "ketamine" in path.read_text(encoding="utf-8", errors="replace").lower(), path
    assert "NCT03395314" in files[".txt"].read_text(encoding="utf-8")
    for needle in ("litwatch search", "show NCT03395314", "browse", str(folder / "litwatch.db"), ".html"):
        assert needle in proc.stdout, needle

    shown = run("show", "NCT03395314", "--json", cwd=tmp_path, env={"LITWATCH_DB": str(folder / "litwatch.db")})
    trial = json.loads(shown.stdout)
    assert trial["status"] == "TERMINATED" and any(h["field"] == "status" for h in trial["history"])


def test_a_previous_demo_folder_is_cleared(tmp_path):
    from litwatch.demo import MARKER, prepare_directory

    prepare_directory(tmp_path / "d")
    (tmp_path / "d" / "litwatch.db").write_text("old", encoding="utf-8")
    prepare_directory(tmp_path / "d")
    assert [p.name for p in (tmp_path / "d").iterdir()] == [MARKER]


def test_demo_refuses_a_folder_that_is_not_its_own(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.docx").write_text("precious", encoding="utf-8")
    proc = run("demo", "--dir", "mine", cwd=tmp_path)
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1
    assert "not empty" in proc.stderr
    assert (tmp_path / "mine" / "thesis.docx").read_text(encoding="utf-8") == "precious"
