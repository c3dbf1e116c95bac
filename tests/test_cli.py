"""The CLI's outside: --help everywhere, one error line and a non-zero status on failure."""

import json
import subprocess
import sys

import pytest
from conftest import PROJECT_ROOT

COMMANDS = ["crawl", "search", "show", "trials", "export", "digest", "run", "schedule", "citations"]


def litwatch(*args, env_db=None, cwd=None):
    import os

    env = dict(os.environ)
    if env_db:
        env["LITWATCH_DB"] = str(env_db)
    return subprocess.run(
        [sys.executable, "-m", "litwatch.cli", *args], capture_output=True, text=True, env=env, cwd=cwd or PROJECT_ROOT, timeout=60
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    proc = litwatch(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "Usage: litwatch " + command in proc.stdout


def one_error_line(proc):
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_malformed_query_is_one_line(db_path):
    line = one_error_line(litwatch("search", '"borderline personality', env_db=db_path))
    assert "unbalanced quote" in line


def test_unknown_record_is_one_line(db_path):
    assert "not in the store" in one_error_line(litwatch("show", "NCT99999999", env_db=db_path))
    assert "not in the store" in one_error_line(litwatch("show", "12345", env_db=db_path))


def test_bad_watchlist_is_one_line_naming_file_and_key(tmp_path, db_path):
    bad = tmp_path / "w.toml"
    bad.write_text('[[topic]]\nname = "x"\npubmed = "k"\nctgov = "k"\nfeedz = []\n', encoding="utf-8")
    line = one_error_line(litwatch("--config", str(bad), "trials", "--topic", "x", env_db=db_path))
    assert str(bad) in line and "topic.x.feedz: unknown key" in line


def test_unknown_topic_is_one_line(db_path):
    assert "no topic named 'nope'" in one_error_line(litwatch("trials", "--topic", "nope", env_db=db_path))


def test_database_in_missing_folder_is_one_line(tmp_path):
    line = one_error_line(litwatch("trials", env_db=tmp_path / "no" / "such" / "x.db"))
    assert "does not exist" in line


def test_empty_store_exports_an_empty_list(db_path):
    proc = litwatch("export", "--format", "json", env_db=db_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_runs_from_any_folder_with_the_bundled_watchlist(tmp_path):
    """A user outside the clone still gets the embedded default watchlist."""
    proc = litwatch("search", "ketamine", "--topic", "ketamine-bpd", "--json", env_db=tmp_path / "x.db", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_empty_csv_export_still_has_its_header(db_path):
    proc = litwatch("export", "--format", "csv", "--kind", "trials", env_db=db_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("kind,nct_id,title,")
