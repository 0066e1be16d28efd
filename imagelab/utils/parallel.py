"""Run one array operation on both cores: each thread takes its slice of the batch.

A training step is more than its matrix products: window copies, batch norms,
activations, pooling and padding are passes over large arrays that NumPy runs on one
core. NumPy releases the GIL inside such passes and inside BLAS calls, so Python
threads, each on its own slice of the batch, run them on all the cores at once.

While the threads run, the BLAS is held at one thread (``threadpoolctl``): each
thread's product then runs on its own core. Leaving the BLAS at its own thread count
would put two BLAS pools on the same cores, and OpenBLAS's workers, which spin for a
while after each product before they sleep, would take the cores from the next pass.

    sums = run(lambda part: x[part].sum(axis=0), parts_of(x))   # one result per part
    total = sum(sums)

``set_threads(1)`` makes every ``run`` a plain loop in the calling thread (as on a
one-core machine).
"""
import os
import queue
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np
from threadpoolctl import ThreadpoolController

from imagelab.utils.checks import check_int

# Below this many elements per thread, a pass is faster in one thread: handing a slice
# to the other thread and waiting for it costs about 80 us (a Future's round trip),
# the time of one pass over some 200,000 float32 values.
MIN_ELEMENTS_PER_THREAD = 1 << 17

# ``map_chunks`` takes each thread's part a chunk of rows at a time, of about this many
# bytes: the chunk stays in the core's cache (1 MB of L2 here) through the several
# operations of a pass, which then read and write memory once, not once per operation.
CHUNK_BYTES = 1 << 19

# NumPy releases the GIL around an operation's loop only when the loop has more than this
# many iterations (its NPY_BEGIN_THREADS_THRESHOLDED); for a matrix product these are the
# output's elements. A product with a smaller output holds the GIL from start to end,
# however long its inner dimension, and the threads' products then run one after the
# other (measured: 13 x 24 outputs held it, 16 x 32 released it).
GIL_RELEASE_SIZE = 500

_state = {"threads": None, "pool": None, "blas": None}


def threads():
    """The threads ``run`` uses: ``set_threads``'s count, else the cores this process may
    use (``os.sched_getaffinity`` where the system has it, else ``os.cpu_count``)."""
    if _state["threads"] is None:
        cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                 else os.cpu_count())
        set_threads(cores or 1)
    return _state["threads"]


def set_threads(count):
    """Use ``count`` threads (int >= 1) from now on; 1 runs every part in the caller."""
    count = check_int(count, "count", 1)
    if _state["pool"] is not None:
        _state["pool"].shutdown()
    _state["threads"] = count
    _state["pool"] = ThreadPoolExecutor(count - 1) if count > 1 else None


def batch_parts(n, size):
    """The slices of range(n) that the threads take, as equal as can be.

    Parameters
    ----------
    n : int >= 0
        Length of the axis to split (the batch).
    size : int
        Elements of the whole pass, to judge whether splitting pays.

    Returns
    -------
    list of slice
        One slice per thread, or a single slice(0, n) when the pass is too small (or
        there is one thread). Their union is range(n), in order.
    """
    count = min(threads(), n, max(1, size // MIN_ELEMENTS_PER_THREAD))
    bounds = [n * i // count for i in range(count + 1)] if count > 1 else [0, n]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def parts_of(x):
    """``batch_parts`` of an array's first axis (``[...]``, the whole, for a 0-d array)."""
    return batch_parts(len(x), x.size) if np.ndim(x) else [...]


def chunks(rows, row_bytes, min_rows=1, chunk_bytes=None):
    """The slices, in order, that cut ``rows`` (a slice with a stop) into chunks of about
    ``chunk_bytes`` (default ``CHUNK_BYTES``; ``row_bytes`` a row), ``min_rows`` rows at
    least, 1 at least, as equal as can be.

    Their count is a multiple of ``threads()`` (rounded down, but one chunk a thread at
    least, rows allowing): the threads, taking the chunks in turn, then end together. A
    remainder of chunks would leave one thread to finish alone: conv4's and the recipe's
    largest chunks (the recipe's last layer: 3 chunks of 114, 114 and 28 images) made one
    thread do 142 images while the other did 114.
    """
    chunk_bytes = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    start, n = rows.start or 0, rows.stop - (rows.start or 0)
    count = -(-n // max(1, min_rows, chunk_bytes // max(1, row_bytes)))
    count = min(n, max(count - count % threads(), threads()))
    bounds = [start + n * i // count for i in range(count + 1)] if count else []
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def map_in_turn(function, pieces, size):
    """``[function(piece) for piece in pieces]``, the threads taking the pieces in turn,
    each the next one not yet taken; the results in the pieces' order, whichever thread
    ran each.

    Taken in turn rather than as fixed parts: on a busy machine, where the system pauses
    one thread now and then, the other takes over its remaining pieces instead of
    waiting for them.

    Parameters
    ----------
    function : callable piece -> result
        Must write only into its own piece of any shared array.
    pieces : sequence
        Slices of a batch, or anything ``function`` takes.
    size : int
        Elements of the whole pass, to judge whether splitting pays (``batch_parts``).
    """
    results = [None] * len(pieces)
    untaken = queue.SimpleQueue()                  # the indices of the pieces not yet taken
    for i in range(len(pieces)):
        untaken.put(i)

    def take_pieces(_part):
        while True:
            try:
                i = untaken.get_nowait()
            except queue.Empty:
                return
            results[i] = function(pieces[i])

    run(take_pieces, batch_parts(len(pieces), size))
    return results


def map_chunks(function, x):
    """``[function(chunk) for chunk in (chunks of x's first axis)]``, the threads taking
    the chunks in turn (``map_in_turn``); ``[function(...)]`` for a 0-d array."""
    if np.ndim(x) == 0:
        return [function(...)]
    row_bytes = x.itemsize * (x.size // max(1, len(x)))
    return map_in_turn(function, chunks(slice(0, len(x)), row_bytes), x.size)


def _blas_one_thread():
    """A context holding the BLAS at one thread (``threadpoolctl``)."""
    if _state["blas"] is None:
        _state["blas"] = ThreadpoolController()
    return _state["blas"].limit(limits=1, user_api="blas")


def run(function, parts, *per_part):
    """``[function(part, *items) for part, *items in zip(parts, *per_part)]``, the parts
    at once: the first in the calling thread, each other one in a pool thread.

    ``function`` must write only into its own part of any shared array. An exception in
    a part is raised here, after every part has ended (none is left writing).
    """
    calls = list(zip(parts, *per_part))
    if threads() == 1:
        return [function(*call) for call in calls]
    # The BLAS stays at one thread even for a single part: a product on its own pool
    # would leave OpenBLAS's worker spinning on the other core through the next passes.
    with _blas_one_thread():
        futures = [_state["pool"].submit(function, *call) for call in calls[1:]]
        try:
            first = function(*calls[0])
        finally:
            wait(futures)
        return [first] + [future.result() for future in futures]

