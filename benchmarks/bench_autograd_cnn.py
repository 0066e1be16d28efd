"""What does a CNN written with the autograd Tensor cost over the same CNN layer by layer?

One training step's forward and backward pass (no optimizer) of conv4 at half width
(``imagelab.nn.architectures.conv4(10, width=16, hidden=256)``, float32) on a batch of
random 28 x 28 x 1 images, by the layer-by-layer network
(``Network.loss_and_gradients``) and by its Tensor twin (``from_network``:
``cross_entropy(model(x))``, ``backward()``). The convolutions, poolings and batch
norms run the same layer code on both sides, so the difference is in the rest: the
ReLUs, the dense layers, the loss and the graph. The two are timed alternately, so both
see the same load on a shared machine; the script prints the median of each (the first
step of each left out: it allocates) and the ratio of the medians.

Usage:  python benchmarks/bench_autograd_cnn.py [--batch-size B] [--repeats R]
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
sys.path.insert(0, ROOT)
from imagelab.autograd.nn import cross_entropy, from_network  # noqa: E402
from imagelab.autograd.tensor import Tensor  # noqa: E402
from imagelab.nn.architectures import build, conv4  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128, help="(default: 128)")
    parser.add_argument("--repeats", type=int, default=8,
                        help="steps timed for each, alternately (default: 8)")
    args = parser.parse_args()
    network = build(conv4(10, width=16, hidden=256), (28, 28, 1), seed=0)
    model = from_network(network)
    rng = np.random.default_rng(0)
    images = rng.random((args.batch_size, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, args.batch_size)

    def layer_step():
        network.loss_and_gradients(images, labels)

    def tensor_step():
        model.zero_grad()
        cross_entropy(model(Tensor(images)), labels).backward()

    layer_times, tensor_times = [], []
    for _ in range(args.repeats):
        for times, step in ((layer_times, layer_step), (tensor_times, tensor_step)):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
    layer, tensor = statistics.median(layer_times[1:]), statistics.median(tensor_times[1:])
    print(f"conv4 at half width, batch {args.batch_size} of 28 x 28 x 1, forward and backward, "
          f"median of {args.repeats - 1} steps each:")
    print(f"  layer-by-layer network {1000 * layer:.0f} ms per step")
    print(f"  autograd Tensor        {1000 * tensor:.0f} ms per step")
    print(f"  ratio Tensor / network {tensor / layer:.2f}x")


if __name__ == "__main__":
    main()
