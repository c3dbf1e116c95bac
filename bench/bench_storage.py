"""Bytes per publication: the current format beside the one before it, same records, one run.

    python bench/bench_storage.py             # 3,000 publications each way (~1 min)
    python bench/bench_storage.py --n 10000

Honest about the dictionary: every record used here is *held out* from the training of
the shipped zstd dictionary (``bench/train_zstd_dict.py: split_records``), so the sizes are
what records the dictionary never saw get, not what it memorised.

1. Raw record sizes, one record at a time (mean over the held-out records): as sent,
   zlib level 1 (the format before issue 14, written by ISA-L), zlib -6 (gzip's default),
   zstd without a dictionary, zstd 2 + the 64 KB ``pubmed-1`` dictionary, ``db.raw_codec``
   (level 3 + 192 KB ``pubmed-2``) on the whole record and on the record without the texts
   its row holds (``db.raw_splice``: what is stored now), with compression time per record.
2. Whole databases built through litwatch's writer (``save_stream``, as a crawl stores)
   from the held-out records copied under new PMIDs: ``dbstat`` bytes per publication per
   table in the formats of ``FORMATS``, same records.
3. The largest ``publications`` columns, before beside now.

Goal (issue 14): <= 8 KB per publication at the same fidelity (raw XML byte for byte).
"""

from __future__ import annotations

import argparse
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
    main_dict = zstandard.ZstdCompressionDict((raw_codec.DICT_DIR / "pubmed-1.zdict").read_bytes())
    main_dict.precompute_compress(level=2)
    main = zstandard.ZstdCompressor(level=2, dict_data=main_dict, write_checksum=False)
    ways = {
        "as sent": lambda r: r,
        "zlib 1 (ISA-L; before issue 14)": lambda r: old_deflate.compress(r, 1),
        "zlib 6": lambda r: zlib.compress(r, 6),
        f"zstd {raw_codec.LEVEL}, no dictionary": plain.compress,
        "zstd 2 + 64 KB pubmed-1 dictionary": main.compress,
        f"zstd {raw_codec.LEVEL} + shipped dictionary, whole record": lambda r: raw_codec.compress(r)[0],
        f"zstd {raw_codec.LEVEL} + shipped dictionary, row's texts cut out (now)":
            lambda r: raw_codec.compress(r, texts.get(r))[0],
    }
    texts = {}
    from litwatch.crawler.pubmed_parse import parse_pubmed
    from litwatch.db import publications
    from litwatch.vocab.records import Publication

    for raw in records:
        for pub in parse_pubmed(b"<PubmedArticleSet>" + raw + b"</PubmedArticleSet>"):
            if isinstance(pub, Publication):
                texts[raw] = publications._record_splice_texts(pub)
    out = []
    for name, fn in ways.items():
        times = []
        for _ in range(5):
            started = time.perf_counter()
            sizes = [len(fn(r)) for r in records]
            times.append((time.perf_counter() - started) / len(records))
        out.append((name, statistics.mean(sizes), min(times) * 1e6))
    return out


FORMATS = ("main", "current")


def build_db(path: Path, n: int, parts, *, fmt: str) -> None:
    """``n`` held-out records through parse + save_stream, in one of ``FORMATS``: "main" (the
    encoding before the splice: 4 KB pages, the raw record whole, ``record_hash`` as hex
    text), "current" (what the store writes now: 2 KB pages, the raw record without its
    row's texts, ``record_hash`` as 20 bytes).  Both get what ``save_rows`` and the
    migrations do now (rows in page-filling order, the current indexes and link tables)."""
    from litwatch.crawler.pubmed_parse import parse_pubmed
    from litwatch.db import connection, open_db, publications

    saved = (publications.raw_codec.compress_many, publications.encode_hash, connection.NEW_DB_PAGE_SIZE)
    if fmt == "main":
        whole = publications.raw_codec.compress_many
        publications.raw_codec.compress_many = lambda raws, texts=None: whole(raws)
        publications.encode_hash = lambda h: h
        connection.NEW_DB_PAGE_SIZE = 4096
    try:
        db = open_db(path)

        def records():
            for start in range(0, n, 2000):
                yield from parse_pubmed(_data.efetch_answer(start, min(2000, n - start), parts))

        publications.save_stream(db, records(), topic="bench")
        db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.conn.close()
    finally:
        publications.raw_codec.compress_many, publications.encode_hash, connection.NEW_DB_PAGE_SIZE = saved


def column_bytes(path: Path) -> dict[str, float]:
    """Mean stored bytes per publication of each ``publications`` column (payload, not pages)."""
    conn = sqlite3.connect(path)
    cols = [r[1] for r in conn.execute("PRAGMA table_info(publications)")]
    n = conn.execute("SELECT count(*) FROM publications").fetchone()[0] or 1
    sums = conn.execute("SELECT " + ", ".join(f"sum(length(CAST({c} AS BLOB)))" for c in cols)
                        + " FROM publications").fetchone()
    conn.close()
    return {c: (v or 0) / n for c, v in zip(cols, sums)}


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
    tables, columns = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in FORMATS:
            path = Path(tmp) / f"{fmt}.db"
            build_db(path, args.n, parts, fmt=fmt)
            tables[fmt], columns[fmt] = per_table(path, args.n), column_bytes(path)
    print(f"2. database bytes per publication (dbstat), {args.n:,} publications from {len(parts)} held-out records")
    print(f"   {'table':<32}" + "".join(f"{f:>10}" for f in FORMATS) + f"{'current/main':>14}")
    b, a = tables["current"], tables["main"]
    for key in sorted(set(a) | set(b), key=lambda k: (k.startswith("TOTAL"), -b.get(k, 0))):
        x, y = a.get(key, 0), b.get(key, 0)
        print(f"   {key:<32}" + "".join(f"{tables[f].get(key, 0):>10,.0f}" for f in FORMATS)
              + f"{y / x if x else 0:>13.2f}x")
    print("3. publications columns, mean stored bytes per row (the largest; payload only)")
    a, b = columns["main"], columns["current"]
    for col in sorted(b, key=lambda c: -max(a.get(c, 0), b[c]))[:12]:
        print(f"   {col:<32}{a.get(col, 0):>10,.0f}{b[col]:>10,.0f}")
    total = tables["current"]["TOTAL (file)"]
    print(f"goal <= 8 KB (8,192 B) per publication: {'met' if total <= 8192 else 'MISSED'} ({total:,.0f} B)")


if __name__ == "__main__":
    main()
