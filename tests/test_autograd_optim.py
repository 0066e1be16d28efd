"""Optimizers on Tensor parameters: the layer-by-layer network's update rules, to the bit."""
import numpy as np
import pytest

from conftest import ADAM_SETTINGS, LEARNING_RATES, SGD_SETTINGS, adam_loop, sgd_loop
from imagelab.nn import optim as optimizers
from imagelab.autograd.tensor import Tensor
from imagelab.autograd.optim import SGD, Adam
from imagelab.nn.layers import Parameter

RULES = ([(SGD, optimizers.SGD, sgd_loop, settings) for settings in SGD_SETTINGS]
         + [(Adam, optimizers.Adam, adam_loop, settings) for settings in ADAM_SETTINGS])
IDS = [f"{make.__name__} {settings}" for make, _, _, settings in RULES]


def twins(seed=0):
    """The same two weight arrays as Tensors and as layer Parameters, and 4 gradients each."""
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal((3, 4)), rng.standard_normal(4)]
    tensors = [Tensor(v.copy(), requires_grad=True) for v in values]
    parameters = [Parameter(v.copy()) for v in values]
    grads = [[rng.standard_normal(v.shape) for v in values] for _ in LEARNING_RATES]
    return values, tensors, parameters, grads


def run(optimizer, tensors, grads):
    """Step ``optimizer`` once per learning rate of LEARNING_RATES, with ``grads``."""
    for learning_rate, step_grads in zip(LEARNING_RATES, grads):
        for t, g in zip(tensors, step_grads):
            t.grad = g
        optimizer.learning_rate = learning_rate
        optimizer.step()


@pytest.mark.parametrize("make, make_layer, loop, settings", RULES, ids=IDS)
def test_steps_equal_the_layer_by_layer_optimizers_to_the_bit(make, make_layer, loop,
                                                              settings):
    _, tensors, parameters, grads = twins()
    run(make(tensors, 1.0, **settings), tensors, grads)
    layer_optimizer = make_layer(parameters, **settings)
    for learning_rate, step_grads in zip(LEARNING_RATES, grads):
        for p, g in zip(parameters, step_grads):
            p.grad = g
        layer_optimizer.step(learning_rate)
    for t, p in zip(tensors, parameters):
        np.testing.assert_array_equal(t.data, p.value)


@pytest.mark.parametrize("make, make_layer, loop, settings", RULES, ids=IDS)
def test_steps_follow_the_rule_written_out(make, make_layer, loop, settings):
    values, tensors, _, grads = twins(seed=1)
    run(make(tensors, 1.0, **settings), tensors, grads)
    for i, (t, value) in enumerate(zip(tensors, values)):
        expected = loop(value, [g[i] for g in grads], LEARNING_RATES, **settings)
        if make is SGD:             # the same operations in the same order (test_optimizers)
            np.testing.assert_array_equal(t.data, expected)
        else:
            np.testing.assert_allclose(t.data, expected)


def test_weight_decay_adds_its_gradient():
    # From zero velocity: w <- w - lr (g + wd w).
    w = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    w.grad = np.array([0.5, 0.5])
    SGD([w], 0.1, momentum=0.9, weight_decay=0.01).step()
    np.testing.assert_allclose(w.data, [1 - 0.1 * (0.5 + 0.01), -2 - 0.1 * (0.5 - 0.02)])


@pytest.mark.parametrize("optimizer", [Adam, SGD])
def test_a_parameter_without_gradient_is_left_alone(optimizer):
    used, unused = (Tensor(np.ones(2), requires_grad=True) for _ in range(2))
    used.grad = np.ones(2)
    optimizer([used, unused], 0.1).step()
    assert np.all(used.data < 1) and np.all(unused.data == 1)


def test_zero_grad_and_a_descent():
    # Minimise ||w - 3||^2 with SGD and momentum: w reaches 3.
    w = Tensor(np.zeros(2), requires_grad=True)
    optimizer = SGD([w], 0.1, momentum=0.5)
    for _ in range(100):
        optimizer.zero_grad()
        ((w - 3.0) ** 2).sum().backward()
        optimizer.step()
    np.testing.assert_allclose(w.data, 3.0, atol=1e-6)


@pytest.mark.parametrize("call, message", [
    (lambda: SGD([], 0.1), "parameters must hold at least one Tensor, got none"),
    (lambda: SGD([Tensor(np.ones(2))], 0.1), "Tensors requiring a gradient, got Tensor"),
    (lambda: Adam([np.ones(2)], 0.1), r"got array\(\[1., 1.\]\) at position 0"),
    (lambda: Adam([Tensor(1.0, requires_grad=True)], -1.0),
     "learning_rate must be a finite number > 0, got -1.0"),
    (lambda: SGD([Tensor(1.0, requires_grad=True)], 0.1, momentum=1),
     r"momentum must be a finite number in \[0, 1\), got 1"),
    (lambda: SGD([Tensor(1.0, requires_grad=True)], 0.1, weight_decay=float("nan")),
     "weight_decay must be a finite number >= 0, got nan"),
    (lambda: SGD([Tensor(1.0, requires_grad=True)], 0.1, nesterov=1),
     "nesterov must be True or False, got 1"),
    (lambda: Adam([Tensor(1.0, requires_grad=True)], 0.1, eps=0),
     "eps must be a finite number > 0, got 0"),
])
def test_arguments_are_checked(call, message):
    with pytest.raises(ValueError, match=message):
        call()
