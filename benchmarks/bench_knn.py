"""How much more than one matrix product does the whole k = 1..20 kNN curve cost?

The distance computation is dominated by the product test @ train.T; the rest
(shifts, norms, neighbour selection, votes) should add little, whatever BLAS kernel
the machine's CPU picks. For each OpenBLAS kernel (``OPENBLAS_CORETYPE``, which must
be set before NumPy loads, so each runs in its own process) this script times
``evaluate_knn_sweep`` for k = 1..20 against one float32 product of the same shapes
(into an output allocated beforehand; see ``ratio``), alternating the two in the same
process (the machines are shared and noisy, so only
the ratio means something). Under the machine's own kernel it then times the lab's
full size and measures the sweep's extra peak memory with tracemalloc (NumPy reports
its allocations to it).

Usage:  python benchmarks/bench_knn.py [--quick] [--phases] [--kernels unset Haswell ...]
Random pixel-like float32 data; speed does not depend on the values.
"""
import argparse
import ctypes
import glob
import os
import subprocess
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
from imagelab.classic import knn  # noqa: E402
from imagelab.classic.knn import evaluate_knn_sweep  # noqa: E402

K_VALUES = list(range(1, 21))
GOAL = 1.15       # the goal: the sweep costs at most 1.15 products on every kernel
MEMORY_GOAL = 512  # MB of extra peak memory at 54,000 x 6,000
# The sweep's helpers timed by --phases; the rest of its time is the matrix products,
# the shifted copy of the test rows, the centre and the votes.
PHASES = {"_shift_rows": "shifting the training blocks, with their norms",
          "_candidates": "comparing every score with its row's k-th best so far",
          "_merge": "merging the few entries that pass"}


def kernels():
    """The kernels the test suite runs under: unset, four x86-64 ones, SkylakeX with AVX-512."""
    names = ["unset", "Prescott", "Sandybridge", "Haswell", "Zen"]
    try:
        with open("/proc/cpuinfo") as f:
            if "avx512f" in f.read():
                names.append("SkylakeX")
    except OSError:
        pass
    return names


def blas_kernel():
    """The kernel OpenBLAS picked in this process, from NumPy's bundled library, or "?"."""
    folder = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in glob.glob(os.path.join(folder, "libscipy_openblas*.so")):
        library = ctypes.CDLL(path)
        for symbol in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename"):
            if hasattr(library, symbol):
                function = getattr(library, symbol)
                function.restype = ctypes.c_char_p
                return function().decode()
    return "?"


def pixels(rng, n):
    """n random rows of 3,072 pixel values 0..255, as float32."""
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8).astype(np.float32)


def seconds(function):
    """Wall time of one call."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def ratio(n_train, n_test, repeats, rng):
    """Best times of the k = 1..20 sweep, of one product test @ train.T into an output
    allocated beforehand, and of the same product into a new output, alternated.

    The product into a new output also pays the page faults of its output (160 MB at
    20,000 x 2,000), which cost from nothing to a sixth of the product from one process
    to the next, depending on how the allocator gets that memory: the ratio is taken
    over the product alone, the stable and the stricter measure.
    """
    train, test = pixels(rng, n_train), pixels(rng, n_test)
    labels_train = rng.integers(0, 10, size=n_train)
    labels_test = rng.integers(0, 10, size=n_test)
    out = np.empty((n_test, n_train), np.float32)
    sweep, product, allocating = [], [], []
    for _ in range(repeats):             # alternate, so all see the same machine load
        sweep.append(seconds(lambda: evaluate_knn_sweep(
            train, labels_train, test, labels_test, K_VALUES)))
        product.append(seconds(lambda: np.matmul(test, train.T, out=out)))
        allocating.append(seconds(lambda: test @ train.T))
    del out
    return (min(sweep), min(product), min(allocating),
            (train, labels_train, test, labels_test))


def phases(train, labels_train, test, labels_test, repeats):
    """Seconds spent in each helper of PHASES, and in the whole sweep, for the fastest
    of ``repeats`` sweeps: each helper is wrapped in a timer while the sweep runs."""
    originals = {name: getattr(knn, name) for name in PHASES}
    runs = []
    for _ in range(repeats):
        spent = dict.fromkeys(PHASES, 0.0)

        def timed(name):
            def wrapper(*args, **kwargs):
                start = time.perf_counter()
                result = originals[name](*args, **kwargs)
                spent[name] += time.perf_counter() - start
                return result
            return wrapper
        for name in PHASES:             # _nearest_neighbours looks them up at each call
            setattr(knn, name, timed(name))
        try:
            total = seconds(lambda: evaluate_knn_sweep(train, labels_train, test, labels_test,
                                                       K_VALUES))
        finally:
            for name, function in originals.items():
                setattr(knn, name, function)
        runs.append((total, spent))
    return min(runs, key=lambda run: run[0])


def extra_memory(train, labels_train, test, labels_test):
    """Peak memory the sweep allocates beyond its inputs, in MB."""
    tracemalloc.start()
    evaluate_knn_sweep(train, labels_train, test, labels_test, K_VALUES)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def print_phases(data, product):
    """Where the time of the fastest sweep goes, in ms, beside one product."""
    total, spent = phases(*data, repeats=5)
    print(f"{'':>25}  where the curve's {total * 1e3:.0f} ms go, beside one product of "
          f"{product * 1e3:.0f} ms:")
    for name, what in PHASES.items():
        print(f"{'':>27}{spent[name] * 1e3:6.1f} ms  {what} ({name})")
    rest = total - sum(spent.values()) - product
    print(f"{'':>27}{rest * 1e3:6.1f} ms  the rest beyond one product: the products in "
          "blocks, the shifted test rows, the centre, the votes", flush=True)


def worker(large, show_phases):
    """Measure in this process (its kernel fixed at start-up) and print one line each."""
    rng = np.random.default_rng(0)
    sweep, product, allocating, data = ratio(20_000, 2_000, 5, rng)
    print(f"{os.environ.get('OPENBLAS_CORETYPE', 'unset'):>11} ({blas_kernel():>11})  "
          f"train 20,000 x test 2,000: curve {sweep:5.2f} s, product {product:5.2f} s "
          f"({allocating:5.2f} s into a new output), ratio {sweep / product:.2f}x", flush=True)
    if show_phases:
        print_phases(data, product)
    if large:
        sweep, product, allocating, data = ratio(54_000, 6_000, 2, rng)
        print(f"{'':>25}  train 54,000 x test 6,000: curve {sweep:5.2f} s, product "
              f"{product:5.2f} s ({allocating:5.2f} s into a new output), ratio "
              f"{sweep / product:.2f}x; extra peak memory {extra_memory(*data):.0f} MB "
              f"(goal <= {MEMORY_GOAL})", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="skip the lab's full size (54,000 x 6,000)")
    parser.add_argument("--kernels", nargs="+", default=kernels(),
                        help="OPENBLAS_CORETYPE values to try, 'unset' for the machine's "
                             "own (default: %(default)s)")
    parser.add_argument("--phases", action="store_true",
                        help="also print where the curve's time goes, under each kernel")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--large", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.large, args.phases)
    print(f"kNN k = 1..20 sweep over one float32 product, goal <= {GOAL}x on every kernel")
    for index, kernel in enumerate(args.kernels):
        env = {key: value for key, value in os.environ.items() if key != "OPENBLAS_CORETYPE"}
        if kernel != "unset":
            env["OPENBLAS_CORETYPE"] = kernel
        large = index == 0 and not args.quick
        subprocess.run([sys.executable, __file__, "--worker", *(["--large"] if large else []),
                        *(["--phases"] if args.phases else [])], env=env, check=True)


if __name__ == "__main__":
    main()
