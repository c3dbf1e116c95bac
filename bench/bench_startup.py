"""Start-up: ``litwatch search`` on an empty database against ``litwatch --help``, same run.

    python bench/bench_startup.py --runs 15

Each command is a fresh process (what a user waits for); the median of ``--runs`` counts.
Goal (issue 14): search within 1.5x of --help.  Whether numpy is importable is printed:
sqlite-utils imports it when present (a test environment has it through biopython; a
plain ``pip install litwatch`` does not).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from _data import as_installed  # noqa: E402


def timed(argv: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, check=False)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    as_installed()  # bytecode compiled, as an installed litwatch has it
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "LITWATCH_DB": str(Path(tmp) / "empty.db")}
        exe = [sys.executable, "-m", "litwatch.cli"]
        subprocess.run([sys.executable, "-c", "import sys; from litwatch.db import open_db; open_db(sys.argv[1])",
                        env["LITWATCH_DB"]], check=True)  # an empty database, migrated
        bare = [timed([sys.executable, "-c", "pass"], env) for _ in range(args.runs)]
        help_ = [timed([*exe, "--help"], env) for _ in range(args.runs)]
        search = [timed([*exe, "search", "ketamine"], env) for _ in range(args.runs)]
    h, s = statistics.median(help_), statistics.median(search)
    print(f"python -c pass {statistics.median(bare):.0f} ms; litwatch --help {h:.0f} ms; "
          f"litwatch search (empty db) {s:.0f} ms; search/help {s / h:.2f}x "
          f"({'met' if s / h <= 1.5 else 'MISSED'} goal <= 1.5x); numpy importable: "
          f"{importlib.util.find_spec('numpy') is not None}")


if __name__ == "__main__":
    main()
