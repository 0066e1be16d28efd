"""Tests of imagelab.nn.network: a network's gradients against finite differences (weight decay
and dropout included), its input gradient (an MLP's and a CNN's), the multilayer
perceptrons it builds, and the lab's network as the one-hidden-layer case."""
from functools import partial

import numpy as np
import pytest

from numpy.lib.stride_tricks import sliding_window_view

from imagelab.nn.gradcheck import error_bound, numerical_gradient
from imagelab.classic import mlp
from imagelab.nn.architectures import build
from imagelab.nn.batchnorm import BatchNorm
from imagelab.nn.conv import MaxPool2d
from imagelab.nn.functional import one_hot
from imagelab.nn import network as model
from imagelab.nn.layers import Dense, Dropout, ReLU
from imagelab.nn.losses import LOSSES, softmax_cross_entropy
from imagelab.nn.network import Network, from_lab_weights
from imagelab.nn.optim import SGD


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse",
                                  partial(softmax_cross_entropy, smoothing=0.2)])
def test_network_gradients_with_weight_decay_match_finite_differences(activation, loss):
    rng = np.random.default_rng(4)
    net = model.mlp([5, 4, 3, 3], activation, seed=0, dtype=np.float64)
    for p in net.parameters():
        p.value[...] = rng.normal(size=p.value.shape)   # non-zero biases too
    x, labels = rng.normal(size=(8, 5)), rng.integers(0, 3, size=8)
    decay = 0.3

    def total_loss():
        return net.loss_and_gradients(x, labels, loss, decay)[0]

    total_loss()
    analytic = [p.grad.copy() for p in net.parameters()]
    for p, g in zip(net.parameters(), analytic):
        np.testing.assert_allclose(g, numerical_gradient(total_loss, p.value), atol=1e-7)


def test_weight_decay_adds_half_squared_norm_of_weights_only():
    rng = np.random.default_rng(5)
    net = model.mlp([3, 4, 2], "relu", seed=1, dtype=np.float64)
    x, labels = rng.normal(size=(4, 3)), rng.integers(0, 2, size=4)
    plain = net.loss_and_gradients(x, labels)[0]
    squares = sum(np.sum(layer.w.value ** 2) for layer in net.layers
                  if isinstance(layer, Dense))
    assert net.loss_and_gradients(x, labels, weight_decay=0.1)[0] == pytest.approx(
        plain + 0.05 * squares)


def test_network_with_dropout_gradients_match_finite_differences():
    rng = np.random.default_rng(16)
    net = model.mlp([5, 6, 4, 3], "relu", dropout=0.3, seed=0, dtype=np.float64)
    dropouts = [layer for layer in net.layers if isinstance(layer, Dropout)]
    assert len(dropouts) == 2 and isinstance(net.layers[-1], Dense)
    x, labels = rng.normal(size=(8, 5)), rng.integers(0, 3, size=8)

    def total_loss():
        for i, layer in enumerate(dropouts):         # the same masks at every call
            layer.rng = np.random.default_rng(i)
        return net.loss_and_gradients(x, labels, weight_decay=0.1)[0]

    total_loss()
    analytic = [p.grad.copy() for p in net.parameters()]
    for p, g in zip(net.parameters(), analytic):
        np.testing.assert_allclose(g, numerical_gradient(total_loss, p.value), atol=1e-7)
    # At test time dropout is off: the logits are those of the same network without it.
    plain = model.mlp([5, 6, 4, 3], "relu", seed=0, dtype=np.float64)
    plain.set_weights(net.get_weights())
    np.testing.assert_allclose(net.predict_logits(x), plain.forward(x))


# ------------------------------------------------------------------ the input gradient

EPS64 = np.finfo(np.float64).eps


def kinks(network):
    """Which side of its kinks each ReLU and max pooling was on in the last forward pass:
    the signs of the ReLUs' inputs, the first winner of each pooling window."""
    pattern = []
    for layer in network.layers:
        if isinstance(layer, ReLU):
            pattern.append(layer.positive.copy())
        elif isinstance(layer, MaxPool2d):
            k, s = layer.k, layer.stride
            windows = sliding_window_view(layer.x, (k, k), axis=(1, 2))[:, ::s, ::s]
            pattern.append(windows.reshape(*windows.shape[:4], k * k).argmax(axis=-1))
    return pattern


def check_input_gradient(network, x, labels, reset=lambda: None, training=False, h=3e-5):
    """``input_gradient`` against central differences of the cross-entropy, for a network
    made of affine maps (dense, convolutions, evaluation batch norm), ReLUs, max pooling
    and fixed dropout masks: linear on every segment [x - h e_i, x + h e_i] where no kink
    changes side, which ``kinks`` checks. ``reset()`` runs before each forward pass.

    numerical_gradient's error is then at most h^2 M / 6 + r / h (its docstring):
    * M: along x_i, z moves by u = dz/dx_i, so d^3 L / dx_i^3 is the softmax's third
      cumulant of u over N rows, at most (max u - min u)^3 / (6 sqrt 3 N) (a Bernoulli's
      bound); the logits' central differences give u exactly, to rounding.
    * r: L comes out of fewer than K = 500 roundings (the sums of at most 28 terms,
      amplified by the later layers' fewer than 28 weights of size < 1, the loss), each
      of a number smaller than S, the largest value the forward pass meets (L too).
    h = 3e-5 is about the best step (3 r / M)^(1/3) for these sizes.
    """
    reset()
    dx = network.input_gradient(x, labels, training=training)
    assert dx.shape == x.shape and dx.dtype == np.float64
    reset()
    outputs = [x]
    for layer in network.layers:
        outputs.append(layer.forward(outputs[-1], training))
    pattern, logits = kinks(network), outputs[-1]

    def value(index=None):
        reset()
        z = network.forward(x, training)
        for a, b in zip(kinks(network), pattern):
            np.testing.assert_array_equal(a, b, err_msg="a kink between x - h e_i and x + h e_i")
        return softmax_cross_entropy(z, labels)[0] if index is None else z[index]

    slopes = np.array([numerical_gradient(lambda: value(index), x, h)
                       for index in np.ndindex(logits.shape)])          # dz/dx, (N C, ...)
    spread = slopes.max(axis=0) - slopes.min(axis=0)
    third = spread.max() ** 3 / (6 * np.sqrt(3) * len(x))
    largest = max(max(np.abs(a).max() for a in outputs), softmax_cross_entropy(logits, labels)[0])
    tolerance = error_bound(h, 500 * EPS64 * largest, third)
    np.testing.assert_allclose(dx, numerical_gradient(value, x, h), rtol=0, atol=tolerance)
    return tolerance


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_input_gradient_of_an_mlp_matches_finite_differences(dropout):
    rng = np.random.default_rng(21)
    net = model.mlp([6, 5, 4, 3], "relu", dropout=dropout, seed=0, dtype=np.float64)
    for p in net.parameters():
        p.value[...] = rng.normal(scale=0.5, size=p.value.shape)   # non-zero biases too
    x, labels = rng.normal(size=(4, 6)), rng.integers(0, 3, size=4)
    assert check_input_gradient(net, x, labels) < 1e-7    # at test time: dropout off

    def same_masks():
        for i, layer in enumerate(net.layers):
            if isinstance(layer, Dropout):
                layer.rng = np.random.default_rng(i)

    assert check_input_gradient(net, x, labels, same_masks, training=True) < 1e-7


def in_float64(network, rng):
    """The network's parameters in float64, with random values; its batch norms' running
    statistics random too (so that evaluation is not the identity)."""
    for p in network.parameters():
        p.value = rng.normal(scale=0.5, size=p.value.shape)
        p.grad = np.zeros_like(p.value)
    for layer in network.layers:
        if isinstance(layer, BatchNorm):
            layer.running_mean = rng.normal(size=layer.channels)
            layer.running_var = rng.uniform(0.5, 2, size=layer.channels)
    return network


def test_input_gradient_of_a_cnn_matches_finite_differences():
    rng = np.random.default_rng(22)
    spec = [["conv", 3, 3, 1, 1], ["bn"], ["relu"], ["pool", 2], ["flatten"], ["dense", 4]]
    net = in_float64(build(spec, (6, 6, 2), seed=0), rng)
    x, labels = rng.normal(size=(2, 6, 6, 2)), np.array([1, 3])
    assert check_input_gradient(net, x, labels) < 1e-7


def test_only_input_gradient_asks_the_first_layer_for_dx():
    # Training skips dC/dx of the first layer (a third of its backward pass).
    rng = np.random.default_rng(23)
    net = model.mlp([4, 3, 2], "relu", seed=0, dtype=np.float64)
    x, labels = rng.normal(size=(5, 4)), rng.integers(0, 2, size=5)
    first, asked = net.layers[0], []

    def backward(grad, need_dx=True):
        asked.append(need_dx)
        return Dense.backward(first, grad, need_dx)

    first.backward = backward
    net.loss_and_gradients(x, labels)
    net.loss_and_gradients(x, labels, weight_decay=0.1)
    assert asked == [False, False]
    assert net.input_gradient(x, labels).shape == (5, 4) and asked[-1] is True


def test_input_gradient_takes_the_loss_and_refuses_an_unknown_one():
    rng = np.random.default_rng(24)
    net = model.mlp([4, 3, 2], seed=0, dtype=np.float64)
    x, labels = rng.normal(size=(5, 4)), rng.integers(0, 2, size=5)
    by_name = net.input_gradient(x, labels, "mse")
    np.testing.assert_array_equal(by_name, net.input_gradient(x, labels, LOSSES["mse"]))
    with pytest.raises(ValueError, match=r"^loss must be one of \['cross_entropy', 'mse', "):
        net.input_gradient(x, labels, "hinge")


def test_network_shapes_init_and_errors():
    net = model.mlp([10, 7, 5, 3], "relu", seed=0)
    assert [type(layer) for layer in net.layers] == [Dense, ReLU, Dense, ReLU, Dense]
    assert all(p.value.dtype == np.float32 for p in net.parameters())
    w = model.mlp([2000, 500, 3], "relu", seed=0).layers[0].w.value
    assert np.std(w) == pytest.approx(np.sqrt(2 / 2000), rel=0.02)     # He
    w = model.mlp([2000, 500, 3], "sigmoid", seed=0).layers[0].w.value
    assert np.abs(w).max() <= np.sqrt(6 / 2500)                         # Glorot
    with pytest.raises(ValueError, match="activation"):
        model.mlp([3, 2], "tanh")
    with pytest.raises(ValueError, match="sizes"):
        model.mlp([3])


def test_a_network_is_its_list_of_layers_applied_in_order():
    rng = np.random.default_rng(20)
    first, second = Dense(4, 3, rng=0, dtype=np.float64), Dense(3, 2, rng=1, dtype=np.float64)
    net = Network([first, ReLU(), second])
    assert net.parameters() == [first.w, first.b, second.w, second.b]
    x = rng.normal(size=(5, 4))
    expected = np.maximum(x @ first.w.value + first.b.value, 0) @ second.w.value + second.b.value
    np.testing.assert_allclose(net.forward(x), expected)
    np.testing.assert_allclose(net.predict_logits(x, batch_size=2), expected)
    weights = net.get_weights()
    weights[0][...] = 0                              # copies: the network is untouched
    assert first.w.value.any()


def test_loss_and_gradients_takes_a_loss_by_name_or_as_a_callable():
    rng = np.random.default_rng(17)
    net = model.mlp([4, 3, 3], seed=0)
    x, labels = rng.normal(size=(6, 4)).astype(np.float32), rng.integers(0, 3, size=6)
    by_name, z = net.loss_and_gradients(x, labels, "cross_entropy")
    gradients = [p.grad.copy() for p in net.parameters()]
    assert net.loss_and_gradients(x, labels, softmax_cross_entropy)[0] == by_name
    for p, g in zip(net.parameters(), gradients):
        np.testing.assert_array_equal(p.grad, g)
    smoothed = partial(softmax_cross_entropy, smoothing=0.2)
    assert net.loss_and_gradients(x, labels, smoothed)[0] == smoothed(z, labels)[0]
    for loss in ("hinge", 3):
        with pytest.raises(ValueError, match=r"^loss must be one of \['cross_entropy', 'mse', "
                                             f"'se'\\], got {loss!r}$"):
            net.loss_and_gradients(x, labels, loss)


@pytest.mark.parametrize("weight_decay", [float("nan"), float("inf"), -1.0, "0.1"])
def test_loss_and_gradients_refuses_a_weight_decay_that_is_not_finite_and_nonnegative(
        weight_decay):
    with pytest.raises(ValueError, match=r"^weight_decay must be a finite number >= 0, got "):
        model.mlp([2, 2], seed=0).loss_and_gradients(np.ones((1, 2)), np.array([1]),
                                                     weight_decay=weight_decay)


@pytest.mark.parametrize("make, message", [
    (lambda: model.mlp([3, 2.5, 2]), r"sizes\[1\] must be an integer >= 1, got 2.5"),
    (lambda: model.mlp([3, 0, 2]), r"sizes\[1\] must be an integer >= 1, got 0"),
    (lambda: model.mlp([True, 2]), r"sizes\[0\] must be an integer >= 1, got True"),
    (lambda: model.mlp([3, 2], seed=-1), r"seed must be None, an integer >= 0 or a numpy.random"),
    (lambda: model.mlp([3, 4, 2], dropout=1.0),
     r"dropout rate must be a finite number in \[0, 1\)"),
    (lambda: model.mlp([3, 4, 2], dropout=float("nan")), r"dropout rate must be a finite number"),
])
def test_networks_refuse_bad_settings_by_name(make, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        make()


# ------------------------------------------------------- the lab's network as a special case

def test_lab_network_is_the_one_layer_case():
    rng = np.random.default_rng(6)
    w1, b1, w2, b2 = mlp.init_weights(6, 5, 3, seed=0, dtype=np.float64)
    b1, b2 = rng.normal(size=b1.shape), rng.normal(size=b2.shape)
    x, labels = rng.normal(size=(9, 6)), rng.integers(0, 3, size=9)
    net = from_lab_weights(w1, b1, w2, b2)
    np.testing.assert_allclose(net.forward(x), mlp.forward(w1, b1, w2, b2, x)[1])
    # One full-batch step of SGD without momentum is the lab's gradient descent step.
    *expected, expected_loss = mlp.learn_once_cross_entropy(w1, b1, w2, b2, x, labels, 0.1)
    loss, _ = net.loss_and_gradients(x, labels)
    SGD(net.parameters(), momentum=0).step(0.1)
    assert loss == pytest.approx(expected_loss)
    for p, e in zip(net.get_weights(), expected):
        np.testing.assert_allclose(p, e)
    # Same for the lab's mean squared error.
    net = from_lab_weights(w1, b1, w2, b2)
    targets = one_hot(labels, 3)
    *expected, expected_loss = mlp.learn_once_mse(w1, b1, w2, b2, x, targets, 0.1)
    loss, _ = net.loss_and_gradients(x, labels, loss="mse")
    SGD(net.parameters(), momentum=0).step(0.1)
    assert loss == pytest.approx(expected_loss)
    for p, e in zip(net.get_weights(), expected):
        np.testing.assert_allclose(p, e)


def test_the_backward_pass_stops_at_trained_from():
    rng = np.random.default_rng(3)
    x, labels = rng.normal(size=(6, 4)), rng.integers(0, 3, 6)
    net = model.mlp([4, 5, 5, 3], "relu", seed=1, dtype=np.float64)
    net.loss_and_gradients(x, labels)
    full = [p.grad.copy() for p in net.parameters()]
    for p in net.parameters():
        p.grad[...] = -1                                   # marks a gradient left alone
    net.loss_and_gradients(x, labels, trained_from=2)      # layers 2.. (Dense, ReLU, Dense)
    grads = [p.grad for p in net.parameters()]
    assert all(np.all(g == -1) for g in grads[:2])         # the first Dense: untouched
    for got, expected in zip(grads[2:], full[2:]):
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match=r"trained_from must be an integer in \[0, 4\], got 5"):
        net.loss_and_gradients(x, labels, trained_from=5)
