"""Tests of knn.py: distances and votes against slow loops, the sweep against the lab's path."""
import os

import numpy as np
import pytest

from conftest import blobs
from imagelab.classic.knn import distance_matrix, evaluate_knn, evaluate_knn_sweep, knn_predict

DATA_DIR = os.path.join(os.path.dirname(__file__), os.pardir, "data", "cifar-10-batches-py")


def distances_loop(a, b):
    """Reference: the distance of every pair, one at a time, in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.array([[np.sqrt(np.sum((x - y) ** 2)) for y in b] for x in a])


def predict_loop(dists, labels, k, ties="nearest"):
    """Reference vote: sort each column, count the k nearest labels; a tie goes to the
    class of the nearest member ("nearest") or to the smallest label ("smallest")."""
    predictions = []
    for column in dists.T:
        nearest = [labels[i] for i in np.argsort(column, kind="stable")[:k]]
        counts = {c: nearest.count(c) for c in nearest}
        tied = [c for c in nearest if counts[c] == max(counts.values())]
        predictions.append(tied[0] if ties == "nearest" else min(tied))
    return np.array(predictions)


# ---- distance_matrix -------------------------------------------------------------------

def test_distance_matrix_matches_a_loop_over_pairs():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(7, 4)), rng.normal(size=(5, 4))
    dists = distance_matrix(a, b)
    assert dists.shape == (7, 5)
    np.testing.assert_allclose(dists, distances_loop(a, b), rtol=1e-12, atol=1e-12)


def test_distance_matrix_float32_pixels_stay_float32_and_close():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, size=(20, 3072)).astype(np.float32)
    b = rng.integers(0, 256, size=(30, 3072)).astype(np.float32)
    dists = distance_matrix(a, b)
    assert dists.dtype == np.float32
    np.testing.assert_allclose(dists, distances_loop(a, b), rtol=1e-5)


def float32_error_bound(a, b, centre):
    """Largest error distance_matrix may make on float32 rows, whatever the BLAS kernel.

    Parameters
    ----------
    a : (n_a, d), b : (n_b, d) float32 rows; centre : (d,) the shift distance_matrix uses.

    Returns
    -------
    np.ndarray of float64, shape (n_a, n_b)

    Derivation, with a_i, b_j the shifted rows, A = ||a_i||^2 + ||b_j||^2 and
    u = 2**-24 float32's unit roundoff:
    - the squared norms are summed in float64 and rounded once to float32: u A;
    - in whatever order a kernel adds the d products, a float32 dot product is off by
      at most g ||a_i|| ||b_j|| <= g A / 2 with g = d u / (1 - d u) (Higham, Accuracy
      and Stability of Numerical Algorithms, 3.1); doubled (exactly): g A;
    - the two additions round values at most 2 A: 4 u A.
    So the squared distance s is off by e <= (g + 5 u) A, and sqrt(s + e) is within
    sqrt(e) of sqrt(s). The shift rounds each entry by a relative u, moving a distance
    by at most u (||a_i|| + ||b_j||); the root rounds by a relative u.
    """
    u = float(np.finfo(np.float32).eps) / 2
    g = a.shape[1] * u / (1 - a.shape[1] * u)
    norms_a = np.linalg.norm(a.astype(np.float64) - centre, axis=1)[:, None]
    norms_b = np.linalg.norm(b.astype(np.float64) - centre, axis=1)[None, :]
    exact = distances_loop(a, b)
    return (np.sqrt((g + 5 * u) * (norms_a ** 2 + norms_b ** 2))
            + u * (norms_a + norms_b) + u * exact)


def test_distance_matrix_float32_error_within_the_derived_bound():
    rng = np.random.default_rng(2)
    # Large pixel values: ||a||^2 + ||b||^2 - 2ab cancels badly unless a and b are shifted.
    a = rng.integers(200, 256, size=(50, 3072)).astype(np.float32)
    b = np.concatenate([a[:10], rng.integers(0, 256, size=(20, 3072)).astype(np.float32)])
    dists = distance_matrix(a, b)
    assert dists.dtype == np.float32 and np.all(np.isfinite(dists)) and np.all(dists >= 0)
    # With fewer than 1,024 rows, distance_matrix's centre is the mean row of a.
    bound = float32_error_bound(a, b, a.mean(axis=0, dtype=np.float64))
    assert np.all(np.abs(dists - distances_loop(a, b)) <= bound)
    # So a copy of an image is always nearer than any other image.
    copies = np.diag(dists[:10, :10])
    others = distances_loop(a, a)[~np.eye(len(a), dtype=bool)]
    assert copies.max() <= bound[:10, :10].max() < others.min() - bound.max()
    # float64 in: exact to rounding.
    np.testing.assert_allclose(np.diag(distance_matrix(a.astype(np.float64), a)), 0, atol=1e-4)


@pytest.mark.parametrize("dtype, magnitude", [(np.float32, 1e20), (np.float32, 1e38),
                                              (np.float64, 1e300)])
def test_distance_matrix_huge_entries_give_no_nan(dtype, magnitude):
    rng = np.random.default_rng(8)
    a, b = rng.uniform(-1, 1, size=(6, 5)), rng.uniform(-1, 1, size=(4, 5))
    with np.errstate(over="ignore"):          # some distances exceed the largest float
        dists = distance_matrix((a * magnitude).astype(dtype), (b * magnitude).astype(dtype))
    assert dists.dtype == dtype and not np.isnan(dists).any()
    expected = distances_loop(a, b) * magnitude        # inf where beyond the dtype's range
    finite = expected < np.finfo(dtype).max
    np.testing.assert_allclose(dists[finite], expected[finite], rtol=1e-5)
    assert np.all(np.isinf(dists[~finite]))


def test_distance_matrix_casts_integer_pixels_without_overflow():
    a = np.full((2, 3072), 255, dtype=np.uint8)
    b = np.zeros((3, 3072), dtype=np.uint8)
    np.testing.assert_allclose(distance_matrix(a, b), 255 * np.sqrt(3072), rtol=1e-6)


@pytest.mark.parametrize("a, b, message", [
    (np.zeros((2, 3)), np.zeros((2, 4)), "features"),
    (np.zeros(3), np.zeros((2, 3)), "2-D"),
    (np.array([[np.nan, 0.0]]), np.zeros((1, 2)), "a must hold finite values, got nan"),
    (np.zeros((1, 2)), np.array([[np.inf, 0.0]]), "b must hold finite values, got inf"),
])
def test_distance_matrix_rejects_bad_input(a, b, message):
    with pytest.raises(ValueError, match=message):
        distance_matrix(a, b)


# ---- knn_predict -----------------------------------------------------------------------

def test_knn_predict_matches_a_loop_for_every_k_ties_included():
    rng = np.random.default_rng(3)
    n_train, n_test = 40, 25
    # Distinct distances (a permutation), few classes: even k gives many tied votes.
    dists = rng.permutation(n_train * n_test).reshape(n_train, n_test).astype(np.float64)
    labels = rng.integers(0, 3, size=n_train)
    for k in range(1, n_train + 1):
        np.testing.assert_array_equal(knn_predict(dists, labels, k), predict_loop(dists, labels, k),
                                      err_msg=f"k={k}")


def test_knn_predict_tie_goes_to_the_class_of_the_nearest_member():
    dists = np.array([[1.0], [2.0], [3.0], [4.0]])       # 4 training points, 1 test point
    labels = np.array([0, 1, 1, 0])
    assert knn_predict(dists, labels, 1)[0] == 0
    assert knn_predict(dists, labels, 2)[0] == 0          # 1-1 tie: class 0 is nearest
    assert knn_predict(dists, labels, 3)[0] == 1          # 2 votes to 1
    assert knn_predict(dists, labels, 4)[0] == 0          # 2-2 tie: class 0 is nearest


def test_knn_predict_k2_always_predicts_like_k1():
    rng = np.random.default_rng(4)
    dists = rng.random((100, 60))
    labels = rng.integers(0, 10, size=100)
    np.testing.assert_array_equal(knn_predict(dists, labels, 2), knn_predict(dists, labels, 1))


def test_knn_predict_returns_the_original_labels_as_int64():
    dists = np.array([[0.5, 3.0], [2.0, 0.1], [1.0, 9.0]])
    predicted = knn_predict(dists, np.array([7, 42, 7]), 1)
    assert predicted.dtype == np.int64
    np.testing.assert_array_equal(predicted, [7, 42])


def test_knn_predict_rejects_a_transposed_distance_matrix():
    dists = np.zeros((3, 5))                              # (n_test, n_train): wrong way round
    with pytest.raises(ValueError, match=r"\(n_train, n_test\)"):
        knn_predict(dists, np.zeros(5, dtype=int), 1)


@pytest.mark.parametrize("k", [0, -1, 6, 2.0, True, None])
def test_knn_predict_rejects_k_out_of_range(k):
    with pytest.raises(ValueError, match=r"^k must be an integer in \[1, 5\], got "):
        knn_predict(np.zeros((5, 2)), np.zeros(5, dtype=int), k)


@pytest.mark.parametrize("bad, shown", [(np.nan, "nan"), (-1.0, "-1.0"), (-np.inf, "-inf")])
def test_knn_predict_rejects_nan_or_negative_distances(bad, shown):
    dists = np.ones((5, 2))
    dists[3, 1] = bad
    with pytest.raises(ValueError, match=rf"^dists must hold values >= 0, got {shown} at "
                                         r"index \(3, 1\)$"):
        knn_predict(dists, np.arange(5), 1)


def test_knn_predict_accepts_infinite_distances():
    dists = np.array([[np.inf, 1.0], [2.0, np.inf], [3.0, 4.0]])
    np.testing.assert_array_equal(knn_predict(dists, np.array([0, 1, 2]), 1), [1, 0])


@pytest.mark.parametrize("labels, message", [
    (np.array([0.0, 1.0, 1.0]), "labels_train must hold integers, got dtype float64"),
    (np.array(["a", "b", "b"]), "labels_train must hold integers, got dtype <U1"),
    (np.zeros((3, 1), int), r"labels_train must be a 1-D array of class codes, got shape \(3, 1\)"),
])
def test_knn_predict_rejects_labels_that_are_not_integer_codes(labels, message):
    with pytest.raises(ValueError, match=message):
        knn_predict(np.ones((3, 2)), labels, 1)


# ---- evaluate_knn and evaluate_knn_sweep ----------------------------------------------

@pytest.mark.parametrize("chunk_bytes", [0, -1, 2.5, True, None])
def test_sweep_rejects_a_chunk_size_that_is_not_a_positive_integer(chunk_bytes):
    data, labels = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"^chunk_bytes must be an integer >= 1, got "):
        evaluate_knn_sweep(data, labels, data, labels, [1], chunk_bytes=chunk_bytes)


@pytest.mark.parametrize("chunk_bytes", [1, 10_000, 2**30])
def test_sweep_agrees_with_the_labs_path_and_evaluate_knn_for_every_k(chunk_bytes):
    rng = np.random.default_rng(5)
    data, labels = blobs(rng, 150, dtype=np.float32)
    train, test = slice(0, 110), slice(110, None)
    k_values = list(range(1, 31))
    swept = evaluate_knn_sweep(data[train], labels[train], data[test], labels[test], k_values,
                               chunk_bytes=chunk_bytes)
    dists = distance_matrix(data[train], data[test])
    for k, accuracy in zip(k_values, swept):
        by_hand = np.mean(knn_predict(dists, labels[train], k) == labels[test])
        assert accuracy == pytest.approx(by_hand, abs=1e-12), f"k={k}"
        assert accuracy == evaluate_knn(data[train], labels[train], data[test], labels[test], k)
    assert len(set(swept)) > 3                            # the accuracy does vary with k


def test_evaluate_knn_matches_loops_on_a_tiny_problem():
    rng = np.random.default_rng(6)
    data, labels = blobs(rng, 60, d=3, dtype=np.float32)
    train, test = slice(0, 40), slice(40, None)
    dists = distances_loop(data[train], data[test])
    for k in (1, 2, 5, 40):
        expected = np.mean(predict_loop(dists, labels[train], k) == labels[test])
        assert evaluate_knn(data[train], labels[train], data[test], labels[test], k) == expected


def test_sweep_keeps_the_order_of_k_values():
    rng = np.random.default_rng(7)
    data, labels = blobs(rng, 80, dtype=np.float32)
    args = (data[:60], labels[:60], data[60:], labels[60:])
    forward = evaluate_knn_sweep(*args, [1, 3, 9])
    assert evaluate_knn_sweep(*args, [9, 1, 3]) == [forward[2], forward[0], forward[1]]


def test_evaluate_knn_accuracy_is_a_float_in_0_1():
    data = np.array([[0.0], [1.0], [10.0], [11.0]])
    labels = np.array([0, 0, 1, 1])
    accuracy = evaluate_knn(data, labels, data, labels, 1)
    assert isinstance(accuracy, float) and accuracy == 1.0
    assert evaluate_knn(data, labels, data, 1 - labels, 1) == 0.0


@pytest.mark.parametrize("change, message", [
    (lambda a: {**a, "data_test": np.zeros((3, 4))}, "features"),
    (lambda a: {**a, "labels_train": np.zeros(4, dtype=int)}, "labels"),
    (lambda a: {**a, "k": 11}, "k must be"),
    (lambda a: {**a, "data_train": np.full((10, 3), np.nan)}, "data_train must hold finite"),
    (lambda a: {**a, "k": True}, r"k must be an integer in \[1, 10\], got True"),
])
def test_evaluate_knn_rejects_bad_input(change, message):
    arguments = {"data_train": np.zeros((10, 3)), "labels_train": np.zeros(10, dtype=int),
                 "data_test": np.zeros((3, 3)), "labels_test": np.zeros(3, dtype=int), "k": 1}
    with pytest.raises(ValueError, match=message):
        evaluate_knn(**change(arguments))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("row", [0, 1, 1001, 2099])
def test_sweep_finds_a_bad_training_value_in_any_block(bad, row):
    # The sweep checks the training values through its centre (rows 0, 2, 4, ...
    # here) and the norms of its blocks of 50 rows, instead of a pass of its own: a
    # bad value in an odd row of the last block is found as one in the first.
    rng = np.random.default_rng(12)
    data, labels = blobs(rng, 2120, dtype=np.float32)
    train = data[:2100].copy()
    train[row, 1] = bad
    with pytest.raises(ValueError, match=rf"^data_train must hold finite values, got "
                                         rf"{bad!r} at index \({row}, 1\)$"):
        evaluate_knn_sweep(train, labels[:2100], data[2100:], labels[2100:], [1, 3],
                           chunk_bytes=2_000)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(DATA_DIR), reason="real CIFAR-10 not in data/")
def test_knn_on_real_cifar_beats_chance_by_far():
    from read_cifar import read_cifar_batch
    data, labels = read_cifar_batch(os.path.join(DATA_DIR, "data_batch_1"))
    accuracy = evaluate_knn_sweep(data[:9000], labels[:9000], data[9000:], labels[9000:], [1, 2])
    assert accuracy[0] == accuracy[1] and 0.25 < accuracy[0] < 0.45


# ---- neighbour selection -----------------------------------------------------------------

@pytest.mark.parametrize("seed", range(3))
def test_threshold_selection_finds_the_k_smallest_of_every_row(seed):
    from imagelab.classic.knn import _smallest
    rng = np.random.default_rng(seed)
    for _ in range(200):
        n, m = rng.integers(1, 6), int(rng.integers(1, 300))
        k = int(rng.integers(1, m + 1))
        scores = rng.integers(0, 40, size=(n, m)).astype(np.float32)   # many ties
        scores[rng.random((n, m)) < 0.2] = np.inf                     # knn_predict allows inf
        values, columns = _smallest(scores, k)
        np.testing.assert_array_equal(values, np.sort(scores, axis=1)[:, :k])
        np.testing.assert_array_equal(np.take_along_axis(scores, columns, axis=1), values)
        assert all(len(set(row)) == k for row in columns)             # k different columns


@pytest.mark.parametrize("n_rows", [1, 31, 32, 33, 100])
def test_shift_rows_writes_the_shifted_rows_and_their_squared_norms(n_rows):
    from imagelab.classic.knn import _shift_rows
    rng = np.random.default_rng(13)
    rows = rng.integers(0, 256, size=(n_rows, 3072)).astype(np.float32)
    centre = rows.mean(axis=0).astype(np.float32)
    out = np.full((n_rows, 3073), np.nan, np.float32)
    _shift_rows(rows, centre, out)
    np.testing.assert_array_equal(out[:, :3072], rows - centre)      # the same rounding
    # The d squares are >= 0, so a float32 dot product of a row with itself is off by
    # at most g ||r||^2 with g = d u / (1 - d u), in any order of summation (Higham 3.1).
    u = float(np.finfo(np.float32).eps) / 2
    g = 3072 * u / (1 - 3072 * u)
    exact = np.sum(out[:, :3072].astype(np.float64) ** 2, axis=1)
    assert np.all(np.abs(out[:, 3072] - exact) <= g * exact)


@pytest.mark.parametrize("n, most, size", [(10, 3, 3), (10, 5, 5), (10, 4, 4), (9, 4, 3),
                                           (10, 10, 10), (10, 100, 10), (10, 0, 1),
                                           (10, -5, 1), (1, 1, 1)])
def test_equal_parts_are_as_few_and_as_even_as_the_limit_allows(n, most, size):
    from imagelab.classic.knn import _equal_parts
    assert _equal_parts(n, most) == size
    parts = -(-n // size)
    assert size <= max(1, most) and parts == -(-n // max(1, most))   # as few parts as allowed


def test_sweep_on_huge_float32_entries_ranks_as_on_the_unscaled_ones():
    rng = np.random.default_rng(9)
    data, labels = blobs(rng, 120, dtype=np.float32)
    train, test = slice(0, 90), slice(90, None)
    k_values = list(range(1, 16))
    expected = evaluate_knn_sweep(data[train], labels[train], data[test], labels[test], k_values)
    huge = data * np.float32(2.0 ** 100)       # squares overflow float32; a power of two is exact
    assert evaluate_knn_sweep(huge[train], labels[train], huge[test], labels[test],
                              k_values) == expected


def test_knn_predict_smallest_tie_rule_matches_a_loop_for_every_k():
    rng = np.random.default_rng(10)
    n_train, n_test = 40, 25
    dists = rng.permutation(n_train * n_test).reshape(n_train, n_test).astype(np.float64)
    labels = rng.integers(0, 3, size=n_train)
    for k in range(1, n_train + 1):
        np.testing.assert_array_equal(knn_predict(dists, labels, k, ties="smallest"),
                                      predict_loop(dists, labels, k, ties="smallest"), err_msg=f"k={k}")


def test_the_two_tie_rules_differ_only_on_ties():
    dists = np.array([[1.0], [2.0], [3.0]])              # 3 training points, 1 test point
    labels = np.array([5, 2, 2])
    assert knn_predict(dists, labels, 2)[0] == 5          # 1-1 tie: the nearest, 5
    assert knn_predict(dists, labels, 2, ties="smallest")[0] == 2
    assert knn_predict(dists, labels, 3, ties="smallest")[0] == 2   # no tie: the majority


def test_sweep_with_the_smallest_tie_rule_agrees_with_knn_predict():
    rng = np.random.default_rng(11)
    data, labels = blobs(rng, 90)
    train, test = slice(0, 70), slice(70, None)
    swept = evaluate_knn_sweep(data[train], labels[train], data[test], labels[test],
                               range(1, 11), ties="smallest")
    dists = distance_matrix(data[train], data[test])
    for k, accuracy in zip(range(1, 11), swept):
        expected = np.mean(knn_predict(dists, labels[train], k, ties="smallest") == labels[test])
        assert accuracy == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("ties", ["largest", None, 1])
def test_unknown_tie_rule_is_refused(ties):
    with pytest.raises(ValueError, match="ties must be one of nearest, smallest"):
        knn_predict(np.zeros((2, 1)), np.zeros(2, dtype=int), 1, ties=ties)
