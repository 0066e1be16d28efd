"""k-nearest neighbours (kNN) classification: the lab's functions and the k sweep.

A test row gets the class most common among the k training rows closest to it in
Euclidean (L2) distance. ``distance_matrix``, ``knn_predict`` and ``evaluate_knn`` are
the lab's contract (re-exported by ``knn.py`` at the repository's root);
``evaluate_knn_sweep`` finds the nearest neighbours once for a whole range of k.
"""
import time

import numpy as np

from imagelab.utils.checks import (check_dataset, check_finite, check_int, check_labels,
                             check_nonnegative)

# Working memory of the k sweep beyond its inputs and a shifted copy of the test set:
# half for a shifted block of training rows, half for its scores against a chunk of
# test rows (see _nearest_neighbours).
CHUNK_BYTES = 128 * 2**20
# Training rows shifted at a time, 384 KB of CIFAR-10, well within a core's L2 cache
# (see _shift_rows).
SHIFT_ROWS = 32
# Working memory for selecting the neighbours of a block of rows (see _nearest).
BLOCK_BYTES = 16 * 2**20
# Most entries per group in the threshold selection of _smallest.
GROUP = 8
# The tie rules of the vote (see _vote).
TIES = ("nearest", "smallest")
# Columns whose k-th smallest entry bounds a row's k nearest in its first block
# (see _candidates): about k * m / HEAD_COLUMNS of the block's m entries pass it.
HEAD_COLUMNS = 1024
# Training rows averaged for the centre of the shift (see _centre).
CENTRE_ROWS = 1024


def _float_dtype(a, b):
    """The floating dtype both arrays are computed in: float32 stays float32 (BLAS-fast)."""
    return np.result_type(a.dtype, b.dtype, np.float32)


def _centre(data, dtype):
    """Mean of up to CENTRE_ROWS evenly spaced rows of ``data`` (n, d): (d,) of ``dtype``.

    Distances do not change when both sides are shifted by the same vector. A centre
    near the data's mean makes the norms small, and with them the rounding error of
    ||a||^2 + ||b||^2 - 2 a.b; a sample of rows finds it as well as all of them.
    """
    step = max(1, len(data) // CENTRE_ROWS)
    with np.errstate(invalid="ignore"):      # inf - inf in unchecked data: a NaN centre
        return data[::step].mean(axis=0, dtype=np.float64).astype(dtype)


def _squared_norms(x, accumulate=np.float64):
    """Row-wise squared L2 norms: (n, d) -> (n,), in x's dtype.

    Summed in float64 by default, so that only the final rounding (u ||x||^2, u the
    unit roundoff) adds to the error of the matrix product (up to d u ||a|| ||b||).
    Summed in x's dtype, they cost a third, with an error like the product's.
    """
    return np.einsum("ij,ij->i", x, x, dtype=accumulate).astype(x.dtype, copy=False)


def _overflows(*squared_norms):
    """True if rows with these squared norms may overflow their dtype in a distance.

    With every squared norm at most max / 8, ||a||^2 + ||b||^2 + 2 |a.b| and every
    partial sum of it stay below the largest finite value.
    """
    limit = np.finfo(squared_norms[0].dtype).max / 8
    return any(norms.max() > limit for norms in squared_norms)


def _scale(a, b):
    """A power of two s such that s |x| < 1 for every entry x of ``a`` and ``b``.

    Multiplying by a power of two is exact, so scaled rows have exactly s times the
    distances, while their squares can no longer overflow.
    """
    largest = max(max(float(x.max()), -float(x.min())) for x in (a, b))
    return 2.0 ** -int(np.frexp(largest)[1])     # largest = m 2**e with m < 1


def distance_matrix(a, b):
    """L2 (Euclidean) distances between the rows of ``a`` and the rows of ``b``.

    Uses ``||a_i - b_j||^2 = ||a_i||^2 + ||b_j||^2 - 2 a_i.b_j``: one matrix product,
    no Python loop. Both sides are first shifted by the mean row of ``a`` (the
    training set in the lab; see ``_centre``), which leaves the distances unchanged
    but shrinks the norms whose cancellation makes the rounding error.

    Parameters
    ----------
    a : np.ndarray, shape (n_a, d)
    b : np.ndarray, shape (n_b, d)

    Returns
    -------
    dists : np.ndarray, shape (n_a, n_b)
        ``dists[i, j]`` is the distance between ``a[i]`` and ``b[j]``; never NaN or
        negative. Integer inputs are cast to floats; float32 inputs give float32 and
        are computed in float32 (the product stays BLAS-fast). With ``a_i``, ``b_j``
        the shifted rows and u the unit roundoff of the dtype (2**-24 for float32),
        the squared distance is off by at most (d + 5) u (||a_i||^2 + ||b_j||^2),
        whatever order the BLAS kernel sums in (see tests/test_knn.py for the
        derivation): an image's distance to its own copy is at most
        sqrt(2 (d + 5) u) ||a_i||, that is 0.019 ||a_i|| for 3,072 pixels, against
        1,000 to 15,000 between different CIFAR-10 images. Float64 arrays bring that
        bound down by a factor of 1e4.

    Raises
    ------
    ValueError
        If an array is not 2-D, holds NaN or inf, or if the feature sizes differ.
    """
    a, _ = check_dataset(a, name="a")
    b, _ = check_dataset(b, name="b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a has {a.shape[1]} features per row but b has {b.shape[1]}")
    dtype = _float_dtype(a, b)
    centre = _centre(a, dtype)
    shifted_a, shifted_b = np.subtract(a, centre, dtype=dtype), np.subtract(b, centre, dtype=dtype)
    norms_a, norms_b = _squared_norms(shifted_a), _squared_norms(shifted_b)
    if _overflows(norms_a, norms_b):
        # Entries so large that their squares overflow: work on copies scaled by a
        # power of two (exact), then scale the distances back (inf beyond the range).
        scale = _scale(a, b)
        with np.errstate(over="ignore"):
            return distance_matrix(a * scale, b * scale) / dtype.type(scale)
    dists = shifted_a @ shifted_b.T          # (n_a, n_b)
    dists *= -2
    dists += norms_a[:, None]
    dists += norms_b[None, :]
    np.maximum(dists, 0, out=dists)          # rounding can leave tiny negative values
    return np.sqrt(dists, out=dists)


def _smallest(scores, k):
    """The ``k`` smallest entries of each row of ``scores``, in increasing order.

    Parameters
    ----------
    scores : np.ndarray of float, shape (n, m), C-contiguous, no NaN
    k : int, 1 <= k <= m

    Returns
    -------
    values : np.ndarray, shape (n, k), dtype of ``scores``
    columns : np.ndarray of np.intp, shape (n, k)
        Equal values come in an unspecified (but repeatable) order.
    """
    n, m = scores.shape
    # Threshold selection. The minima of k different groups of columns are k different
    # entries, so the k-th smallest group minimum bounds the k-th smallest entry from
    # above: the k smallest entries all lie, at or below it, in the groups whose
    # minimum is at or below it - usually about k groups. Only their entries are
    # looked at again, instead of partitioning the whole row (np.argpartition), which
    # costs as much as the matrix product on some CPUs.
    width = -(-m // min(GROUP, m // k))      # number of groups: >= k, each of <= GROUP
    # Group j holds the columns j, j + width, j + 2 width, ... below m: a minimum
    # across the slabs of a row runs on whole vectors, unlike one within each group.
    slabs = m // width                       # full slabs, then a partial one
    minima = scores[:, :slabs * width].reshape(n, slabs, width).min(axis=1)  # (n, width)
    np.minimum(minima[:, :m - slabs * width], scores[:, slabs * width:],
               out=minima[:, :m - slabs * width])
    threshold = np.partition(minima, k - 1, axis=1)[:, k - 1]               # (n,)
    rows, groups = np.nonzero(minima <= threshold[:, None])                # row by row
    columns = (groups[:, None] + width * np.arange(slabs + 1)).ravel()     # their members
    rows = np.repeat(rows, slabs + 1)
    inside = columns < m
    rows, columns = rows[inside], columns[inside]
    values = np.take(scores, rows * m + columns)                           # (n_candidates,)
    keep = values <= threshold[rows]                                       # >= k a row
    rows, columns, values = rows[keep], columns[keep], values[keep]
    # Sort each row's few candidates: lay them out one row each, padded with inf.
    counts = np.bincount(rows, minlength=n)
    first = np.cumsum(counts) - counts                                     # (n,)
    padded = np.full((n, counts.max()), np.inf, dtype=scores.dtype)
    padded[rows, np.arange(len(rows)) - first[rows]] = values
    take = first[:, None] + np.argsort(padded, axis=1)[:, :k]              # (n, k)
    return values[take], columns[take]


def _nearest(dists, k):
    """Indices of the ``k`` nearest training points of each test point, nearest first.

    ``dists`` is (n_test, n_train), one test point a row; returns (n_test, k).
    """
    nearest = np.empty((len(dists), k), dtype=np.intp)
    # Rows in blocks of about BLOCK_BYTES of candidate mask, copied to be contiguous.
    step = max(1, BLOCK_BYTES // dists.shape[1])
    for start in range(0, len(dists), step):
        block = np.ascontiguousarray(dists[start:start + step])
        nearest[start:start + step] = _smallest(block, k)[1]
    return nearest


def _merge(best_values, best_indices, rows, columns, values):
    """Keep, in place, the k smallest of each row's best so far and its new entries.

    Parameters
    ----------
    best_values : np.ndarray of float, shape (n, k)
        Each row's k smallest values so far, in increasing order (+inf where fewer
        were seen); updated in place.
    best_indices : np.ndarray of np.intp, shape (n, k)
        Their columns; updated in place.
    rows, columns : np.ndarray of np.intp, shape (n_new,)
        Where the new entries are, ``rows`` in increasing order.
    values : np.ndarray of float, shape (n_new,)
        The new entries, finite.
    """
    n, k = best_values.shape
    # Lay each row's new entries after its best, padded with inf, and sort the rows.
    counts = np.bincount(rows, minlength=n)
    first = np.cumsum(counts) - counts                                     # (n,)
    places = k + np.arange(len(rows)) - first[rows]
    padded_values = np.full((n, k + counts.max()), np.inf, dtype=best_values.dtype)
    padded_indices = np.zeros((n, k + counts.max()), dtype=np.intp)
    padded_values[:, :k], padded_indices[:, :k] = best_values, best_indices
    padded_values[rows, places], padded_indices[rows, places] = values, columns
    order = np.argsort(padded_values, axis=1)[:, :k]                       # (n, k)
    best_values[:] = np.take_along_axis(padded_values, order, axis=1)
    best_indices[:] = np.take_along_axis(padded_indices, order, axis=1)


def _candidates(scores, best_values):
    """The entries of ``scores`` that may be among the k smallest of their row.

    Parameters
    ----------
    scores : np.ndarray of float, shape (n, m), C-contiguous, finite
    best_values : np.ndarray of float, shape (n, k)
        The k smallest values of each row seen so far (elsewhere), in increasing order,
        +inf where fewer than k were seen.

    Returns
    -------
    rows, columns : np.ndarray of np.intp, shape (n_candidates,), rows increasing
    values : np.ndarray, shape (n_candidates,), dtype of ``scores``
    """
    n, m = scores.shape
    k = best_values.shape[1]
    # Any k entries bound the k-th smallest from above, so only the entries at or
    # below the k-th best so far can enter. Before k are known (the first block),
    # the k-th smallest of the first HEAD_COLUMNS columns is a bound that few pass.
    bound = best_values[:, -1]                                             # (n,)
    if np.isinf(bound).any() and m >= k:
        head = scores[:, :max(k, HEAD_COLUMNS)]
        bound = np.minimum(bound, np.partition(head, k - 1, axis=1)[:, k - 1])
    # One comparison per entry: the only pass over the whole block, unlike a
    # selection (np.argpartition costs as much as the matrix product on some CPUs).
    flat = np.flatnonzero(scores <= bound[:, None])
    rows, columns = np.divmod(flat, m)
    return rows, columns, np.take(scores, flat)


def _shift_rows(rows, centre, out):
    """Write each row shifted by ``centre``, then its squared norm, into ``out``.

    Parameters
    ----------
    rows : np.ndarray, shape (m, d)
    centre : np.ndarray, shape (d,)
    out : np.ndarray, shape (m, d + 1), float
        Receives ``rows - centre`` in its first d columns and ``||rows - centre||^2``,
        summed in ``out``'s dtype (the sweep only ranks with it), in its last column.
    """
    d = len(centre)
    # SHIFT_ROWS rows at a time, so that the norms read the shifted rows from the
    # cache instead of memory. A norm beyond the dtype's range becomes inf, which the
    # caller looks for.
    with np.errstate(over="ignore"):
        for start in range(0, len(rows), SHIFT_ROWS):
            piece = out[start:start + SHIFT_ROWS]
            shifted = np.subtract(rows[start:start + SHIFT_ROWS], centre, out=piece[:, :d])
            # A stack of dot products (1, d) @ (d, 1), which NumPy hands to BLAS: it
            # measured faster here than np.einsum("ij,ij->i", ...).
            piece[:, d] = np.matmul(shifted[:, None, :], shifted[:, :, None])[:, 0, 0]


def _equal_parts(n, most):
    """Size of the parts that cut ``n`` items into as few equal parts as possible.

    Each part holds at most ``most`` items (at least 1); the last may be smaller:
    ceil(n / ceil(n / most)).
    """
    n_parts = -(-n // max(1, most))
    return -(-n // n_parts)


def _nearest_neighbours(data_train, data_test, k, chunk_bytes=CHUNK_BYTES, progress=None):
    """Indices of the ``k`` nearest training rows of each test row, nearest first.

    Both sets are shifted by the centre of the training set, as in ``distance_matrix``.
    The training rows are taken in blocks: each block is shifted once (into a buffer
    the size of a block, not a copy of the whole set), scored against the test rows
    chunk by chunk, and the entries that beat the k-th best so far are merged in.

    Parameters
    ----------
    data_train : np.ndarray, shape (n_train, d)
    data_test : np.ndarray, shape (n_test, d)
    k : int, 1 <= k <= n_train
    chunk_bytes : int
        Working memory beyond a shifted copy of ``data_test``: at most half for the
        block of training rows, the rest for its scores against a chunk of test rows.
    progress : imagelab.utils.progress.Progress, optional
        Updated after each block of training rows with the number of rows done, when
        there are several blocks (a single block would report only its end).

    Returns
    -------
    np.ndarray of np.intp, shape (n_test, k)
        Among training rows at exactly equal distance, which one counts as nearer is
        unspecified (but the same at every run).
    """
    (n_train, d), n_test = data_train.shape, len(data_test)
    dtype = _float_dtype(data_train, data_test)
    centre = _centre(data_train, dtype)
    if not np.isfinite(centre).all():
        check_finite(data_train, "data_train")     # a NaN or inf among the rows averaged
    # ||x - t||^2 - ||x||^2 = ||t||^2 - 2 x.t ranks the training points t of a test
    # point x as the distance does: neither ||x||^2 nor a root is needed. One product
    # gives half of it, the norms included, with one more column on each side:
    #   [-x, 1/2] . [t, ||t||^2] = (||t||^2 - 2 x.t) / 2.
    width = d + 1
    test = np.empty((n_test, width), dtype)
    np.subtract(centre, data_test, out=test[:, :d])                  # -x, x the shifted row
    test[:, d] = 0.5
    test_norms = _squared_norms(test[:, :d], accumulate=dtype)        # only to detect overflow
    row_bytes = width * dtype.itemsize
    # Blocks as few as half of chunk_bytes allows, and chunks as few as the rest
    # allows, each of equal size: every product packs its two operands again, a cost
    # that fewer, larger pieces divide.
    block = _equal_parts(n_train, chunk_bytes // 2 // row_bytes)
    chunk = _equal_parts(n_test, (chunk_bytes - block * row_bytes) // (block * dtype.itemsize))
    # Buffers reused by every block: fresh arrays would fault in new pages each time.
    train_buffer = np.empty((block, width), dtype)
    scores_buffer = np.empty(chunk * block, dtype)
    best_values = np.full((n_test, k), np.inf, dtype)
    best_indices = np.zeros((n_test, k), np.intp)
    began = time.perf_counter()
    report = progress is not None and block < n_train
    for start in range(0, n_train, block):
        train = train_buffer[:min(block, n_train - start)]              # (n_block, d + 1)
        _shift_rows(data_train[start:start + block], centre, out=train)  # [t, ||t||^2]
        train_norms = train[:, d]
        if not np.isfinite(train_norms).all():
            # A NaN or inf entry makes its row's norm NaN or inf (finite entries give
            # finite norms, or +inf by overflow): the norms check the values on the
            # way, instead of a pass of their own over the whole training set.
            check_finite(data_train, "data_train")
        if _overflows(train_norms, test_norms):
            # Entries so large that their squares overflow: start again on copies
            # scaled by a power of two, which ranks the neighbours exactly the same.
            scale = _scale(data_train, data_test)
            return _nearest_neighbours(data_train * scale, data_test * scale, k, chunk_bytes,
                                       progress)
        for rows in range(0, n_test, chunk):
            x = test[rows:rows + chunk]
            scores = scores_buffer[:len(x) * len(train)].reshape(len(x), len(train))
            np.matmul(x, train.T, out=scores)          # (n_chunk, n_block): (||t||^2 - 2 x.t) / 2
            best = best_values[rows:rows + chunk], best_indices[rows:rows + chunk]
            new_rows, columns, values = _candidates(scores, best[0])
            _merge(*best, new_rows, columns + start, values)
        if report:
            done = start + len(train)
            progress.update(done, f"  nearest neighbours: {done}/{n_train} training rows, "
                                  f"{time.perf_counter() - began:.0f} s")
    return best_indices


def _check_ties(ties):
    """``ties`` if it is one of ``TIES``, else a ValueError."""
    if ties not in TIES:
        raise ValueError(f"ties must be one of {', '.join(TIES)}, got {ties!r}")
    return ties


def _vote(neighbours, n_classes, k_values, ties="nearest"):
    """Majority vote of the k nearest neighbours, for every k in ``k_values``.

    Parameters
    ----------
    neighbours : np.ndarray of int, shape (n_test, k_max)
        Class codes (0..n_classes-1) of the nearest training points, nearest first,
        with ``k_max >= max(k_values)``.
    n_classes : int
    k_values : list of int
    ties : {"nearest", "smallest"}
        Where a tie in the vote goes: to the tied class whose member is nearest (so
        k = 2 always predicts like k = 1), or to the smallest tied class code (the
        rule of scikit-learn's KNeighborsClassifier).

    Returns
    -------
    list of np.ndarray of int, shape (n_test,)
        The predicted class code for each k.
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
        # outweighs any difference of rank, which is at most k_max. (argmax takes the
        # first of equal values: the smallest class code.)
        score = votes * (k_max + 1) - first if ties == "nearest" else votes
        predictions[rank + 1] = np.argmax(score, axis=1)
    return [predictions[k] for k in k_values]


def knn_predict(dists, labels_train, k, ties="nearest"):
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
    ties : {"nearest", "smallest"}, optional
        Where a tie in the vote goes: by default to the tied class whose member is
        nearest, so k = 2 predicts like k = 1; "smallest": to the smallest tied label,
        as scikit-learn's KNeighborsClassifier does.

    Returns
    -------
    np.ndarray of np.int64, shape (n_test,)
        The most common label among the k nearest training points of each test
        point, ties broken as ``ties`` says. Among training points at exactly equal
        distance, which one counts as nearer is unspecified.

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
    ties = _check_ties(ties)
    classes, codes = np.unique(labels_train, return_inverse=True)
    nearest = _nearest(dists.T, k)            # (n_test, k)
    return classes[_vote(codes[nearest], len(classes), [k], ties)[0]]


def evaluate_knn_sweep(data_train, labels_train, data_test, labels_test, k_values,
                       chunk_bytes=CHUNK_BYTES, ties="nearest", progress=None):
    """Accuracy of kNN on the test set for several k, from one pass over the distances.

    The ``max(k_values)`` nearest neighbours of each test point are found once
    (``_nearest_neighbours``, in about ``chunk_bytes`` of working memory beyond a
    shifted copy of the test set), and every k is voted from them.

    Parameters
    ----------
    data_train : np.ndarray, shape (n_train, d)
    labels_train : np.ndarray of int, shape (n_train,)
    data_test : np.ndarray, shape (n_test, d)
    labels_test : np.ndarray of int, shape (n_test,)
    k_values : iterable of int
        Each in 1..n_train.
    chunk_bytes : int >= 1, optional
    ties : {"nearest", "smallest"}, optional
        Where a tie in the vote goes (see ``knn_predict``).
    progress : imagelab.utils.progress.Progress, optional
        Updated after each block of training rows (about 5,000 rows of CIFAR-10) with
        the number of training rows done, when there are several blocks; it changes no
        result.

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
    # The training values are checked by _nearest_neighbours, which reads them all.
    data_train, labels_train = check_dataset(data_train, labels_train, name="data_train",
                                             finite=False)
    data_test, labels_test = check_dataset(data_test, labels_test, name="data_test")
    if data_train.shape[1] != data_test.shape[1]:
        raise ValueError(f"data_train has {data_train.shape[1]} features per row "
                         f"but data_test has {data_test.shape[1]}")
    k_values = list(k_values)
    if not k_values:
        raise ValueError("k_values is empty")
    k_values = [check_int(k, "k", 1, len(data_train)) for k in k_values]
    chunk_bytes = check_int(chunk_bytes, "chunk_bytes", 1)
    ties = _check_ties(ties)
    classes, codes = np.unique(labels_train, return_inverse=True)
    nearest = _nearest_neighbours(data_train, data_test, max(k_values), chunk_bytes, progress)
    predictions = _vote(codes[nearest], len(classes), k_values, ties)    # (n_test,) each
    correct = [np.count_nonzero(classes[predicted] == labels_test) for predicted in predictions]
    return [count / len(data_test) for count in correct]


def evaluate_knn(data_train, labels_train, data_test, labels_test, k, ties="nearest"):
    """Accuracy of kNN with ``k`` neighbours on the test set.

    Parameters
    ----------
    data_train : np.ndarray, shape (n_train, d)
    labels_train : np.ndarray of int, shape (n_train,)
    data_test : np.ndarray, shape (n_test, d)
    labels_test : np.ndarray of int, shape (n_test,)
    k : int
        Number of neighbours, 1 <= k <= n_train.
    ties : {"nearest", "smallest"}, optional
        Where a tie in the vote goes (see ``knn_predict``).

    Returns
    -------
    float
        The fraction of test points whose predicted label is right, in [0, 1].
        Computed by ``evaluate_knn_sweep`` with the single value k, in chunks of the
        test set so that memory stays bounded.
    """
    return evaluate_knn_sweep(data_train, labels_train, data_test, labels_test, [k],
                              ties=ties)[0]


def knn_predictions(data_train, labels_train, data_test, k, chunk_size=1000):
    """kNN predictions for the test rows, ``knn_predict`` applied to chunks of them.

    Parameters
    ----------
    data_train : np.ndarray, shape (n_train, d), labels_train : np.ndarray of int
    data_test : np.ndarray, shape (n_test, d)
    k : int
    chunk_size : int >= 1
        Test rows per chunk: the distances of a chunk take n_train * chunk_size floats.

    Returns
    -------
    np.ndarray of int, shape (n_test,)
    """
    chunk_size = check_int(chunk_size, "chunk_size", 1)
    return np.concatenate([
        knn_predict(distance_matrix(data_train, data_test[i:i + chunk_size]), labels_train, k)
        for i in range(0, len(data_test), chunk_size)])
