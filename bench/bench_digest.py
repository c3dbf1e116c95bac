"""The digest at scale: a first digest over a backfill, then a weekly one, same run.

    python bench/bench_digest.py --size 1000000 --pending 50000   # copies bench/out's database first
    python bench/bench_digest.py --size 20000 --pending 2000

On a copy of the cached benchmark database (``--size`` publications, all pending: a first
digest after a backfill) it runs ``litwatch digest --send`` to the outbox, as a fresh
process, and measures its wall time and peak memory; then it stores ``--pending`` new
records through litwatch's writer and measures the next ``digest --send`` (the weekly
case: a few thousand new papers on a big database).  Baseline in the same run: the
process start-up (``litwatch --help``), so the figures say what the digest itself costs.
Goals (issue 14): a first digest over 1,000,000 stored < 300 MB peak; 50,000 pending on a
1M database < 5 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import ROOT, as_installed, big_db, ingest  # noqa: E402

MEASURE = ("import resource,subprocess,sys,time;t=time.perf_counter();"
           "r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE);"
           "s=time.perf_counter()-t;"
           "sys.exit(r.stderr.decode()[-400:]) if r.returncode else "
           "print(s, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024)")


def measure(argv: list[str], env: dict) -> tuple[float, float]:
    """(seconds, peak MB) of one command in a fresh wrapper process."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *argv], env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{' '.join(argv)} failed: {out.stderr.strip()}")
    seconds, peak = map(float, out.stdout.split())
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--pending", type=int, default=50_000)
    parser.add_argument("--workdir", default=None, help="where the copy goes (default: a temporary folder in bench/out)")
    args = parser.parse_args()
    as_installed()  # bytecode compiled, as an installed litwatch has it
    source = big_db(args.size)
    with tempfile.TemporaryDirectory(dir=args.workdir or source.parent) as tmp:
        db = Path(tmp) / "digest.db"
        shutil.copyfile(source, db)
        env = {**os.environ, "LITWATCH_DB": str(db), "LITWATCH_OUTBOX": str(Path(tmp) / "outbox"),
               "LITWATCH_SMTP_URL": "", "LITWATCH_DIGEST_TO": "bench@example.org"}
        exe = [sys.executable, "-m", "litwatch.cli"]
        subprocess.run([*exe, "crawl", "--help"], env=env, capture_output=True)  # warm the imports' page cache
        help_s, help_mb = measure([*exe, "--help"], env)
        first_s, first_mb = measure([*exe, "digest", "--send"], env)
        ingest(db, args.size, args.pending, topic="bench")
        weekly_s, weekly_mb = measure([*exe, "digest", "--send"], env)
    print(f"{args.size:,} publications stored; start-up (litwatch --help) {help_s:.2f} s, {help_mb:.0f} MB")
    print(f"first digest (all {args.size:,} pending)   {first_s:7.1f} s  {first_mb:6.0f} MB peak")
    print(f"weekly digest ({args.pending:,} pending)   {weekly_s:7.1f} s  {weekly_mb:6.0f} MB peak")
    print(f"goals: first digest < 300 MB: {'met' if first_mb < 300 else 'MISSED'}; "
          f"{args.pending:,} pending < 5 s: {'met' if weekly_s < 5 else 'MISSED'}")


if __name__ == "__main__":
    main()
