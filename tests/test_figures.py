"""Tests of figures.py: the confusion matrix against a loop, the worst mistakes against a
sort, and every figure written as a non-empty PNG."""
import os

import numpy as np
import pytest
from matplotlib.figure import Figure

import knn
from figures import (confusion_matrix, knn_predictions, plot_confusion_matrix, plot_image_grid,
                     plot_learning_curves, save_classification_figures, save_figure,
                     worst_mistakes)
from read_cifar import LABEL_NAMES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def is_png(path):
    with open(path, "rb") as f:
        return os.path.getsize(path) > 1000 and f.read(8) == PNG_MAGIC


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


def test_knn_main_writes_the_confusion_figures(tmp_path):
    from conftest import make_cifar_folder
    from read_cifar import BATCH_FOLDER
    make_cifar_folder(str(tmp_path / "data" / BATCH_FOLDER), sizes=(20,) * 6)
    results = tmp_path / "results"
    knn.main(["--data-dir", str(tmp_path / "data"), "--results-dir", str(results),
              "--no-download", "--k-max", "3", "--figures"])
    for name in ("knn_confusion", "knn_predictions", "knn_mistakes"):
        assert is_png(results / f"{name}.png")
