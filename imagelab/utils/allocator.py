"""Ask glibc's allocator to keep freed memory for the next array instead of unmapping it.

A training step allocates and frees the same large arrays (window matrices of 100+ MB)
again and again. By default glibc returns each one to the system and maps fresh pages
for the next, so every step pays page faults and the zeroing of those pages: measured
here at about 10% of a convolutional network's step (``benchmarks/bench_conv.py``).
Raising the thresholds keeps the memory in the process instead. Elsewhere than glibc
(macOS, Windows, musl) this does nothing.
"""
import ctypes
import ctypes.util

# mallopt parameters, from glibc's malloc.h.
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3


def keep_freed_memory():
    """Set glibc's mmap and trim thresholds high; returns True if glibc accepted them."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # 32 MB is the largest mmap threshold glibc accepts on 64-bit systems.
    return all([mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1,
                mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1,
                mallopt(M_TOP_PAD, 512 << 20) == 1])
