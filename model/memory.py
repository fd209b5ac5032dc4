"""Give the C heap's free memory back to the operating system, and keep it from piling up.

glibc keeps memory that Python, numpy and torch have freed in its heap for later reuse, so a
server's resident memory stays at its high-water mark after one heavy computation (loading the
forest, a trust report, a counterfactual). ``malloc_trim(0)`` hands the free pages back; it frees
nothing that is still in use. The app calls it after the pages that allocate a lot
(``dashboard/app.py``), and the forest loader after reading its file.

:func:`limit_heap_growth` goes further for a long-running server. Streamlit runs every session's
script in its own thread, and glibc gives new threads new malloc arenas (up to 8 per core), each
keeping its own freed memory; and glibc raises its mmap threshold after a large block is freed,
so later large arrays come from (and fragment) the heap instead of being unmapped when freed.
Measured with every page run in-process for 4 digits in turn (scratch AppTest harness, RSS after
each): +33, +13, +5 MB per digit with glibc's defaults, +4, +5, +1 MB with 2 arenas and a fixed
128 kB mmap threshold each (the same effect as ``MALLOC_ARENA_MAX=2`` /
``MALLOC_MMAP_THRESHOLD_=131072`` set in the environment).
"""
from __future__ import annotations

import gc
import sys
import threading

M_MMAP_THRESHOLD = -3   # glibc mallopt parameters (malloc.h)
M_ARENA_MAX = -8
ARENAS = 2                      # malloc arenas at most (threads share them)
MMAP_THRESHOLD = 128 * 1024     # bytes: larger blocks are mmapped, and unmapped when freed


def _libc():
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not (sys.platform.startswith("linux") and name):
        return None
    return ctypes.CDLL(name)


def return_free_memory() -> None:
    """Hand the C heap's free pages back to the OS (glibc ``malloc_trim``); a no-op elsewhere."""
    try:
        libc = _libc()
        if libc is not None:
            libc.malloc_trim(0)
    except (OSError, AttributeError):   # not glibc (musl, macOS...): nothing to do
        pass


def limit_heap_growth(arenas: int = ARENAS, mmap_threshold: int = MMAP_THRESHOLD) -> bool:
    """At most ``arenas`` malloc arenas from now on, and a fixed mmap threshold (glibc
    ``mallopt``); True when glibc accepted both. Costs some speed only for allocations between
    128 kB and glibc's dynamic threshold, which now take an mmap each (not measurable per stroke)."""
    try:
        libc = _libc()
        if libc is None:
            return False
        arenas_ok = libc.mallopt(M_ARENA_MAX, int(arenas)) == 1
        threshold_ok = libc.mallopt(M_MMAP_THRESHOLD, int(mmap_threshold)) == 1
        return arenas_ok and threshold_ok
    except (OSError, AttributeError):
        return False


NEW_MODULES = 20        # a collection freezes what survives when at least this many modules were imported since
_FROZEN_AT = 0          # len(sys.modules) at the last freeze
_FROZEN_LOCK = threading.Lock()


def collect_cycles() -> None:
    """Free the reference cycles that page runs leave. A Streamlit page runs in a fresh module, and
    every function it defines (a fragment, a button's callback) refers back to that module's
    globals, so what a page keeps in its globals (tables, reports) stays in memory until Python's
    cyclic garbage collector runs, which it rarely does on its own (measured with tracemalloc
    around extra sessions: ~2.7 MB per session left by the Data page alone). A full
    ``gc.collect()`` costs ~180 ms here with torch, Streamlit and plotly loaded, so whenever
    modules were imported since the last call (``NEW_MODULES`` or more: a page's first view loads
    torch, plotly, captum...) what survives is frozen (``gc.freeze``: moved out of the collector's
    reach for good; objects that become garbage later are still freed by reference counting) and
    later collections only look at what was made since: ~1 ms. Freezing follows imports, which
    happen early in a process's life, not page views, so the sessions' own cycles alive at those
    few moments are the most it ever keeps."""
    global _FROZEN_AT
    gc.collect()
    with _FROZEN_LOCK:
        if len(sys.modules) >= _FROZEN_AT + NEW_MODULES:
            _FROZEN_AT = len(sys.modules)
            gc.freeze()
