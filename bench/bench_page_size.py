"""What the page size of a new database costs and saves: A/B in one run, same records.

    python bench/bench_page_size.py                       # 4096 vs 1024: ingest 10,000, 100,000-db reads
    python bench/bench_page_size.py --page-sizes 4096 1024 512 --n 100000 --repeat 3

``db.connection.NEW_DB_PAGE_SIZE`` is the page size of a database file litwatch creates.
For each candidate page size, in turns so a busy moment on the machine hits them alike:

1. **ingest**: ``bench_pubmed.py``'s ``ours`` child (parse in worker processes, store with
   ``save_stream``, fresh database) on one 10,000-record efetch answer, with the bare lxml
   parse of the same file run in the same rounds (ours/bare per round, median);
2. **storage**: bytes per publication of the ``--n`` database (file size / n);
3. **reads** on a database of ``--n`` publications built through ``bench/_data.py`` at
   that page size (``bench/out/page-<size>/``): ``bench_search.py`` (search p50/p95 in
   process and whole process, ``show`` p95) and ``bench_export.py --formats csv``.

The page size reaches the child processes through a ``sitecustomize`` module in a temporary
folder on ``PYTHONPATH`` (``LITWATCH_BENCH_PAGE_SIZE``): a benchmark hook, not a setting.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))
import _data  # noqa: E402
import bench_pubmed  # noqa: E402

HOOK = """import os
_size = os.environ.get("LITWATCH_BENCH_PAGE_SIZE")
if _size:
    import litwatch.db.connection as _connection
    _connection.NEW_DB_PAGE_SIZE = int(_size)
"""


def use_page_size(size: int, hook_dir: Path) -> None:
    os.environ["LITWATCH_BENCH_PAGE_SIZE"] = str(size)
    parts = [str(hook_dir)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))


def build_db(size: int, n: int) -> Path:
    """The ``n``-publication database at this page size (cached like ``_data.big_db``)."""
    from litwatch.db import connection

    out = _data.OUT / f"page-{size}"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"publications-{n}.db"
    done = path.with_suffix(".done")
    if not done.exists():
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
        saved, connection.NEW_DB_PAGE_SIZE = connection.NEW_DB_PAGE_SIZE, size
        started = time.perf_counter()
        try:
            _data.ingest(path, 0, n)
        finally:
            connection.NEW_DB_PAGE_SIZE = saved
        done.write_text(f"{time.perf_counter() - started:.0f} s\n")
    return path


def run_with_db(path: Path, n: int, argv: list[str]) -> str:
    """Run a bench script that reads ``bench/out/publications-<n>.db`` with ``path`` moved there."""
    target = _data.OUT / f"publications-{n}.db"
    if target.exists() or target.with_suffix(".done").exists():
        raise SystemExit(f"{target} exists: move it away first (this script puts each page size's database there)")
    shutil.move(path, target)
    target.with_suffix(".done").write_text("page-size A/B\n")
    try:
        out = subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=ROOT)
        if out.returncode:
            raise SystemExit(f"{argv} failed: {out.stderr.strip()[-2000:]}")
        return out.stdout
    finally:
        target.with_suffix(".done").unlink()
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.move(target, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--page-sizes", type=int, nargs="+", default=[4096, 1024])
    parser.add_argument("--n", type=int, default=100_000, help="publications in the read benchmarks' database")
    parser.add_argument("--ingest", type=int, default=10_000, help="records in the ingest comparison")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="read benchmark rounds, page sizes in turn")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-reads", action="store_true")
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        hook = Path(tmp) / "hook"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(HOOK)
        if not args.skip_ingest:
            efetch = Path(tmp) / "efetch.xml"
            bench_pubmed.build(efetch, args.ingest)
            ratios: dict[int, list[float]] = {s: [] for s in args.page_sizes}
            rates: dict[int, list[float]] = {s: [] for s in args.page_sizes}
            for _ in range(args.repeat):
                for size in args.page_sizes:
                    use_page_size(size, hook)
                    bare = bench_pubmed.once("bare", efetch)["seconds"]
                    ours = bench_pubmed.once("ours", efetch)["seconds"]
                    ratios[size].append(bare / ours)
                    rates[size].append(args.ingest / ours)
            for size in args.page_sizes:
                print(f"ingest {args.ingest:,} page_size {size:>5}: ours {statistics.median(rates[size]):,.0f} rec/s, "
                      f"ours/bare median {statistics.median(ratios[size]):.2f}x "
                      f"(per round {', '.join(f'{r:.2f}' for r in ratios[size])})", flush=True)
        if not args.skip_reads:
            for size in args.page_sizes:
                use_page_size(size, hook)
                started = time.perf_counter()
                path = build_db(size, args.n)
                print(f"page_size {size}: {args.n:,} publications, {path.stat().st_size / args.n:,.0f} B each "
                      f"(built in {(path.with_suffix('.done').read_text().strip())}, "
                      f"{time.perf_counter() - started:.0f} s now)", flush=True)
            # Rounds of one run each, the page sizes taking turns (a busy moment hits them alike).
            for round_ in range(args.rounds):
                for size in args.page_sizes:
                    path = _data.OUT / f"page-{size}" / f"publications-{args.n}.db"
                    print(f"--- round {round_ + 1}, page_size {size}: bench_search.py", flush=True)
                    print(run_with_db(path, args.n, ["bench/bench_search.py", "--size", str(args.n),
                                                     "--repeat", str(args.repeat)]), flush=True)
                    print(f"--- round {round_ + 1}, page_size {size}: bench_export.py --formats csv", flush=True)
                    print(run_with_db(path, args.n, ["bench/bench_export.py", "--size", str(args.n), "--formats",
                                                     "csv", "--repeat", str(args.repeat)]), flush=True)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)


if __name__ == "__main__":
    main()
