"""How a raw record is stored: zstd with a dictionary trained on PubMed records.

A PubMed record is ~22 KB of XML, most of it the ReferenceList; compressed one record at a
time, each blob has to relearn the same tags and attribute names.  A zstd dictionary
trained on PubMed records (``db/zstd/*.zdict``, made by ``bench/train_zstd_dict.py``) holds
them once: ~20 % smaller than zlib on records it was not trained on, at level 2 about as
fast as the ISA-L level-1 deflate it replaces (``bench/bench_storage.py``).

Which codec wrote a blob is stored beside it (``publication_raw.codec``, migration 004):
NULL for the zlib rows written before (still readable), ``"zstd"`` for a zstd frame.  The
frame itself names its dictionary by id, so a newer dictionary can be shipped later and
every older frame still finds its own.  The bytes that come back are the bytes PubMed sent.
"""

from __future__ import annotations

import functools
import threading
import zlib
from pathlib import Path

import zstandard

ZSTD = "zstd"
LEVEL = 2
DICT_DIR = Path(__file__).with_name("zstd")
# The dictionary new records are written with (file name in DICT_DIR).
CURRENT_DICT = "pubmed-1.zdict"
_local = threading.local()  # zstd (de)compressors are not safe to share between threads


@functools.cache
def dictionaries() -> dict[int, zstandard.ZstdCompressionDict]:
    """Every shipped dictionary by its zstd dictionary id."""
    found = {}
    for path in sorted(DICT_DIR.glob("*.zdict")):
        d = zstandard.ZstdCompressionDict(path.read_bytes())
        found[d.dict_id()] = d
    return found


@functools.cache
def _current() -> zstandard.ZstdCompressionDict:
    d = zstandard.ZstdCompressionDict((DICT_DIR / CURRENT_DICT).read_bytes())
    d.precompute_compress(level=LEVEL)
    return d


def compress(raw: bytes) -> tuple[bytes, str]:
    """(blob, codec) for one raw record."""
    comp = getattr(_local, "comp", None)
    if comp is None:
        comp = _local.comp = zstandard.ZstdCompressor(level=LEVEL, dict_data=_current(), write_checksum=False)
    return comp.compress(raw), ZSTD


def compress_many(raws: list[bytes]) -> list[tuple[bytes, str]]:
    """``compress`` for a whole batch in one call: one release of the GIL for the batch, not
    one per record (a thread that gives the GIL away per record waits each time to get it
    back from a busy parsing thread)."""
    if not raws:
        return []
    comp = getattr(_local, "comp", None)
    if comp is None:
        comp = _local.comp = zstandard.ZstdCompressor(level=LEVEL, dict_data=_current(), write_checksum=False)
    return [(seg.tobytes(), ZSTD) for seg in comp.multi_compress_to_buffer(raws)]


def decompress(blob: bytes, codec: str | None) -> bytes:
    """The raw bytes of a stored blob, whichever codec wrote it."""
    if codec is None or codec == "zlib":
        return zlib.decompress(blob)
    if codec != ZSTD:
        raise ValueError(f"unknown raw codec {codec!r}")
    dict_id = zstandard.get_frame_parameters(blob).dict_id
    cache = getattr(_local, "decomp", None)
    if cache is None:
        cache = _local.decomp = {}
    dec = cache.get(dict_id)
    if dec is None:
        if dict_id and dict_id not in dictionaries():
            raise ValueError(f"raw record compressed with zstd dictionary {dict_id}, which this version does not ship")
        dec = cache[dict_id] = zstandard.ZstdDecompressor(dict_data=dictionaries()[dict_id]) if dict_id \
            else zstandard.ZstdDecompressor()
    return dec.decompress(blob)
