"""Toy 2-D data: three two-class sets of points, a small MLP on each, its confidence map.

    imagelab toy                                   # the committed figure
    imagelab toy --activation sigmoid --hidden 8   # what changes the picture

Each set (blobs, moons, a two-armed spiral: ``imagelab.data.toy``) is drawn afresh from
a seed; a quarter of it is held out for validation. The network is
``imagelab.nn.network.mlp`` trained by ``imagelab.training.toy.train_toy``; the figure
(``imagelab.viz.figures.plot_confidence``) shows its probability of class 1 over the
plane, one panel per set (``toy_confidence.png``, numbers in ``toy.json``).
"""
import sys
import time

from imagelab.cli.arguments import (ArgumentParser, add_results_arguments, file_stem,
                                    positive_float, positive_int, stop_if_diverging)
from imagelab.data.toy import TOY_DATASETS
from imagelab.nn.layers import ACTIVATIONS
from imagelab.training.toy import train_toy
from imagelab.utils.files import save_results
from imagelab.viz.figures import plot_confidence


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
    for name, generate in TOY_DATASETS.items():
        points, labels = generate(args.n, seed=args.seed)
        network, accuracies[name] = train_toy(
            points, labels, args.hidden, args.activation, args.num_epoch,
            args.learning_rate, seed=args.seed)
        print(f"{name:7s} validation accuracy {accuracies[name]:.4f}")
        panels.append((f"{name}: validation {accuracies[name]:.1%}", network, points, labels))
    elapsed = time.perf_counter() - start
    sizes = [2, *args.hidden, 2]
    record = {"command": " ".join(["imagelab toy", *argv]), "sizes": sizes,
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
