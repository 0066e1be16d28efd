"""Ask glibc's allocator to keep freed memory for the next array instead of unmapping it.

A training step allocates and frees the same large arrays (activations, gradients and
window matrices of many MB) again and again. By default glibc returns each one to the
system and maps fresh pages for the next, so every step pays page faults and the
zeroing of those pages. Raising the thresholds keeps the memory in the process instead.
An array above 32 MB (the largest mmap threshold glibc accepts) would still get pages
of its own, mapped and zeroed anew at each step: so mmap is turned off, and every array
comes from the heap, which keeps what is freed. The price is a higher peak: freed
memory is not given back. ``python benchmarks/bench_conv.py`` times the training steps
with and without it. Elsewhere than glibc (macOS, Windows, musl) this does nothing.
"""
import ctypes
import ctypes.util

# mallopt parameters, from glibc's malloc.h.
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -2, -3, -4


def keep_freed_memory():
    """Set glibc's trim threshold high and turn mmap off; returns True if glibc accepted."""
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
                mallopt(M_TOP_PAD, 512 << 20) == 1,
                mallopt(M_MMAP_MAX, 0) == 1])
