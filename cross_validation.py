"""N-fold cross-validation of the kNN and MLP classifiers.

The rows are dealt into N disjoint folds that keep the class proportions
(``stratified_folds``). Each fold in turn is held out: the classifier is fitted
on the other N - 1 folds (a fresh model every time) and scored on the held-out
one. The mean of the N scores estimates the accuracy on unseen data, and their
standard deviation how much it depends on the particular split.

``knn_main`` runs the model-selection options of ``knn.py``: ``--features`` (kNN on
image descriptors) and ``--cv N`` (k chosen by cross-validation).
"""
import time

import numpy as np
from matplotlib.figure import Figure

from experiment import data_note, load_split, refuse_above, result_name, save_results
from imagelab.checks import check_dataset, check_int, check_seed
from knn import CHUNK_BYTES, evaluate_knn, evaluate_knn_sweep
from mlp import run_mlp_training, standardize


def stratified_folds(labels, n_folds, seed=None):
    """Deal the rows into ``n_folds`` disjoint folds with the class proportions kept.

    The rows of each class are shuffled and dealt to the folds in turn, the next
    class starting at the fold after the one where the previous class stopped. So
    every row lands in exactly one fold, fold sizes differ by at most one, and so do
    the counts of a class in any two folds.

    Parameters
    ----------
    labels : array_like of int, shape (n,)
    n_folds : int
        Number of folds, 2..n.
    seed : None, int >= 0 or np.random.Generator, optional
        Seed of the shuffle; an int makes the folds reproducible.

    Returns
    -------
    list of np.ndarray of np.int64
        ``n_folds`` arrays of row indices, each sorted.

    Raises
    ------
    ValueError
        If ``labels`` is not 1-D, ``n_folds`` is not an integer in 2..n or ``seed``
        not a valid seed.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    n_folds = check_int(n_folds, "n_folds", 2, len(labels))
    rng = np.random.default_rng(check_seed(seed))
    fold_of = np.empty(len(labels), dtype=np.int64)
    dealt = 0
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        fold_of[rows] = (dealt + np.arange(len(rows))) % n_folds
        dealt += len(rows)
    return [np.flatnonzero(fold_of == fold) for fold in range(n_folds)]


def _cross_validate(data, labels, n_folds, seed, score, verbose):
    """Apply ``score(fold, train_data, train_labels, held_data, held_labels)`` to each fold.

    ``score`` returns a sequence of accuracies; returns their mean and standard
    deviation over the folds, and the (n_folds, n_scores) array of them all.
    """
    data, labels = check_dataset(data, labels)
    folds = stratified_folds(labels, n_folds, seed)
    scores = []
    for fold, held_out in enumerate(folds):
        start = time.perf_counter()
        train = np.concatenate(folds[:fold] + folds[fold + 1:])
        scores.append(score(fold, data[train], labels[train], data[held_out], labels[held_out]))
        if verbose:
            print(f"fold {fold + 1}/{n_folds}: {len(train)} train / {len(held_out)} held out, "
                  f"best accuracy {max(scores[-1]):.4f}, {time.perf_counter() - start:.1f} s")
    scores = np.array(scores, dtype=np.float64)
    # Standard deviation of the N fold scores themselves (ddof=0, as np.std).
    return scores.mean(axis=0), scores.std(axis=0), scores


def cross_validate_knn(data, labels, k_values, n_folds=5, seed=None, standardize_features=False,
                       chunk_bytes=CHUNK_BYTES, verbose=False):
    """Cross-validated kNN accuracy for several k, one distance pass per fold.

    Parameters
    ----------
    data : np.ndarray, shape (n, d)
    labels : np.ndarray of int, shape (n,)
    k_values : iterable of int
        Each in 1..(rows outside the smallest fold).
    n_folds : int
    seed : None, int or np.random.Generator, optional
        Seed of the folds (``stratified_folds``).
    standardize_features : bool
        Scale each feature to mean 0 and standard deviation 1 with the statistics of
        the fold's training rows (``mlp.standardize``), so the held-out fold is
        never looked at before it is scored.
    chunk_bytes : int
        Working memory of ``knn.evaluate_knn_sweep``.
    verbose : bool
        Print a line per fold.

    Returns
    -------
    mean : np.ndarray of np.float64, shape (len(k_values),)
        Mean accuracy over the folds, for each k.
    std : np.ndarray of np.float64, shape (len(k_values),)
        Standard deviation of the fold accuracies, for each k.
    fold_accuracies : np.ndarray of np.float64, shape (n_folds, len(k_values))
    """
    k_values = list(k_values)

    def score(fold, train, train_labels, held, held_labels):
        if standardize_features:
            train, held = standardize(train, held)
        return evaluate_knn_sweep(train, train_labels, held, held_labels, k_values,
                                  chunk_bytes=chunk_bytes)

    return _cross_validate(data, labels, n_folds, seed, score, verbose)


def cross_validate_mlp(data, labels, d_h, learning_rate, num_epoch, n_folds=5, seed=None,
                       verbose=False, **training_options):
    """Cross-validated test accuracy of the MLP of ``mlp.run_mlp_training``.

    Each fold trains a new network (``run_mlp_training`` standardises the features
    with the fold's training rows and draws fresh weights) and tests it on the
    held-out fold.

    Parameters
    ----------
    data : np.ndarray, shape (n, d)
    labels : np.ndarray of int, shape (n,)
        Class codes 0..C-1; every fold's network has C outputs.
    d_h, learning_rate, num_epoch
        As for ``mlp.run_mlp_training``.
    n_folds : int
    seed : None or int >= 0, optional
        Seed of the folds (the same folds as ``cross_validate_knn`` with this seed)
        and, through it, of each fold's weight initialisation.
    verbose : bool
        Print a line per fold.
    **training_options
        Passed on to ``mlp.run_mlp_training``.

    Returns
    -------
    mean : float
        Mean held-out accuracy over the folds.
    std : float
        Standard deviation of the fold accuracies.
    fold_accuracies : np.ndarray of np.float64, shape (n_folds,)
    """
    data, labels = check_dataset(data, labels)
    n_folds = check_int(n_folds, "n_folds", 2, len(labels))
    seed = check_seed(seed, allow_generator=False)   # SeedSequence takes no Generator
    num_classes = int(labels.max()) + 1
    # One independent weight seed per fold, all derived from ``seed``.
    weight_seeds = np.random.SeedSequence(seed).spawn(n_folds)

    def score(fold, train, train_labels, held, held_labels):
        _, accuracy = run_mlp_training(train, train_labels, held, held_labels, d_h,
                                       learning_rate, num_epoch,
                                       seed=np.random.default_rng(weight_seeds[fold]),
                                       num_classes=num_classes, **training_options)
        return [accuracy]

    mean, std, scores = _cross_validate(data, labels, n_folds, seed, score, verbose)
    return float(mean[0]), float(std[0]), scores[:, 0]


def plot_cv(k_values, mean, std, chosen, test_accuracy, title):
    """Figure of the cross-validated accuracy against k, with its spread over the folds.

    The band is mean +- one standard deviation; the chosen k is marked, and its
    accuracy on the test split shown beside it.
    """
    figure = Figure(figsize=(8, 5))
    ax = figure.subplots()
    mean, std = np.asarray(mean), np.asarray(std)
    ax.plot(k_values, mean, marker="o", label="mean over the folds")
    ax.fill_between(k_values, mean - std, mean + std, alpha=0.25,
                    label="mean \u00b1 one standard deviation")
    i = k_values.index(chosen)
    ax.plot(chosen, mean[i], marker="*", markersize=16, color="tab:red", linestyle="none",
            label=f"chosen: k = {chosen}, {mean[i]:.1%} \u00b1 {std[i]:.1%}")
    ax.plot(chosen, test_accuracy, marker="D", color="black", linestyle="none",
            label=f"k = {chosen} on the test split: {test_accuracy:.1%}")
    ax.set(xlabel="k (number of neighbours)", ylabel="accuracy", title=title, xticks=k_values)
    ax.grid(alpha=0.3)
    ax.legend()
    figure.tight_layout()
    return figure


def plot_k_curves(k_values, curves, title):
    """Figure of the test accuracy against k, one curve per representation.

    ``curves`` maps a representation's name to its accuracies (one per k); each
    curve's best k is marked.
    """
    figure = Figure(figsize=(11, 5))
    ax = figure.subplots()
    for name, accuracies in curves.items():
        best = int(np.argmax(accuracies))
        line, = ax.plot(k_values, accuracies, marker=".",
                        label=f"{name}: best k = {k_values[best]}, {accuracies[best]:.1%}")
        ax.plot(k_values[best], accuracies[best], marker="*", markersize=12,
                color=line.get_color(), linestyle="none")
    ax.set(xlabel="k (number of neighbours)", ylabel="test accuracy", title=title,
           xticks=k_values)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))   # beside the axes
    figure.tight_layout()
    return figure


def _load(args, features):
    """The split of ``features`` (see ``experiment.load_split``), descriptors standardised.

    The raw pixels stay as they are (the lab's kNN). Descriptors are scaled to mean 0
    and standard deviation 1 with the training rows' statistics, so that each
    feature weighs the same in the distance whatever its units (HOG values are at
    most 0.2, histogram bins are fractions), and nothing of the test rows is used.
    """
    data_train, labels_train, data_test, labels_test = load_split(args, features)
    if features != "raw":
        data_train, data_test = standardize(data_train, data_test)
    return data_train, labels_train, data_test, labels_test


def knn_main(parser, args):
    """``knn.py --features SPEC ...`` and ``knn.py --cv N [--features SPEC]``.

    Without --cv: the test accuracy for k = 1..k_max of each representation, on one
    figure (``knn_features.png``, or ``knn_<spec>.png`` for a single one). With
    --cv N: N-fold cross-validation on the training split chooses k, which is then
    tested once on the test split (``knn_cv.png``, ``knn_cv_<spec>.png``).
    """
    features = args.features or ["raw"]
    if args.cv is not None and len(features) > 1:
        parser.error("argument --cv: takes at most one representation in --features, "
                     f"got {len(features)}")
    k_values = list(range(1, args.k_max + 1))
    if args.cv is None:
        _compare_representations(args, features, k_values)
    else:
        _choose_k(args, features[0], k_values)


def _compare_representations(args, features, k_values):
    """The k curve of each representation on the test split, on one figure."""
    start = time.perf_counter()
    curves = {}
    for spec in features:
        data_train, labels_train, data_test, labels_test = _load(args, spec)
        refuse_above("--k-max", args.k_max, len(data_train), "the number of training images")
        curves[spec] = evaluate_knn_sweep(data_train, labels_train, data_test, labels_test,
                                          k_values)
        print(f"{spec}: best k = {k_values[int(np.argmax(curves[spec]))]}, "
              f"accuracy {max(curves[spec]):.4f} ({time.perf_counter() - start:.0f} s)")
    name = result_name("knn", features[0]) if len(features) == 1 else "knn_features"
    title = (f"kNN on CIFAR-10 ({len(data_train)} train / {len(data_test)} test, "
             f"seed {args.seed})\n"
             "descriptors standardised with training statistics, raw pixels as they are")
    record = {"k": k_values, "accuracy": curves, "split": args.split, "seed": args.seed,
              "n_train": len(data_train), "n_test": len(data_test),
              "scaling": "descriptors standardised with training statistics; raw pixels as is",
              "seconds": round(time.perf_counter() - start, 1)}
    save_results(args.results_dir, name, plot_k_curves(k_values, curves, title), record,
                 note=data_note(args.data_dir))


def _check_folds(args, labels_train):
    """Refuse (``FlagError``) a --cv or --k-max that the training split cannot serve."""
    rarest = np.unique(labels_train, return_counts=True)[1].min()
    refuse_above("--cv", args.cv, rarest, "the number of training images of the rarest class")
    # Fold sizes differ by at most one: the largest holds ceil(n / N) rows.
    outside = len(labels_train) - -(-len(labels_train) // args.cv)
    refuse_above("--k-max", args.k_max, outside, "the number of training images outside a fold")


def _choose_k(args, spec, k_values):
    """Choose k by cross-validation on the training split, then test it once."""
    start = time.perf_counter()
    data_train, labels_train, data_test, labels_test = load_split(args, spec)
    _check_folds(args, labels_train)
    mean, std, folds = cross_validate_knn(data_train, labels_train, k_values, n_folds=args.cv,
                                          seed=args.seed, standardize_features=spec != "raw",
                                          verbose=True)
    chosen = k_values[int(np.argmax(mean))]        # the smallest k among equal means
    if spec != "raw":
        data_train, data_test = standardize(data_train, data_test)
    test_accuracy = evaluate_knn(data_train, labels_train, data_test, labels_test, chosen)
    elapsed = time.perf_counter() - start
    print(" k  mean    std")
    for k, m, s in zip(k_values, mean, std):
        print(f"{k:2d}  {m:.4f}  {s:.4f}")
    print(f"chosen k = {chosen}: test accuracy {test_accuracy:.4f} ({elapsed:.0f} s)")
    title = (f"kNN on CIFAR-10 ({'raw pixels' if spec == 'raw' else spec}): {args.cv}-fold "
             f"cross-validation, seed {args.seed}\nk chosen on the {len(data_train)} training "
             f"rows; tested once on the {len(data_test)} test rows")
    record = {"k": k_values, "mean": mean.tolist(), "std": std.tolist(),
              "fold_accuracy": folds.tolist(), "n_folds": args.cv, "chosen_k": chosen,
              "test_accuracy": test_accuracy, "features": spec, "split": args.split,
              "seed": args.seed, "n_train": len(data_train), "n_test": len(data_test),
              "seconds": round(elapsed, 1)}
    figure = plot_cv(k_values, mean, std, chosen, test_accuracy, title)
    save_results(args.results_dir, result_name("knn_cv", spec), figure, record,
                 note=data_note(args.data_dir))
