"""Benchmark data made through litwatch's own writer.

Every record is a real recording (``litwatch/fakes/recordings/pubmed``) copied under a new
PMID, parsed by ``litwatch.crawler.pubmed_parse`` and stored by
``litwatch.db.publications.save_stream``: the same path a crawl takes, so a benchmark
database is one a user could have.  Big databases are cached in ``bench/out/`` (they take
minutes to build) and reused by every script.
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
FIRST_PMID = 50_000_000
HEAD = (
    b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n<PubmedArticleSet>\n'
)
TAIL = b"</PubmedArticleSet>\n"


def templates() -> list[tuple[bytes, bytes, bytes]]:
    """Each recorded record split around its own PMID: (before, between, after)."""
    from litwatch.fakes import RECORDINGS

    pubmed = RECORDINGS / "pubmed"
    out = []
    for path in sorted((pubmed / "efetch").glob("*.xml")) + [pubmed / "pubmed1.xml", pubmed / "pubmed2.xml"]:
        data = path.read_bytes()
        for m in re.finditer(rb"<PubmedArticle>.*?</PubmedArticle>", data, re.S):
            rec = m.group(0)
            pmid = re.search(rb"<PMID[^>]*>(\d+)</PMID>", rec).group(1)
            first = rec.index(b">" + pmid + b"</PMID>") + 1
            own = rec.index(b'<ArticleId IdType="pubmed">' + pmid + b"</ArticleId>", rec.index(b"<PubmedData>"))
            own += len(b'<ArticleId IdType="pubmed">')
            out.append((rec[:first], rec[first + len(pmid) : own], rec[own + len(pmid) :]))
    return out


def efetch_answer(start: int, n: int, parts=None) -> bytes:
    """One efetch answer of ``n`` records with PMIDs from ``FIRST_PMID + start``."""
    parts = parts or templates()
    body = []
    for i in range(start, start + n):
        before, between, after = parts[i % len(parts)]
        pmid = str(FIRST_PMID + i).encode()
        body.append(before + pmid + between + pmid + after + b"\n")
    return HEAD + b"".join(body) + TAIL


def write_efetch(path: Path, n: int) -> None:
    parts = templates()
    with open(path, "wb") as fh:
        for start in range(0, n, 2000):
            fh.write(efetch_answer(start, min(2000, n - start), parts))


def ingest(db_path: Path, start: int, n: int, *, topic: str = "bench", chunk: int = 20_000) -> None:
    """Store ``n`` records from ``start`` through the crawl's parse and save path (parsed by
    ``crawler.parse_worker``'s processes, as a backfill is: one pool per ``chunk`` records)."""
    from litwatch.crawler.parse_worker import prepared
    from litwatch.db import open_db
    from litwatch.db.publications import save_stream

    parts = templates()
    db = open_db(db_path)

    def records():
        for offset in range(start, start + n, chunk):
            yield from prepared(efetch_answer(offset, min(chunk, start + n - offset), parts))

    save_stream(db, records(), topic=topic)
    db.conn.close()


def big_db(n: int) -> Path:
    """The cached benchmark database of ``n`` publications (built on first use)."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"publications-{n}.db"
    done = path.with_suffix(".done")
    if not done.exists():
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            p.unlink(missing_ok=True)
        started = time.perf_counter()
        print(f"building {path.name} through litwatch's writer ...", file=sys.stderr, flush=True)
        ingest(path, 0, n)
        done.write_text(f"{time.perf_counter() - started:.0f} s\n")
    return path


def as_installed() -> None:
    """Compile litwatch's modules to bytecode before a benchmark starts litwatch processes,
    as ``pip install`` does when it installs a package.

    A checkout run with ``PYTHONDONTWRITEBYTECODE`` set (as in the sandboxes these figures
    come from) never writes ``__pycache__``: every process then compiles every litwatch
    module it imports from source, ~60 ms of a crawl's start-up (measured, 8 alternating
    crawls of 30 records: first request 0.66 s without bytecode, 0.60 s with) that no
    installed litwatch pays.  ``compileall`` writes the bytecode whatever that variable
    says, only where it is missing or stale, beside the sources (``__pycache__``, ignored
    by git); the processes then read it as an installed litwatch would."""
    import compileall
    from importlib.util import find_spec

    for package in ("litwatch", "litwatch.crawler", "litwatch.db", "litwatch.digest"):
        for folder in find_spec(package).submodule_search_locations:
            compileall.compile_dir(folder, quiet=1)


def quiesce() -> None:
    """Write dirty pages out before a timed phase (``os.sync``), outside its timing.

    Why: a benchmark writes hundreds of MB (its input file, the database and WAL of each
    run), and the kernel writes them back up to ~30 s later, while whatever runs next is
    being timed, on the same two cores.  One source of noise less; not the only one: on
    these shared machines the same bare parse still ran at 3,900-6,300 records/s in
    consecutive runs of ``bench_crawl.py`` (its CPU time varying as much), which is why
    ratios are taken within a run and runs are repeated."""
    os.sync()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(code: str, *args: str) -> dict:
    """Run a Python snippet in a fresh process; it prints one JSON line (its last line)."""
    import json

    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "bench")})
    return json.loads(out.stdout.strip().splitlines()[-1])


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
