"""Tests of the gradients study: class-score gradients against finite differences and
against the weights of a linear model, the measures against slow loops and NumPy, the
command end to end on tiny MNIST-style files, and its refusals."""
import json
import os

import numpy as np
import pytest

from conftest import fashion_mnist_folder
from imagelab.analysis.gradients import (class_score_gradient, correlation, first_layer_images,
                                         object_area, runner_up_and_last, share_on_object)
from imagelab.cli.studies import gradients as command
from imagelab.nn.functional import softmax
from imagelab.nn.gradcheck import check_gradient, error_bound
from imagelab.nn.network import mlp

EPS64 = np.finfo(np.float64).eps
EPS32 = np.finfo(np.float32).eps


def sigmoid_network(d=6, h=5, k=4, seed=0):
    """A float64 MLP d-h-k of sigmoid units: smooth, so central differences are exact to
    their error bound (no ReLU kink inside a step)."""
    return mlp([d, h, k], "sigmoid", seed=seed, dtype=np.float64)


def third_derivative_bound(f, x, step=1e-2):
    """10 times the largest |third difference| / step^3 over the entries of ``x``: a
    bound on |d^3 f / dx_i^3| near ``x`` (the third difference is that derivative at a
    point within 2 steps, and the function is smooth at this scale)."""
    bound = 0.0
    for index in np.ndindex(x.shape):
        saved = x[index]
        values = []
        for shift in (-1.5, -0.5, 0.5, 1.5):
            x[index] = saved + shift * step
            values.append(f())
        x[index] = saved
        bound = max(bound, abs(values[3] - 3 * values[2] + 3 * values[1] - values[0]))
    return 10 * bound / step ** 3


@pytest.mark.parametrize("score", ["logit", "probability"])
def test_the_class_score_gradient_is_the_finite_difference_of_that_score(score):
    network = sigmoid_network()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 6))
    classes = np.array([2, 0, 3])
    gradient = class_score_gradient(network, x, classes, score)
    for n in range(len(x)):
        row = x[n:n + 1].copy()

        def f():
            z = network.forward(row)
            s = z if score == "logit" else softmax(z)
            return float(s[0, classes[n]])
        # f is a sum of at most d h + h k products of numbers O(1): its rounding error is
        # below (d h + h k) eps times the sum of their sizes, bounded by 100 here.
        h = 1e-5
        rounding = (6 * 5 + 5 * 4) * EPS64 * 100
        atol = error_bound(h, rounding, third_derivative_bound(f, row))
        check_gradient(f, row, gradient[n:n + 1], step=h, atol=atol, rtol=0)


def test_a_linear_model_has_its_class_template_for_gradient_whatever_the_image():
    # z = x W + b: dz_k/dx = W[:, k], the same for every image.
    network = mlp([6, 3], "relu", seed=0)                       # float32, no hidden layer
    x = np.random.default_rng(2).random((4, 6)).astype(np.float32)
    classes = np.array([0, 2, 1, 2])
    weights = network.parameters()[0].value
    np.testing.assert_array_equal(class_score_gradient(network, x, classes), weights.T[classes])


def test_the_probability_gradient_vanishes_where_the_network_is_sure():
    # dp_k/dx = p_k (1 - p_k) dz_k/dx - p_k sum_{j != k} p_j dz_j/dx: at p_k -> 1 both
    # terms go to 0 while the logit's gradient does not.
    network = mlp([2, 2], "relu", dtype=np.float64, seed=0)
    network.set_weights([np.array([[40.0, -40.0], [0.0, 0.0]]), np.zeros(2)])
    x = np.array([[1.0, 0.0]])
    logit = class_score_gradient(network, x, np.array([0]))
    probability = class_score_gradient(network, x, np.array([0]), "probability")
    np.testing.assert_array_equal(logit, [[40.0, 0.0]])
    # p_1 = 1 / (1 + e^80): dp_0/dx_0 = p_0 p_1 (40 + 40).
    assert 0 < probability[0, 0] <= 80 * np.exp(-80) and probability[0, 1] == 0


def test_bad_classes_and_scores_are_refused():
    network = sigmoid_network()
    x = np.zeros((2, 6))
    with pytest.raises(ValueError, match="^classes must hold one class in 0..3 per row"):
        class_score_gradient(network, x, np.array([0, 4]))
    with pytest.raises(ValueError, match="^score must be one of"):
        class_score_gradient(network, x, np.array([0, 1]), "softmax")


def test_first_layer_images_are_the_columns_of_the_weights():
    network = mlp([12, 5, 3], "relu", seed=0)
    weights = network.parameters()[0].value
    images = first_layer_images(network, (3, 4))
    assert images.shape == (5, 3, 4)
    for j in range(5):
        for r in range(3):
            for c in range(4):
                assert images[j, r, c] == weights[4 * r + c, j]


def test_the_share_on_the_object_and_its_area_match_a_loop():
    rng = np.random.default_rng(3)
    maps = rng.standard_normal((4, 10))
    images = rng.random((4, 10)) * (rng.random((4, 10)) > 0.5)
    maps[3] = 0                                                 # no mass: share 0
    share, area = share_on_object(maps, images, 0.1), object_area(images, 0.1)
    for n in range(4):
        on = sum(abs(maps[n, i]) for i in range(10) if images[n, i] > 0.1)
        total = sum(abs(maps[n, i]) for i in range(10))
        assert share[n] == pytest.approx(on / total if total else 0.0, rel=1e-12, abs=0)
        assert area[n] == sum(images[n] > 0.1) / 10


def test_the_correlation_is_numpys():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((5, 5)), rng.standard_normal(25)
    # Both sum 25 products of numbers O(1): they agree to a few hundred eps.
    assert correlation(a, b) == pytest.approx(np.corrcoef(a.ravel(), b)[0, 1], abs=1e-13)
    assert correlation(a, 3 * a + 1) == pytest.approx(1.0, abs=1e-13)
    assert correlation(np.ones(4), np.arange(4)) == 0.0


def test_runner_up_and_last_classes_match_a_loop():
    network = sigmoid_network(k=5)
    x = np.random.default_rng(5).standard_normal((6, 6))
    labels = np.array([0, 1, 2, 3, 4, 0])
    runner_up, last = runner_up_and_last(network, x, labels)
    z = network.forward(x)
    for n in range(6):
        others = [k for k in range(5) if k != labels[n]]
        assert runner_up[n] == max(others, key=lambda k: z[n, k])
        assert last[n] == min(range(5), key=lambda k: z[n, k])


# ---------------------------------------------------------- imagelab study gradients

@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """fashion-mnist/ with 60 training and 20 test images."""
    return fashion_mnist_folder(tmp_path / "data", monkeypatch, (60, 20))


def test_the_command_writes_its_figures_and_numbers(data_dir, tmp_path, capsys):
    results = tmp_path / "results"
    command.main(["--data-dir", data_dir, "--results-dir", str(results), "--no-download",
                  "--seeds", "2", "--epochs", "1"])
    for name in ("study_gradients_fashion-mnist.png",
                 "study_gradients_fashion-mnist_weights.png"):
        assert os.path.getsize(results / name) > 1000
    with open(results / "study_gradients_fashion-mnist.json") as f:
        record = json.load(f)
    assert record["command"].startswith("imagelab study gradients --data-dir")
    models = record["models"]
    assert list(models) == ["object_area", "784-10", "784-10-10", "784-32-10", "784-256-10"]
    accuracy = models["784-32-10"]["test_accuracy"]
    assert accuracy["min"] <= accuracy["mean"] <= accuracy["max"]
    assert record["seeds"] == [0, 1] and record["seconds"] > 0
    assert "trained 8/8" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--seeds", "0"], "argument --seeds: must be an integer >= 1, got 0"),
    (["--epochs", "two"], "argument --epochs: invalid positive_int value: 'two'"),
    (["--dataset", "cifar10"], "argument --dataset: must be a dataset of grey images (its maps "
                               "and weights are drawn as grey-scale images), got cifar10"),
])
def test_bad_flags_end_in_one_line(flags, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        command.main(["--data-dir", str(tmp_path), "--results-dir", str(tmp_path / "r"),
                      "--no-download", *flags])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("imagelab study gradients: error: ")
    assert message in err
    assert not (tmp_path / "r").exists()
