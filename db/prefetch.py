"""Rows of a long read, fetched by a second thread while the caller formats the last page.

An export of a million rows spends about as long in SQLite (stepping through the table,
building Python values) as in Python (shaping each cell).  ``sqlite3`` releases the GIL
while SQLite steps, so a thread that fetches the next page on its own read-only connection
overlaps the two on a second core: ``litwatch export --format csv`` goes from ~2.1x to
within 2x of ``sqlite3 -csv`` (bench/bench_export.py).

The thread's connection reads one snapshot (one statement is one read transaction, so a
crawl writing meanwhile changes nothing the export sees).  At most ``depth`` pages wait in
the queue (memory stays flat); an error in the thread is raised in the caller; a caller
that stops early stops the thread.  A database without a file (``:memory:``), or one a
second connection cannot open, is read in the caller's thread.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from pathlib import Path
from typing import Iterator, Sequence

from litwatch.db.connection import connect_read_only

_DONE = object()


def _second_connection(db) -> sqlite3.Connection | None:
    try:
        path = db.execute("PRAGMA database_list").fetchone()[2]
        return connect_read_only(Path(path), check_same_thread=False) if path else None
    except sqlite3.Error:
        return None


def prefetched_rows(db, sql: str, params: Sequence = (), *, page: int = 1000, depth: int = 4) -> Iterator[tuple]:
    """The rows of ``sql``, in order, fetched ``page`` at a time by a second thread."""
    conn = _second_connection(db)
    if conn is None:
        cur = db.execute(sql, params)
        while rows := cur.fetchmany(page):
            yield from rows
        return
    pages: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item) -> bool:
        while not stop.is_set():
            try:
                pages.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            cur = conn.execute(sql, params)
            while rows := cur.fetchmany(page):
                if not hand_over(rows):
                    return
            hand_over(_DONE)
        except BaseException as exc:  # the caller raises it
            hand_over(exc)
        finally:
            conn.close()

    worker = threading.Thread(target=fetch, name="litwatch-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = pages.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield from item
    finally:
        stop.set()
        worker.join()
