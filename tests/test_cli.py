"""The CLI's outside: --help everywhere, one error line and a non-zero status on failure."""

import json
import subprocess
import sys

import pytest
from conftest import PROJECT_ROOT

COMMANDS = ["crawl", "search", "show", "trials", "export", "digest", "run", "schedule", "citations", "browse", "demo"]


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


def test_malformed_query_is_one_line(db, db_path):
    line = one_error_line(litwatch("search", '"borderline personality', env_db=db_path))
    assert "unbalanced quote" in line


def test_unknown_record_is_one_line(db, db_path):
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


def test_empty_store_exports_an_empty_list(db, db_path):
    proc = litwatch("export", "--format", "json", env_db=db_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_runs_from_any_folder_with_the_bundled_watchlist(tmp_path):
    """A user outside the clone still gets the embedded default watchlist."""
    from litwatch.db import open_db

    open_db(tmp_path / "x.db").conn.close()
    proc = litwatch("search", "ketamine", "--topic", "ketamine-bpd", "--json", env_db=tmp_path / "x.db", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_empty_csv_export_still_has_its_header(db, db_path):
    proc = litwatch("export", "--format", "csv", "--kind", "trials", env_db=db_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("kind,nct_id,title,")


# --- read commands: read-only, and never a new empty database -----------------------------

READ_COMMANDS = [["search", "ketamine"], ["show", "NCT03395314"], ["trials"], ["export"], ["citations"]]


@pytest.mark.parametrize("args", READ_COMMANDS)
def test_read_command_on_a_missing_database_fails_and_creates_nothing(tmp_path, args):
    path = tmp_path / "mistyped.db"
    line = one_error_line(litwatch(*args, env_db=path))
    assert "no litwatch database there" in line and str(path) in line
    assert list(tmp_path.iterdir()) == []


def _as_nobody():
    import os
    import pwd

    nobody = pwd.getpwnam("nobody")

    def demote():
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)

    return demote


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() != 0,
                    reason="needs root to run a child as another user")
def test_read_commands_work_on_a_file_one_may_only_read(tmp_path):
    """A database owned by someone else (mode 644, in a folder we may not write): reads work."""
    import os
    import shutil

    from export_support import build_store

    home = tmp_path / "other"
    home.mkdir()
    path = home / "litwatch.db"
    build_store(path)
    os.chmod(path, 0o644)
    os.chmod(home, 0o755)
    os.chmod(tmp_path, 0o755)
    venv_readable = all(os.access(p, os.R_OK) for p in (sys.executable,))
    if not venv_readable:
        pytest.skip("interpreter not readable by nobody")
    before = path.read_bytes()
    env = {k: v for k, v in __import__("os").environ.items()}
    env["LITWATCH_DB"] = str(path)
    for args in (["search", "ketamine", "--json"], ["show", "38011560", "--json"], ["export", "--format", "ris"]):
        try:
            proc = subprocess.run([sys.executable, "-m", "litwatch.cli", *args], capture_output=True, text=True, env=env,
                                  cwd=PROJECT_ROOT, timeout=60, preexec_fn=_as_nobody())
        except PermissionError:
            pytest.skip("the interpreter or project is not readable by user nobody here")
        if "Permission denied" in proc.stderr and "python" in proc.stderr.lower():
            pytest.skip("the project is not readable by nobody here")
        assert proc.returncode == 0, (args, proc.stderr)
        assert proc.stdout.strip()
    assert path.read_bytes() == before
    assert sorted(p.name for p in home.iterdir()) == ["litwatch.db"]
    shutil.rmtree(home)


def test_read_only_open_never_writes(tmp_path):
    """What the read commands use: SQLite's mode=ro, so even root cannot write through it."""
    import sqlite3

    from export_support import build_store

    from litwatch.db import open_db

    path = tmp_path / "litwatch.db"
    build_store(path)
    before = path.read_bytes()
    db = open_db(path, read_only=True)
    assert db.execute("SELECT count(*) FROM publications").fetchone()[0] > 0
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        db.conn.execute("DELETE FROM publications")
    db.conn.close()
    proc = litwatch("export", "--format", "csl-json", env_db=path)
    assert proc.returncode == 0, proc.stderr
    assert path.read_bytes() == before


def test_id_holding_a_newline_is_one_line(db, db_path):
    line = one_error_line(litwatch("show", "38011560\nNCT03395314", env_db=db_path))
    assert "line break" in line


def test_enumerated_options_suggest_the_nearest(db, db_path):
    line = one_error_line(litwatch("export", "--format", "bibtx", env_db=db_path))
    assert "did you mean 'bibtex'" in line
    line = one_error_line(litwatch("citations", "--status", "unresolvd", env_db=db_path))
    assert "did you mean 'unresolved'" in line


def test_citations_filter_that_matches_nothing_says_what_is_stored(db, db_path):
    from litwatch.db.citations import mark_resolved, sync_citations
    from litwatch.vocab.records import Citation

    sync_citations(db, [Citation(document="d.md", line=i, kind="pmid", value=str(100 + i), raw=str(100 + i))
                        for i in range(3)], ["d.md"])
    for i in range(3):
        mark_resolved(db, "pmid", str(100 + i), "publication", str(100 + i))
    proc = litwatch("citations", "--status", "unresolved", env_db=db_path)
    assert proc.returncode == 0
    assert proc.stderr.strip() == "no citation has status unresolved; stored: 3 resolved"


def test_crawl_without_ncbi_email_warns_once(tmp_path):
    env = {"LITWATCH_RETRY_TIMES": "0", "LITWATCH_CONNECT_RETRY_TIMES": "0"}
    import os

    proc = subprocess.run([sys.executable, "-m", "litwatch.cli", "crawl", "--source", "pubmed", "--topic", "ketamine-bpd"],
                          capture_output=True, text=True, env={**os.environ, **env, "LITWATCH_DB": str(tmp_path / "x.db")},
                          cwd=PROJECT_ROOT, timeout=120)
    assert proc.stderr.count("NCBI_EMAIL is not set") == 1, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "litwatch.cli", "crawl", "--source", "ctgov", "--topic", "ketamine-bpd"],
                          capture_output=True, text=True, env={**os.environ, **env, "LITWATCH_DB": str(tmp_path / "x.db")},
                          cwd=PROJECT_ROOT, timeout=120)
    assert "NCBI_EMAIL" not in proc.stderr
