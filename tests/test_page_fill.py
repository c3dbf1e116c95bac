"""db.page_fill: the sizes it computes are SQLite's own (read back through dbstat), and the
order it gives a stored batch leaves less of the leaf pages empty, with every row kept."""

from __future__ import annotations

import random
import sqlite3
from dataclasses import replace

import pytest
from test_storage_format import recorded

from litwatch.db import open_db, page_fill, publications

PAGE_SIZES = (1024, 2048, 4096)


def dbstat(conn: sqlite3.Connection, table: str, pagetype: str | None = None) -> tuple[int, int]:
    """(payload bytes, unused bytes) of ``table``'s pages, of one page type if given."""
    try:
        sql = "SELECT sum(payload), sum(unused) FROM dbstat WHERE name = ?"
        params = [table]
        if pagetype:
            sql += " AND pagetype = ?"
            params.append(pagetype)
        return tuple(v or 0 for v in conn.execute(sql, params).fetchone())
    except sqlite3.OperationalError:
        pytest.skip("this SQLite has no dbstat table")


def odd_values(rng: random.Random) -> tuple:
    return (
        None, 0, 1, rng.choice([2, -1, 127, 128, -129, 40_000, 2**23, 2**31, 2**40, 2**50, -(2**62)]),
        1.5, "x" * rng.randrange(0, 20_000), "é≥µ" * rng.randrange(0, 50), b"\x00" * rng.randrange(0, 9000),
        "", b"",
    )


def test_record_bytes_is_what_sqlite_stores(tmp_path):
    rng = random.Random(14)
    conn = sqlite3.connect(tmp_path / "r.db")
    conn.execute("CREATE TABLE t (" + ", ".join(f"c{i}" for i in range(10)) + ")")
    rows = [odd_values(rng) for _ in range(300)]
    conn.executemany("INSERT INTO t VALUES (" + ", ".join("?" * 10) + ")", rows)
    conn.commit()
    assert dbstat(conn, "t")[0] == sum(page_fill.record_bytes(r) for r in rows)


@pytest.mark.parametrize("page_size", PAGE_SIZES)
def test_the_head_on_the_leaf_page_is_sqlites(tmp_path, page_size):
    """One row per table: what dbstat finds on its leaf page is the head page_fill computes."""
    conn = sqlite3.connect(tmp_path / "h.db")
    conn.execute(f"PRAGMA page_size = {page_size}")
    for n in list(range(page_size - 60, page_size - 20)) + [1500, 2030, 5000, 6137, 9999, 20_000]:
        conn.execute(f"CREATE TABLE t{n} (b BLOB)")
        conn.execute(f"INSERT INTO t{n} VALUES (?)", [b"\x01" * n])
        conn.commit()
        payload = page_fill.record_bytes((b"\x01" * n,))
        head, unused = dbstat(conn, f"t{n}", "leaf")
        assert head == page_fill.leaf_head_bytes(payload, page_size), n
        cell = page_fill.leaf_cell_bytes(payload, page_size, rowid_bytes=1)  # rowid 1
        assert unused == page_size - page_fill.LEAF_HEADER - cell, n


def test_fill_order_is_a_permutation_that_fills_each_page_once():
    rng = random.Random(7)
    rows = [(str(i), b"x" * rng.randrange(100, 9000), "zstd+row") for i in range(500)]
    ordered = page_fill.fill_order(rows, 2048)
    assert sorted(ordered) == sorted(rows)
    pages, free = 0, 0
    for row in ordered:  # next fit, as SQLite appends
        size = page_fill.leaf_cell_bytes(page_fill.record_bytes(row), 2048)
        if size > free:
            pages, free = pages + 1, 2048 - page_fill.LEAF_HEADER
        free -= size
    in_arrival, free = 0, 0
    for row in rows:
        size = page_fill.leaf_cell_bytes(page_fill.record_bytes(row), 2048)
        if size > free:
            in_arrival, free = in_arrival + 1, 2048 - page_fill.LEAF_HEADER
        free -= size
    assert pages < in_arrival * 0.85
    assert page_fill.fill_order(rows[:1], 2048) == rows[:1] and page_fill.fill_order([], 2048) == []


def test_a_stored_batch_leaves_less_of_its_leaf_pages_empty(tmp_path, monkeypatch):
    """The same 300 publications stored through save_publications, in arrival order and in
    page_fill's: every row and raw record comes back the same, with less empty leaf space."""
    recs = recorded()
    many = [replace(recs[i % len(recs)], pmid=str(80_000_000 + i)) for i in range(300)]
    filled = open_db(tmp_path / "filled.db")
    publications.save_publications(filled, many, topic="t", now="2026-11-30T00:00:00Z")
    monkeypatch.setattr(page_fill, "fill_order", lambda rows, page_size: rows)
    arrival = open_db(tmp_path / "arrival.db")
    publications.save_publications(arrival, many, topic="t", now="2026-11-30T00:00:00Z")
    pmids = [r.pmid for r in many]
    assert publications.read_publications(filled, pmids) == publications.read_publications(arrival, pmids)
    assert all(publications.raw_xml(filled, p) == publications.raw_xml(arrival, p) for p in pmids[::7])
    for table in ("publications", "publication_raw"):
        assert dbstat(filled.conn, table, "leaf")[1] < 0.5 * dbstat(arrival.conn, table, "leaf")[1], table
