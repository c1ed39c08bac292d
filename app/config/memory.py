"""Giving the heap memory Python has freed back to the operating system, for processes that fork.

glibc's malloc keeps what a process frees inside its heap, still resident, and on its own returns
only a free stretch at the very top of the heap. Importing a large package leaves many such holes
(the Celery worker's main process held 6.5 MiB of them before forking its pool, which every pool
process then shared and, on touching, copied). ``malloc_trim`` releases every free page.
"""

from __future__ import annotations

import ctypes


def _malloc_trim():
    """glibc's ``int malloc_trim(size_t pad)``, or None where the C library has none (macOS, musl)."""
    try:
        function = getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return None
    if function is not None:
        function.argtypes, function.restype = [ctypes.c_size_t], ctypes.c_int
    return function


_MALLOC_TRIM = _malloc_trim()


def release_free_heap() -> bool:
    """Return every free page of the heap to the operating system; True if any was returned."""
    return bool(_MALLOC_TRIM is not None and _MALLOC_TRIM(0))
