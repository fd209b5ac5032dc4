"""Give the C heap's free memory back to the operating system.

glibc keeps memory that Python, numpy and torch have freed in its heap for later reuse, so a
server's resident memory stays at its high-water mark after one heavy computation (loading the
forest, a trust report, a counterfactual). ``malloc_trim(0)`` hands the free pages back; it frees
nothing that is still in use. The app calls it after the pages that allocate a lot
(``dashboard/app.py``), and the forest loader after reading its file.
"""
from __future__ import annotations

import sys


def return_free_memory() -> None:
    """Hand the C heap's free pages back to the OS (glibc ``malloc_trim``); a no-op elsewhere."""
    import ctypes
    import ctypes.util

    try:
        name = ctypes.util.find_library("c")
        if sys.platform.startswith("linux") and name:
            ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError):   # not glibc (musl, macOS...): nothing to do
        pass
