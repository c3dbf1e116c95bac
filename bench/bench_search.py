"""Search and show at scale: litwatch's search against a direct FTS5 query, same run.

    python bench/bench_search.py --size 1000000      # builds bench/out/publications-1000000.db once
    python bench/bench_search.py --size 100000 --repeat 5

Measured, over a query set that includes the commonest words of the corpus:
- **ours in-process**: ``litwatch.db.search.search_all`` (what ``litwatch search`` runs), p50/p95;
- **baseline**: the bare FTS5 query a user of sqlite-utils would write
  (``... MATCH ? ORDER BY rank LIMIT 20``), p50/p95;
- **whole process**: ``litwatch search QUERY`` end to end, p95, next to ``litwatch --help``;
- **show**: ``get_publication`` by PMID in-process, p95.
Goals (issue 14): in-process p95 < 50 ms, whole process p95 < 300 ms, show < 50 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import FIRST_PMID, ROOT, as_installed, big_db, percentile  # noqa: E402

QUERIES = [
    "the", "humans", "patients", "depression", "ketamine", "cancer", "treatment",
    "randomized controlled trial", '"systematic review"', "liver lesions", "borderline personality",
    "suicid*", "esketamine nasal spray", "women pregnancy", "mice", "zzzunmatched",
]


def timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--process-runs", type=int, default=3, help="whole-process runs per query")
    args = parser.parse_args()
    as_installed()  # bytecode compiled, as an installed litwatch has it
    path = big_db(args.size)

    import sqlite3

    from litwatch.db import open_db
    from litwatch.db.publications import get_publication
    from litwatch.db.search import search_all

    db = open_db(path)
    raw = sqlite3.connect(path)

    def baseline(q: str) -> None:
        from litwatch.db.fts import to_fts_query

        raw.execute("SELECT rowid FROM publications_fts WHERE publications_fts MATCH ? ORDER BY rank LIMIT 20",
                    [to_fts_query(q)]).fetchall()

    ours_ms, base_ms = [], []
    for q in QUERIES:  # warm the page cache once, as a user's second query would find it
        search_all(db, q, limit=20)
        baseline(q)
    per_query = []
    for q in QUERIES:
        o = [timed(search_all, db, q) for _ in range(args.repeat)]
        b = [timed(baseline, q) for _ in range(args.repeat)]
        ours_ms += o
        base_ms += b
        per_query.append((q, statistics.median(o), statistics.median(b)))
    rng = random.Random(1)
    show_ms = [timed(get_publication, db, str(FIRST_PMID + rng.randrange(args.size))) for _ in range(200)]

    env = {**os.environ, "LITWATCH_DB": str(path)}
    exe = [sys.executable, "-m", "litwatch.cli"]

    def proc(*argv) -> float:
        started = time.perf_counter()
        subprocess.run([*exe, *argv], env=env, cwd=ROOT, capture_output=True, check=False)
        return (time.perf_counter() - started) * 1000

    help_ms = [proc("--help") for _ in range(args.process_runs * 3)]
    proc_ms = [proc("search", q) for q in QUERIES for _ in range(args.process_runs)]

    print(f"{'query':<28} {'ours ms':>8} {'FTS5 ms':>8}")
    for q, o, b in per_query:
        print(f"{q:<28} {o:>8.1f} {b:>8.1f}")
    p95 = percentile(ours_ms, 95)
    print(f"\n{args.size:,} publications; {len(QUERIES)} queries x {args.repeat}")
    print(f"in-process  ours p50 {statistics.median(ours_ms):.1f} ms, p95 {p95:.1f} ms;"
          f"  bare FTS5 p50 {statistics.median(base_ms):.1f} ms, p95 {percentile(base_ms, 95):.1f} ms;"
          f"  ours/FTS5 at p95 {p95 / percentile(base_ms, 95):.2f}x")
    pp95 = percentile(proc_ms, 95)
    print(f"process     litwatch search p95 {pp95:.0f} ms; litwatch --help median {statistics.median(help_ms):.0f} ms")
    print(f"show        p50 {statistics.median(show_ms):.2f} ms, p95 {percentile(show_ms, 95):.2f} ms")
    print(f"goals: in-process p95 < 50 ms: {'met' if p95 < 50 else 'MISSED'}; process p95 < 300 ms: "
          f"{'met' if pp95 < 300 else 'MISSED'}; show p95 < 50 ms: {'met' if percentile(show_ms, 95) < 50 else 'MISSED'}")


if __name__ == "__main__":
    main()
