"""The order a batch's new rows are written in, so that SQLite fills its pages.

SQLite appends a row with a new largest rowid to the table's rightmost leaf page and, when
the row's cell does not fit there, starts a new leaf page for it: leaf pages fill in the
order rows arrive, and what is left at the end of a page stays empty.  A publication's row
(~2 KB) and its raw record (~5 KB) are larger than a 2 KB page, so SQLite keeps a head of
each (232 to 2,013 B, set by the row's length) in the leaf cell and the rest on overflow
pages, which it fills to the byte.  Heads of those sizes, in the order PubMed sent the
records, left ~20 % of every leaf page empty: ~450 B a publication over the two tables.
Written largest head first, each page topped up with the largest heads that still fit
(first-fit decreasing, one page at a time), the same rows leave ~70 B (bench_storage.py).

The sizes follow SQLite's file format (https://www.sqlite.org/fileformat2.html: "Record
Format", "B-tree Pages" and "Cell Payload Overflow Pages"): a wrong size only costs a
little space, never a row.  Only the order within one stored batch changes, and rows of a
batch are stored at the same moment: "newest first" (``search_publications``) is unchanged.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Sequence, TypeVar

T = TypeVar("T")
# The rowid of a new row takes this many bytes in its cell (a varint: rowids up to 2^21,
# two million rows; one byte more or less moves a head by one byte, nothing else).
ROWID_BYTES = 3
# A leaf page's header (8 bytes); each cell also has a 2-byte pointer in the page.
LEAF_HEADER = 8
CELL_POINTER = 2


def _int_bytes(v: int) -> int:
    """Bytes of an INTEGER's value in a record (0 and 1 take none: schema format 4)."""
    if v in (0, 1):
        return 0
    for size, limit in ((1, 1 << 7), (2, 1 << 15), (3, 1 << 23), (4, 1 << 31), (6, 1 << 47)):
        if -limit <= v < limit:
            return size
    return 8


def record_bytes(values: Sequence) -> int:
    """Bytes of the SQLite record holding ``values``: its header (its own length, then one
    serial type per value) and its body.  Called for every stored row: one plain loop."""
    header, body = 1, 0
    for v in values:
        kind = v.__class__
        if kind is str:
            n = len(v) if v.isascii() else len(v.encode("utf-8", "surrogatepass"))
        elif kind is bytes:
            n = len(v)
        else:
            header += 1
            if v is not None:
                body += 8 if kind is float else _int_bytes(int(v))
            continue
        body += n
        header += varint_bytes(2 * n + 12)  # its serial type: 2n+12 (BLOB), 2n+13 (TEXT): same length
    return header + (1 if header > 127 else 0) + body


def varint_bytes(v: int) -> int:
    """Bytes of SQLite's varint for a non-negative ``v`` (7 bits a byte)."""
    return 1 if v < 1 << 7 else 2 if v < 1 << 14 else 3 if v < 1 << 21 else 4 if v < 1 << 28 else 9


def leaf_head_bytes(payload: int, page_size: int) -> int:
    """Bytes of a ``payload``-byte row that SQLite keeps on a table's leaf page; the rest
    goes to overflow pages ("Cell Payload Overflow Pages": X = U-35, M = (U-12)*32/255-23)."""
    max_local = page_size - 35
    min_local = (page_size - 12) * 32 // 255 - 23
    if payload <= max_local:
        return payload
    local = min_local + (payload - min_local) % (page_size - 4)
    return local if local <= max_local else min_local


def leaf_cell_bytes(payload: int, page_size: int, rowid_bytes: int = ROWID_BYTES) -> int:
    """Bytes a row of ``payload`` bytes takes on a table's leaf page: its cell (payload
    length, rowid, head, overflow page number) and the cell's pointer."""
    head = leaf_head_bytes(payload, page_size)
    overflow_pointer = 4 if head < payload else 0
    return varint_bytes(payload) + rowid_bytes + head + overflow_pointer + CELL_POINTER


def fill_order(rows: list[T], page_size: int) -> list[T]:
    """``rows`` (tuples of column values, as stored) in the order that fills leaf pages:
    one page at a time, its largest cell first, then the largest that still fit."""
    if len(rows) < 2:
        return rows
    capacity = page_size - LEAF_HEADER
    sizes = [leaf_cell_bytes(record_bytes(row), page_size) for row in rows]
    order = sorted(range(len(rows)), key=sizes.__getitem__)
    keys = [sizes[i] for i in order]
    out: list[T] = []
    while order:
        free = capacity - keys.pop()
        out.append(rows[order.pop()])
        while keys and keys[0] <= free:
            at = bisect_right(keys, free) - 1
            free -= keys.pop(at)
            out.append(rows[order.pop(at)])
    return out
