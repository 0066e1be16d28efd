"""kNN beyond the lab: image descriptors, k chosen by cross-validation, explaining figures.

    imagelab knn-study --features raw hog hog+color   # one k curve each
    imagelab knn-study --cv 5 [--features SPEC]        # k chosen on the training split
    imagelab knn-study --figures                      # confusion matrix, image grids

Without --cv: the test accuracy for k = 1..k_max of each representation, on one figure
(``knn_features.png``, or ``knn_<spec>.png`` for a single one). With --cv N: N-fold
cross-validation on the training split chooses k, which is then tested once on the
test split (``knn_cv.png``, ``knn_cv_<spec>.png``). With --figures: for the best k of
the raw-pixel sweep, its confusion matrix and grids of predictions and mistakes (the
sweep in ``knn_figures.png``, so that it never replaces a comparison's figure).
"""
import time

import numpy as np

from imagelab.cli.arguments import (ArgumentParser, add_common_arguments, fold_count,
                                positive_int, refuse_above, validated)
from imagelab.classic.cross_validation import cross_validate_knn
from imagelab.data.splits import data_note, load_split, result_name
from imagelab.data.registry import DATASETS
from imagelab.data.descriptors import describer, parse_feature_spec
from imagelab.viz.figures import plot_cv, plot_k_curves, save_classification_figures
from imagelab.utils.files import save_results
from imagelab.data.preprocessing import standardize
from imagelab.classic.knn import TIES, evaluate_knn, evaluate_knn_sweep, knn_predictions


def parse_arguments(argv=None):
    parser = ArgumentParser(
        prog="imagelab knn-study",
        description="kNN on CIFAR-10 (or --dataset) with descriptors, cross-validation and "
                    "figures.")
    add_common_arguments(parser)
    parser.add_argument("--k-max", type=positive_int, default=20,
                        help="largest number of neighbours to try (default: 20)")
    parser.add_argument("--features", nargs="+", type=validated(parse_feature_spec),
                        default=["raw"], metavar="SPEC",
                        help="representations to compare on one figure: raw (the pixels) "
                             "or descriptor specs such as hog, lbp, color, hog+color "
                             "(see imagelab/data/descriptors.py; needs scikit-image)")
    parser.add_argument("--ties", choices=TIES, default="nearest",
                        help="where a tie in the vote goes: to the class of the nearest "
                             "neighbour (default, the lab's) or to the smallest class code "
                             "(scikit-learn's KNeighborsClassifier)")
    parser.add_argument("--cv", type=fold_count, metavar="N",
                        help="choose k by stratified N-fold cross-validation on the "
                             "training split (N >= 2), then test that k on the test split")
    parser.add_argument("--figures", action="store_true",
                        help="for the best k of the raw-pixel sweep, also draw the confusion "
                             "matrix, a grid of test predictions and one of mistakes")
    args = parser.parse_args(argv)
    if args.cv is not None and len(args.features) > 1:
        parser.error("argument --cv: takes at most one representation in --features, "
                     f"got {len(args.features)}")
    if args.figures and (args.features != ["raw"] or args.cv is not None):
        parser.error("--figures draws the raw-pixel sweep: use it without --features and --cv")
    return parser, args


def load(args, spec):
    """The split of ``spec`` (an ``imagelab.data.registry.Dataset``), unscaled."""
    return load_split(args.dataset, args.data_dir, args.split, args.seed,
                      download=not args.no_download,
                      features=describer(spec, args.data_dir, DATASETS[args.dataset].image_shape))


def load_scaled(args, spec):
    """The split's four arrays, descriptors standardised with the training rows' statistics.

    The raw pixels stay as they are (the lab's kNN). Descriptors are scaled to mean 0
    and standard deviation 1, so that each feature weighs the same in the distance
    whatever its units (HOG values are at most 0.2, histogram bins are fractions).
    """
    data = load(args, spec)
    data_train, labels_train, data_test, labels_test = data.arrays()
    if spec != "raw":
        data_train, data_test = standardize(data_train, data_test)
    return data, data_train, labels_train, data_test, labels_test


def sweep_name(features, dataset, figures):
    """The stem of a sweep's files: knn_<spec> for one descriptor, knn_figures for the raw
    sweep of --figures, knn_features for several representations or the pixels alone
    (knn.png stays the lab's own result, made by knn.py)."""
    if figures:
        return result_name("knn_figures", dataset=dataset)
    if len(features) == 1 and features[0] != "raw":
        return result_name("knn", features[0], dataset)
    return result_name("knn_features", dataset=dataset)


def compare_representations(args, k_values):
    """The k curve of each representation on the test split, on one figure."""
    start = time.perf_counter()
    curves = {}
    for spec in args.features:
        data, data_train, labels_train, data_test, labels_test = load_scaled(args, spec)
        refuse_above("--k-max", args.k_max, len(data_train), "the number of training images")
        curves[spec] = evaluate_knn_sweep(data_train, labels_train, data_test, labels_test,
                                          k_values, ties=args.ties)
        print(f"{spec}: best k = {k_values[int(np.argmax(curves[spec]))]}, "
              f"accuracy {max(curves[spec]):.4f} ({time.perf_counter() - start:.0f} s)")
    if args.figures:
        best_k = k_values[int(np.argmax(curves["raw"]))]
        predicted = knn_predictions(data_train, labels_train, data_test, best_k)
        save_classification_figures(args.results_dir, result_name("knn", dataset=args.dataset),
                                    data_test, labels_test,
                                    predicted, data.label_names,
                                    f"kNN on {DATASETS[args.dataset].title}, k = {best_k}",
                                    image_shape=data.image_shape)
    name = sweep_name(args.features, args.dataset, args.figures)
    name += "" if args.ties == "nearest" else f"_ties_{args.ties}"
    title = (f"kNN on {DATASETS[args.dataset].title} ({len(data_train)} train / {len(data_test)} "
             f"test, seed {args.seed})\n"
             "descriptors standardised with training statistics, raw pixels as they are")
    record = {"dataset": args.dataset, "ties": args.ties, "k": k_values, "accuracy": curves,
              "split": args.split, "seed": args.seed, "n_train": len(data_train),
              "n_test": len(data_test),
              "scaling": "descriptors standardised with training statistics; raw pixels as is",
              "seconds": round(time.perf_counter() - start, 1)}
    save_results(args.results_dir, name, plot_k_curves(k_values, curves, title), record,
                 note=data_note(args.data_dir, args.dataset))


def check_folds(n_folds, k_max, labels_train):
    """Refuse (``FlagError``) a --cv or --k-max that the training split cannot serve."""
    rarest = np.unique(labels_train, return_counts=True)[1].min()
    refuse_above("--cv", n_folds, rarest, "the number of training images of the rarest class")
    # Fold sizes differ by at most one: the largest holds ceil(n / N) rows.
    outside = len(labels_train) - -(-len(labels_train) // n_folds)
    refuse_above("--k-max", k_max, outside, "the number of training images outside a fold")


def choose_k(args, k_values):
    """Choose k by cross-validation on the training split, then test it once."""
    start = time.perf_counter()
    spec = args.features[0]
    data_train, labels_train, data_test, labels_test = load(args, spec).arrays()
    check_folds(args.cv, args.k_max, labels_train)
    mean, std, folds = cross_validate_knn(data_train, labels_train, k_values, n_folds=args.cv,
                                          seed=args.seed, standardize_features=spec != "raw",
                                          verbose=True, ties=args.ties)
    chosen = k_values[int(np.argmax(mean))]        # the smallest k among equal means
    if spec != "raw":
        data_train, data_test = standardize(data_train, data_test)
    test_accuracy = evaluate_knn(data_train, labels_train, data_test, labels_test, chosen,
                                 ties=args.ties)
    elapsed = time.perf_counter() - start
    print(" k  mean    std")
    for k, m, s in zip(k_values, mean, std):
        print(f"{k:2d}  {m:.4f}  {s:.4f}")
    print(f"chosen k = {chosen}: test accuracy {test_accuracy:.4f} ({elapsed:.0f} s)")
    title = (f"kNN on {DATASETS[args.dataset].title} ({'raw pixels' if spec == 'raw' else spec}): "
             f"{args.cv}-fold cross-validation, seed {args.seed}\nk chosen on the "
             f"{len(data_train)} training rows; tested once on the {len(data_test)} test rows")
    record = {"dataset": args.dataset, "ties": args.ties, "k": k_values, "mean": mean.tolist(),
              "std": std.tolist(), "fold_accuracy": folds.tolist(), "n_folds": args.cv,
              "chosen_k": chosen,
              "test_accuracy": test_accuracy, "features": spec, "split": args.split,
              "seed": args.seed, "n_train": len(data_train), "n_test": len(data_test),
              "seconds": round(elapsed, 1)}
    figure = plot_cv(k_values, mean, std, chosen, test_accuracy, title)
    save_results(args.results_dir, result_name("knn_cv", spec, args.dataset), figure, record,
                 note=data_note(args.data_dir, args.dataset))


def main(argv=None):
    parser, args = parse_arguments(argv)
    k_values = list(range(1, args.k_max + 1))
    with parser.flag_errors():
        if args.cv is None:
            compare_representations(args, k_values)
        else:
            choose_k(args, k_values)


if __name__ == "__main__":
    main()
