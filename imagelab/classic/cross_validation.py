"""N-fold cross-validation of the kNN and MLP classifiers.

The rows are dealt into N disjoint folds that keep the class proportions
(``stratified_folds``). Each fold in turn is held out: the classifier is fitted
on the other N - 1 folds (a fresh model every time) and scored on the held-out
one. The mean of the N scores estimates the accuracy on unseen data, and their
standard deviation how much it depends on the particular split.

``imagelab knn-study --cv N`` chooses k this way.
"""
import time

import numpy as np

from imagelab.utils.checks import check_dataset, check_int, check_seed
from imagelab.data.preprocessing import standardize
from imagelab.classic.knn import CHUNK_BYTES, evaluate_knn_sweep
from imagelab.classic.mlp import run_mlp_training


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
                       chunk_bytes=CHUNK_BYTES, verbose=False, ties="nearest"):
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
        the fold's training rows (``imagelab.data.preprocessing.standardize``), so the held-out fold is
        never looked at before it is scored.
    chunk_bytes : int
        Working memory of ``knn.evaluate_knn_sweep``.
    verbose : bool
        Print a line per fold.
    ties : {"nearest", "smallest"}
        Where a tie in the vote goes (see ``knn.knn_predict``).

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
                                  chunk_bytes=chunk_bytes, ties=ties)

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
