"""The Tensor framework's modules and losses, and its agreement with the layer-by-layer network."""
import numpy as np
import pytest

from imagelab.autograd.tensor import Tensor, gradcheck
from imagelab.autograd.nn import (Dropout, Linear, Module, ReLU, Sequential, Sigmoid, Tanh,
                                  binary_cross_entropy_with_logits, cross_entropy,
                                  from_network, mse_loss)
from imagelab.nn.layers import Dense
from imagelab.nn.layers import Dropout as DenseDropout
from imagelab.nn.losses import softmax_cross_entropy
from imagelab.nn.network import Network, mlp
from imagelab.nn.functional import sigmoid


class Block(Module):
    """A module holding parameters directly, in a list, and in a sub-module, one shared."""

    def __init__(self):
        self.scale = Tensor(np.ones(3), requires_grad=True)
        self.constant = Tensor(np.zeros(3))                       # no gradient: not a parameter
        self.layers = [Linear(3, 3, rng=0), Tanh()]
        self.inner = Sequential(Linear(3, 2, rng=1), Sigmoid())
        self.again = self.scale                                   # shared: listed once

    def forward(self, x):
        return self.inner(self.layers[1](self.layers[0](x * self.scale)))


def test_parameters_are_found_by_walking_the_attributes():
    block = Block()
    expected = [block.scale, block.layers[0].weight, block.layers[0].bias,
                block.inner.modules[0].weight, block.inner.modules[0].bias]
    assert [id(p) for p in block.parameters()] == [id(p) for p in expected]


def test_zero_grad_forgets_every_gradient():
    block = Block()
    block(Tensor(np.ones((4, 3)))).sum().backward()
    assert all(p.grad is not None for p in block.parameters())
    block.zero_grad()
    assert all(p.grad is None for p in block.parameters())


def test_train_and_eval_reach_every_sub_module():
    block = Block()
    assert block.eval() is block
    assert not block.training and not block.layers[1].training
    assert not block.inner.modules[1].training
    block.train()
    assert block.inner.modules[1].training


def test_a_module_without_forward_says_so():
    with pytest.raises(NotImplementedError, match="Module must define forward"):
        Module()(Tensor(1.0))


def test_dropout_in_training_and_in_evaluation():
    x = Tensor(np.ones((200, 50)))
    dropout = Dropout(0.2, rng=0)
    kept = dropout(x).data
    # About 20% zeros, the rest scaled by 1 / 0.8, so the mean stays near 1.
    assert abs(np.mean(kept == 0) - 0.2) < 0.01 and np.allclose(kept[kept > 0], 1.25)
    assert dropout.eval()(x) is x
    with pytest.raises(ValueError, match=r"rate must be a finite number in \[0, 1\), got 1"):
        Dropout(1)


def test_linear_draws_the_weights_of_a_dense_layer():
    linear, dense = Linear(5, 3, "he", rng=7), Dense(5, 3, "he", rng=7)
    np.testing.assert_array_equal(linear.weight.data, dense.w.value)
    assert linear.weight.dtype == np.float32 and linear.bias.shape == (3,)


def test_linear_gradients_against_finite_differences():
    linear = Linear(4, 3, rng=0, dtype=np.float64)

    def function(x, w, b):
        linear.weight, linear.bias = w, b
        return linear(x)
    x = np.random.default_rng(1).standard_normal((5, 4))
    assert gradcheck(function, x, linear.weight, linear.bias.data + 0.1)


# ------------------------------------------------------------------ losses

def test_binary_cross_entropy_is_the_textbook_formula():
    z = np.array([-3.0, -0.5, 0.0, 0.7, 4.0])
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    p = sigmoid(z)
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert binary_cross_entropy_with_logits(Tensor(z), y).item() == pytest.approx(expected,
                                                                                  rel=1e-14)


def test_binary_cross_entropy_is_stable_and_its_gradient_is_sigmoid_minus_target():
    z = Tensor(np.array([-1000.0, 0.0, 0.0, 1000.0]), requires_grad=True)
    y = np.array([0.0, 0.0, 1.0, 0.0])
    loss = binary_cross_entropy_with_logits(z, y)
    # Losses 0, log 2, log 2, 1000: finite where log(sigmoid) would give log(0).
    assert loss.item() == pytest.approx((2 * np.log(2) + 1000) / 4, rel=1e-14)
    loss.backward()
    np.testing.assert_allclose(z.grad, (np.array([0, 0.5, 0.5, 1]) - y) / 4, rtol=1e-14)


def test_cross_entropy_equals_the_layer_by_layer_loss_and_gradient():
    rng = np.random.default_rng(0)
    z = Tensor(rng.standard_normal((6, 4)) * 3, requires_grad=True)
    labels = rng.integers(0, 4, 6)
    loss = cross_entropy(z, labels)
    loss.backward()
    expected, dz = softmax_cross_entropy(z.data, labels)
    assert loss.item() == pytest.approx(expected, rel=1e-14)
    np.testing.assert_allclose(z.grad, dz, rtol=1e-12, atol=1e-15)


def test_cross_entropy_stays_finite_where_a_probability_underflows():
    z = Tensor(np.array([[1000.0, -1000.0]]))
    assert cross_entropy(z, [1]).item() == pytest.approx(2000.0)


def test_mse_loss():
    p = Tensor(np.array([[1.0, 2.0], [3.0, 5.0]]), requires_grad=True)
    loss = mse_loss(p, np.array([[1.0, 0.0], [3.0, 1.0]]))
    assert loss.item() == pytest.approx(5.0)            # (0 + 4 + 0 + 16) / 4
    loss.backward()
    np.testing.assert_allclose(p.grad, [[0, 1], [0, 2]])    # 2 (p - t) / 4


@pytest.mark.parametrize("loss", [
    lambda z: binary_cross_entropy_with_logits(z, [0.0, 1.0, 1.0, 0.0, 0.5, 1.0]),
    lambda z: cross_entropy(z.reshape(3, 2), [1, 0, 1]),
    lambda z: mse_loss(z, np.arange(6.0)),
])
def test_each_loss_against_finite_differences(loss):
    assert gradcheck(loss, np.random.default_rng(0).standard_normal(6) * 2)


@pytest.mark.parametrize("call, message", [
    (lambda: binary_cross_entropy_with_logits(Tensor(np.zeros((4, 1))), np.zeros(4)),
     r"predictions have shape \(4, 1\) but the targets have shape \(4,\)"),
    (lambda: mse_loss(Tensor(np.zeros(3)), np.zeros(2)),
     r"predictions have shape \(3,\) but the targets have shape \(2,\)"),
    (lambda: cross_entropy(Tensor(np.zeros((4, 3))), [0, 1]),
     r"logits have shape \(4, 3\) but the labels have shape \(2,\)"),
    (lambda: cross_entropy(Tensor(np.zeros((2, 3))), [0, 3]), r"labels must lie in 0..2, got 3"),
    (lambda: cross_entropy(Tensor(np.zeros(3)), [0]), r"shape \(N, C\), got \(3,\)"),
])
def test_loss_errors_name_the_shapes(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ------------------------------------------------------------------ the layer-by-layer network

@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_gradients_equal_the_layer_by_layer_networks_in_float64(activation):
    rng = np.random.default_rng(0)
    network = mlp([7, 6, 5, 4], activation, seed=0, dtype=np.float64)
    model = from_network(network)
    x, labels = rng.standard_normal((9, 7)), rng.integers(0, 4, 9)
    loss, _ = network.loss_and_gradients(x, labels)
    tensor_loss = cross_entropy(model(Tensor(x)), labels)
    tensor_loss.backward()
    assert tensor_loss.item() == pytest.approx(loss, abs=1e-10)
    assert len(model.parameters()) == len(network.parameters()) == 6
    for p, q in zip(model.parameters(), network.parameters()):
        assert p.grad.dtype == np.float64
        np.testing.assert_allclose(p.grad.ravel(), q.grad.ravel(), rtol=0, atol=1e-10)


def test_from_network_copies_the_weights_and_refuses_other_layers():
    network = mlp([3, 4, 2], "relu", seed=0)
    model = from_network(network)
    model.parameters()[0].data += 1                   # a copy: the network is untouched
    np.testing.assert_array_equal(network.parameters()[0].value, mlp([3, 4, 2], "relu",
                                                                     seed=0).get_weights()[0])
    with pytest.raises(ValueError, match="got Dropout"):
        from_network(Network([Dense(3, 2), DenseDropout(0.5)]))


def test_relu_module_is_the_tensors_relu():
    x = Tensor(np.array([-1.0, 2.0]))
    np.testing.assert_array_equal(ReLU()(x).data, [0.0, 2.0])
