"""How a crawl's processes (the crawl and its parsing processes) treat memory: the C
allocator keeps what they free, for the next answer (``keep_freed_memory``), and Python's
cyclic garbage collector runs seldom (``collect_seldom``).

Why: a PubMed backfill moves ~23 MB answers (1,000 records each) through the crawl process
and ~2 MB blocks through each parsing process, allocating and freeing them again and
again.  glibc's malloc gives an allocation above its mmap threshold (128 KB at start,
raised as big blocks are freed) a mapping of its own and hands the top of its heap back
to the system once 128 KB of it is free; either way the next answer or block is faulted
in again, page by page.  Measured with ``bench/bench_crawl.py`` (10,000 records, 2 cores,
same run): the parsing processes' system time 0.30 -> 0.08-0.12 s, the crawl process's
0.71-0.74 -> 0.60-0.62 s, the crawl ~0.2 s faster end to end.

The cost: up to ``TRIM`` bytes of freed memory stay with the process until it ends (a
crawl process ends with its crawl; a parsing process with its pool).  Where the C library
has no ``mallopt`` (macOS, Windows) nothing changes.
"""

from __future__ import annotations

# mallopt's parameters (glibc <malloc.h>).
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
# Allocations up to this size come from the heap: an efetch answer (~23 MB) included.  32 MB
# is the most glibc accepts on 64-bit systems (half its heap size); a larger value is refused.
MMAP_THRESHOLD = 32 << 20
# Free memory at the top of the heap kept before any goes back to the system.
TRIM = 64 << 20
# Extra grown at once when the heap must grow, so that it grows seldom.
TOP_PAD = 16 << 20


def keep_freed_memory() -> bool:
    """Set the three thresholds for this process (and processes it forks later); False where
    the C library cannot (no ``mallopt``) or refuses a value."""
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (ImportError, OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return all(mallopt(param, value) == 1 for param, value in
               ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM), (M_TOP_PAD, TOP_PAD)))


# Python's cyclic garbage collector runs a pass over young objects every 700 allocations
# (net).  A parsing process makes dozens of objects a record (the Publication, its authors,
# its row's tuples and strings) and none of them is in a cycle: reference counting frees
# them, and each of those passes found nothing.  With 20,000 a pass comes ~30 times less
# often; cyclic garbage (rare here: an exception's traceback) is still collected.
# Measured over the same 3,000 records in one process (``prepare_block``, min of 7 passes):
# ~8-10 us a record less, 2-3 % of a parsing process's time.
GC_THRESHOLDS = (20_000, 50, 50)


def collect_seldom() -> None:
    """Move every object alive now out of all later collections (``gc.freeze``: start-up's
    modules and, in a forked process, what it inherited) and make the passes rarer; the
    collector runs again from here if start-up had it off (``no_collection_at_start_up``)."""
    import gc

    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    gc.enable()


def no_collection_at_start_up() -> None:
    """No cyclic collection until ``collect_seldom``, which a crawl process calls just before
    its crawl runs.

    Why: start-up imports Scrapy, Twisted and litwatch, ~65,000 objects that stay alive.
    Python ran ~150 passes over them meanwhile, 50-60 ms on the one core start-up runs on,
    and found ~1,700 unreachable objects (~0.3 MB, left in cycles by imports); with the
    collector off until then, the first request leaves ~80 ms sooner (alternating crawls:
    300 records, 12 pairs, medians 0.46 s against 0.54 s; 1,000 records, 16 pairs, 0.49 s
    against 0.57 s, the whole crawl 0.97 s against 1.03 s).  ``collect_seldom`` freezes what
    start-up made as before, now with that little garbage among it: kept until the process
    ends, as start-up made it only once."""
    import gc

    gc.disable()
