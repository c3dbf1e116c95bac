"""Worker processes for big exports: whether to use them, and their results in order.

A million-row export spends about as long in SQLite as in Python shaping each cell, and one
process cannot overlap the two (the sqlite3 module holds the GIL while it builds each row).
So a big export is cut into pieces that worker processes turn into text while the command
writes them in order (``exports.tabular``: CSV by rowid ranges, JSON by PMID order).
"""

from __future__ import annotations

import os
from typing import Iterable, Iterator

# Below this many rowids the workers' start-up (~0.2 s each) costs more than they save.
PARALLEL_FROM = 50_000


def usable_workers(workers: int) -> int:
    """``workers``, or 1 where this system cannot run worker processes (no POSIX semaphores,
    as in some sandboxes): the export then runs in this process, same bytes."""
    if workers < 2:
        return workers
    try:
        import multiprocessing

        multiprocessing.get_context("spawn").Lock()
    except (ImportError, OSError, NotImplementedError):
        return 1
    return workers


def default_workers() -> int:
    """Processes for a big export: one per core this process may use, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return min(cores, 4)


def parallel_plan(db, workers: int | None, parallel_from: int) -> tuple[str, int] | None:
    """(database file, workers) when an export of this table is worth worker processes and
    they can run here; None for one process."""
    from litwatch.db.connection import database_path
    from litwatch.db.publications import publication_rowid_span

    lo, hi = publication_rowid_span(db)
    path = database_path(db)
    workers = workers or default_workers()
    if workers < 2 or hi - lo < parallel_from or not os.path.isfile(path) or usable_workers(workers) < 2:
        return None
    return path, workers


def in_order(func, tasks: Iterable[tuple], workers: int) -> Iterator:
    """``func(*task)`` for each task, computed by ``workers`` processes, yielded in task order,
    with at most two tasks per worker in flight (so memory does not grow with the export)."""
    import concurrent.futures
    import multiprocessing

    # spawn: a clean interpreter per worker (no inherited locks or open connections).
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: list = []
        for task in tasks:
            pending.append(pool.submit(func, *task))
            if len(pending) >= 2 * workers:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()
