"""Tests of imagelab.handouts.numpy_layers (every number the handout prints, finite differences) and of
imagelab.handouts.two_class (the handout's two-class task on separable blobs, its figures)."""
import json

import numpy as np
import pytest
from matplotlib.figure import Figure

from imagelab.nn.gradcheck import numerical_gradient
from imagelab.nn.layers import Dense
from imagelab.nn.losses import squared_error
from imagelab.handouts.numpy_layers import SE, Linear, ReLU, Sigmoid
from imagelab.nn.optim import SGD
from imagelab.handouts.two_class import (save_two_class_results, train_two_class,
                                         two_class_network, two_class_split)
from imagelab.viz.figures import plot_two_class_grid


# ------------------------------------------------------------ the handout's printed outputs

def handout_linear():
    """The handout's Linear example: the layer and its input."""
    input_dim, output_dim, batch_size = 3, 2, 2
    linear_layer = Linear(input_dim, output_dim)
    linear_layer.W = np.linspace(1, -1, input_dim * output_dim).reshape(input_dim, output_dim)
    linear_layer.b = np.linspace(-0.5, 0.5, output_dim).reshape(1, output_dim)
    x = np.linspace(-2, 2, batch_size * input_dim).reshape(batch_size, input_dim)
    return linear_layer, x


def test_linear_forward_prints_the_handouts_numbers():
    linear_layer, x = handout_linear()
    np.testing.assert_allclose(linear_layer.forward(x), [[-2.5, -0.06], [-1.06, -1.5]],
                               rtol=0, atol=1e-12)


def test_linear_backward_and_gradients_print_the_handouts_numbers():
    linear_layer, x = handout_linear()
    linear_layer.forward(x)
    dL_wrt_output = np.linspace(1, 2, 2 * 2).reshape(2, 2)
    dL_wrt_x = linear_layer.backward(dL_wrt_output)
    # The handout prints 8 decimals: the values agree to its last printed digit.
    np.testing.assert_allclose(dL_wrt_x, [[1.8, -0.06666667, -1.93333333],
                                          [2.86666667, -0.06666667, -3.]], rtol=0, atol=5e-9)
    np.testing.assert_allclose(linear_layer.dL_wrt_W,
                               [[[-2., -2.66666667], [-1.2, -1.6], [-0.4, -0.53333333]],
                                [[0.66666667, 0.8], [2., 2.4], [3.33333333, 4.]]],
                               rtol=0, atol=5e-9)
    np.testing.assert_allclose(linear_layer.dL_wrt_b,
                               [[[1., 1.33333333]], [[1.66666667, 2.]]], rtol=0, atol=5e-9)
    dW, db = linear_layer.grads()
    assert dW.shape == (2, 3, 2) and db.shape == (2, 1, 2)
    np.testing.assert_array_equal(dW, linear_layer.dL_wrt_W)
    np.testing.assert_array_equal(db, linear_layer.dL_wrt_b)


def test_relu_backward_prints_the_handouts_numbers():
    relu_layer = ReLU()
    relu_layer.forward(np.linspace(-1, 1, 9))
    dL_wrt_x_relu = relu_layer.backward(np.linspace(-1, 1, 9))
    np.testing.assert_array_equal(dL_wrt_x_relu, [0, 0, 0, 0, 0, 0.25, 0.5, 0.75, 1])
    assert not np.signbit(dL_wrt_x_relu).any()     # printed "0.", not "-0."


def test_sigmoid_backward_prints_the_handouts_numbers():
    sigmoid_layer = Sigmoid()                       # the handout uses it without building it
    sigmoid_layer.forward(np.linspace(-5, 5, 5))
    np.testing.assert_allclose(sigmoid_layer.backward(np.linspace(-10, 10, 5)),
                               [-0.06648057, -0.35051858, 0., 0.35051858, 0.06648057],
                               rtol=0, atol=5e-9)


def test_se_backward_prints_the_handouts_numbers():
    se_layer = SE()
    x_se = np.linspace(-5, 5, 9)
    np.testing.assert_allclose(se_layer.forward(x_se, 0.5 * x_se), (0.5 * x_se) ** 2)
    np.testing.assert_allclose(se_layer.backward(),
                               [-5., -3.75, -2.5, -1.25, 0., 1.25, 2.5, 3.75, 5.], atol=1e-15)


# ------------------------------------------------------------ finite differences, float64

def test_linear_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    layer = Linear(4, 3, rng=rng)
    layer.b = rng.normal(size=(1, 3))
    x, r = rng.normal(size=(5, 4)), rng.normal(size=(5, 3))

    def loss():                                     # L = sum(f(x) * r), so dL/df = r
        return np.sum(layer.forward(x) * r)

    layer.forward(x)
    dx = layer.backward(r)
    dW, db = layer.grads()              # read before the finite differences' forward passes
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), atol=1e-8)
    np.testing.assert_allclose(dW.sum(axis=0), numerical_gradient(loss, layer.W), atol=1e-8)
    np.testing.assert_allclose(db.sum(axis=0), numerical_gradient(loss, layer.b), atol=1e-8)


def test_per_sample_gradients_are_each_rows_gradient_and_sum_to_the_batch_gradients():
    rng = np.random.default_rng(1)
    layer = Linear(4, 3, rng=rng)
    x, r = rng.normal(size=(5, 4)), rng.normal(size=(5, 3))
    layer.forward(x)
    layer.backward(r)
    dW, db = layer.grads()
    weight, bias = layer.parameters()
    np.testing.assert_allclose(dW.sum(axis=0), weight.grad, atol=1e-12)
    np.testing.assert_allclose(db.sum(axis=0), bias.grad, atol=1e-12)
    for n in range(len(x)):                         # row n alone: L_n = f(x[n]) . r[n]
        def loss_n():
            return np.sum(layer.forward(x[n:n + 1]) * r[n])
        np.testing.assert_allclose(dW[n], numerical_gradient(loss_n, layer.W), atol=1e-8)
        np.testing.assert_allclose(db[n], numerical_gradient(loss_n, layer.b), atol=1e-8)


@pytest.mark.parametrize("activation", [ReLU, Sigmoid])
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 4), (2, 1, 3, 2)])
def test_activations_match_finite_differences_in_any_shape(activation, shape):
    rng = np.random.default_rng(2)
    layer = activation()
    x = rng.normal(size=shape)
    x[np.abs(x) < 1e-3] = 0.5                       # keep ReLU's kink away from the steps
    r = rng.normal(size=shape)

    def loss():
        return np.sum(layer.forward(x) * r)

    assert layer.forward(x).shape == shape
    dx = layer.backward(r)
    assert dx.shape == shape
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), atol=1e-8)


@pytest.mark.parametrize("shape", [(6,), (3, 2), (2, 2, 3)])
def test_se_matches_finite_differences(shape):
    rng = np.random.default_rng(3)
    se = SE()
    x, y = rng.normal(size=shape), rng.normal(size=shape)

    def loss():
        return np.sum(se.forward(x, y))

    se.forward(x, y)
    np.testing.assert_allclose(se.backward(), numerical_gradient(loss, x), atol=1e-8)


def test_squared_error_loss_matches_finite_differences():
    rng = np.random.default_rng(4)
    p, labels = rng.random((6, 1)), rng.integers(0, 2, 6)
    value, dp = squared_error(p, labels)
    assert value == pytest.approx(np.mean((p[:, 0] - labels) ** 2))
    np.testing.assert_allclose(dp, numerical_gradient(lambda: squared_error(p, labels)[0], p),
                               atol=1e-8)


# ------------------------------------------------------------ Linear is the trainer's Dense

def test_linear_is_a_dense_layer_that_optimizers_train():
    rng = np.random.default_rng(5)
    layer = Linear(3, 2, rng=0)
    dense = Dense(3, 2, rng=0, dtype=np.float64)
    np.testing.assert_array_equal(layer.W, dense.w.value)       # same draw, same init
    x, r = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    np.testing.assert_array_equal(layer.forward(x), dense.forward(x))
    np.testing.assert_array_equal(layer.backward(r), dense.backward(r))
    before = layer.W.copy()
    SGD(layer.parameters(), momentum=0).step(0.1)
    np.testing.assert_allclose(layer.W, before - 0.1 * layer.dL_wrt_W.sum(axis=0))
    assert layer.parameters()[0].value is layer.W


def test_assigning_w_and_b_checks_the_shape_and_copies():
    layer = Linear(3, 2)
    w = np.ones((3, 2), dtype=np.int64)
    layer.W = w
    assert layer.W.dtype == np.float64 and layer.W is not w
    layer.W[0, 0] = 5
    assert w[0, 0] == 1
    with pytest.raises(ValueError, match=r"^W must have shape \(3, 2\), got \(2, 3\)$"):
        layer.W = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"^b must have shape \(1, 2\), got \(2,\)$"):
        layer.b = np.ones(2)


def test_per_sample_gradients_are_none_before_backward():
    layer = Linear(2, 2)
    assert layer.grads() == (None, None)
    layer.forward(np.ones((1, 2)))
    assert layer.dL_wrt_W is None and layer.dL_wrt_b is None


@pytest.mark.parametrize("bad, message", [
    (dict(input_dim=0), r"^input_dim must be an integer >= 1, got 0$"),
    (dict(output_dim=2.0), r"^output_dim must be an integer >= 1, got 2.0$"),
])
def test_linear_refuses_bad_sizes_naming_them(bad, message):
    with pytest.raises(ValueError, match=message):
        Linear(**{"input_dim": 2, "output_dim": 2, **bad})


def test_se_and_squared_error_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match=r"^y must have the shape of x \(3,\), got \(2,\)$"):
        SE().forward(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match=r"^p must have shape \(2, 1\), one probability"):
        squared_error(np.zeros((2, 2)), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"^labels must lie in 0..1, got 2$"):
        squared_error(np.zeros((2, 1)), np.array([0, 2]))


# ------------------------------------------------------------ the two-class task

def blob_rows(rng, n, d=16):
    """Two well-separated Gaussian blobs as image-like rows (0..255) and 0/1 targets."""
    targets = rng.integers(0, 2, n)
    centres = np.where(targets[:, None] == 1, 180.0, 60.0)
    return (centres + 10 * rng.normal(size=(n, d))).astype(np.float32), targets


def test_two_class_network_is_linear_relu_then_linear_sigmoid():
    network = two_class_network(5, [4, 3], seed=0)
    kinds = [type(layer) for layer in network.layers]
    assert kinds == [Linear, ReLU, Linear, ReLU, Linear, Sigmoid]
    assert network.layers[-2].W.shape == (3, 1)
    assert network.forward(np.zeros((2, 5), np.float32)).shape == (2, 1)


def test_train_two_class_separates_blobs_perfectly():
    rng = np.random.default_rng(0)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (blob_rows(rng, n)
                                                            for n in (200, 50, 60))
    history, probabilities = train_two_class(x_train, y_train, x_val, y_val, x_test,
                                             hidden=[8], num_epoch=10, batch_size=16, seed=0)
    assert probabilities.shape == (60,)
    np.testing.assert_array_equal(probabilities > 0.5, y_test == 1)
    assert history["val_accuracy"][history["best_epoch"] - 1] == 1.0
    assert history["train_loss"][-1] < history["train_loss"][0]


def test_two_class_split_keeps_two_classes_as_targets():
    labels = np.array([0, 3, 5, 3, 5, 5, 3, 1, 3, 5])
    data = np.arange(len(labels) * 2, dtype=np.float32).reshape(-1, 2)
    split = two_class_split(data, labels, data[:4], labels[:4], (3, 5), 0.25, seed=0)
    assert len(split["y_train"]) + len(split["y_val"]) == 8 and len(split["y_val"]) == 2
    np.testing.assert_array_equal(split["y_test"], [0, 1, 0])
    np.testing.assert_array_equal(split["x_test"], data[[1, 2, 3]])
    for side in ("train", "val"):             # each row keeps its own target
        rows = split[f"x_{side}"][:, 0].astype(int) // 2
        np.testing.assert_array_equal(split[f"y_{side}"], labels[rows] == 5)
    with pytest.raises(ValueError, match=r"^classes must be two different classes, got 3 twice$"):
        two_class_split(data, labels, data, labels, (3, 3), 0.25)


@pytest.mark.slow
def test_two_class_figures_are_written_and_returned(tmp_path):
    rng = np.random.default_rng(1)
    rows = rng.integers(0, 256, size=(40, 28 * 28)).astype(np.float32)
    targets = rng.integers(0, 2, 40)
    probabilities = np.where(targets == 1, 0.9, 0.1)
    probabilities[:3] = 1 - probabilities[:3]               # three mistakes
    figure = plot_two_class_grid(rows, targets, probabilities, ("a", "b"), (28, 28, 1), "t",
                                 count=8)
    assert isinstance(figure, Figure)
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert len(titles) == 8 and all("true" in t for t in titles)
    assert sum(ax.title.get_color() == "tab:red" for ax in figure.axes) == 3
    history = {"train_loss": [0.2, 0.1], "val_loss": [0.3, 0.2], "train_accuracy": [0.8, 0.9],
               "val_accuracy": [0.7, 0.8], "best_epoch": 2}
    accuracy = save_two_class_results(str(tmp_path), history, rows, targets, probabilities,
                                      ("a", "b"), (28, 28, 1), {"x": 1}, note="tiny data")
    assert accuracy == pytest.approx(37 / 40)
    for name in ("numpy_nn_training.png", "numpy_nn_classification.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads((tmp_path / "numpy_nn.json").read_text())
    assert record["test_accuracy"] == accuracy and record["note"] == "tiny data"
    assert record["x"] == 1 and record["history"]["best_epoch"] == 2
