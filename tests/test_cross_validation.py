"""Tests of imagelab.classic.cross_validation: folds, and kNN and MLP cross-validation against loops."""
import numpy as np
import pytest

from imagelab.classic import knn
from conftest import blobs
from imagelab.classic import cross_validation
from imagelab.classic.cross_validation import cross_validate_knn, cross_validate_mlp, stratified_folds
from imagelab.data.preprocessing import standardize


def vote_loop(train, train_labels, point, k):
    """Reference kNN: sort the distances, count the k nearest labels, ties to the nearest."""
    order = np.argsort([np.sqrt(np.sum((t - point) ** 2)) for t in train], kind="stable")
    nearest = [train_labels[i] for i in order[:k]]
    counts = {c: nearest.count(c) for c in nearest}
    return next(c for c in nearest if counts[c] == max(counts.values()))


# ---- stratified_folds --------------------------------------------------------------------

@pytest.mark.parametrize("n_folds", [2, 3, 5, 7])
def test_folds_are_disjoint_cover_every_row_and_keep_proportions(n_folds):
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2, 5], [40, 17, 9, 3])       # unbalanced, one class < n_folds
    rng.shuffle(labels)
    folds = stratified_folds(labels, n_folds, seed=1)
    assert len(folds) == n_folds
    every = np.concatenate(folds)
    assert np.array_equal(np.sort(every), np.arange(len(labels)))   # disjoint and covering
    assert all(f.dtype == np.int64 and np.all(np.diff(f) > 0) for f in folds)
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 1
    for label in np.unique(labels):
        counts = [np.count_nonzero(labels[f] == label) for f in folds]
        assert max(counts) - min(counts) <= 1          # each fold gets its share of a class


def test_folds_follow_the_seed():
    labels = np.arange(30) % 3
    same = [stratified_folds(labels, 5, seed=4) for _ in range(2)]
    assert all(np.array_equal(a, b) for a, b in zip(*same))
    other = stratified_folds(labels, 5, seed=5)
    assert not all(np.array_equal(a, b) for a, b in zip(same[0], other))


@pytest.mark.parametrize("n_folds", [1, 0, 11, 2.0, True])
def test_folds_reject_a_bad_number_of_folds(n_folds):
    with pytest.raises(ValueError, match="n_folds"):
        stratified_folds(np.arange(10) % 2, n_folds)


@pytest.mark.parametrize("seed", [-1, 2.5, True, "0"])
def test_folds_reject_a_bad_seed_by_name(seed):
    with pytest.raises(ValueError, match=r"^seed must be None, an integer >= 0 or a "
                                         r"numpy.random.Generator, got "):
        stratified_folds(np.arange(10) % 2, 2, seed=seed)


def test_folds_reject_labels_that_are_not_1d():
    with pytest.raises(ValueError, match="1-D"):
        stratified_folds(np.zeros((4, 2), int), 2)


# ---- cross_validate_knn ------------------------------------------------------------------

def test_knn_cross_validation_matches_loops_over_folds():
    rng = np.random.default_rng(2)
    data, labels = blobs(rng, 40, d=4)
    k_values = [1, 2, 3, 6]
    mean, std, folds = cross_validate_knn(data, labels, k_values, n_folds=4, seed=3)
    expected = []
    for held in stratified_folds(labels, 4, seed=3):
        train = np.setdiff1d(np.arange(len(labels)), held)
        expected.append([np.mean([vote_loop(data[train], labels[train], data[i], k) == labels[i]
                                  for i in held]) for k in k_values])
    expected = np.array(expected)
    np.testing.assert_allclose(folds, expected)
    np.testing.assert_allclose(mean, expected.mean(axis=0))
    deviations = expected - expected.mean(axis=0)
    np.testing.assert_allclose(std, np.sqrt((deviations ** 2).mean(axis=0)))
    assert mean.shape == std.shape == (4,) and folds.shape == (4, 4)


def test_knn_cross_validation_on_a_problem_with_a_known_answer():
    # Two far-apart clusters, 30 rows of class 0 and 10 of class 1, 5 folds: every fold
    # holds out 6 + 2 rows. With k <= 8 (the class-1 rows left for training) every
    # point is right; with k = 32 (all training rows) every point gets the majority
    # class 0, so each fold scores exactly 6 / 8.
    rng = np.random.default_rng(4)
    labels = np.repeat([0, 1], [30, 10])
    data = rng.normal(size=(40, 3)) + 100 * labels[:, None]
    mean, std, folds = cross_validate_knn(data, labels, [1, 5, 8, 32], n_folds=5, seed=0)
    np.testing.assert_allclose(mean, [1, 1, 1, 0.75])
    np.testing.assert_allclose(std, 0, atol=1e-12)


def test_knn_cross_validation_makes_one_sweep_per_fold(monkeypatch):
    calls = []

    def counting(*args, **kwargs):
        calls.append(len(args[2]))                   # the held-out rows of this pass
        return knn.evaluate_knn_sweep(*args, **kwargs)

    monkeypatch.setattr(cross_validation, "evaluate_knn_sweep", counting)
    data, labels = blobs(np.random.default_rng(5), 23, d=4)
    cross_validate_knn(data, labels, range(1, 8), n_folds=3, seed=0)
    assert sorted(calls) == [7, 8, 8]


def test_knn_cross_validation_standardises_with_each_folds_training_rows():
    rng = np.random.default_rng(6)
    data, labels = blobs(rng, 30, d=4)
    data *= [1, 10, 100, 1000]                       # features of very different scales
    _, _, folds = cross_validate_knn(data, labels, [1, 3], n_folds=3, seed=7,
                                     standardize_features=True)
    expected = []
    for held in stratified_folds(labels, 3, seed=7):
        train = np.setdiff1d(np.arange(len(labels)), held)
        scaled_train, scaled_held = standardize(data[train], data[held])
        expected.append(knn.evaluate_knn_sweep(scaled_train, labels[train], scaled_held,
                                               labels[held], [1, 3]))
    np.testing.assert_allclose(folds, expected)


def test_knn_cross_validation_checks_its_arguments():
    data, labels = blobs(np.random.default_rng(8), 10, d=4)
    with pytest.raises(ValueError, match="n_folds"):
        cross_validate_knn(data, labels, [1], n_folds=1)
    with pytest.raises(ValueError, match="k must be"):
        cross_validate_knn(data, labels, [9], n_folds=2)     # 5 training rows per fold
    with pytest.raises(ValueError, match="labels"):
        cross_validate_knn(data, labels[:-1], [1], n_folds=2)


# ---- cross_validate_mlp ------------------------------------------------------------------

def test_mlp_cross_validation_trains_a_fresh_model_on_each_fold(monkeypatch):
    calls = []

    def recording(data_train, labels_train, data_test, labels_test, d_h, learning_rate,
                  num_epoch, seed=None, num_classes=None, **options):
        calls.append(dict(train=data_train[:, 0].astype(int), held=data_test[:, 0].astype(int),
                          seed=seed.integers(1 << 30), num_classes=num_classes, options=options,
                          settings=(d_h, learning_rate, num_epoch)))
        return [0.0], float(np.mean(labels_test == 0))

    monkeypatch.setattr(cross_validation, "run_mlp_training", recording)
    labels = np.repeat([0, 1, 2], [8, 4, 4])
    data = np.stack([np.arange(16), np.zeros(16)], axis=1)   # column 0: the row's index
    mean, std, accuracies = cross_validate_mlp(data, labels, 5, 0.5, 7, n_folds=4, seed=1,
                                               verbose=True, batch_size=3)
    assert len(calls) == 4
    held = [c["held"] for c in calls]
    assert np.array_equal(np.sort(np.concatenate(held)), np.arange(16))
    for call in calls:
        assert not set(call["train"]) & set(call["held"])
        assert len(call["train"]) + len(call["held"]) == 16
        assert call["num_classes"] == 3 and call["settings"] == (5, 0.5, 7)
        assert call["options"] == {"batch_size": 3}
    assert len({c["seed"] for c in calls}) == 4          # a different initialisation each
    np.testing.assert_allclose(accuracies, 0.5)          # 2 of the 4 held out are class 0
    assert mean == pytest.approx(0.5) and std == pytest.approx(0)


def test_mlp_cross_validation_learns_separable_classes():
    rng = np.random.default_rng(9)
    labels = np.repeat([0, 1, 2], 20)
    data = rng.normal(size=(60, 4)) + 8 * np.eye(3, 4)[labels]
    mean, std, accuracies = cross_validate_mlp(data, labels, d_h=8, learning_rate=1.0,
                                               num_epoch=100, n_folds=3, seed=0)
    assert accuracies.shape == (3,) and mean == pytest.approx(1) and std == pytest.approx(0)


def test_mlp_cross_validation_checks_its_arguments():
    data, labels = blobs(np.random.default_rng(10), 12, d=4)
    with pytest.raises(ValueError, match="n_folds"):
        cross_validate_mlp(data, labels, 4, 0.1, 1, n_folds=13)
    with pytest.raises(ValueError, match=r"^n_folds must be an integer in \[2, 12\], got 2.5$"):
        cross_validate_mlp(data, labels, 4, 0.1, 1, n_folds=2.5)   # before SeedSequence.spawn
    with pytest.raises(ValueError, match="seed"):
        cross_validate_mlp(data, labels, 4, 0.1, 1, seed=np.random.default_rng(0))


@pytest.mark.parametrize("seed", [-1, 2.5, True, np.random.default_rng(0)])
def test_mlp_cross_validation_refuses_a_seed_that_is_not_none_or_an_integer(seed):
    data, labels = blobs(np.random.default_rng(10), 12, d=4)
    with pytest.raises(ValueError, match=r"^seed must be None or an integer >= 0, got "):
        cross_validate_mlp(data, labels, 4, 0.1, 1, seed=seed)
