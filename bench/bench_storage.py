"""Bytes per stored publication: the current format beside the one before it, same records, one run.

    python bench/bench_storage.py             # 3,000 publications each way (~1 min)
    python bench/bench_storage.py --n 10000

Honest about the dictionary: every record used here is *held out* from the training of
the shipped zstd dictionary (``bench/train_zstd_dict.py: split_records``), so the sizes are
what records the dictionary never saw get, not what it memorised.

1. Raw record sizes, one record at a time (mean over the held-out records): as sent,
   zlib level 1 (the previous format, written by ISA-L), zlib -6 (gzip's default), zstd
   level 2 without a dictionary, and ``db.raw_codec`` (zstd level 2 + shipped dictionary),
   with compression time per record.
2. Whole databases built through litwatch's writer (``save_stream``, as a crawl stores)
   from the held-out records copied under new PMIDs: ``dbstat`` bytes per publication per
   table, the previous format (zlib raw, spaced JSON) beside the current one.

Goal (issue 14): <= 8 KB per publication at the same fidelity (raw XML byte for byte).
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import _data  # noqa: E402
from train_zstd_dict import split_records  # noqa: E402

try:
    from isal import isal_zlib as old_deflate  # what the previous format was written with
except ImportError:  # pragma: no cover
    old_deflate = zlib


def held_out_templates() -> list[tuple[bytes, bytes, bytes]]:
    """Held-out PubmedArticles split around their own PMID, like ``_data.templates``."""
    out = []
    for rec in split_records()[1]:
        m = re.search(rb"<PMID[^>]*>(\d+)</PMID>", rec)
        if not rec.startswith(b"<PubmedArticle>") or not m:
            continue
        pmid = m.group(1)
        tag = b'<ArticleId IdType="pubmed">' + pmid + b"</ArticleId>"
        data_at = rec.find(b"<PubmedData>")
        own = rec.find(tag, data_at) if data_at != -1 else -1
        if own == -1:
            continue
        first = rec.index(b">" + pmid + b"</PMID>") + 1
        own += len(b'<ArticleId IdType="pubmed">')
        out.append((rec[:first], rec[first + len(pmid):own], rec[own + len(pmid):]))
    return out


def raw_sizes(records: list[bytes]) -> list[tuple[str, float, float]]:
    import zstandard

    from litwatch.db import raw_codec

    plain = zstandard.ZstdCompressor(level=raw_codec.LEVEL)
    ways = {
        "as sent": lambda r: r,
        "zlib 1 (ISA-L; previous format)": lambda r: old_deflate.compress(r, 1),
        "zlib 6": lambda r: zlib.compress(r, 6),
        f"zstd {raw_codec.LEVEL}, no dictionary": plain.compress,
        f"zstd {raw_codec.LEVEL} + shipped dictionary (current)": lambda r: raw_codec.compress(r)[0],
    }
    out = []
    for name, fn in ways.items():
        times = []
        for _ in range(5):
            started = time.perf_counter()
            sizes = [len(fn(r)) for r in records]
            times.append((time.perf_counter() - started) / len(records))
        out.append((name, statistics.mean(sizes), min(times) * 1e6))
    return out


def build_db(path: Path, n: int, parts, *, previous: bool) -> None:
    """``n`` held-out records through parse + save_stream; ``previous``: the format before issue 14."""
    from litwatch.crawler.pubmed_parse import parse_pubmed
    from litwatch.db import open_db, publications

    saved = publications.raw_codec.compress_many, publications._encode
    if previous:
        publications.raw_codec.compress_many = lambda raws: [(old_deflate.compress(raw, 1), None) for raw in raws]
        publications._encode = json.JSONEncoder(ensure_ascii=False).encode
    try:
        db = open_db(path)

        def records():
            for start in range(0, n, 2000):
                yield from parse_pubmed(_data.efetch_answer(start, min(2000, n - start), parts))

        publications.save_stream(db, records(), topic="bench")
        db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.conn.close()
    finally:
        publications.raw_codec.compress_many, publications._encode = saved


def per_table(path: Path, n: int) -> dict[str, float]:
    conn = sqlite3.connect(path)
    groups: dict[str, float] = {}
    for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
        if name in ("publications", "publication_raw"):
            key = name
        elif name.startswith("publications_fts"):
            key = "publications_fts (FTS5 index)"
        elif name.startswith(("idx_publications", "sqlite_autoindex_publication")):
            key = "indexes of publications/raw"
        elif name.startswith("publication_topics") or name.startswith("sqlite_autoindex_publication_topics"):
            key = "publication_topics"
        else:
            key = "everything else"
        groups[key] = groups.get(key, 0) + size / n
    conn.close()
    groups["TOTAL (file)"] = path.stat().st_size / n
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000)
    args = parser.parse_args()
    _, held = split_records()
    print(f"1. raw records, one at a time: {len(held)} held-out records (never used to train the dictionary)")
    for name, size, micros in raw_sizes(held):
        print(f"   {name:<45} {size:>8,.0f} B/record {micros:>7.0f} us/record")
    parts = held_out_templates()
    with tempfile.TemporaryDirectory() as tmp:
        old, new = Path(tmp) / "previous.db", Path(tmp) / "current.db"
        build_db(old, args.n, parts, previous=True)
        build_db(new, args.n, parts, previous=False)
        a, b = per_table(old, args.n), per_table(new, args.n)
    print(f"2. database bytes per publication (dbstat), {args.n:,} publications from {len(parts)} held-out records")
    print(f"   {'table':<32} {'previous':>9} {'current':>9} {'current/previous':>17}")
    for key in sorted(set(a) | set(b), key=lambda k: (k.startswith("TOTAL"), -b.get(k, 0))):
        x, y = a.get(key, 0), b.get(key, 0)
        print(f"   {key:<32} {x:>9,.0f} {y:>9,.0f} {y / x if x else 0:>16.2f}x")
    total = b["TOTAL (file)"]
    print(f"goal <= 8 KB (8,192 B) per publication: {'met' if total <= 8192 else 'MISSED'} ({total:,.0f} B)")


if __name__ == "__main__":
    main()
