"""Freed heap memory back to the operating system after a large load.

Loading a catalog's item table or a model builds large temporaries out of many small Python objects (an id -> row
dict while aligning statistics, a checkpoint's per-item dicts). glibc keeps the freed space in its heap, so after a
load of 1M items the process holds ~180 MB it no longer uses (docs/scaling.md). ``malloc_trim`` returns it; other C
libraries have no such call, and there it does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util


def trim() -> None:
    """Give the heap's free memory back to the operating system (glibc); a no-op elsewhere."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
