"""imagelab study augmentation: noise, shifts, small rotations and flips for the MLP.

    imagelab study augmentation [--seeds 3] [--epochs 10] [--train-size 20000]

Trains the project's MLP (784-256-256-10, ReLU, Adam) on a random subset of the
training images, once per augmentation configuration (``CONFIGURATIONS``: each of
noise, shift, rotation at three strengths, flips, then all together, mild and strong)
and per seed; writes into --results-dir ``study_augmentation_<dataset>.png`` (test
accuracy and training-test gap per configuration, mean and min..max over the seeds),
``study_augmentation_<dataset>_examples.png`` (what each configuration does to a few
training images) and ``study_augmentation_<dataset>.json`` (every accuracy, per seed
and summarised).
"""
import time

import numpy as np

from imagelab.cli.arguments import (ArgumentParser, check_outputs, positive_int, refuse_above,
                                    run_command)
from imagelab.cli.studies import add_study_arguments, add_training_arguments
from imagelab.data.registry import DATASETS, OFFICIAL
from imagelab.data.splits import data_note, load_split, result_name
from imagelab.utils.checks import FlagError
from imagelab.utils.files import save_figure, save_results
from imagelab.utils.progress import Progress
from imagelab.analysis.augmentation import CONFIGURATIONS, compare, examples
from imagelab.analysis.models import unit_pixels
from imagelab.viz.augmentation import plot_augmentation, plot_examples

PROG = "imagelab study augmentation"
HIDDEN = (256, 256)
# A tenth of the training rows chooses the epoch kept: 10 rows leave it one.
MIN_TRAIN_SIZE = 10


def parse_arguments(argv=None):
    parser = ArgumentParser(prog=PROG, description="Train the MLP with each augmentation of "
                                                   "the training images; compare the test "
                                                   "accuracy and the training-test gap.")
    add_study_arguments(parser)
    add_training_arguments(parser, "configuration", epochs=10)
    parser.add_argument("--train-size", type=positive_int, default=20000,
                        help="training images drawn at random (seed --seed) from the "
                             "training set, a tenth of them held out for validation "
                             "(default: 20000)")
    return parser, parser.parse_args(argv)


def run(args, argv):
    began = time.perf_counter()
    if args.train_size < MIN_TRAIN_SIZE:
        raise FlagError("--train-size", f"must be at least {MIN_TRAIN_SIZE} (a tenth is held "
                                        f"out for validation), got {args.train_size}")
    if args.split == OFFICIAL:           # refused before the data is read, where known
        refuse_above("--train-size", args.train_size, DATASETS[args.dataset].sizes[0],
                     "the size of the training set")
    name = result_name("study_augmentation", None, args.dataset)
    check_outputs("--results-dir", args.results_dir, [name + ".json", name + "_examples.png"])
    data = load_split(args.dataset, args.data_dir, args.split, args.seed,
                      download=not args.no_download)
    refuse_above("--train-size", args.train_size, len(data.data_train),
                 "the size of the training set")
    subset = np.random.default_rng(args.seed).permutation(len(data.data_train))
    subset = np.sort(subset[:args.train_size])
    x, labels = unit_pixels(data.data_train[subset]), data.labels_train[subset]
    x_test = unit_pixels(data.data_test)
    seeds = range(args.seed, args.seed + args.seeds)
    progress = Progress(len(CONFIGURATIONS) * args.seeds)
    record = compare(x, labels, x_test, data.labels_test, data.image_shape, CONFIGURATIONS,
                     seeds, HIDDEN, args.epochs, report=progress.update)
    progress.close()
    for config, result in record.items():
        test, gap = result["test_accuracy"], result["gap"]
        print(f"{config:>12}  test {test['mean']:.4f} ({test['min']:.4f}..{test['max']:.4f})"
              f"  gap {gap['mean']:+.4f} ({gap['min']:+.4f}..{gap['max']:+.4f})")
    title = DATASETS[args.dataset].title
    model = "-".join(str(size) for size in (x.shape[1], *HIDDEN, len(data.label_names)))
    shown = examples(x[:4], data.image_shape, CONFIGURATIONS, args.seed)
    save_figure(args.results_dir, name + "_examples", plot_examples(
        shown, data.image_shape, f"{title} training images,\nas each "
                                 "configuration draws them"))
    record = {"command": " ".join([PROG, *argv]), "dataset": args.dataset, "model": model,
              "train_size": len(x), "epochs": args.epochs, "seeds": list(seeds),
              "configurations": record, "seconds": time.perf_counter() - began}
    save_results(args.results_dir, name, plot_augmentation(
        record["configurations"], f"The {model} MLP on {len(x):,} {title} training images, "
                                  f"{args.epochs} epochs, {args.seeds} seeds (bar: mean, "
                                  "whisker: min..max; dashed: no augmentation)"),
        record, note=data_note(args.data_dir, args.dataset))


def main(argv=None):
    run_command(parse_arguments, run, argv)
