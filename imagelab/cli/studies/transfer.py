"""Transfer learning from an auto-encoder, with few labels.

    imagelab study transfer [--bottlenecks 16 32 64 128] [--fractions 0.01 0.1 1] [--seeds 3]

For each seed and bottleneck, trains an auto-encoder on the training images without
their labels, then a classifier on 1%, 10% and 100% of the labels in three ways: from
scratch, on the frozen encoder, fine-tuned from it (``imagelab.analysis.transfer``), all
for the same number of optimizer steps. Writes ``study_transfer_<dataset>.png`` (test
accuracy against the labels used), ``study_transfer_<dataset>_reconstructions.png`` and
``study_transfer_<dataset>.json``.
"""
import argparse
import time

import numpy as np

from imagelab.analysis.models import unit_pixels
from imagelab.analysis.transfer import METHODS, run_study
from imagelab.cli.arguments import (ArgumentParser, check_outputs, positive_float,
                                    positive_int, run_command, stop_if_diverging)
from imagelab.cli.memory import refuse_unless_it_fits
from imagelab.cli.studies import add_seeds_argument, add_study_arguments
from imagelab.data.images import rows_to_images
from imagelab.data.registry import DATASETS
from imagelab.data.splits import data_note, load_split, result_name
from imagelab.utils.checks import FlagError
from imagelab.utils.files import add_note, save_figure, save_results
from imagelab.utils.progress import Progress
from imagelab.viz.transfer import plot_reconstructions, plot_transfer_curves

PROG = "imagelab study transfer"
SHOWN = 8            # test images in the reconstructions figure


def label_fraction(text):
    """argparse type: a fraction of the labels, in (0, 1] (1: all of them)."""
    value = float(text)                 # a ValueError: "invalid label_fraction value"
    if not 0 < value <= 1:              # NaN fails too
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text}")
    return value


def parse_arguments(argv=None):
    parser = ArgumentParser(prog=PROG, description="Train an auto-encoder without labels, "
                            "then classifiers on its encoder (frozen or fine-tuned) and from "
                            "scratch, with a fraction of the labels.")
    add_study_arguments(parser)
    parser.add_argument("--bottlenecks", type=positive_int, nargs="+",
                        default=[16, 32, 64, 128], help="widths of the auto-encoder's code "
                        "(default: 16 32 64 128)")
    parser.add_argument("--fractions", type=label_fraction, nargs="+",
                        default=[0.01, 0.1, 1.0], help="fractions of the training labels "
                        "the classifiers see, each class in its share (default: 0.01 0.1 1)")
    add_seeds_argument(parser, "cell")
    parser.add_argument("--hidden", type=positive_int, default=256,
                        help="width of the hidden layer on either side of the code "
                             "(default: 256)")
    parser.add_argument("--ae-epochs", type=positive_int, default=3,
                        help="epochs of the auto-encoder over the training images "
                             "(default: 3)")
    parser.add_argument("--budget", type=positive_int, default=2,
                        help="training time of every classifier, in passes over the "
                             "training set's size: fewer labels, more epochs (default: 2)")
    parser.add_argument("--batch-size", type=positive_int, default=100,
                        help="images per step (default: 100, which divides 1%% of 60,000)")
    parser.add_argument("--learning-rate", type=positive_float, default=1e-3,
                        help="Adam's base rate, cosine schedule, of the auto-encoder and "
                             "of the classifiers trained whole (default: 0.001)")
    parser.add_argument("--frozen-learning-rate", type=positive_float, default=1e-2,
                        help="Adam's base rate of a head on a frozen encoder (default: 0.01)")
    return parser, parser.parse_args(argv)


def refuse_repeats(flag, values):
    """Raise ``FlagError`` if ``values`` holds a value twice (each names a cell)."""
    if len(set(values)) < len(values):
        raise FlagError(flag, f"each value once, got {' '.join(map(str, values))}")


def autoencoder_spec(image_shape, hidden, bottleneck):
    """The architecture entries of ``imagelab.analysis.transfer.autoencoder``, for the
    memory check (``imagelab.cli.memory``)."""
    return [["flatten"], ["dense", hidden], ["relu"], ["dense", bottleneck],
            ["dense", hidden], ["relu"], ["dense", int(np.prod(image_shape))]]


def accuracy_array(record, bottlenecks, fractions):
    """The record's test accuracies as an array (B, F, M, S), for the figure."""
    return np.array([[[record["accuracy"][str(b)][str(f)][m]["values"] for m in METHODS]
                      for f in fractions] for b in bottlenecks])


def print_table(record, bottlenecks, fractions):
    """The mean test accuracy (min..max) of every cell, a line per bottleneck and fraction."""
    print("bottleneck  labels  " + "  ".join(f"{m:>22}" for m in METHODS))
    for b in bottlenecks:
        for f in fractions:
            cells = [record["accuracy"][str(b)][str(f)][m] for m in METHODS]
            print(f"{b:>10}  {f:>6g}  " + "  ".join(
                f"{100 * c['mean']:6.2f}% ({100 * c['min']:.2f}..{100 * c['max']:.2f})"
                for c in cells))


def run(args, argv):
    began = time.perf_counter()
    refuse_repeats("--bottlenecks", args.bottlenecks)
    refuse_repeats("--fractions", args.fractions)
    shape = DATASETS[args.dataset].image_shape
    # The largest network trained: the auto-encoder of the widest code, under Adam
    # (values, gradients, two moments: four copies of the weights).
    refuse_unless_it_fits("--hidden/--bottlenecks/--batch-size",
                          autoencoder_spec(shape, args.hidden, max(args.bottlenecks)), shape,
                          args.batch_size, copies=4)
    name = result_name("study_transfer", None, args.dataset)
    check_outputs("--results-dir", args.results_dir,
                  [name + ".json", name + ".png", name + "_reconstructions.png"])
    data = load_split(args.dataset, args.data_dir, args.split, args.seed,
                      download=not args.no_download)
    x, x_test = unit_pixels(data.data_train), unit_pixels(data.data_test)
    seeds = [args.seed + i for i in range(args.seeds)]
    progress = Progress(args.seeds * len(args.bottlenecks)
                        * (1 + len(args.fractions) * len(METHODS)))
    # An overflow ends the run in one line on the rate (no NaN reaches the record).
    with stop_if_diverging(max(args.learning_rate, args.frozen_learning_rate)):
        record, shown = run_study(
            x, data.labels_train, x_test, data.labels_test, len(data.label_names),
            bottlenecks=args.bottlenecks, fractions=args.fractions, seeds=seeds,
            hidden=args.hidden, ae_epochs=args.ae_epochs, budget=args.budget,
            batch_size=args.batch_size, learning_rate=args.learning_rate,
            frozen_learning_rate=args.frozen_learning_rate, shown=SHOWN,
            report=progress.update)
    progress.close()
    print_table(record, args.bottlenecks, args.fractions)
    title = DATASETS[args.dataset].title
    note = data_note(args.data_dir, args.dataset)
    record = {"command": " ".join([PROG, *argv]), "dataset": args.dataset, "seeds": seeds,
              "bottlenecks": args.bottlenecks, "fractions": args.fractions,
              "hidden": args.hidden, "ae_epochs": args.ae_epochs, "budget": args.budget,
              "batch_size": args.batch_size, "learning_rate": args.learning_rate,
              "frozen_learning_rate": args.frozen_learning_rate, **record,
              "seconds": time.perf_counter() - began}
    figure = plot_reconstructions(
        rows_to_images(x_test[:SHOWN], data.image_shape),
        {f"bottleneck {b}": rows_to_images(rows, data.image_shape) for b, rows in shown.items()},
        f"{title}: test images and their auto-encoders' reconstructions (seed {seeds[0]})")
    add_note(figure, note)
    save_figure(args.results_dir, name + "_reconstructions", figure)
    save_results(args.results_dir, name, plot_transfer_curves(
        args.fractions, args.bottlenecks, METHODS,
        accuracy_array(record, args.bottlenecks, args.fractions),
        f"{title}: test accuracy at equal training time ({len(seeds)} seeds, min..max)"),
        record, note=note)


def main(argv=None):
    run_command(parse_arguments, run, argv)


if __name__ == "__main__":
    main()
