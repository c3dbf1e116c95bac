"""``litwatch demo``: a first run without network, in a folder of its own.

It starts the built-in fakes (``litwatch.fakes.world``: E-utilities, the PMC id converter
and ClinicalTrials.gov serving real recorded responses), points litwatch at them through
the usual environment variables, and runs the real crawl (seeds, ClinicalTrials.gov,
PubMed; feeds are left out, they would need the network) into ``DIR/litwatch.db``.  Then
NCT03395314 changes as it did in reality (RECRUITING -> TERMINATED, results posted) and
ClinicalTrials.gov is crawled again, so the trial has a history; the digest of it all is
written to ``DIR/digest`` as HTML, text and ``.eml``.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from litwatch.vocab.errors import LitwatchError

MARKER = ".litwatch-demo"  # a folder holding it is ours to clear on the next run
DEMO_SOURCES = ["seeds", "ctgov", "pubmed"]
# Tiny waits against the local fakes; the fake E-utilities accepts any API key (10 requests/s).
DEMO_ENV = {
    "NCBI_EMAIL": "demo@example.org",
    "NCBI_API_KEY": "litwatch-demo-key",
    "LITWATCH_CTGOV_DELAY": "0.01",
    "LITWATCH_FEEDS_DELAY": "0.01",
    "LITWATCH_BACKOFF_BASE": "0.05",
    "LITWATCH_RETRY_TIMES": "2",
    "NO_PROXY": "127.0.0.1,localhost",
}


@dataclass
class DemoResult:
    directory: Path
    db_path: Path
    digest_files: dict[str, Path] = field(default_factory=dict)
    counts: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0


def prepare_directory(directory: Path) -> None:
    """An empty folder, or one a previous demo made (cleared); anything else is refused."""
    if directory.exists():
        if not directory.is_dir():
            raise LitwatchError(f"{directory}: not a folder; choose another with litwatch demo --dir DIR")
        if any(directory.iterdir()) and not (directory / MARKER).exists():
            raise LitwatchError(f"{directory}: folder is not empty and not a litwatch demo; choose another with --dir DIR")
        for child in directory.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text("made by litwatch demo; the next litwatch demo here clears this folder\n", encoding="utf-8")


def run_demo(directory: str | os.PathLike, echo=lambda line: None) -> DemoResult:
    from litwatch.config import load_settings, load_watchlist
    from litwatch.crawler.run import run_crawl
    from litwatch.db import open_db
    from litwatch.db.topics import sync_topics
    from litwatch.digest.pipeline import run_digest
    from litwatch.fakes.world import changed_study, start_seed_world

    started = time.monotonic()
    directory = Path(directory).resolve()
    prepare_directory(directory)
    result = DemoResult(directory=directory, db_path=directory / "litwatch.db")
    eutils, idconv, ctgov, study = start_seed_world()
    saved = {k: os.environ.get(k) for k in (*DEMO_ENV, "LITWATCH_EUTILS_URL", "LITWATCH_IDCONV_URL", "LITWATCH_CTGOV_URL",
                                            "LITWATCH_DB", "LITWATCH_OUTBOX", "LITWATCH_SMTP_URL")}
    try:
        # The crawl children read the same variables a user would set.
        os.environ.update(DEMO_ENV)
        os.environ.update(LITWATCH_EUTILS_URL=eutils.base_url, LITWATCH_IDCONV_URL=idconv.base_url,
                          LITWATCH_CTGOV_URL=ctgov.base_url, LITWATCH_DB=str(result.db_path),
                          LITWATCH_OUTBOX=str(directory / "outbox"))
        os.environ.pop("LITWATCH_SMTP_URL", None)
        settings = load_settings()
        watchlist = load_watchlist(os.environ.get("LITWATCH_CONFIG") or None)
        db = open_db(result.db_path)
        sync_topics(db, watchlist.topic_rows())
        echo("crawling the recorded services (seeds, ClinicalTrials.gov, PubMed) ...")
        first = run_crawl(settings, watchlist, DEMO_SOURCES, None, config_path=watchlist.path)
        first.raise_for_failure()
        echo("NCT03395314 changes (RECRUITING -> TERMINATED, results posted); crawling ClinicalTrials.gov again ...")
        ctgov.put_study(changed_study(study))
        second = run_crawl(settings, watchlist, ["ctgov"], None, config_path=watchlist.path)
        second.raise_for_failure()
        result.counts = {r.source: dict(r.counts) for r in first.results}
        echo("writing the digest ...")
        outcome = run_digest(db, settings, watchlist, send=False, out_dir=directory / "digest")
        result.digest_files = {Path(v).suffix.lstrip('.'): Path(v) for v in (outcome.preview_paths or {}).values()}
        db.conn.close()
    finally:
        for fake in (eutils, idconv, ctgov):
            fake.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    result.seconds = time.monotonic() - started
    return result
