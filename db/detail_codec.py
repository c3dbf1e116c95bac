"""How the rarely read JSON columns of ``publications`` are stored: zstd with a small dictionary.

``author_details`` (names with affiliations: ~1.3 KB of JSON, the largest column of a
row), ``pubmed_history``, ``other_ids``, ``other_abstracts`` and ``book`` are read only
when a whole record is shown or exported, never searched or filtered in SQL.  A value
longer than ``MIN_BYTES`` of JSON is stored as a zstd frame (a BLOB) compressed with a
dictionary trained on those columns of PubMed records (``db/zstd/details-*.zdict``, made
by ``bench/train_zstd_dict.py``): author details shrink ~5x (1,300 -> ~260 B), where zstd
without a dictionary gets ~3.4x and a frame's header would outweigh a short value.

The value's SQLite type is the format marker: TEXT is plain JSON (every row written
before, and short values), BLOB a zstd frame that names its dictionary, so old rows read
as they always did and a newer dictionary can ship later beside this one.
"""

from __future__ import annotations

import functools
import threading

import zstandard

from litwatch.db.raw_codec import DICT_DIR, zstd_decompress

LEVEL = 3
# Shorter JSON stays text: "[]", a two-date history, an ORCID-less single author.
MIN_BYTES = 96
CURRENT_DICT = "details-1.zdict"
_local = threading.local()


@functools.cache
def _current() -> zstandard.ZstdCompressionDict:
    d = zstandard.ZstdCompressionDict((DICT_DIR / CURRENT_DICT).read_bytes())
    d.precompute_compress(level=LEVEL)
    return d


def pack(text: str) -> str | bytes:
    """What to store for one JSON value: the text itself when short, else a zstd frame."""
    data = text.encode()
    if len(data) < MIN_BYTES:
        return text
    comp = getattr(_local, "comp", None)
    if comp is None:
        comp = _local.comp = zstandard.ZstdCompressor(level=LEVEL, dict_data=_current(), write_checksum=False)
    return comp.compress(data)


def unpack(value: str | bytes | None) -> str | None:
    """The JSON text of a stored value, whichever way it was stored."""
    if isinstance(value, bytes):
        return zstd_decompress(value).decode()
    return value
