"""What the fault tests share: a watchlist over the fakes, the environment of a crawl,
``litwatch`` run as a real child process, and reads of the resulting database.

The faults are injected for real (a file-size limit, kill -9, a huge or endless body, an
echoing server); reads go through the db's query functions or plain SELECTs on the file
the crawl wrote (never INSERTs)."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import PROJECT_ROOT

from litwatch.fakes.eutils import FakeEutils

API_KEY = "SECRET-ncbi-key-7f3a9c"
ALL_TERM = "all[sb]"  # PubMed's subset of every record: the fake answers it with every record it holds


def watchlist(path: Path, *, ctgov: str = "ketamine", feeds: list[str] = (), keywords: list[str] = ()) -> Path:
    lines = ['backfill_from = "2015-01-01"', "overlap_days = 7", "", "[[topic]]", 'name = "all"', f"pubmed = '{ALL_TERM}'"]
    lines.append(f'ctgov = "{ctgov}"')
    if feeds:
        lines.append(f"feeds = {json.dumps(list(feeds))}")
    if keywords:
        lines.append(f"keywords = {json.dumps(list(keywords))}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def env_for(db_path: Path, *, eutils: FakeEutils | None = None, ctgov_url: str | None = None, api_key: str | None = API_KEY, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LITWATCH_", "NCBI_")) and k.lower() not in ("http_proxy", "https_proxy")}
    env.update(
        LITWATCH_EUTILS_URL=eutils.base_url if eutils else "http://127.0.0.1:9/eutils/",
        LITWATCH_CTGOV_URL=ctgov_url or "http://127.0.0.1:9/api/v2/",
        LITWATCH_IDCONV_URL="http://127.0.0.1:9/idconv/",
        LITWATCH_DB=str(db_path),
        LITWATCH_BACKOFF_BASE="0.02",
        LITWATCH_RETRY_TIMES="2",
        LITWATCH_CONNECT_RETRY_TIMES="1",
        LITWATCH_FEEDS_DELAY="0",
        LITWATCH_CTGOV_DELAY="0",
        LITWATCH_OUTBOX=str(Path(db_path).parent / "outbox"),
        NCBI_EMAIL="watcher@example.org",
        NO_PROXY="127.0.0.1,localhost",
    )
    if api_key:
        env["NCBI_API_KEY"] = api_key
    env.update(extra)
    return env


def litwatch_cmd(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "litwatch.cli", "--config", str(config), *args]


def litwatch(env: dict, config: Path, *args: str, preexec_fn=None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(litwatch_cmd(config, *args), env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=PROJECT_ROOT, preexec_fn=preexec_fn)


def expected_all(fake: FakeEutils) -> set[str]:
    """What a backfill from 2015 must store: every record entered since."""
    return {p for p, d in fake.entrez.items() if d >= dt.date(2015, 1, 1)}


def rows(db_path: Path, sql: str, params=()) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def stored_pmids(db_path: Path) -> list[str]:
    return [r[0] for r in rows(db_path, "SELECT pmid FROM publications ORDER BY pmid")]


def all_text(db_path: Path) -> str:
    """Every text value of every table (for "the secret is nowhere in the database")."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        out = []
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                out.extend(str(v) for v in row if isinstance(v, str))
        return "\n".join(out)
    finally:
        conn.close()
