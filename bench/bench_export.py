"""Export at scale: ``litwatch export`` against ``sqlite3 -csv`` of the same table, same run.

    python bench/bench_export.py --size 1000000      # reuses bench/out/publications-1000000.db
    python bench/bench_export.py --size 100000 --repeat 3

Each export is a fresh process writing to /dev/null; its wall time and peak memory
(``ru_maxrss``: the largest of the export and its worker processes) are measured.  CSV and
JSON run twice: ``--workers 1`` (one process, like the baseline) and the default (worker
processes, one per core up to 4).  Baseline: the ``sqlite3`` shell's ``-csv`` dump
of the publications table (Debian package ``sqlite3``), which does no shaping at all.
Goals (issue 14): CSV within 2x of ``sqlite3 -csv``; any export under 300 MB peak.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import ROOT, as_installed, big_db  # noqa: E402


def measure(argv: list[str], env: dict | None, repeat: int) -> tuple[float, float]:
    """Median seconds and the largest peak over ``repeat`` runs, each in a fresh wrapper
    process so that RUSAGE_CHILDREN's maximum belongs to that command alone."""
    times, peaks = [], []
    for _ in range(repeat):
        code = ("import os,resource,subprocess,sys,time;t=time.perf_counter();"
                "r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE);"
                "s=time.perf_counter()-t;"
                "sys.exit(r.stderr.decode()[-300:]) if r.returncode else "
                "print(s, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024)")
        out = subprocess.run([sys.executable, "-c", code, *argv], env=env, cwd=ROOT, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(f"{' '.join(argv)} failed: {out.stderr.strip()}")
        seconds, peak = map(float, out.stdout.split())
        times.append(seconds)
        peaks.append(peak)
    return statistics.median(times), max(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--formats", nargs="+", default=["csv", "json", "ris"])
    args = parser.parse_args()
    as_installed()  # bytecode compiled, as an installed litwatch has it
    path = big_db(args.size)
    if not shutil.which("sqlite3"):
        raise SystemExit("the baseline needs the sqlite3 shell: apt-get install sqlite3")
    env = {**os.environ, "LITWATCH_DB": str(path)}
    base_s, base_mb = measure(["sqlite3", "-csv", "-header", str(path), "SELECT * FROM publications"], None, args.repeat)
    print(f"{args.size:,} publications; medians of {args.repeat}")
    print(f"sqlite3 -csv          {base_s:8.1f} s  {base_mb:6.0f} MB peak")
    verdicts = []
    for fmt in args.formats:
        # csv and json run twice: in one process (--workers 1) and as a user gets it (worker
        # processes, one per core up to 4); the reference formats run in one process.
        for workers in (["1", None] if fmt in ("csv", "json") else [None]):
            argv = [sys.executable, "-m", "litwatch.cli", "export", "--format", fmt]
            argv += ["--workers", workers] if workers else []
            seconds, peak = measure(argv, env, args.repeat)
            ratio = seconds / base_s
            label = f"{fmt} ({'1 process' if workers else 'default'})"
            print(f"litwatch export {label:<20}{seconds:8.1f} s  {peak:6.0f} MB peak   {ratio:5.2f}x sqlite3 -csv")
            verdicts.append(f"{label} peak < 300 MB: {'met' if peak < 300 else 'MISSED'}")
            if fmt == "csv" and not workers:
                verdicts.append(f"csv within 2x of sqlite3 -csv: {'met' if ratio <= 2 else 'MISSED'} ({ratio:.2f}x)")
    print(f"(cores this machine lets the export use: {len(os.sched_getaffinity(0))}; load average "
          f"{os.getloadavg()[0]:.1f})")
    print("goals: " + "; ".join(verdicts))


if __name__ == "__main__":
    main()
