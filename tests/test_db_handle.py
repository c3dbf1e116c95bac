"""The writer's database handle (``db.connection.WriterDatabase``): plain SQL on the
connection, sqlite-utils' API on the same connection only when something asks for it."""

from __future__ import annotations

import subprocess
import sys

from conftest import PROJECT_ROOT

from litwatch.db import open_db


def test_a_new_database_is_set_up_as_sqlite_utils_would_and_its_api_is_there(tmp_path):
    db = open_db(tmp_path / "new.db")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA page_size").fetchone()[0] == 2048
        # A row that INSERT OR REPLACE replaces fires its delete triggers (the FTS indexes').
        assert db.execute("PRAGMA recursive_triggers").fetchone()[0] == 1
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert db.execute("SELECT 1", None).fetchone() == (1,)  # as sqlite-utils' execute
        assert list(db.query("SELECT ? AS x", [2])) == [{"x": 2}]
        # the rest of sqlite-utils' Database, on the same connection
        assert db["publications"].count == 0 and "publications" in db.table_names()
        assert db.utils is db.utils and db.utils.conn is db.conn
        assert {t.name for t in db.tables} >= {"publications", "publication_raw"}
    finally:
        db.close()


def test_replacing_an_indexed_row_leaves_no_stale_full_text_entry(tmp_path):
    db = open_db(tmp_path / "t.db")
    try:
        db.executescript("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT);")
        db["t"].enable_fts(["body"], create_triggers=True)
        db.execute("INSERT INTO t VALUES (1, 'ketamine')")
        db.execute("INSERT OR REPLACE INTO t VALUES (1, 'esketamine')")
        db.conn.commit()
        assert db.execute("SELECT count(*) FROM t_fts WHERE t_fts MATCH 'ketamine'").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM t_fts WHERE t_fts MATCH 'esketamine'").fetchone()[0] == 1
    finally:
        db.close()


def test_opening_a_set_up_database_needs_no_sqlite_utils(tmp_path):
    path = tmp_path / "ready.db"
    open_db(path).close()
    code = ("import sys; sys.modules['sqlite_utils'] = None\n"
            "from litwatch.db import open_db\n"
            f"db = open_db({str(path)!r})\n"
            "print(db.execute('SELECT count(*) FROM _migrations').fetchone()[0] > 0)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "True"
