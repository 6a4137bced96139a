"""How the process's C allocator keeps memory a bot that runs for months gave back.

glibc's malloc serves blocks of 128 KiB and more from their own mappings, returned to the
system when freed, but by default it raises that threshold to the size of each such block freed
(up to 32 MiB). After the first model training, every training's large arrays (the window's
copy, the feature matrix: megabytes each) then come from the heap, are freed between small
long-lived blocks, and the holes stay resident: the soak benchmark saw the heap's free memory
grow ~10 MiB over 60 simulated days. Pinning the threshold at 1 MiB keeps those out of the heap;
not lower, because at 128 KiB each of gradient boosting's histograms (~220 KiB, thousands per
fit) became a fresh mapping to fault in, and `slt simulate` ran 8 % slower (at 1 MiB: within
noise). Trimming after each training and each daily report hands back what the heap still holds
free. All of it only where the C library is glibc (elsewhere, nothing to do), and an operator's
own threshold (`MALLOC_MMAP_THRESHOLD_`, or `glibc.malloc.mmap_threshold` in `GLIBC_TUNABLES`)
wins.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
from functools import cache
from typing import Any

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)
MMAP_THRESHOLD = 1024 * 1024


@cache
def _glibc() -> Any | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def tune_allocator() -> bool:
    """At start-up: keep large short-lived blocks in mappings of their own. True if set."""
    libc = _glibc()
    own = "MALLOC_MMAP_THRESHOLD_" in os.environ or (
        "glibc.malloc.mmap_threshold" in os.environ.get("GLIBC_TUNABLES", "")
    )
    if libc is None or own:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def release_free_memory() -> bool:
    """Hand the heap's free pages back to the system. True if any were."""
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))
