"""What does the autograd Tensor cost over the layer-by-layer network, and does it hold memory?

Speed: one epoch of mini-batch training of the same MLP (784-256-10 ReLU by default,
Adam, batch 128) on the Fashion-MNIST training rows, by the layer-by-layer network
(``Network.loss_and_gradients``, then ``imagelab.nn.optim.Adam``) and through the
Tensor (``cross_entropy(model(x))``, ``backward()``, ``imagelab.autograd.optim.Adam``),
each with its own copy of the same initial weights and the same batches. The two are
timed alternately, so both see the same load on a shared machine; the script prints
the median of each and the ratio of the medians.

Memory: ``tracemalloc`` counts the bytes NumPy and Python hold at four points of a
run of Tensor training steps. The graph of each step is freed by its ``backward()``,
so the count must not grow over the second half. (It grows by about 50 kB over the
first 2,000 steps: CPython keeps up to 2,000 freed tuples of each size for reuse,
which tracemalloc counts as held, then reuses them.)

Usage:  python benchmarks/bench_autograd.py [--data-dir DIR] [--hidden N ...]
            [--batch-size B] [--repeats R] [--steps S]
Without the Fashion-MNIST files in DIR/fashion-mnist, random float32 rows of the same
shape (60,000 x 784) stand in: speed does not depend on the values.
"""
import argparse
import os
import statistics
import sys
import time
import tracemalloc

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
sys.path.insert(0, ROOT)
from imagelab.nn import optim  # noqa: E402
from imagelab.autograd.tensor import Tensor  # noqa: E402
from imagelab.autograd.data import DataLoader, Dataset  # noqa: E402
from imagelab.autograd.nn import cross_entropy, from_network  # noqa: E402
from imagelab.autograd.optim import Adam  # noqa: E402
from imagelab.data.registry import load_dataset  # noqa: E402
from imagelab.nn.network import mlp  # noqa: E402
from imagelab.training.loop import iterate_minibatches  # noqa: E402


def fashion_rows(data_dir):
    """The 60,000 Fashion-MNIST training rows scaled to [0, 1] and labels, or random ones."""
    try:
        dataset = load_dataset("fashion-mnist", data_dir, download=False)
        return dataset.data_train / 255, dataset.labels_train, "Fashion-MNIST"
    except (OSError, ValueError):
        rng = np.random.default_rng(0)
        return (rng.random((60_000, 784), dtype=np.float32), rng.integers(0, 10, 60_000),
                "random rows of Fashion-MNIST's shape")


def network_epoch(network, optimizer, data, labels, batch_size, rng):
    """One epoch of the layer-by-layer network: forward, backward, Adam step per batch."""
    for index in iterate_minibatches(len(data), batch_size, rng):
        network.loss_and_gradients(data[index], labels[index])
        optimizer.step(1e-3)


def tensor_step(model, optimizer, x, y):
    """One training step through the Tensor: forward, loss, backward, Adam step."""
    loss = cross_entropy(model(Tensor(x)), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def seconds(function, *args):
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.path.join(ROOT, "data"),
                        help="folder holding fashion-mnist/ (default: data/)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[256],
                        help="hidden layer sizes (default: 256)")
    parser.add_argument("--batch-size", type=int, default=128, help="(default: 128)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="epochs timed for each, alternately (default: 5)")
    parser.add_argument("--steps", type=int, default=4000,
                        help="Tensor steps of the memory count (default: 4000)")
    args = parser.parse_args()
    data, labels, source = fashion_rows(args.data_dir)
    sizes = [data.shape[1], *args.hidden, 10]
    network = mlp(sizes, "relu", seed=0)
    model = from_network(network)
    network_adam, tensor_adam = optim.Adam(network.parameters()), Adam(model.parameters())
    loader = DataLoader(Dataset(data, labels), args.batch_size, shuffle=True, rng=0)
    rng = np.random.default_rng(0)

    def tensor_epoch():
        for x, y in loader:
            tensor_step(model, tensor_adam, x, y)

    layer_times, tensor_times = [], []
    for _ in range(args.repeats):
        layer_times.append(seconds(network_epoch, network, network_adam, data, labels,
                                   args.batch_size, rng))
        tensor_times.append(seconds(tensor_epoch))
    layer, tensor = statistics.median(layer_times), statistics.median(tensor_times)
    print(f"{source}, MLP {'-'.join(map(str, sizes))} ReLU, Adam, batch {args.batch_size}, "
          f"{len(data):,d} rows, median of {args.repeats} epochs each:")
    for name, median, times in (("layer-by-layer network", layer, layer_times),
                                ("autograd Tensor", tensor, tensor_times)):
        print(f"  {name:22s} {median:.2f} s per epoch "
              f"({', '.join(f'{t:.2f}' for t in times)})")
    print(f"  ratio Tensor / network {tensor / layer:.2f}x", flush=True)

    x, y = next(iter(loader))
    checkpoints = [args.steps * i // 4 for i in range(1, 5)]
    held = []
    tracemalloc.start()
    for step in range(1, args.steps + 1):
        tensor_step(model, tensor_adam, x, y)
        if step in checkpoints:
            held.append(tracemalloc.get_traced_memory()[0])
    tracemalloc.stop()
    print("memory held (tracemalloc) after Tensor step "
          + ", ".join(f"{step:,d}: {b / 1e6:.3f} MB" for step, b in zip(checkpoints, held))
          + f"; growth over the second half {(held[3] - held[1]) / 1e3:+.1f} kB")


if __name__ == "__main__":
    main()
