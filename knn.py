"""k-nearest neighbours (kNN) classification of CIFAR-10.

A test image gets the class most common among the k training images closest to it
in Euclidean (L2) distance. Run ``python knn.py`` to plot the accuracy for
k = 1..20 on a 90% / 10% split of the data (``results/knn.png``).
"""
import argparse
import time

import numpy as np
from matplotlib.figure import Figure

from experiment import (add_common_arguments, data_note, feature_spec, load_split, positive_int,
                        save_results)
from imagelab.checks import check_dataset, check_int, check_labels, check_nonnegative
from read_cifar import LABEL_NAMES

# Size of one chunk of test-point distances: the test set is processed in chunks so
# that memory stays bounded for any size (a chunk and the next one briefly coexist).
CHUNK_BYTES = 128 * 2**20
# Working memory for selecting the neighbours of a block of rows (see _nearest).
BLOCK_BYTES = 16 * 2**20


def _as_float(a, b):
    """Both arrays in one floating dtype: float32 stays float32 (BLAS-fast)."""
    dtype = np.result_type(a.dtype, b.dtype, np.float32)
    return a.astype(dtype, copy=False), b.astype(dtype, copy=False)


def _squared_norms(x):
    """Row-wise squared L2 norms: (n, d) -> (n,), in x's dtype.

    Summed in float64: a float32 sum of 3,072 squared pixels loses up to 1e-5 of its
    value, more than the matrix product itself (about 2e-6).
    """
    return np.einsum("ij,ij->i", x, x, dtype=np.float64).astype(x.dtype)


def distance_matrix(a, b):
    """L2 (Euclidean) distances between the rows of ``a`` and the rows of ``b``.

    Uses ``||a_i - b_j||^2 = ||a_i||^2 + ||b_j||^2 - 2 a_i.b_j``: one matrix product,
    no Python loop.

    Parameters
    ----------
    a : np.ndarray, shape (n_a, d)
    b : np.ndarray, shape (n_b, d)

    Returns
    -------
    dists : np.ndarray, shape (n_a, n_b)
        ``dists[i, j]`` is the distance between ``a[i]`` and ``b[j]``; never NaN or
        negative. Integer inputs are cast to floats; float32 inputs give float32 and
        are computed in float32 (the product stays BLAS-fast). Its rounding error on a
        squared distance is then up to about 1e-6 * (||a_i||^2 + ||b_j||^2): on
        CIFAR-10 pixels (norms near 7,400) distances between different images (1,000
        to 15,000) move by less than 0.1, while two identical images come out up to
        about 20 apart instead of 0. Pass float64 arrays for distances exact to about
        1e-12 relative.

    Raises
    ------
    ValueError
        If an array is not 2-D, holds NaN or inf, or if the feature sizes differ.
    """
    a, _ = check_dataset(a, name="a")
    b, _ = check_dataset(b, name="b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a has {a.shape[1]} features per row but b has {b.shape[1]}")
    a, b = _as_float(a, b)
    dists = a @ b.T                          # (n_a, n_b)
    dists *= -2
    dists += _squared_norms(a)[:, None]
    dists += _squared_norms(b)[None, :]
    np.maximum(dists, 0, out=dists)          # rounding can leave tiny negative values
    return np.sqrt(dists, out=dists)


def _nearest(dists, k):
    """Indices of the ``k`` nearest training points of each test point, nearest first.

    ``dists`` is (n_test, n_train), one test point a row; returns (n_test, k).
    """
    nearest = np.empty((len(dists), k), dtype=np.intp)
    # argpartition returns an int64 array as large as its input. Taking the rows in
    # blocks of about BLOCK_BYTES keeps that array small enough for the memory
    # allocator to reuse, instead of page-faulting fresh memory for every chunk
    # (measured: up to +40% on the whole k sweep; see benchmarks/bench_knn.py).
    step = max(1, BLOCK_BYTES // (8 * dists.shape[1]))
    for start in range(0, len(dists), step):
        block = dists[start:start + step]
        # argpartition moves the k smallest of each row to its front in linear time
        # (no full sort of n_train values); only these k are then sorted.
        candidates = np.argpartition(block, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(block, candidates, axis=1), axis=1, kind="stable")
        nearest[start:start + step] = np.take_along_axis(candidates, order, axis=1)
    return nearest


def _vote(neighbours, n_classes, k_values):
    """Majority vote of the k nearest neighbours, for every k in ``k_values``.

    Parameters
    ----------
    neighbours : np.ndarray of int, shape (n_test, k_max)
        Class codes (0..n_classes-1) of the nearest training points, nearest first,
        with ``k_max >= max(k_values)``.
    n_classes : int
    k_values : list of int

    Returns
    -------
    list of np.ndarray of int, shape (n_test,)
        The predicted class code for each k. A tie in the vote goes to the tied class
        whose member is nearest, so k = 2 always predicts like k = 1.
    """
    n_test, k_max = neighbours.shape
    rows = np.arange(n_test)
    votes = np.zeros((n_test, n_classes), dtype=np.int64)
    first = np.full((n_test, n_classes), k_max)   # rank of each class's nearest member
    predictions = {}
    for rank in range(max(k_values)):
        classes = neighbours[:, rank]
        votes[rows, classes] += 1
        first[rows, classes] = np.minimum(first[rows, classes], rank)
        # More votes win; between equal votes the smaller rank wins. One more vote
        # outweighs any difference of rank, which is at most k_max.
        predictions[rank + 1] = np.argmax(votes * (k_max + 1) - first, axis=1)
    return [predictions[k] for k in k_values]


def knn_predict(dists, labels_train, k):
    """Predict the class of each test point by a vote of its ``k`` nearest neighbours.

    Parameters
    ----------
    dists : np.ndarray, shape (n_train, n_test)
        Distances (>= 0, +inf allowed) between the training set and the test set, one
        row per training point, as ``distance_matrix(data_train, data_test)`` returns
        them.
    labels_train : np.ndarray of int, shape (n_train,)
    k : int
        Number of neighbours, 1 <= k <= n_train.

    Returns
    -------
    np.ndarray of np.int64, shape (n_test,)
        The most common label among the k nearest training points of each test
        point. A tie goes to the tied class whose member is nearest, so k = 2
        predicts like k = 1. Among training points at exactly equal distance, which
        one counts as nearer is unspecified.

    Raises
    ------
    ValueError
        If ``dists`` does not have one row per training label or holds NaN or a
        negative value, if the labels are not integers, or k is out of range.
    """
    dists = np.asarray(dists)
    labels_train = check_labels(labels_train, "labels_train")
    if dists.ndim != 2 or labels_train.shape != (dists.shape[0],):
        raise ValueError(f"dists has shape {dists.shape} and labels_train {labels_train.shape}: "
                         "dists must be (n_train, n_test), one row per training label, as "
                         "distance_matrix(data_train, data_test) returns it")
    check_nonnegative(dists, "dists")
    k = check_int(k, "k", 1, len(labels_train))
    classes, codes = np.unique(labels_train, return_inverse=True)
    nearest = _nearest(dists.T, k)            # (n_test, k)
    return classes[_vote(codes[nearest], len(classes), [k])[0]]


def evaluate_knn_sweep(data_train, labels_train, data_test, labels_test, k_values,
                       chunk_bytes=CHUNK_BYTES):
    """Accuracy of kNN on the test set for several k, from one pass over the distances.

    The test set is processed in chunks of about ``chunk_bytes`` of working memory.
    For each chunk the ``max(k_values)`` nearest neighbours are found once, and every
    k is voted from them.

    Parameters
    ----------
    data_train : np.ndarray, shape (n_train, d)
    labels_train : np.ndarray of int, shape (n_train,)
    data_test : np.ndarray, shape (n_test, d)
    labels_test : np.ndarray of int, shape (n_test,)
    k_values : iterable of int
        Each in 1..n_train.
    chunk_bytes : int >= 1, optional

    Returns
    -------
    list of float
        The accuracy (fraction of test points classified right, in [0, 1]) for each
        k, in the order of ``k_values``.

    Raises
    ------
    ValueError
        On wrong shapes, NaN or inf in the data, a k out of range or a ``chunk_bytes``
        that is not a positive integer.
    """
    data_train, labels_train = check_dataset(data_train, labels_train, name="data_train")
    data_test, labels_test = check_dataset(data_test, labels_test, name="data_test")
    if data_train.shape[1] != data_test.shape[1]:
        raise ValueError(f"data_train has {data_train.shape[1]} features per row "
                         f"but data_test has {data_test.shape[1]}")
    k_values = list(k_values)
    if not k_values:
        raise ValueError("k_values is empty")
    k_values = [check_int(k, "k", 1, len(data_train)) for k in k_values]
    chunk_bytes = check_int(chunk_bytes, "chunk_bytes", 1)
    data_train, data_test = _as_float(data_train, data_test)
    classes, codes = np.unique(labels_train, return_inverse=True)
    train_norms = _squared_norms(data_train)                   # (n_train,)
    # A chunk holds n_train distances per test point.
    size = max(1, chunk_bytes // (len(data_train) * data_train.itemsize))
    correct = np.zeros(len(k_values), dtype=np.int64)
    for start in range(0, len(data_test), size):
        chunk = slice(start, start + size)
        # ||x - t||^2 - ||x||^2 = ||t||^2 - 2 x.t ranks the training points t of a test
        # point x as the distance does, so neither ||x||^2 nor the square root is needed.
        scores = (-2 * data_test[chunk]) @ data_train.T        # (n_chunk, n_train)
        scores += train_norms
        neighbours = codes[_nearest(scores, max(k_values))]    # (n_chunk, k_max)
        for i, predicted in enumerate(_vote(neighbours, len(classes), k_values)):
            correct[i] += np.count_nonzero(classes[predicted] == labels_test[chunk])
    return (correct / len(data_test)).tolist()


def evaluate_knn(data_train, labels_train, data_test, labels_test, k):
    """Accuracy of kNN with ``k`` neighbours on the test set.

    Parameters
    ----------
    data_train : np.ndarray, shape (n_train, d)
    labels_train : np.ndarray of int, shape (n_train,)
    data_test : np.ndarray, shape (n_test, d)
    labels_test : np.ndarray of int, shape (n_test,)
    k : int
        Number of neighbours, 1 <= k <= n_train.

    Returns
    -------
    float
        The fraction of test points whose predicted label is right, in [0, 1].
        Computed by ``evaluate_knn_sweep`` with the single value k, in chunks of the
        test set so that memory stays bounded.
    """
    return evaluate_knn_sweep(data_train, labels_train, data_test, labels_test, [k])[0]


def plot_accuracy(k_values, accuracies, title):
    """Figure of the accuracy against k, the best k marked."""
    figure = Figure(figsize=(7, 4.5))
    ax = figure.subplots()
    ax.plot(k_values, accuracies, marker="o")
    best = int(np.argmax(accuracies))
    ax.plot(k_values[best], accuracies[best], marker="*", markersize=16, color="tab:red",
            linestyle="none", label=f"best: k = {k_values[best]}, {accuracies[best]:.1%}")
    ax.set(xlabel="k (number of neighbours)", ylabel="test accuracy", title=title,
           xticks=k_values)
    ax.grid(alpha=0.3)
    ax.legend()
    figure.tight_layout()
    return figure


def main(argv=None):
    parser = argparse.ArgumentParser(description="kNN on CIFAR-10: test accuracy for k = 1..k_max.")
    add_common_arguments(parser)
    parser.add_argument("--k-max", type=positive_int, default=20,
                        help="largest number of neighbours to try (default: 20)")
    parser.add_argument("--features", nargs="+", type=feature_spec, metavar="SPEC",
                        help="representations to compare on one figure: raw (the pixels) "
                             "or descriptor specs such as hog, lbp, color, hog+color "
                             "(see descriptors.py; needs scikit-image)")
    parser.add_argument("--cv", type=positive_int, metavar="N",
                        help="choose k by stratified N-fold cross-validation on the "
                             "training split (N >= 2), then test that k on the test split")
    parser.add_argument("--figures", action="store_true",
                        help="for the best k of the sweep, also draw the confusion matrix, a "
                             "grid of test predictions and one of mistakes (raw pixels)")
    args = parser.parse_args(argv)
    if args.figures and (args.features is not None or args.cv is not None):
        parser.error("--figures draws the raw-pixel sweep: use it without --features and --cv")
    if args.features is not None or args.cv is not None:
        import cross_validation   # here: it imports this module
        return cross_validation.knn_main(parser, args)

    start = time.perf_counter()
    data_train, labels_train, data_test, labels_test = load_split(args)
    k_values = list(range(1, args.k_max + 1))
    accuracies = evaluate_knn_sweep(data_train, labels_train, data_test, labels_test, k_values)
    elapsed = time.perf_counter() - start

    print(" k  accuracy")
    for k, accuracy in zip(k_values, accuracies):
        print(f"{k:2d}  {accuracy:.4f}")
    title = (f"kNN on CIFAR-10 raw pixels ({len(data_train)} train / {len(data_test)} test, "
             f"seed {args.seed})")
    record = {"k": k_values, "accuracy": accuracies, "split": args.split, "seed": args.seed,
              "n_train": len(data_train), "n_test": len(data_test),
              "seconds": round(elapsed, 1)}
    save_results(args.results_dir, "knn", plot_accuracy(k_values, accuracies, title), record,
                 note=data_note(args.data_dir))
    if args.figures:
        import figures   # here: figures imports this module
        best_k = k_values[int(np.argmax(accuracies))]
        predicted = figures.knn_predictions(data_train, labels_train, data_test, best_k)
        figures.save_classification_figures(args.results_dir, "knn", data_test, labels_test,
                                            predicted, LABEL_NAMES, f"kNN, k = {best_k}")
    print(f"done in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
