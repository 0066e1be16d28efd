"""How long do the descriptors of 60,000 images take, in one process and in two?

Times ``imagelab.data.descriptors.describe`` for each descriptor on a sample of random images with
1 and 2 worker processes, alternating the two in the same run (the machines are
shared: only the ratios mean much), extrapolates to the 60,000 CIFAR-10 images, and
compares reading a cached feature file with computing it.

Usage:  python benchmarks/bench_descriptors.py [--quick]
Random pixel-like data; the time hardly depends on the values.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
from imagelab.data.descriptors import describe  # noqa: E402

SPECS = ["hog", "hog:channels=rgb", "lbp", "lbp:grid=2", "color"]
N_IMAGES = 60_000


def timed(function):
    """Wall time of one call."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 images instead of 12,000")
    n = 2000 if parser.parse_args().quick else 12_000
    rows = np.random.default_rng(0).integers(0, 256, size=(n, 3072)).astype(np.float32)
    print(f"{n:,} random images, {os.cpu_count()} CPUs; times scaled to {N_IMAGES:,} images")
    totals = {1: 0.0, 2: 0.0}
    for spec in SPECS:
        times = {1: [], 2: []}
        for _ in range(2):                   # alternate, so both see the same machine load
            for jobs in (1, 2):
                times[jobs].append(timed(lambda: describe(rows, spec, n_jobs=jobs)))
        one, two = (min(times[jobs]) * N_IMAGES / n for jobs in (1, 2))
        totals[1] += one
        totals[2] += two
        print(f"{spec:18s} 1 process {one:6.1f} s, 2 processes {two:6.1f} s, "
              f"speed-up {one / two:.2f}x")
    print(f"{'all of them':18s} 1 process {totals[1]:6.1f} s, 2 processes {totals[2]:6.1f} s")
    with tempfile.TemporaryDirectory() as cache:
        compute = timed(lambda: describe(rows, "hog", n_jobs=2, cache_dir=cache))
        read = timed(lambda: describe(rows, "hog", n_jobs=2, cache_dir=cache))
    print(f"hog with a cache: first run {compute:.2f} s, second run (read back) {read:.2f} s, "
          f"{compute / read:.0f}x faster")


if __name__ == "__main__":
    main()
