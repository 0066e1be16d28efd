"""Toy 2-D data: three two-class sets of points, a small MLP on each, its confidence map.

    python -m imagelab.cli.toy                                   # the committed figure
    python -m imagelab.cli.toy --activation sigmoid --hidden 8   # what changes the picture

Each set (blobs, moons, a two-armed spiral) is drawn afresh from a seed; a quarter of
it is held out for validation. The network is ``imagelab.nn.network.mlp`` trained by
``imagelab.training.loop.train``; the figure shows its probability of class 1 over the
plane, one panel per set (``toy_confidence.png``, numbers in ``toy.json``).
"""
import sys
import time

import numpy as np
from matplotlib.figure import Figure

from imagelab.cli.arguments import (ArgumentParser, add_results_arguments, file_stem,
                                positive_float, positive_int, stop_if_diverging)
from imagelab.utils.checks import check_float, check_int
from imagelab.utils.files import save_results
from imagelab.nn.layers import ACTIVATIONS
from imagelab.nn.network import mlp
from imagelab.training.loop import split_validation, train
from imagelab.nn.functional import softmax


def _two_classes(n, noise, seed):
    """Checked ``n`` and ``noise``, a generator seeded by ``seed``, and balanced labels.

    Returns
    -------
    n : int, noise : float, rng : np.random.Generator
    labels : np.ndarray of np.int64, shape (n,)
        0, 1, 0, 1, ...: the two counts differ by at most one.
    """
    n = check_int(n, "n", 2)
    noise = check_float(noise, "noise", 0)
    return n, noise, np.random.default_rng(seed), np.arange(n, dtype=np.int64) % 2


def _noisy(clean, noise, rng, labels):
    """``clean`` (n, 2) plus Gaussian noise of standard deviation ``noise``, as float32."""
    points = clean + noise * rng.standard_normal(clean.shape)
    return points.astype(np.float32), labels


def blobs(n, noise=0.5, seed=None):
    """Two Gaussian blobs, centred at (-1, -1) (class 0) and (1, 1) (class 1).

    Parameters
    ----------
    n : int >= 2
        Number of points, half of each class (one more of class 0 when n is odd).
    noise : float >= 0
        Standard deviation of each coordinate around its blob's centre.
    seed : None, int >= 0 or np.random.Generator

    Returns
    -------
    points : np.ndarray of np.float32, shape (n, 2)
    labels : np.ndarray of np.int64, shape (n,)
        0 or 1, alternating.
    """
    n, noise, rng, labels = _two_classes(n, noise, seed)
    centres = np.repeat(2.0 * labels[:, None] - 1, 2, axis=1)
    return _noisy(centres, noise, rng, labels)


def moons(n, noise=0.15, seed=None):
    """Two interleaved half circles of radius 1.

    Class 0 lies on (cos t, sin t), class 1 on (1 - cos t, 0.5 - sin t), t uniform in
    [0, pi]; the shapes and returns are those of ``blobs`` (``noise``: the standard
    deviation of each coordinate around its curve).
    """
    n, noise, rng, labels = _two_classes(n, noise, seed)
    t = np.pi * rng.random(n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    clean = np.where(labels[:, None] == 1, [1.0, 0.5] - upper, upper)
    return _noisy(clean, noise, rng, labels)


def spiral(n, noise=0.05, seed=None, turns=1.5):
    """Two interleaved arms of an Archimedean spiral, of radius 1.

    A point at a fraction t of its arm (t = sqrt(u), u uniform in [0, 1], so that the
    points spread evenly along the arm) lies at radius t and angle 2 pi turns t, plus
    pi for class 1: the arms are 1 / (2 turns) apart. The shapes and returns are those
    of ``blobs``.

    Parameters
    ----------
    turns : float > 0
        Turns of each arm around the centre.
    """
    n, noise, rng, labels = _two_classes(n, noise, seed)
    turns = check_float(turns, "turns", 0, include_min=False)
    t = np.sqrt(rng.random(n))
    angle = 2 * np.pi * turns * t + np.pi * labels
    return _noisy(t[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1), noise, rng,
                  labels)


DATASETS = {"blobs": blobs, "moons": moons, "spiral": spiral}


def train_toy(points, labels, hidden=(32, 32), activation="relu", num_epoch=100,
              learning_rate=0.01, validation=0.25, seed=None):
    """Train an MLP 2 - hidden - 2 on a toy set with ``imagelab.training.loop.train``.

    Parameters
    ----------
    points : np.ndarray of np.float32, shape (n, 2), labels : np.ndarray of int, shape (n,)
    hidden : sequence of int >= 1
        Sizes of the hidden layers.
    activation : {"sigmoid", "relu"}
    num_epoch : int >= 1
        Epochs of Adam on mini-batches of 32, learning rate ``learning_rate`` decayed
        on a cosine.
    validation : float in (0, 1)
        Fraction of the points held out; the epoch with the best accuracy on them is kept.
    seed : None or int >= 0
        Seed of the split, the initial weights and the batch order.

    Returns
    -------
    network : imagelab.nn.network.Network
        Its logits (N, 2) for points (N, 2); softmax gives the probabilities.
    val_accuracy : float
        Accuracy of ``network`` on the held-out points.
    """
    train_index, val_index = split_validation(points, labels, validation, seed)
    network = mlp([points.shape[1], *hidden, 2], activation, seed=seed)
    history = train(network, points[train_index], labels[train_index], points[val_index],
                    labels[val_index], num_epoch=num_epoch, batch_size=32,
                    learning_rate=learning_rate, seed=seed)
    return network, history["val_accuracy"][history["best_epoch"] - 1]


def probability_grid(network, points, steps=200, margin=0.5):
    """The network's probability of class 1 on a regular grid around ``points``.

    Parameters
    ----------
    network : imagelab.nn.network.Network
        Two inputs, two logits.
    points : np.ndarray, shape (n, 2)
        The grid spans their bounding box widened by ``margin`` on every side.
    steps : int >= 2
        Grid points along each axis.

    Returns
    -------
    x, y : np.ndarray, shape (steps,)
        The grid's coordinates along each axis.
    probability : np.ndarray, shape (steps, steps)
        ``probability[i, j]`` at (x[j], y[i]), as ``contourf`` takes it.
    """
    steps = check_int(steps, "steps", 2)
    low, high = points.min(axis=0) - margin, points.max(axis=0) + margin
    x, y = (np.linspace(low[i], high[i], steps, dtype=np.float32) for i in range(2))
    grid = np.stack(np.meshgrid(x, y), axis=-1).reshape(-1, 2)
    probability = softmax(network.predict_logits(grid))[:, 1]
    return x, y, probability.reshape(steps, steps)


def plot_confidence(panels, title):
    """One panel per set: the probability of class 1 as filled contours, the points on top.

    Parameters
    ----------
    panels : sequence of (str, Network, np.ndarray (n, 2), np.ndarray of int (n,))
        Each panel's title, trained network, points and labels.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
        One axes per panel and a shared colour bar; the 0.5 contour (the decision
        boundary) drawn in black.
    """
    figure = Figure(figsize=(4 * len(panels) + 1, 4), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    levels = np.linspace(0, 1, 11)
    for ax, (name, network, points, labels) in zip(axes, panels):
        x, y, probability = probability_grid(network, points)
        filled = ax.contourf(x, y, probability, levels=levels, cmap="RdBu_r", alpha=0.8)
        ax.contour(x, y, probability, levels=[0.5], colors="black", linewidths=1)
        ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="bwr", vmin=0, vmax=1, s=8,
                   edgecolors="white", linewidths=0.3)
        ax.set(title=name, xlabel="x1", ylabel="x2", aspect="equal")
    figure.colorbar(filled, ax=list(axes), label="probability of class 1")
    figure.suptitle(title)
    return figure


def parse_arguments(argv=None):
    parser = ArgumentParser(
        prog="imagelab toy",
        description="Train a small MLP on three toy 2-D sets (blobs, moons, spiral) and "
                    "draw its confidence over the plane.")
    add_results_arguments(parser, "seed of the points, the split and the weights")
    parser.add_argument("--n", type=positive_int, default=1000,
                        help="points per set, a quarter held out for validation "
                             "(default: 1000)")
    parser.add_argument("--hidden", type=positive_int, nargs="+", default=[32, 32],
                        help="sizes of the hidden layers (default: 32 32)")
    parser.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu",
                        help="hidden units (default: relu)")
    parser.add_argument("--num-epoch", type=positive_int, default=100,
                        help="passes over the training points (default: 100)")
    parser.add_argument("--learning-rate", type=positive_float, default=0.01,
                        help="Adam's base learning rate (default: 0.01)")
    parser.add_argument("--name", type=file_stem, default="toy",
                        help="stem of the result files: <name>_confidence.png and "
                             "<name>.json (default: toy)")
    return parser, parser.parse_args(argv)


def run(args, argv):
    """Train on each set as the flags say; print the accuracies; save the figure and record."""
    start = time.perf_counter()
    panels, accuracies = [], {}
    for name, generate in DATASETS.items():
        points, labels = generate(args.n, seed=args.seed)
        network, accuracies[name] = train_toy(
            points, labels, args.hidden, args.activation, args.num_epoch,
            args.learning_rate, seed=args.seed)
        print(f"{name:7s} validation accuracy {accuracies[name]:.4f}")
        panels.append((f"{name}: validation {accuracies[name]:.1%}", network, points, labels))
    elapsed = time.perf_counter() - start
    sizes = [2, *args.hidden, 2]
    record = {"command": " ".join(["python -m imagelab.cli.toy", *argv]), "sizes": sizes,
              "activation": args.activation, "num_epoch": args.num_epoch,
              "learning_rate": args.learning_rate, "n": args.n, "seed": args.seed,
              "val_accuracy": accuracies, "seconds": round(elapsed, 1)}
    title = f"MLP {'-'.join(map(str, sizes))}, {args.activation}: probability of class 1"
    save_results(args.results_dir, args.name, plot_confidence(panels, title), record,
                 figure_name=f"{args.name}_confidence")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser, args = parse_arguments(argv)
    with parser.flag_errors(), stop_if_diverging(args.learning_rate):
        run(args, argv)


if __name__ == "__main__":
    main()
