"""Tests of imagelab.viz.figures: the confusion matrix against a loop, the worst mistakes against
a sort, and every figure a matplotlib Figure written as a non-empty PNG."""
import os

import numpy as np
import pytest
from matplotlib.figure import Figure

from imagelab.classic import knn
from conftest import is_png
from imagelab.classic.knn import knn_predictions
from imagelab.training.metrics import confusion_matrix, worst_mistakes
from imagelab.viz.figures import (plot_confusion_matrix, plot_cv, plot_image_grid, plot_k_curves,
                                  plot_learning_curves, save_classification_figures)
from imagelab.utils.files import save_figure
from imagelab.data.cifar import LABEL_NAMES


def test_confusion_matrix_matches_a_loop():
    rng = np.random.default_rng(0)
    true, pred = rng.integers(0, 4, size=200), rng.integers(0, 4, size=200)
    pred[:20] = 3                                   # an uneven matrix
    expected = np.zeros((5, 5), dtype=np.int64)     # one class never occurs
    for t, p in zip(true, pred):
        expected[t, p] += 1
    matrix = confusion_matrix(true, pred, 5)
    np.testing.assert_array_equal(matrix, expected)
    assert matrix.dtype == np.int64 and matrix.sum() == 200
    assert np.trace(matrix) == np.count_nonzero(true == pred)


def test_confusion_matrix_rejects_bad_labels():
    with pytest.raises(ValueError, match="same length"):
        confusion_matrix([0, 1], [0], 2)
    with pytest.raises(ValueError, match="labels_pred"):
        confusion_matrix([0, 1], [0, 2], 2)


def test_worst_mistakes_are_the_most_confident_wrong_predictions():
    rng = np.random.default_rng(1)
    probabilities = rng.dirichlet(np.ones(4), size=50)
    labels = rng.integers(0, 4, size=50)
    expected = sorted((-probabilities[i].max(), i) for i in range(50)
                      if probabilities[i].argmax() != labels[i])
    np.testing.assert_array_equal(worst_mistakes(probabilities, labels, 5),
                                  [i for _, i in expected[:5]])
    assert len(worst_mistakes(probabilities, labels, 1000)) == len(expected)


def test_confusion_figure_shows_every_count(tmp_path):
    matrix = np.arange(100).reshape(10, 10)
    figure = plot_confusion_matrix(matrix, LABEL_NAMES, "test")
    assert isinstance(figure, Figure)
    texts = sorted(int(t.get_text()) for t in figure.axes[0].texts)
    assert texts == list(range(100))
    assert is_png(save_figure(str(tmp_path), "confusion", figure))


def test_learning_curves_and_image_grid_are_written(tmp_path):
    history = {"train_loss": [2.0, 1.5, 1.2], "val_loss": [2.1, 1.7, 1.8],
               "train_accuracy": [0.3, 0.5, 0.6], "val_accuracy": [0.3, 0.45, 0.44],
               "best_epoch": 2}
    assert is_png(save_figure(str(tmp_path), "curves", plot_learning_curves(history, "t")))
    rows = np.random.default_rng(2).integers(0, 256, size=(5, 3072)).astype(np.float32)
    figure = plot_image_grid(rows, np.array([0, 1, 2, 3, 4]), np.array([0, 1, 0, 0, 4]),
                             LABEL_NAMES, "grid", scores=np.full(5, 0.5), columns=4)
    assert is_png(save_figure(str(tmp_path), "grid", figure))


@pytest.mark.slow
@pytest.mark.parametrize("with_scores", [True, False])
def test_classification_figures_are_written(tmp_path, with_scores):
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 256, size=(40, 3072)).astype(np.float32)
    labels = rng.integers(0, 10, size=40)
    scores = rng.normal(size=(40, 10)) if with_scores else rng.integers(0, 10, size=40)
    paths = save_classification_figures(str(tmp_path), "m", rows, labels, scores,
                                        LABEL_NAMES, "method", count=8)
    assert [os.path.basename(p) for p in paths] == ["m_confusion.png", "m_predictions.png",
                                                    "m_mistakes.png"]
    assert all(is_png(p) for p in paths)


@pytest.mark.parametrize("change, message", [
    ({"count": 0}, "count must be an integer >= 1, got 0"),
    ({"count": 2.5}, "count must be an integer >= 1, got 2.5"),
    ({"seed": -1}, "seed must be None, an integer >= 0 or a numpy.random.Generator, got -1"),
])
def test_classification_figures_refuse_bad_settings_before_writing(tmp_path, change, message):
    labels = np.arange(10)
    with pytest.raises(ValueError, match=f"^{message}$"):
        save_classification_figures(str(tmp_path), "m", np.zeros((10, 3072)), labels, labels,
                                    LABEL_NAMES, "method", **change)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("chunk_size", [0, 2.5, True])
def test_knn_predictions_refuse_a_chunk_size_that_is_not_a_positive_integer(chunk_size):
    data, labels = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"^chunk_size must be an integer >= 1, got "):
        knn_predictions(data, labels, data, 1, chunk_size=chunk_size)


def test_knn_predictions_by_chunks_match_the_whole_matrix():
    rng = np.random.default_rng(4)
    train, test = rng.normal(size=(60, 5)), rng.normal(size=(23, 5))
    labels = rng.integers(0, 3, size=60)
    expected = knn.knn_predict(knn.distance_matrix(train, test), labels, 3)
    predicted = knn_predictions(train, labels, test, 3, chunk_size=7)
    np.testing.assert_array_equal(predicted, expected)
    labels_test = rng.integers(0, 3, size=23)
    assert np.mean(predicted == labels_test) == pytest.approx(
        knn.evaluate_knn(train, labels, test, labels_test, 3))


def test_cross_validation_figure_marks_the_chosen_k(tmp_path):
    k_values = [1, 2, 3, 4]
    figure = plot_cv(k_values, [0.3, 0.35, 0.33, 0.31], [0.01, 0.02, 0.01, 0.03], 2, 0.34, "cv")
    assert isinstance(figure, Figure)
    labels = figure.axes[0].get_legend_handles_labels()[1]
    assert "chosen: k = 2, 35.0% \u00b1 2.0%" in labels
    assert "k = 2 on the test split: 34.0%" in labels
    assert is_png(save_figure(str(tmp_path), "cv", figure))


def test_k_curves_figure_has_one_curve_per_representation(tmp_path):
    curves = {"raw": [0.3, 0.32, 0.31], "hog": [0.4, 0.45, 0.5]}
    figure = plot_k_curves([1, 2, 3], curves, "curves")
    assert isinstance(figure, Figure)
    labels = figure.axes[0].get_legend_handles_labels()[1]
    assert labels == ["raw: best k = 2, 32.0%", "hog: best k = 3, 50.0%"]
    assert is_png(save_figure(str(tmp_path), "curves", figure))
