"""How a raw record is stored: zstd with a dictionary trained on PubMed records.

A PubMed record is ~22 KB of XML, most of it the ReferenceList; compressed one record at a
time, each blob has to relearn the same tags and attribute names.  A zstd dictionary
trained on PubMed records (``db/zstd/*.zdict``, made by ``bench/train_zstd_dict.py``) holds
them once.  New records are written with level 3 and the 192 KB ``pubmed-2`` dictionary
(4,992 B a record it was not trained on, 79 us); ``pubmed-1`` (64 KB, level 2: 5,240 B)
wrote the rows before and ships on so they stay readable (``bench/bench_storage.py``).

Which codec wrote a blob is stored beside it (``publication_raw.codec``, migration 004):
NULL for the zlib rows written before (still readable), ``"zstd"`` for a zstd frame of the
whole record, ``"zstd+row"`` for a zstd frame of the record without the texts its row holds
(``db.raw_splice``: title, abstract sections, affiliations; ~460 B less a record), which
reading puts back from the row.  The frame itself names its dictionary by id, so a newer
dictionary can be shipped later and every older frame still finds its own.  The bytes that
come back are the bytes PubMed sent.
"""

from __future__ import annotations

import functools
import threading
import zlib
from pathlib import Path
from typing import Sequence

import zstandard

from litwatch.db import raw_splice

ZSTD = "zstd"
# A frame of the record with its row's texts cut out (``db.raw_splice``).
ZSTD_ROW = "zstd+row"
LEVEL = 3
DICT_DIR = Path(__file__).with_name("zstd")
# The dictionary new records are written with (file name in DICT_DIR); every *.zdict there
# stays shipped, for the frames written with it.
CURRENT_DICT = "pubmed-2.zdict"
_local = threading.local()  # zstd (de)compressors are not safe to share between threads


@functools.cache
def dictionaries() -> dict[int, zstandard.ZstdCompressionDict]:
    """Every shipped dictionary by its zstd dictionary id."""
    found = {}
    for path in sorted(DICT_DIR.glob("*.zdict")):
        d = zstandard.ZstdCompressionDict(path.read_bytes())
        found[d.dict_id()] = d
    return found


def params() -> zstandard.ZstdCompressionParameters:
    """Level 3 with its match tables sized for the 192 KB dictionary plus one record.

    Given ``level=`` and a dictionary, zstd sizes its tables for the ~20 KB input and misses
    matches in the dictionary (5,063 B a held-out record); level 3's own tables find them
    (4,959 B) but take longer to reset per record (99 us); 2^16 hash / 2^15 chain entries
    keep nearly all of it (4,992 B) at 79 us (``bench/bench_storage.py``; level 2 with the
    64 KB dictionary before: 5,240 B, 66 us).
    """
    return zstandard.ZstdCompressionParameters.from_level(
        LEVEL, hash_log=16, chain_log=15, write_checksum=0, write_dict_id=1, write_content_size=1)


@functools.cache
def _current() -> zstandard.ZstdCompressionDict:
    d = zstandard.ZstdCompressionDict((DICT_DIR / CURRENT_DICT).read_bytes())
    d.precompute_compress(compression_params=params())
    return d


def warm() -> None:
    """Load the current dictionary, ready to compress (a process about to fork parsing
    workers does it once for all of them)."""
    _compressor()


def _compressor() -> zstandard.ZstdCompressor:
    comp = getattr(_local, "comp", None)
    if comp is None:
        comp = _local.comp = zstandard.ZstdCompressor(dict_data=_current(), compression_params=params())
    return comp


def compress(raw: bytes, texts: Sequence[str | None] | None = None) -> tuple[bytes, str]:
    """(blob, codec) for one raw record (``texts``: its row's, see ``compress_many``)."""
    return compress_many([raw], [texts] if texts is not None else None)[0]


def compress_many(raws: list[bytes], texts: list[Sequence[str | None]] | None = None) -> list[tuple[bytes, str]]:
    """(blob, codec) for each raw record (one zstd frame each: ``_frame``).  With ``texts``
    (per record, what its row holds: ``db.publications.splice_texts``) a record is stored
    without them where ``db.raw_splice`` can cut them out and put them back exactly; reading
    then needs them.  Called where the records are parsed: a crawl's or a bulk load's
    parsing processes (``crawler.parse_worker``), or the one process that stores them."""
    if not raws:
        return []
    inputs, codecs = list(raws), [ZSTD] * len(raws)
    if texts is not None:
        for i, (raw, row_texts) in enumerate(zip(raws, texts)):
            spliced = raw_splice.splice(raw, row_texts) if row_texts else None
            if spliced is not None:
                inputs[i], codecs[i] = spliced, ZSTD_ROW
    comp = _compressor()
    return [(_frame(comp, data), codec) for data, codec in zip(inputs, codecs)]


def _frame(comp: zstandard.ZstdCompressor, data: bytes) -> bytes:
    """One record's zstd frame, its size not announced to zstd beforehand.

    Why: told the size of a record (~20 KB), zstd copies the dictionary's precomputed match
    tables (384 KB at these parameters) into its own before each record; not told, it reads
    them where they are (zstd's cut-off for copying is 16 KB of input at level 3's
    strategy).  The frames come out a few bytes smaller (the header has no size field; the
    matches found differ a little).  ``bench/bench_storage.py``, before and after in one
    sitting: 92 -> 78 us a whole record, 104 -> 93 a spliced one (the splice included).
    ``zstd_decompress`` reads frames with and without the field."""
    co = comp.compressobj()
    return co.compress(data) + co.flush()


def decompress(blob: bytes, codec: str | None, texts: Sequence[str | None] | None = None) -> bytes:
    """The raw bytes of a stored blob, whichever codec wrote it (``texts``: the row's, which
    a ``zstd+row`` blob needs: ``db.publications.raw_from_row`` passes them)."""
    if codec is None or codec == "zlib":
        return zlib.decompress(blob)
    if codec == ZSTD:
        return zstd_decompress(blob)
    if codec == ZSTD_ROW:
        if texts is None:
            raise ValueError("this raw record is stored without its row's texts: read it with its row")
        return raw_splice.unsplice(zstd_decompress(blob), texts)
    raise ValueError(f"unknown raw codec {codec!r}")


def zstd_decompress(blob: bytes) -> bytes:
    """A zstd frame's bytes, with whichever shipped dictionary the frame names (or none)."""
    frame = zstandard.get_frame_parameters(blob)
    dict_id = frame.dict_id
    cache = getattr(_local, "decomp", None)
    if cache is None:
        cache = _local.decomp = {}
    dec = cache.get(dict_id)
    if dec is None:
        if dict_id and dict_id not in dictionaries():
            raise ValueError(f"zstd frame compressed with dictionary {dict_id}, which this version does not ship")
        dec = cache[dict_id] = zstandard.ZstdDecompressor(dict_data=dictionaries()[dict_id]) if dict_id \
            else zstandard.ZstdDecompressor()
    if frame.content_size == zstandard.CONTENTSIZE_UNKNOWN:
        return _whole_frame(dec, blob)
    return dec.decompress(blob)


def _whole_frame(dec: zstandard.ZstdDecompressor, blob: bytes) -> bytes:
    """A frame whose header does not say its size (``_frame``): decompressed as a stream,
    and only if it is one whole frame (a blob cut short, or with bytes after the frame's
    end, is an error, never a record)."""
    dobj = dec.decompressobj()
    out = dobj.decompress(blob)
    if not dobj.eof or dobj.unused_data:
        raise zstandard.ZstdError("damaged zstd frame: it " + ("ends early" if not dobj.eof else "has bytes after its end"))
    return out
