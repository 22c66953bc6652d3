"""Keep freed memory in the process heap so batched rendering does not page-fault on every batch.

Refinement and dataset generation allocate the same few multi-megabyte arrays (rendered audio,
windowed frames, spectra) thousands of times a second. glibc serves blocks that large with
``mmap`` and returns them to the kernel on ``free``, so every batch touches fresh pages: measured
here, half of the time of scoring a candidate (STFT + Pearson correlation) went to page faults,
0.19 ms per candidate instead of 0.065 ms. Raising glibc's mmap and trim thresholds keeps those
blocks in the heap for reuse.
"""

from __future__ import annotations

import ctypes
import ctypes.util

#: glibc ``mallopt`` parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Blocks up to this size come from the heap (glibc caps the mmap threshold at 32 MiB on 64-bit).
MMAP_THRESHOLD_BYTES = 32 << 20
#: Free memory at the top of the heap kept before it is returned to the kernel.
TRIM_THRESHOLD_BYTES = 512 << 20

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Raise glibc's mmap/trim thresholds once per process; a no-op where there is no glibc.

    Returns:
        True if the thresholds are now raised (by this or an earlier call).
    """
    global _applied
    if _applied is None:
        _applied = False
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name) if name else None
        except OSError:
            libc = None
        mallopt = getattr(libc, "mallopt", None)
        if mallopt is not None:
            _applied = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
                mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    return _applied
