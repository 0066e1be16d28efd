"""``imagelab knn`` (and ``python knn.py``): the lab's kNN accuracy for k = 1..k_max, plotted.

Writes ``knn[_<dataset>].png`` and ``.json`` into ``--results-dir``.
"""
import os
import time

from imagelab.classic.knn import evaluate_knn_sweep
from imagelab.cli.arguments import ArgumentParser, add_common_arguments, positive_int, refuse_above
from imagelab.data.registry import DATASETS
from imagelab.data.splits import data_note, load_split, result_name
from imagelab.utils.files import save_results
from imagelab.utils.progress import Progress
from imagelab.viz.figures import plot_accuracy


def main(argv=None, base=os.curdir, prog="imagelab knn"):
    """The test accuracy for k = 1..k_max on the raw pixels, plotted.

    ``base``: the folder whose ``data`` and ``results`` are the defaults; ``prog``: the
    command's name in its messages.
    """
    parser = ArgumentParser(prog=prog,
                            description="kNN on CIFAR-10 (or --dataset): test accuracy for "
                                        "k = 1..k_max.")
    add_common_arguments(parser, base)
    parser.add_argument("--k-max", type=positive_int, default=20,
                        help="largest number of neighbours to try (default: 20)")
    args = parser.parse_args(argv)
    with parser.flag_errors():
        start = time.perf_counter()
        data_train, labels_train, data_test, labels_test = load_split(
            args.dataset, args.data_dir, args.split, args.seed,
            download=not args.no_download).arrays()
        refuse_above("--k-max", args.k_max, len(data_train), "the number of training images")
        k_values = list(range(1, args.k_max + 1))
        progress = Progress(len(data_train))
        accuracies = evaluate_knn_sweep(data_train, labels_train, data_test, labels_test,
                                        k_values, progress=progress)
        progress.close()
    elapsed = time.perf_counter() - start
    print(" k  accuracy")
    for k, accuracy in zip(k_values, accuracies):
        print(f"{k:2d}  {accuracy:.4f}")
    title = (f"kNN on {DATASETS[args.dataset].title} raw pixels ({len(data_train)} train / "
             f"{len(data_test)} test, seed {args.seed})")
    record = {"dataset": args.dataset, "k": k_values, "accuracy": accuracies,
              "split": args.split, "seed": args.seed, "n_train": len(data_train),
              "n_test": len(data_test), "seconds": round(elapsed, 1)}
    save_results(args.results_dir, result_name("knn", dataset=args.dataset),
                 plot_accuracy(k_values, accuracies, title), record,
                 note=data_note(args.data_dir, args.dataset))
    print(f"done in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
