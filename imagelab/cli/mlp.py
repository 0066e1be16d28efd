"""``imagelab mlp`` (and ``python mlp.py``): the lab's MLP trained with its settings, plotted.

Writes ``mlp[_<features>][_<dataset>].png`` and ``.json`` into ``--results-dir``.
"""
import os
import time

from imagelab.classic.mlp import run_mlp_training
from imagelab.cli.arguments import (ArgumentParser, add_common_arguments, positive_float,
                                    positive_int, stop_if_diverging)
from imagelab.data.registry import DATASETS, LAB_DATASET
from imagelab.data.splits import data_note, load_split, result_name
from imagelab.utils.files import save_results
from imagelab.viz.figures import plot_training


def train_and_save(data_dir, results_dir, split, seed, d_h, learning_rate, num_epoch,
                   download=True, features=None, spec="raw", dataset=LAB_DATASET):
    """Train and test the lab's MLP on a split of a dataset; save the curve and the numbers.

    Parameters
    ----------
    data_dir, results_dir : str
        Where the data is (``imagelab.data.splits.load_split``) and where the results go.
    split : float in (0, 1) or "official"
    seed : int
        Seed of the split and of the weights.
    d_h : int >= 1
    learning_rate : float > 0
    num_epoch : int >= 1
    download : bool
    features : callable, optional
        Applied to the rows before the split (a descriptor); None keeps the pixels.
    spec : str
        The name of ``features`` in the file names and the record ("raw": the pixels).
    dataset : {"cifar10", "mnist", "fashion-mnist"}

    Returns
    -------
    dict
        The record written to ``mlp[_<spec>].json``.
    """
    start = time.perf_counter()
    data_train, labels_train, data_test, labels_test = load_split(
        dataset, data_dir, split, seed, download=download, features=features).arrays()
    with stop_if_diverging(learning_rate):
        train_accuracies, test_accuracy = run_mlp_training(
            data_train, labels_train, data_test, labels_test, d_h, learning_rate, num_epoch,
            seed=seed, verbose=True)
    elapsed = time.perf_counter() - start
    print(f"test accuracy {test_accuracy:.4f}")
    described = "" if spec == "raw" else f"{spec} features of "
    title = (f"MLP on {described}{DATASETS[dataset].title} (d_h={d_h}, learning rate "
             f"{learning_rate}, seed {seed})")
    record = {"dataset": dataset, "train_accuracy": train_accuracies, "test_accuracy": test_accuracy,
              "split": split, "seed": seed, "d_h": d_h, "learning_rate": learning_rate,
              "num_epoch": num_epoch, "n_train": len(data_train), "n_test": len(data_test),
              "features": spec, "seconds": round(elapsed, 1)}
    save_results(results_dir, result_name("mlp", spec, dataset),
                 plot_training(train_accuracies, test_accuracy, title), record,
                 note=data_note(data_dir, dataset))
    print(f"done in {elapsed:.1f} s")
    return record


def add_lab_arguments(parser, base=os.curdir):
    """The lab's flags: the data, the split, and the network's d_h, learning rate and epochs."""
    add_common_arguments(parser, base)
    parser.add_argument("--d-h", type=positive_int, default=64,
                        help="number of neurons in the hidden layer (default: 64)")
    parser.add_argument("--learning-rate", type=positive_float, default=0.1,
                        help="gradient descent step size (default: 0.1)")
    parser.add_argument("--num-epoch", type=positive_int, default=100,
                        help="number of full-batch training steps (default: 100)")


def main(argv=None, base=os.curdir, prog="imagelab mlp"):
    """Train with the lab's settings, then plot and save the results.

    ``base``: the folder whose ``data`` and ``results`` are the defaults; ``prog``: the
    command's name in its messages.
    """
    parser = ArgumentParser(
        prog=prog,
        description="Train the lab's one-hidden-layer MLP on CIFAR-10 (or --dataset) and plot "
                    "its accuracy.")
    add_lab_arguments(parser, base)
    args = parser.parse_args(argv)
    with parser.flag_errors():
        train_and_save(args.data_dir, args.results_dir, args.split, args.seed, args.d_h,
                       args.learning_rate, args.num_epoch, download=not args.no_download,
                       dataset=args.dataset)


if __name__ == "__main__":
    main()
