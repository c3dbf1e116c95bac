"""Where a crawl's CPU goes: one ``bench_crawl`` run under Linux ``perf``, by thread and library.

    python bench/profile_crawl.py                  # 10,000 records, one profiled crawl
    python bench/profile_crawl.py --records 20000 --keep perf.data

Why this and not cProfile or py-spy: the crawl's CPU is mostly C (lxml, zstd, SQLite) and
the kernel (socket reads, WAL writes, page faults), spread over three kinds of thread in
two kinds of process; ``perf record`` samples all of them, native code and kernel
included, at a fixed rate, without slowing the Python (cProfile doubles the walk's cost).
The table says which library each second of CPU went to, for:

- the crawl process's main thread: start-up (imports, Scrapy), Twisted's reactor,
  receiving answers and handing them to the parsing processes;
- its other threads: the store's writer thread (``crawler.pipelines_pubmed``: SQLite, its
  WAL writes) and the process pool's result thread (unpickling rows);
- the parsing processes (``crawler.parse_worker``: lxml, the walk, zstd, SHA-1, rows).

The fake E-utilities (this process) is not sampled. Needs ``perf`` (Debian: linux-perf)
and permission to sample (root, or ``kernel.perf_event_paranoid`` <= 2). Not part of the
test suite; figures in bench/README.md ("Stop 26").
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import as_installed  # noqa: E402
from bench_crawl import make_records, one_run  # noqa: E402

# Samples per second and per thread: a sample stands for 1/FREQ s of CPU.
FREQ = 999
# A sample's shared object (its file name) -> what it is, first match wins.
LIBRARIES = [
    ("Python interpreter", ("libpython", "python3")),
    ("lxml / libxml2", ("etree.cpython", "libxml2", "_elementpath")),
    ("zstd", ("backend_c.cpython", "zstd")),
    ("SQLite", ("libsqlite3", "_sqlite3")),
    ("kernel (system calls, page faults)", ("[kernel",)),
    ("libc (memcpy, malloc)", ("libc.so", "libc-")),
    ("OpenSSL (SHA-1)", ("libcrypto", "_hashlib")),
    ("pickle, orjson", ("_pickle", "orjson")),
]
ROLES = ("crawl: main thread", "crawl: other threads", "parsing processes")
_SAMPLE = re.compile(r"^\s*(\d+)/(\d+)\s+\S+\s+\((.*)\)\s*$")


def library(dso: str) -> str:
    name_of_file = dso.rsplit("/", 1)[-1]  # (an extension's directory is python3.x/site-packages)
    for name, marks in LIBRARIES:
        if any(name_of_file.startswith(m) or m in name_of_file for m in marks):
            return name
    return "other"


def samples(data: Path) -> list[tuple[int, int, str]]:
    """(pid, tid, shared object) of every sample, in time order."""
    out = subprocess.run(["perf", "script", "-i", str(data), "-F", "pid,tid,ip,dso"],
                         capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        m = _SAMPLE.match(line)
        if m:
            found.append((int(m[1]), int(m[2]), m[3]))
    return found


def table(found: list[tuple[int, int, str]]) -> dict[tuple[str, str], int]:
    """Samples by (role, library).  The crawl process is the first to be sampled (perf
    starts it; it forks the parsing processes)."""
    crawl_pid = found[0][0]
    counts: collections.Counter = collections.Counter()
    for pid, tid, dso in found:
        role = ROLES[2] if pid != crawl_pid else ROLES[0] if tid == pid else ROLES[1]
        counts[role, library(dso)] += 1
    return counts


def report(counts: dict[tuple[str, str], int], wall: float) -> None:
    total = sum(counts.values())
    names = [n for n, _ in LIBRARIES] + ["other"]
    width = max(map(len, names))
    print(f"\nCPU seconds by library ({total} samples at {FREQ}/s: {total / FREQ:.2f} s of CPU in {wall:.2f} s of wall time)")
    print(f"{'':{width}}  " + "  ".join(f"{r:>20}" for r in ROLES) + f"  {'all':>14}")
    for name in names:
        row = [counts.get((r, name), 0) for r in ROLES]
        if not sum(row):
            continue
        cells = "  ".join(f"{c / FREQ:>13.2f} s {100 * c / total:>3.0f}%" for c in row)
        print(f"{name:{width}}  {cells}  {sum(row) / FREQ:>7.2f} s {100 * sum(row) / total:>3.0f}%")
    per_role = [sum(counts.get((r, n), 0) for n in names) for r in ROLES]
    print(f"{'all':{width}}  " + "  ".join(f"{c / FREQ:>13.2f} s {100 * c / total:>3.0f}%" for c in per_role)
          + f"  {total / FREQ:>7.2f} s 100%")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--keep", type=Path, help="keep perf's data file here (for perf report)")
    args = ap.parse_args()
    if shutil.which("perf") is None:
        raise SystemExit("profile_crawl: needs Linux perf on PATH (Debian: apt install linux-perf)")
    as_installed()
    from litwatch.crawler.heap import keep_freed_memory

    keep_freed_memory()  # as bench_crawl.py runs the fake
    records = make_records(args.records)
    with tempfile.TemporaryDirectory() as tmp:
        data = args.keep or Path(tmp) / "perf.data"
        run = one_run(records, Path(tmp), wrap=("perf", "record", "-q", "-F", str(FREQ), "-o", str(data), "--"))
        print(f"{run['stored']} stored in {run['wall']:.2f} s under perf ({run['requests']} requests)")
        found = samples(data)
    if not found:
        raise SystemExit("profile_crawl: perf recorded no samples (perf_event_paranoid too strict?)")
    report(table(found), run["wall"])


if __name__ == "__main__":
    main()
