"""How much more than one matrix product does the whole k = 1..20 kNN curve cost?

The distance computation is dominated by the product test @ train.T; the rest
(norms, neighbour selection, votes) should add little. This script times
``evaluate_knn_sweep`` for k = 1..20 against one float32 product of the same shapes,
alternating the two in the same run (the machines are shared and noisy, so only the
ratio means something), then measures the sweep's extra peak memory with tracemalloc
(NumPy reports its allocations to it).

Usage:  python benchmarks/bench_knn.py [--quick]
Random pixel-like float32 data; speed does not depend on the values.
"""
import argparse
import os
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
from knn import evaluate_knn_sweep  # noqa: E402

K_VALUES = list(range(1, 21))


def pixels(rng, n):
    """n random rows of 3,072 pixel values 0..255, as float32."""
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8).astype(np.float32)


def best_time(function, repeats):
    """Shortest wall time of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def compare(n_train, n_test, repeats, rng):
    """Print the time of the k = 1..20 sweep against one product test @ train.T."""
    train, test = pixels(rng, n_train), pixels(rng, n_test)
    labels_train = rng.integers(0, 10, size=n_train)
    labels_test = rng.integers(0, 10, size=n_test)
    sweep, product = [], []
    for _ in range(repeats):             # alternate, so both see the same machine load
        sweep.append(best_time(lambda: evaluate_knn_sweep(
            train, labels_train, test, labels_test, K_VALUES), 1))
        product.append(best_time(lambda: test @ train.T, 1))
    print(f"train {n_train:6,d} x test {n_test:5,d}: k=1..20 curve {min(sweep):6.2f} s, "
          f"one float32 product {min(product):6.2f} s, ratio {min(sweep) / min(product):.2f}x")
    return train, labels_train, test, labels_test


def extra_memory(train, labels_train, test, labels_test):
    """Peak memory the sweep allocates beyond its inputs, in MB."""
    tracemalloc.start()
    evaluate_knn_sweep(train, labels_train, test, labels_test, K_VALUES)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the small case, once")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    compare(20_000, 2_000, 1 if args.quick else 3, rng)
    if args.quick:
        return
    data = compare(54_000, 6_000, 2, rng)
    print(f"train 54,000 x test 6,000: extra peak memory of the curve {extra_memory(*data):.0f} MB "
          f"(the data itself: {(data[0].nbytes + data[2].nbytes) / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
