"""The C allocator's settings for every process of the app (glibc's malloc; elsewhere nothing is changed).

glibc serves a block of 128 KiB or more from a mapping of its own and unmaps it when it is freed, but once such a
block is freed it raises that threshold to the block's size (up to 32 MiB), so later blocks of that size come from
the heap, where a freed block stays resident while anything above it is in use. A worker that reads pages of 1 MB
(a page of orders, its JSON text, the statement that stores it) so kept a little more of every page it read: the
poll worker's peak RSS grew with the number of pages (112.4 MB at 1,000 orders, 113.9-115.0 at 5,000). A fixed
threshold keeps every large block in a mapping of its own, returned to the system when it is freed.
"""

import ctypes

# mallopt's parameter numbers (malloc.h); setting either turns the dynamic adjustment off.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# glibc's own starting threshold: blocks this large or larger are mapped on their own.
LARGE_BLOCK_BYTES = 128 * 1024
# How much free memory the top of the heap may keep before it is given back. Fixed thresholds would leave glibc's
# 128 KiB, and giving back and faulting in again the heap's top after every page cost the poll 15% more CPU; with
# the large blocks mapped on their own, what the heap keeps stays small (4 MiB at most).
HEAP_TOP_KEPT_BYTES = 4 * 1024 * 1024


def allocator_configure() -> bool:
    """Fix glibc's mmap threshold at LARGE_BLOCK_BYTES and its trim threshold at HEAP_TOP_KEPT_BYTES for this
    process; returns whether the allocator took them (False without glibc's mallopt, e.g. on macOS; musl's accepts
    and ignores them)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    trimmed = mallopt(M_TRIM_THRESHOLD, HEAP_TOP_KEPT_BYTES) == 1
    return mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES) == 1 and trimmed


def allocator_release() -> None:
    """Give the memory freed since the last call back to the system (glibc's malloc_trim; elsewhere nothing): a
    worker between two runs of a long task keeps only what it holds, not what the last run's batches needed."""
    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    malloc_trim.argtypes = (ctypes.c_size_t,)
    malloc_trim(0)
