"""Tests of imagelab.nn.network: a network's gradients against finite differences (weight decay
and dropout included), the multilayer perceptrons it builds, and the lab's network as the
one-hidden-layer case."""
from functools import partial

import numpy as np
import pytest

from imagelab.nn.gradcheck import numerical_gradient
from imagelab.classic import mlp
from imagelab.nn.functional import one_hot
from imagelab.nn import network as model
from imagelab.nn.layers import Dense, Dropout, ReLU
from imagelab.nn.losses import softmax_cross_entropy
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
