"""Throughput of the PubMed path: parse + store, beside a bare lxml parse and Bio.Entrez.

    python bench/bench_pubmed.py                          # 10,000 and 100,000 records, 3 runs each
    python bench/bench_pubmed.py --sizes 2000 8000 --repeat 5
    python bench/bench_pubmed.py --sizes 10000 --big-db bench/out/publications-1000000.db

For each size it builds one efetch answer from the recorded ones (``bench/_data.py``: each
record copied with a fresh PMID, DOCTYPE kept so Bio.Entrez can read it) and measures, each
run in a fresh subprocess (so peak memory, ``ru_maxrss``, belongs to that run), the kinds
taking turns run after run so a busy moment on the machine hits them alike:

- ``bare``:   ``lxml.etree.iterparse`` of the file, clearing each record (the floor);
- ``entrez``: ``Bio.Entrez.read(handle, validate=False)`` (up to ``--entrez-max`` records);
- ``ours``:   ``crawler.parse_worker.prepared`` (the crawl's parser, checks and row building,
  raw XML compressed, in two worker processes) into ``db.publications.save_stream`` (SQL
  only) into a fresh database with every migration (FTS5 triggers included).  Peak memory
  is this process's, plus the largest worker's.

With ``--big-db`` it also ingests the first size's records under new PMIDs into that
database (the cached 1,000,000-publication one of ``bench/_data.py``), taking turns with an
ingest into an empty database, and deletes them again after each run
(``db.publications.delete_publications``), so the shared database is left as it was.

Medians of ``--repeat`` runs are printed, with the ratios of the goals (issue 14):
ours/bare >= 0.5 at 100,000 records; into 1M / into empty >= 0.9.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import _data  # noqa: E402

BATCH = 500
# PMIDs of the records ingested into the big database: far from the ones it holds.
BIG_START = 10_000_000


def build(path: Path, n: int, start: int = 0) -> None:
    """One efetch answer of ``n`` records, PMIDs from ``FIRST_PMID + start`` (written in pieces)."""
    parts = _data.templates()
    with open(path, "wb") as fh:
        fh.write(_data.HEAD)
        for i in range(start, start + n):
            before, between, after = parts[i % len(parts)]
            pmid = str(_data.FIRST_PMID + i).encode()
            fh.write(before + pmid + between + pmid + after + b"\n")
        fh.write(_data.TAIL)


def run_bare(path: str, _db: str) -> int:
    from lxml import etree

    n = 0
    for _, el in etree.iterparse(path, events=("end",), tag="PubmedArticle", resolve_entities=False, no_network=True, huge_tree=True):
        n += 1
        el.clear(keep_tail=True)
        parent = el.getparent()
        while el.getprevious() is not None:
            del parent[0]
    return n


def run_entrez(path: str, _db: str) -> int:
    from Bio import Entrez

    with open(path, "rb") as fh:
        data = Entrez.read(fh, validate=False)
    return len(data["PubmedArticle"])


def run_ours(path: str, db_path: str) -> int:
    from litwatch.crawler.parse_worker import prepared
    from litwatch.db import open_db
    from litwatch.db.publications import save_stream

    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(db_path or Path(tmp) / "bench.db")
        counts = save_stream(db, prepared(path), topic="bench", batch_size=BATCH)
        db.conn.close()
    assert not counts.get("errors") and not counts.get("unchanged"), counts
    return counts["new"] + counts["updated"]


RUNNERS = {"bare": run_bare, "entrez": run_entrez, "ours": run_ours, "ours-big": run_ours}


def child(kind: str, path: str, db_path: str) -> None:
    # Import (and migrate) first, so start-up is not counted as work.
    if kind == "entrez":
        import Bio.Entrez  # noqa: F401
    elif kind.startswith("ours"):
        import litwatch.crawler.parse_worker  # noqa: F401
        import litwatch.db.publications  # noqa: F401
        if db_path:
            from litwatch.db import open_db

            open_db(db_path).conn.close()
    else:
        import lxml.etree  # noqa: F401
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started, cpu_started = time.perf_counter(), time.process_time()
    n = RUNNERS[kind](path, db_path)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    # The parsing processes' CPU (ours): they have been joined, so it is counted by now.
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers_cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # The parsing processes (ours): the largest one's peak (they have ended by now).
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"records": n, "seconds": seconds, "cpu_seconds": cpu, "workers_cpu_seconds": workers_cpu,
                      "peak_mb": peak / 1024, "growth_mb": (peak - base) / 1024,
                      "worker_peak_mb": workers / 1024}))


def once(kind: str, path: Path, db_path: str = "") -> dict:
    _data.quiesce()  # the last run's database written back before this one is timed
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(path), db_path],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise SystemExit(f"{kind} run failed:\n{out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def undo_big(db_path: str, n: int) -> None:
    from litwatch.db import open_db
    from litwatch.db.publications import delete_publications

    db = open_db(db_path)
    delete_publications(db, [str(_data.FIRST_PMID + BIG_START + i) for i in range(n)])
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; medians are printed")
    parser.add_argument("--entrez-max", type=int, default=8000,
                        help="skip Bio.Entrez.read above this many records (it holds the whole file: ~230 MB per 1,000)")
    parser.add_argument("--big-db", help="also ingest the first size into this database (and delete again)")
    parser.add_argument("--skip-sizes", action="store_true", help="with --big-db: only the big-database comparison")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "FILE", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_sizes:
            print(f"{'records':>8} {'MB':>6}  {'bare rec/s':>10} {'Entrez rec/s':>12} {'ours rec/s':>10}  {'ours/bare':>9} "
                  f"{'ours/Entrez':>11}  {'peak MB bare/Entrez/ours':>40}  (medians of {args.repeat})", flush=True)
            for n in args.sizes:
                path = Path(tmp) / f"efetch-{n}.xml"
                build(path, n)
                kinds = ("bare", "entrez", "ours") if n <= args.entrez_max else ("bare", "ours")
                runs: dict[str, list[dict]] = {k: [] for k in kinds}
                for _ in range(args.repeat):
                    for kind in kinds:
                        r = once(kind, path)
                        assert r["records"] == n, (kind, r)
                        runs[kind].append(r)
                rate = {k: statistics.median(n / r["seconds"] for r in rs) for k, rs in runs.items()}
                peak = {k: statistics.median(r["peak_mb"] for r in rs) for k, rs in runs.items()}
                ratios = [r["seconds"] for r in runs["bare"]]
                per_run = [b / o["seconds"] for b, o in zip(ratios, runs["ours"])]
                entrez = f"{rate['entrez']:>12.0f}" if "entrez" in rate else f"{'n/a':>12}"
                vs_entrez = f"{rate['ours'] / rate['entrez']:>10.2f}x" if "entrez" in rate else f"{'n/a':>11}"
                mem = " / ".join(f"{peak[k]:.0f}" if k in peak else "-" for k in ("bare", "entrez", "ours"))
                mem += f" (+{statistics.median(r['worker_peak_mb'] for r in runs['ours']):.0f} a worker)"
                # CPU of a whole run (this process and its parsing processes, user + system) per record.
                cpu = {k: statistics.median((r["cpu_seconds"] + r.get("workers_cpu_seconds", 0)) / n * 1e6 for r in rs)
                       for k, rs in runs.items()}
                print(f"{n:>8} {os.path.getsize(path) / 1e6:>6.0f}  {rate['bare']:>10.0f} {entrez} {rate['ours']:>10.0f}  "
                      f"{rate['ours'] / rate['bare']:>8.2f}x {vs_entrez}  {mem:>40}  "
                      f"per-run ours/bare {', '.join(f'{x:.2f}' for x in per_run)}; CPU us/record bare {cpu['bare']:.0f}, "
                      f"ours {cpu['ours']:.0f}", flush=True)
                path.unlink()
        if args.big_db:
            n = args.sizes[0]
            path = Path(tmp) / f"efetch-big-{n}.xml"
            build(path, n, start=BIG_START)
            empty, big = [], []
            for _ in range(args.repeat):
                empty.append(n / once("ours", path)["seconds"])
                try:
                    big.append(n / once("ours-big", path, args.big_db)["seconds"])
                finally:
                    undo_big(args.big_db, n)
            e, b = statistics.median(empty), statistics.median(big)
            print(f"ingest {n:,} records: into an empty database {e:.0f} rec/s, into {Path(args.big_db).name} "
                  f"{b:.0f} rec/s: big/empty {b / e:.2f}x (goal >= 0.9; medians of {args.repeat}; "
                  f"per run {', '.join(f'{y / x:.2f}' for x, y in zip(empty, big))})", flush=True)


if __name__ == "__main__":
    main()
