"""Train the zstd dictionaries litwatch stores PubMed records with (``db/zstd/``).

    python bench/train_zstd_dict.py            # writes db/zstd/pubmed-2.zdict and details-1.zdict

Two dictionaries: one for the raw records (``db.raw_codec``), one for the JSON detail
columns of a stored row (``db.detail_codec``: author details, PubMed history, ...), the
latter trained on those columns as the crawl's parser and the store's encoder make them.

Trained on the *training half* of the recorded PubMed records (``split_records``: every
other efetch recording, by file name); ``bench/bench_storage.py`` reports sizes on the
other half, records the dictionary has never seen, so the figure is not flattered by
having trained on what it measures.  Training is deterministic (same input, same bytes).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DICT_SIZE = 192 * 1024  # raw records; pubmed-1.zdict (64 KB, level 2) wrote the rows before
DETAILS_DICT_SIZE = 8 * 1024
RECORD_RE = re.compile(rb"<(PubmedArticle|PubmedBookArticle)>.*?</\1>", re.S)


def recorded_records() -> list[tuple[str, bytes]]:
    """(file name, record bytes) of every recorded PubMed record, in a fixed order."""
    from litwatch.fakes import RECORDINGS

    pubmed = RECORDINGS / "pubmed"
    files = sorted((pubmed / "efetch").glob("*.xml")) + [pubmed / "pubmed1.xml", pubmed / "pubmed2.xml"]
    files += sorted((pubmed / "derived").glob("*.xml"))
    return [(f"{p.parent.name}/{p.name}", m.group(0)) for p in files for m in RECORD_RE.finditer(p.read_bytes())]


def split_records() -> tuple[list[bytes], list[bytes]]:
    """(training, held-out): every other efetch recording trains; the rest is held out."""
    train, held_out = [], []
    efetch_index = 0
    for name, rec in recorded_records():
        if name.startswith("efetch/"):
            (train if efetch_index % 2 == 0 else held_out).append(rec)
            efetch_index += 1
        else:
            held_out.append(rec)
    return train, held_out


def train(size: int = DICT_SIZE) -> bytes:
    import zstandard

    from litwatch.db import raw_codec

    samples, _ = split_records()
    return zstandard.train_dictionary(size, samples, level=raw_codec.LEVEL, threads=1).as_bytes()


def detail_samples(records: list[bytes]) -> list[bytes]:
    """The detail columns' JSON of these records, as the store encodes them (long ones only)."""
    from litwatch.crawler.pubmed_parse import parse_pubmed
    from litwatch.db import detail_codec, publications
    from litwatch.vocab.records import Publication

    out = []
    for rec in records:
        for pub in parse_pubmed(b"<PubmedArticleSet>" + rec + b"</PubmedArticleSet>"):
            if isinstance(pub, Publication):
                out += [t.encode() for t in publications.detail_texts(pub) if len(t.encode()) >= detail_codec.MIN_BYTES]
    return out


def train_details(size: int = DETAILS_DICT_SIZE) -> bytes:
    import zstandard

    from litwatch.db import detail_codec

    samples = detail_samples(split_records()[0])
    return zstandard.train_dictionary(size, samples, level=detail_codec.LEVEL, threads=1).as_bytes()


def main() -> None:
    from litwatch.db import detail_codec, raw_codec

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=DICT_SIZE)
    parser.add_argument("--details-size", type=int, default=DETAILS_DICT_SIZE)
    parser.add_argument("--out", type=Path, default=raw_codec.DICT_DIR / raw_codec.CURRENT_DICT)
    parser.add_argument("--details-out", type=Path, default=raw_codec.DICT_DIR / detail_codec.CURRENT_DICT)
    args = parser.parse_args()
    train_set, held = split_records()
    data = train(args.size)
    args.out.write_bytes(data)
    print(f"{args.out}: {len(data):,} bytes from {len(train_set)} records ({len(held)} held out)")
    details = train_details(args.details_size)
    args.details_out.write_bytes(details)
    print(f"{args.details_out}: {len(details):,} bytes from {len(detail_samples(train_set))} column values")


if __name__ == "__main__":
    main()
