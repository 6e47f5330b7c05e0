"""Keep freed array memory in the process instead of handing it back to the OS.

A NumPy op allocates its result; above glibc's mmap threshold (128 KiB, adaptive) that memory is a
fresh mapping, and the first write to each 4 KiB page costs a page fault. An autograd step
allocates hundreds of such arrays, so on some (virtual) machines the page faults cost more than the
arithmetic: measured here, erf on a (12, 64, 512) float32 temporary took 8 ms with fresh pages and
2 ms with reused ones. Raising glibc's mmap and trim thresholds lets freed blocks be reused.

This is process-wide allocator tuning, so the library never does it on import: the command line
and the benchmarks call `keep_freed_memory()` explicitly (docs/performance.md). It is a no-op where
the C library is not glibc."""

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3


def keep_freed_memory(threshold_bytes: int = 1 << 30) -> bool:
    """Serve allocations below `threshold_bytes` from the heap and never trim it back.

    Returns True if glibc accepted the settings."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    ok_mmap = mallopt(_M_MMAP_THRESHOLD, min(threshold_bytes, 1 << 25)) == 1
    ok_trim = mallopt(_M_TRIM_THRESHOLD, threshold_bytes) == 1
    return ok_mmap and ok_trim
