"""Throughput of the PubMed path: parse + store into SQLite, beside bare lxml and Bio.Entrez.

    python bench/bench_pubmed.py                  # 2,000 and 8,000 records (~1 min)
    python bench/bench_pubmed.py --sizes 2000 8000 32000

For each size it builds one large efetch answer from the recorded ones (litwatch/fakes/recordings/
pubmed: each record copied with a fresh PMID, DOCTYPE kept so Bio.Entrez can read it) and
measures, each in a fresh subprocess so peak memory (``ru_maxrss``) belongs to that run,
and the fastest of ``--repeat`` (2) runs counts:

- ``bare``:   ``lxml.etree.iterparse`` of the file, clearing each record (the floor);
- ``entrez``: ``Bio.Entrez.read(handle, validate=False)`` (Biopython bundles the DTD);
- ``ours``:   ``crawler.pubmed_parse.parse_pubmed`` into ``db.publications.save_stream``
  (``save_publications`` in batches of 200 on a writer thread, overlapping the parse) into
  a fresh database with every migration (FTS5 triggers included), raw XML compressed.

Targets (issue 2): ours >= 0.5x bare and >= 4x Entrez; ours' peak memory flat as the file
grows.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from litwatch.fakes import RECORDINGS  # noqa: E402

FIXTURES = RECORDINGS / "pubmed"
HEAD = (
    b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n<PubmedArticleSet>\n'
)
TAIL = b"</PubmedArticleSet>\n"
BATCH = 200


def templates() -> list[tuple[bytes, bytes, bytes]]:
    """Each recorded record split around its own PMID: (before, between, after)."""
    out = []
    files = sorted((FIXTURES / "efetch").glob("*.xml")) + [FIXTURES / "pubmed1.xml", FIXTURES / "pubmed2.xml"]
    for path in files:
        data = path.read_bytes()
        for m in re.finditer(rb"<PubmedArticle>.*?</PubmedArticle>", data, re.S):
            rec = m.group(0)
            pmid = re.search(rb"<PMID[^>]*>(\d+)</PMID>", rec).group(1)
            first = rec.index(b">" + pmid + b"</PMID>") + 1
            own = rec.index(b'<ArticleId IdType="pubmed">' + pmid + b"</ArticleId>", rec.index(b"<PubmedData>"))
            own += len(b'<ArticleId IdType="pubmed">')
            out.append((rec[:first], rec[first + len(pmid) : own], rec[own + len(pmid) :]))
    return out


def build(path: Path, n: int) -> None:
    parts = templates()
    with open(path, "wb") as fh:
        fh.write(HEAD)
        for i in range(n):
            before, between, after = parts[i % len(parts)]
            pmid = str(50_000_000 + i).encode()
            fh.write(before + pmid + between + pmid + after + b"\n")
        fh.write(TAIL)


def run_bare(path: str) -> int:
    from lxml import etree

    n = 0
    for _, el in etree.iterparse(path, events=("end",), tag="PubmedArticle", resolve_entities=False, no_network=True, huge_tree=True):
        n += 1
        el.clear(keep_tail=True)
        parent = el.getparent()
        while el.getprevious() is not None:
            del parent[0]
    return n


def run_entrez(path: str) -> int:
    from Bio import Entrez

    with open(path, "rb") as fh:
        data = Entrez.read(fh, validate=False)
    return len(data["PubmedArticle"])


def run_ours(path: str) -> int:
    from litwatch.crawler.pubmed_parse import parse_pubmed
    from litwatch.db import open_db
    from litwatch.db.publications import save_stream

    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "bench.db")
        counts = save_stream(db, parse_pubmed(path), topic="bench", batch_size=BATCH)
        stored = db.execute("SELECT count(*) FROM publications").fetchone()[0]
        db.conn.close()
    assert not counts.get("errors") and stored == counts["new"], (stored, counts)
    return stored


RUNNERS = {"bare": run_bare, "entrez": run_entrez, "ours": run_ours}


def measure(kind: str, path: Path, repeat: int) -> dict:
    """Run one measurement in a child, ``repeat`` times; the fastest run counts (as timeit
    does: other processes on the machine only ever make a run slower)."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--child", kind, str(path)], capture_output=True, text=True, check=True, cwd=ROOT
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return min(runs, key=lambda r: r["seconds"])


def child(kind: str, path: str) -> None:
    # Import what the run needs first, so import time and memory are not counted as work.
    if kind == "entrez":
        import Bio.Entrez  # noqa: F401
    elif kind == "ours":
        import litwatch.crawler.pubmed_parse  # noqa: F401
        import litwatch.db.publications  # noqa: F401
    else:
        import lxml.etree  # noqa: F401
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    n = RUNNERS[kind](path)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"records": n, "seconds": seconds, "peak_mb": peak / 1024, "growth_mb": (peak - base) / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000])
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement; the fastest counts")
    parser.add_argument("--entrez-max", type=int, default=8000,
                        help="skip Bio.Entrez.read above this many records (it holds the whole file: ~230 MB per 1,000)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    print(f"{'records':>8} {'MB':>6}  {'bare rec/s':>10} {'Entrez rec/s':>12} {'ours rec/s':>10}  {'ours/bare':>9} {'ours/Entrez':>11}"
          f"  {'peak MB bare/Entrez/ours (growth)':>34}")
    verdicts = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            path = Path(tmp) / f"efetch-{n}.xml"
            build(path, n)
            size_mb = os.path.getsize(path) / 1e6
            kinds = ("bare", "entrez", "ours") if n <= args.entrez_max else ("bare", "ours")
            res = {kind: measure(kind, path, args.repeat) for kind in kinds}
            for kind, r in res.items():
                assert r["records"] == n, (kind, r)
            rate = {k: n / r["seconds"] for k, r in res.items()}
            mem = " / ".join(f"{res[k]['peak_mb']:.0f} ({res[k]['growth_mb']:+.0f})" if k in res else "-" for k in ("bare", "entrez", "ours"))
            vs_entrez = f"{rate['ours'] / rate['entrez']:>10.2f}x" if "entrez" in rate else f"{'n/a':>11}"
            entrez_rate = f"{rate['entrez']:>12.0f}" if "entrez" in rate else f"{'n/a':>12}"
            print(f"{n:>8} {size_mb:>6.0f}  {rate['bare']:>10.0f} {entrez_rate} {rate['ours']:>10.0f}  "
                  f"{rate['ours'] / rate['bare']:>8.2f}x {vs_entrez}  {mem:>34}", flush=True)
            verdicts.append((rate["ours"] / rate["bare"], rate["ours"] / rate["entrez"] if "entrez" in rate else None, res["ours"]["peak_mb"]))
            path.unlink()
    ratios_bare = [v[0] for v in verdicts]
    ratios_entrez = [v[1] for v in verdicts if v[1] is not None]
    peaks = [v[2] for v in verdicts]
    entrez_verdict = (
        f"ours/Entrez >= 4x: {'met' if min(ratios_entrez) >= 4 else 'MISSED'} (min {min(ratios_entrez):.3f}x)"
        if ratios_entrez else "ours/Entrez: not measured"
    )
    print(f"targets: ours/bare >= 0.5x: {'met' if min(ratios_bare) >= 0.5 else 'MISSED'} (min {min(ratios_bare):.3f}x); "
          f"{entrez_verdict}; ours' peak memory {min(peaks):.0f}-{max(peaks):.0f} MB over "
          f"{args.sizes[0]:,}-{args.sizes[-1]:,} records")


if __name__ == "__main__":
    main()
