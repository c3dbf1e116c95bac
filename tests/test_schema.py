"""Schema set-up is idempotent and complete."""

from litwatch.db import open_db
from litwatch.db.migrations import all_migrations, apply_migrations


def test_migrations_apply_once_and_rerun_cleanly(db_path):
    db = open_db(db_path)
    names = [n for n, _ in all_migrations()]
    assert [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY rowid")] == names
    assert apply_migrations(db) == []
    db2 = open_db(db_path)  # a second entry point on the same file
    assert db2.execute("SELECT count(*) FROM _migrations").fetchone()[0] == len(names)


def test_wal_mode(db):
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_core_tables(db):
    for table in ("publications", "trials", "trial_history", "trial_links", "citations", "digests", "feed_items", "crawl_state", "quarantine"):
        assert table in db.table_names()
