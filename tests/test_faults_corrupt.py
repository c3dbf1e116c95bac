"""A database damaged mid-file (issue 10, item 9): the crawl says so, in one line, with a
non-zero exit, and fetches nothing; it never reports ``ok``."""

from __future__ import annotations

import os

from fault_support import env_for, litwatch, watchlist

from litwatch.fakes.eutils import FakeEutils

PAGE = 4096


def test_a_crawl_on_a_database_corrupted_mid_file_is_an_error(tmp_path):
    db_path = tmp_path / "litwatch.db"
    config = watchlist(tmp_path / "watchlist.toml")
    with FakeEutils() as fake:
        env = env_for(db_path, eutils=fake)
        first = litwatch(env, config, "crawl", "--source", "pubmed")
        assert first.returncode == 0, first.stdout + first.stderr
        size = os.path.getsize(db_path)
        with open(db_path, "r+b") as fh:  # four pages of garbage in the middle of the file
            fh.seek(size // 2 // PAGE * PAGE)
            fh.write(b"\xff" * PAGE * 4)
        calls = len(fake.log)
        second = litwatch(env, config, "crawl", "--source", "pubmed", "--json")
    assert second.returncode != 0
    line = second.stderr.strip()
    assert "\n" not in line and line.startswith("litwatch: error: ") and "the database is damaged" in line
    assert '"ok": true' not in second.stdout
    assert len(fake.log) == calls  # nothing fetched into a damaged file
