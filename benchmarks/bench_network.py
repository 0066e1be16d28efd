"""How much more than its matrix products does one epoch of imagelab.training.loop.train cost?

An epoch on mini-batches performs, for every batch X_b and every Dense layer l, the
forward product A_{l-1} @ W_l and the backward products A_{l-1}.T @ dZ_l and (except
for the first layer) dZ_l @ W_l.T. This script times one epoch of ``train``
(shuffling, batch gathering, activations, dropout, loss, optimizer steps and the
validation pass included) as the difference between training for 1 + E epochs and for
1 epoch, divided by E (this leaves out the one-off input checks), and, in the same run,
exactly those products on arrays of the same shapes, then prints the ratio. Two
configurations: the lab's network (3072-64-10, sigmoid, plain SGD) and the best recipe
(PCA inputs, two wide ReLU layers, dropout, Adam).

Usage:  python benchmarks/bench_network.py [--rows N] [--epochs E] [--repeats R]
Random float32 data; speed does not depend on the values.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
from imagelab.nn.network import mlp  # noqa: E402
from imagelab.nn.optim import SGD, Adam  # noqa: E402
from imagelab.training.loop import train  # noqa: E402

CONFIGS = [  # name, layer sizes, activation, dropout, optimizer, batch size
    ("lab network, SGD", [3072, 64, 10], "sigmoid", 0.0,
     lambda parameters: SGD(parameters, momentum=0), 128),
    ("best recipe, Adam", [400, 1024, 1024, 10], "relu", 0.3, Adam, 256),
]


def seconds(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def batches(n, batch_size):
    """Row counts of the batches of n rows: full batches, then the remainder."""
    return [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])


def epoch_products(sizes, n, batch_size, n_val, rng):
    """A function doing the matrix products of one epoch of ``train``, and nothing else.

    Training batches: for each Dense layer, A @ W, A.T @ dZ and (above the first layer)
    dZ @ W.T; validation (``predict_logits``, batches of 4,096 rows): A @ W.
    """
    weights = [rng.standard_normal((a, b), dtype=np.float32) for a, b in zip(sizes, sizes[1:])]
    train_rows, val_rows = batches(n, batch_size), batches(n_val, 4096)
    # One set of activations per batch size; dZ_l has the shape of A_l, so A_l stands in.
    acts = {rows: [rng.standard_normal((rows, d), dtype=np.float32) for d in sizes]
            for rows in set(train_rows + val_rows)}

    def run():
        for rows in train_rows:
            a = acts[rows]
            for layer, w in enumerate(weights):
                a[layer] @ w                          # forward
                a[layer].T @ a[layer + 1]             # dC/dW
                if layer > 0:
                    a[layer + 1] @ w.T                # dC/dA of the layer below
        for rows in val_rows:
            a = acts[rows]
            for layer, w in enumerate(weights):
                a[layer] @ w
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=48_600,
                        help="training rows (default: 48,600, what imagelab.cli.train_mlp trains on "
                             "once the validation split is held out)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs timed (default: 2)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements kept the best of")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n_val = args.rows // 9            # as imagelab.cli.train_mlp: 10% of the training split
    for name, sizes, activation, dropout, optimizer, batch_size in CONFIGS:
        data = rng.standard_normal((args.rows, sizes[0]), dtype=np.float32)
        labels = rng.integers(0, 10, size=args.rows)
        products = epoch_products(sizes, args.rows, batch_size, n_val, rng)

        def fit(epochs):
            network = mlp(sizes, activation, dropout=dropout, seed=0)
            return seconds(lambda: train(
                network, data, labels, data[:n_val], labels[:n_val], num_epoch=epochs,
                batch_size=batch_size, optimizer=optimizer(network.parameters()),
                learning_rate=1e-3))

        epoch, matmul = [], []
        for _ in range(args.repeats):   # alternate, so both see the same machine load
            epoch.append((fit(1 + args.epochs) - fit(1)) / args.epochs)
            matmul.append(seconds(products))
        print(f"{name} ({'-'.join(map(str, sizes))}, batch {batch_size}, {args.rows:,d} "
              f"rows): one epoch {min(epoch):.2f} s, its matrix products "
              f"{min(matmul):.2f} s, ratio {min(epoch) / min(matmul):.2f}x", flush=True)


if __name__ == "__main__":
    main()
