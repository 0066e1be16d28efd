"""What every study shares: the study front, the study networks, the loop on targets,
and per-class scores."""
import statistics

import numpy as np
import pytest

from imagelab.analysis.models import STUDY_CNN, accuracy_of, train_cnn, train_mlp, unit_pixels
from imagelab.cli import study
from imagelab.nn.network import mlp
from imagelab.training.loop import train_to_targets
from imagelab.training.metrics import confusion_matrix, per_class_scores, seed_spread


def test_unit_pixels_maps_0_255_onto_0_1():
    x = unit_pixels(np.array([[0, 51, 255]], np.uint8))
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, np.array([[0, 0.2, 1]], np.float32))


def separable(n=240, d=12, seed=0):
    """Two classes of rows in [0, 1] that differ in their first feature."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    x = rng.random((n, d)).astype(np.float32)
    x[:, 0] = 0.2 + 0.6 * labels + 0.1 * rng.random(n)
    return x, labels


def test_the_study_mlp_learns_a_separable_set():
    x, labels = separable()
    network, history = train_mlp(x, labels, (16,), num_epoch=20, learning_rate=1e-2,
                                 batch_size=16)
    assert accuracy_of(network, x, labels) > 0.95
    assert len(history["train_loss"]) == 20


def test_the_study_cnn_takes_images_and_learns():
    x, labels = separable(n=200, d=64)
    network, _ = train_cnn(x, labels, (8, 8, 1), STUDY_CNN[:3] + [["flatten"]], num_epoch=15,
                           learning_rate=1e-2)
    assert network.forward(x[:5].reshape(-1, 8, 8, 1)).shape == (5, 2)
    assert accuracy_of(network, x.reshape(-1, 8, 8, 1), labels) > 0.9


def squared_error(outputs, targets):
    """Mean over rows of the summed squared error, and its gradient."""
    difference = outputs - targets
    return float(np.mean(np.sum(difference ** 2, axis=1))), 2 * difference / len(outputs)


def test_train_to_targets_fits_an_identity_and_keeps_frozen_layers():
    x = np.random.default_rng(1).random((256, 6)).astype(np.float32)
    network = mlp([6, 12, 6], "relu", seed=0)
    frozen = network.layers[0].parameters()[0].value.copy()
    losses = train_to_targets(network, x, x, squared_error, num_epoch=20, learning_rate=1e-2,
                              trained_from=2, seed=0)
    assert losses[-1] < 0.5 * losses[0]
    np.testing.assert_array_equal(network.layers[0].parameters()[0].value, frozen)


def test_train_to_targets_refuses_mismatched_rows():
    with pytest.raises(ValueError, match="same non-zero number of rows"):
        train_to_targets(mlp([2, 2], seed=0), np.zeros((3, 2)), np.zeros((4, 2)),
                         squared_error, num_epoch=1)


def slow_scores(labels_true, labels_pred, num_classes):
    """Precision, recall, F1 of each class by counting, one class at a time."""
    rows = []
    for c in range(num_classes):
        tp = sum(t == c and p == c for t, p in zip(labels_true, labels_pred))
        fp = sum(t != c and p == c for t, p in zip(labels_true, labels_pred))
        fn = sum(t == c and p != c for t, p in zip(labels_true, labels_pred))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append((precision, recall, f1))
    return np.array(rows).T


def test_per_class_scores_match_counting_one_class_at_a_time():
    rng = np.random.default_rng(2)
    labels_true, labels_pred = rng.integers(0, 4, 300), rng.integers(0, 5, 300) % 4
    labels_pred[labels_pred == 3] = 0           # class 3 is never predicted: precision 0
    scores = per_class_scores(confusion_matrix(labels_true, labels_pred, 4))
    expected = slow_scores(labels_true, labels_pred, 4)
    for row, key in zip(expected, ("precision", "recall", "f1")):
        np.testing.assert_allclose(scores[key], row, rtol=1e-12)
    assert scores["precision"][3] == 0 and scores["f1"][3] == 0


def test_the_study_front_lists_every_study_and_refuses_an_unknown_one(capsys):
    with pytest.raises(SystemExit) as stop:
        study.main(["--help"])
    assert stop.value.code == 0
    printed = capsys.readouterr().out
    for name in study.STUDIES:
        assert name in printed
    with pytest.raises(SystemExit) as stop:
        study.main(["no-such-study"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_seed_spread_against_the_statistics_module():
    values = [0.81, 0.84, 0.79, 0.86]
    assert seed_spread(values) == {"mean": pytest.approx(statistics.fmean(values), rel=1e-15),
                                   "std": pytest.approx(statistics.stdev(values), rel=1e-12),
                                   "min": 0.79, "max": 0.86}
    assert seed_spread([0.5]) == {"mean": 0.5, "std": 0.0, "min": 0.5, "max": 0.5}
    with pytest.raises(ValueError, match="non-empty 1-D"):
        seed_spread([])
