"""Parsing in other processes: the bytes of an efetch answer in, rows ready for the store out.

Why: parsing a record and building its row (~300 us of Python a record, against ~160 us
for a bare lxml parse) hold the GIL, so a thread cannot overlap them with anything else
in Python.  A small pool of processes (``WORKERS``: two, the machine's cores) parses
pieces of the input (``pubmed_parse.record_blocks``: ~100 records, cut after a record's
end tag), checks each record (``pubmed_checks``: normalised, or a ``RecordError`` for
quarantine), builds its row and compresses its raw XML (``db.publications.prepare_rows``),
and sends back compact rows (tuples of str/bytes in a ``RowBatch``).  The process that
started the pool runs SQL only (``db.publications.save_rows``).  One parse path: the
crawl (``spiders.pubmed``) and a bulk load (``prepared`` into ``save_stream``) both come
through ``prepare_block``.

How the workers start: a PubMed crawl forks them first thing (``fork_workers``, called by
``crawler.process`` before Scrapy is imported and while the process has no other thread),
so they begin with the parsing modules and the zstd dictionary already loaded, at no
start-up cost of their own, ready when the first answer arrives.  Any other pool starts
with "spawn": a fresh interpreter that imports only what parsing needs, never a fork of a
process that holds Twisted's reactor and its threads.  Each worker dies with the process
that started it (``crawler.lifeline``: parent-death signal).  A worker that
dies (killed, out of memory) breaks the pool: every block in flight fails with
``WorkerDied`` (the crawl fails that topic: its watermark stays and nothing is stored as
done) and the next block starts a fresh pool.
"""

from __future__ import annotations

import collections
import mmap
import os
import stat
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import IO, Iterator

from litwatch.crawler.pubmed_parse import RecordError, check_container, parse_block, record_blocks, record_spans
from litwatch.vocab.errors import LitwatchError

WORKERS = max(1, min(2, os.cpu_count() or 1))
# Bytes per block: ~100 records, so one efetch answer of 500 keeps both workers busy.
BLOCK = 2 << 20
# An answer this small (a weekly crawl's few dozen records) is parsed right here while no
# worker runs: starting two interpreters (~0.3 s of CPU, ~60 MB each) would cost more.
INLINE_BYTES = BLOCK
# Test knob: a worker that meets this PMID exits at once (a crash, for the fault tests);
# while it is set every answer goes to the workers.
DIE_ENV = "LITWATCH_PARSE_DIE_ON_PMID"


class WorkerDied(LitwatchError):
    """A parsing process ended while it held blocks: they are not parsed."""


# ------------------------------------------------------------- in the worker
_in_worker = False  # set in a worker process: the crash knob acts only there


def _init(parent_pid: int) -> None:
    from litwatch.crawler.lifeline import PARENT_ENV, die_with_parent

    global _in_worker
    _in_worker = True
    os.environ[PARENT_ENV] = str(parent_pid)
    die_with_parent()
    from litwatch.crawler.heap import collect_seldom, keep_freed_memory

    keep_freed_memory()  # blocks of ~2 MB come and go: see crawler.heap
    collect_seldom()  # dozens of objects a record, none in a cycle: see crawler.heap


def _ready() -> int:
    return os.getpid()


def prepare_block(block: bytes) -> tuple[object, list[RecordError], int]:
    """(``RowBatch`` of the block's storable records, its ``RecordError``s, records found)."""
    from litwatch.crawler.pubmed_checks import normalise, problem
    from litwatch.db.publications import RowBatch, prepare_rows

    die_on = os.environ.get(DIE_ENV) if _in_worker else None
    if die_on and f">{die_on}<".encode() in block:
        os._exit(70)
    good, errors, found = [], [], 0
    for rec in parse_block(block):
        found += 1
        if isinstance(rec, RecordError):
            errors.append(rec)
            continue
        try:
            normalise(rec)
            why = problem(rec)
        except Exception as exc:  # one odd record must not cost the others
            why = f"could not check it: {type(exc).__name__}: {exc}"
        if why:
            errors.append(RecordError(why, rec.pmid, rec.raw_xml))
        else:
            good.append(rec)
    try:
        rows = prepare_rows(good)
    except Exception:  # find the record(s) that cannot be stored; keep the rest
        rows = []
        for rec in good:
            try:
                rows += prepare_rows([rec])
            except Exception as exc:
                errors.append(RecordError(f"could not store it: {type(exc).__name__}: {exc}", rec.pmid, rec.raw_xml))
    return RowBatch(rows), errors, found


def _read_span(path: str, start: int, stop: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(start)
        return fh.read(stop - start)


def prepare_span(path: str, start: int, stop: int) -> tuple[object, list[RecordError], int]:
    """``prepare_block`` of the bytes ``start:stop`` of the file ``path`` (read here: the
    process that cut the file never copies them, pickles them or writes them to a pipe)."""
    return prepare_block(_read_span(path, start, stop))


# A shared memory file (Linux ``memfd``) made before the workers fork, so that they inherit
# it: the crawl writes each answer into it once and each worker reads its block from it
# (``_Ring``, ``prepare_shared``).  Through the pool's pipe, a block was copied out of the
# answer, pickled, written to the pipe in 64 KB pieces, read back and unpickled: ~0.3 s of
# CPU for a 10,000-record backfill (230 MB), ~0.13 s this way (bench/bench_crawl.py).
_shared_fd: int | None = None


def prepare_shared(offset: int, length: int) -> tuple[object, list[RecordError], int]:
    """``prepare_block`` of ``length`` bytes at ``offset`` of the shared file (in a forked worker)."""
    return prepare_block(os.pread(_shared_fd, length, offset))


# ---------------------------------------------------------- in the parent
# The pool ``fork_workers`` started, until a ParsePool takes it.
_forked: ProcessPoolExecutor | None = None


def fork_workers(workers: int = WORKERS) -> bool:
    """Start ``workers`` parsing processes now, by fork, for the next ``ParsePool``.

    Only while this process has a single thread (a fork copies one thread: a lock another
    thread held would stay locked in the child), and where fork exists.  What a worker
    needs is loaded first so that every fork shares it: the parser, the checks, the row
    builder and the zstd dictionary ready to compress (~0.12 s of imports and ~25 MB in
    each spawned worker otherwise, on the core the crawl's own start-up leaves idle).
    False (and nothing started) where it cannot: the pool then spawns on first use."""
    global _forked
    import multiprocessing
    import threading

    if _forked is not None or threading.active_count() > 1 or "fork" not in multiprocessing.get_all_start_methods():
        return False
    from litwatch.crawler import pubmed_checks  # noqa: F401  (loaded once, shared by the forks)
    from litwatch.db import publications, raw_codec  # noqa: F401

    raw_codec.warm()
    global _shared_fd
    if _shared_fd is None and hasattr(os, "memfd_create"):
        try:
            _shared_fd = os.memfd_create("litwatch-answers")
        except OSError:
            _shared_fd = None
    try:
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                   initializer=_init, initargs=(os.getpid(),))
        # The first submit forks every worker, before the pool starts its own thread.
        pool.submit(_ready)
    except (ImportError, OSError, NotImplementedError):
        return False
    _forked = pool
    return True


def set_up_database(path: str) -> None:
    """Have a forked worker open ``path`` as ``open_db`` does (created, migrated), now.

    Why: the first open of a new database runs every migration (~55 ms of SQL and Python,
    and ~40 ms of importing sqlite-utils, whose table API the migrations use),
    while the crawl process spends its first ~0.3 s importing Scrapy on one core and the
    workers wait for their first answer on the other.  Done by a worker, the set-up is over
    before the crawl's pipelines open the file (``db.connection.set_up_meanwhile``: they
    wait for it, and find the schema ready).  A thread would not do: the migrations' Python
    fought the import for the GIL and both ran slower than one after the other."""
    if _forked is None:
        return
    from litwatch.db.connection import set_up_meanwhile

    set_up_meanwhile(path, _forked.submit(_set_up, path))


def _set_up(path: str) -> None:
    from litwatch.db.connection import open_db

    open_db(path).conn.close()


def close_forked() -> None:
    """Stop the workers ``fork_workers`` started if no ParsePool took them (a crawl that
    ended before its spider started)."""
    global _forked
    if _forked is not None:
        _forked.shutdown(wait=True, cancel_futures=True)
        _forked = None


class ParsePool:
    """The worker processes, started on first use (or ``start``) and again after a crash;
    the ones ``fork_workers`` started, if any."""

    def __init__(self, workers: int = WORKERS):
        global _forked
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._started = False
        self._no_processes = False  # this system cannot start them: every answer parsed here
        self._ring: _Ring | None = None  # answers to the forked workers through _shared_fd
        if _forked is not None and workers == WORKERS:
            self._pool, self._started, _forked = _forked, True, None
            if _shared_fd is not None:
                self._ring = _Ring(_shared_fd)

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            import multiprocessing

            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_init, initargs=(os.getpid(),))
        return self._pool

    def _can_start(self) -> bool:
        """False where worker processes cannot start (no POSIX semaphores, as in some
        sandboxes): parsing then happens in this process, slower but complete."""
        if self._pool is None and not self._no_processes:
            try:
                self._executor()
            except (ImportError, OSError, NotImplementedError):
                self._no_processes = True
        return not self._no_processes

    def start(self) -> None:
        """Start every worker now (each costs ~0.1 s of start-up), without waiting for them;
        once (a crawl calls it when it schedules its first big fetch)."""
        if self._started or not self._can_start():
            return
        self._started = True
        for _ in range(self.workers):
            self._executor().submit(_ready)

    def submit(self, block: bytes) -> Future:
        return self.run(prepare_block, block)

    def run(self, func, *args) -> Future:
        """``func(*args)`` (``prepare_block``, ``prepare_span`` or ``prepare_shared``) in a worker."""
        try:
            return self._executor().submit(func, *args)
        except BrokenProcessPool as exc:  # an earlier crash: a fresh pool for this block
            self._discard()
            if func is prepare_shared:  # a spawned pool has no shared file: this block fails,
                failed: Future = Future()  # as the rest of its answer in the dead pool does
                failed.set_exception(exc)
                return failed
            return self._executor().submit(func, *args)

    def blocks(self, body: bytes) -> list[Future]:
        """One efetch answer as futures of ``prepare_block`` results, in order (a small
        answer while no worker runs: parsed here, the futures already done)."""
        small = len(body) <= INLINE_BYTES and not os.environ.get(DIE_ENV)
        if (self._pool is None and small) or not self._can_start():
            return [_done(prepare_block, block) for block in record_blocks(body, BLOCK)]
        offset = self._ring.put(body) if self._ring is not None else None
        if offset is None:  # no shared file, or no room in it now: through the pipe
            return [self.submit(block) for block in record_blocks(body, BLOCK)]
        ring = self._ring
        futures = [self.run(prepare_shared, offset + start, stop - start) for start, stop in record_spans(body, BLOCK)]
        ring.release_when_done(offset, futures)
        return futures

    def _discard(self) -> None:
        self._ring = None  # a fresh pool is spawned: it has no shared file
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class _Ring:
    """Room for answers in the shared file: each answer is written at the first gap that
    holds it and its place is free again once every block of it is parsed.  ``CAPACITY``
    holds four answers of 1,000 records (~23 MB each): a 10,000-record backfill has up to
    five between download and parsed, and an answer that finds no room goes through the
    pipe (with room for two, 4 answers of 11 did; with four, none in three probed runs,
    the fifth being the backfill's small remainder).  The file's pages stay
    allocated (up to ``CAPACITY`` of shared memory while the crawl runs) and are written
    over, never faulted in again."""

    CAPACITY = 96 << 20

    def __init__(self, fd: int):
        import threading

        self.fd = fd
        self._used: dict[int, int] = {}  # offset -> end, of the answers being parsed
        self._lock = threading.Lock()  # releases come from the pool's own thread

    def put(self, body: bytes) -> int | None:
        """Where ``body`` now is in the file, or None (no room)."""
        size = len(body)
        with self._lock:
            start = 0
            for offset, end in sorted(self._used.items()):
                if offset - start >= size:
                    break
                start = max(start, end)
            if start + size > self.CAPACITY:
                return None
            self._used[start] = start + size
        try:
            written = os.pwrite(self.fd, body, start)
        except OSError:
            written = -1
        if written != size:
            self._release(start)
            return None
        return start

    def release_when_done(self, offset: int, futures: list[Future]) -> None:
        left = [len(futures)]

        def one_done(_future: Future) -> None:
            with self._lock:
                left[0] -= 1
                if left[0]:
                    return
            self._release(offset)

        for future in futures:
            future.add_done_callback(one_done)

    def _release(self, offset: int) -> None:
        with self._lock:
            self._used.pop(offset, None)


def _done(func, *args) -> Future:
    future: Future = Future()
    try:
        future.set_result(func(*args))
    except Exception as exc:  # as a worker's exception would arrive
        future.set_exception(exc)
    return future


def result(future: Future) -> tuple[object, list[RecordError], int]:
    """A block's result; ``WorkerDied`` if its worker ended first."""
    try:
        return future.result()
    except BrokenProcessPool as exc:
        raise WorkerDied(f"a parsing process died ({exc})") from None


def _unpack(done: tuple) -> Iterator:
    """Yield a block's rows (if any) and errors; return how many records it held."""
    rows, errors, found = done
    if len(rows):
        yield rows
    yield from errors
    return found


def prepared(source: bytes | str | IO[bytes], *, workers: int = WORKERS) -> Iterator:
    """The records of an efetch answer (bytes, path or binary file) parsed by ``workers``
    processes: ``RowBatch``es of rows for ``db.publications.save_stream`` and the
    ``RecordError``s, in input order.  A few blocks are in flight at a time (memory stays
    flat); input without any record that is not an empty PubmedArticleSet raises
    ``lxml.etree.XMLSyntaxError``, as ``parse_pubmed`` does."""
    pool = ParsePool(workers)
    pending: collections.deque[Future] = collections.deque()
    found = 0
    first = None
    try:
        for job in _jobs(source):
            first = first or job
            pending.append(pool.run(*job))
            if len(pending) > 2 * workers:
                found += yield from _unpack(result(pending.popleft()))
        while pending:
            found += yield from _unpack(result(pending.popleft()))
        if not found:
            check_container(_head(*first) if first else b"")
    finally:
        pool.close()


def _jobs(source) -> Iterator[tuple]:
    """(function, its arguments) for each piece of the input.  A file given by its path is
    mapped and cut where ``record_blocks`` would cut its bytes, and each worker reads its
    own piece (``prepare_span``): the ~23 KB a record that this process then no longer
    reads, copies, pickles and writes to a pipe, nor a worker reads from one.  Bytes, open
    files and what cannot be mapped (an empty file, a pipe) go through ``record_blocks``."""
    mapped = None
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if isinstance(source, str):
        try:
            if stat.S_ISREG(os.stat(source).st_mode):  # never open a named pipe twice
                with open(source, "rb") as fh:
                    mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            mapped = None
    if mapped is None:
        for block in record_blocks(source, BLOCK):
            yield prepare_block, block
        return
    path = os.path.abspath(source)  # the workers' working directory may differ
    dropped = 0
    with mapped:
        for start, stop in record_spans(mapped, BLOCK):
            yield prepare_span, path, start, stop
            # The pages read around each cut (and the kernel's read-around, ~64 KB a cut)
            # would stay mapped, counted in this process's memory: ~75 MB at 100,000
            # records, growing with the file.  Unmapped once passed (they stay cached).
            edge = stop - stop % mmap.PAGESIZE
            if edge > dropped and hasattr(mapped, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
                mapped.madvise(mmap.MADV_DONTNEED, dropped, edge - dropped)
                dropped = edge


def _head(func, *args) -> bytes:
    """The first bytes of a piece (what ``check_container`` looks at)."""
    if func is prepare_span:
        path, start, stop = args
        return _read_span(path, start, min(stop, start + 4096))
    return args[0][:4096]
