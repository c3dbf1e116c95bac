"""A store built the way a crawl builds it: every PubMed recording parsed and saved."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import PROJECT_ROOT, PUBMED_FIXTURES

from litwatch.crawler.pubmed_parse import parse_pubmed
from litwatch.db import open_db, publications


def build_store(path) -> list[dict]:
    """Save every efetch recording (topic "ketamine-depression"); returns the stored shapes."""
    db = open_db(path)
    for f in sorted((PUBMED_FIXTURES / "efetch").glob("*.xml")):
        records = [r for r in parse_pubmed(f.read_bytes()) if "_error" not in (r if isinstance(r, dict) else {})]
        publications.save_publications(db, records, "ketamine-depression")
    shapes = list(publications.iter_publications(db))
    db.conn.close()
    return shapes


def litwatch(*args, db=None, cwd=None, extra_env=None):
    env = dict(os.environ)
    if db is not None:
        env["LITWATCH_DB"] = str(db)
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-m", "litwatch.cli", *args], capture_output=True, text=True, env=env,
                          cwd=cwd or PROJECT_ROOT, timeout=120)


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)
