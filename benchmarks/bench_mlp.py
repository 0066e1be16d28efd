"""How much more than its two big matrix products does one epoch of train_mlp cost?

On the lab's full training set (54,000 x 3,072, d_h = 64) an epoch is dominated by
the forward product X @ W1 and the backward product X.T @ dZ1; everything else works
on (54,000 x 64) or smaller arrays. The epoch's cost is measured as the difference
between training for 1 + E epochs and for 1 epoch, divided by E (this leaves out the
one-off input checks and first forward pass), and compared with the two products
timed in the same run.

Usage:  python benchmarks/bench_mlp.py [--epochs E]
Random standardised float32 data; speed does not depend on the values.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
from imagelab.classic.mlp import init_weights, train_mlp  # noqa: E402


def seconds(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5, help="epochs timed (default: 5)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements kept the best of")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n, d_in, d_h = 54_000, 3072, 64
    data = rng.standard_normal((n, d_in), dtype=np.float32)
    labels = rng.integers(0, 10, size=n)
    weights = init_weights(d_in, d_h, 10, seed=0)
    dz1 = rng.standard_normal((n, d_h), dtype=np.float32)

    epoch, products = [], []
    for _ in range(args.repeats):   # alternate, so both see the same machine load
        one = seconds(lambda: train_mlp(*weights, data, labels, 0.1, 1))
        many = seconds(lambda: train_mlp(*weights, data, labels, 0.1, 1 + args.epochs))
        epoch.append((many - one) / args.epochs)
        products.append(seconds(lambda: data @ weights[0]) + seconds(lambda: data.T @ dz1))
    print(f"one epoch of train_mlp ({n:,d} x {d_in:,d}, d_h={d_h}): {min(epoch):.3f} s; "
          f"X @ W1 + X.T @ dZ1: {min(products):.3f} s; ratio {min(epoch) / min(products):.2f}x")


if __name__ == "__main__":
    main()
