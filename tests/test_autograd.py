"""The autograd Tensor: every operation's gradient against finite differences, the graph.

Each operation is checked by ``gradcheck`` (central differences in float64) at random
points, with shapes that broadcast in either direction; the graph tests build the
cases where a wrong traversal would show: a diamond, a tensor used several times, a
chain of 100,000 operations, a graph freed or kept.
"""
import weakref

import numpy as np
import pytest

from imagelab.autograd.tensor import Tensor, gradcheck, no_grad, unbroadcast
from imagelab.nn.gradcheck import GradcheckError


def normal(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def positive(*shape, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 2.0, shape)


# (name, function of Tensors, inputs): inputs for log, pow and division are positive.
OPERATIONS = [
    ("add", lambda a, b: a + b, [normal(3, 4), normal(3, 4, seed=1)]),
    ("add column + row", lambda a, b: a + b, [normal(3, 1), normal(1, 4, seed=1)]),
    ("add rank 3 + rank 1", lambda a, b: a + b, [normal(2, 3, 4), normal(4, seed=1)]),
    ("sub rank 1 - rank 3", lambda a, b: a - b, [normal(4), normal(2, 3, 4, seed=1)]),
    ("mul broadcast", lambda a, b: a * b, [normal(3, 1), normal(2, 3, 4, seed=1)]),
    ("div broadcast", lambda a, b: a / b, [normal(2, 3), positive(1, 3, seed=1)]),
    ("neg", lambda a: -a, [normal(2, 3)]),
    ("pow 2", lambda a: a ** 2, [normal(2, 3)]),
    ("pow 3", lambda a: a ** 3, [normal(2, 3)]),
    ("pow -1.5", lambda a: a ** -1.5, [positive(2, 3)]),
    ("constant on the left", lambda a: (2 - a) / (3 + a ** 2) * 0.5, [normal(2, 3)]),
    ("array on either side", lambda a: np.ones((3, 1)) - a * np.arange(4.0), [normal(3, 4)]),
    ("matmul", lambda a, b: a @ b, [normal(3, 4), normal(4, 5, seed=1)]),
    ("matmul vector @ matrix", lambda a, b: a @ b, [normal(4), normal(4, 5, seed=1)]),
    ("matmul matrix @ vector", lambda a, b: a @ b, [normal(3, 4), normal(4, seed=1)]),
    ("matmul vector @ vector", lambda a, b: a @ b, [normal(4), normal(4, seed=1)]),
    ("matmul batched", lambda a, b: a @ b, [normal(2, 3, 4), normal(4, 5, seed=1)]),
    ("matmul batch broadcast", lambda a, b: a @ b,
     [normal(2, 1, 3, 4), normal(3, 4, 2, seed=1)]),
    ("array @ tensor", lambda a: np.arange(6.0).reshape(2, 3) @ a, [normal(3, 2)]),
    ("exp", lambda a: a.exp(), [normal(2, 3)]),
    ("log", lambda a: a.log(), [positive(2, 3)]),
    ("sum", lambda a: a.sum(), [normal(2, 3, 4)]),
    ("sum axis 1", lambda a: a.sum(axis=1), [normal(2, 3, 4)]),
    ("sum axes (0, 2) keepdims", lambda a: a.sum(axis=(0, 2), keepdims=True),
     [normal(2, 3, 4)]),
    ("sum axis -1", lambda a: a.sum(axis=-1), [normal(2, 3, 4)]),
    ("mean", lambda a: a.mean(), [normal(2, 3, 4)]),
    ("mean axis 0 keepdims", lambda a: a.mean(axis=0, keepdims=True), [normal(2, 3, 4)]),
    ("mean axes (1, -1)", lambda a: a.mean(axis=(1, -1)), [normal(2, 3, 4)]),
    ("max", lambda a: a.max(), [normal(2, 3, 4)]),
    ("max axis 1", lambda a: a.max(axis=1), [normal(2, 3, 4)]),
    ("max axis -1 keepdims", lambda a: a.max(axis=-1, keepdims=True), [normal(2, 3, 4)]),
    ("reshape", lambda a: a.reshape(4, 6) * np.arange(6.0), [normal(2, 3, 4)]),
    ("reshape tuple -1", lambda a: a.reshape((3, -1)), [normal(2, 3, 4)]),
    ("T", lambda a: a.T * np.arange(3.0), [normal(3, 4)]),
    ("transpose axes", lambda a: a.transpose(2, 0, 1), [normal(2, 3, 4)]),
    ("transpose negative axes", lambda a: a.transpose(-1, 0, 1), [normal(2, 3, 4)]),
    ("transpose square (0, -1)", lambda a: a.transpose(0, -1), [normal(3, 3)]),
    ("slice", lambda a: a[1:, ::2], [normal(3, 5)]),
    ("integer", lambda a: a[1], [normal(3, 5)]),
    ("integer array, repeated", lambda a: a[np.array([2, 0, 2, 2])], [normal(3, 5)]),
    ("row and column arrays", lambda a: a[np.array([0, 1, 1]), np.array([4, 0, 4])],
     [normal(3, 5)]),
    ("boolean mask", lambda a: a[a.data > 0], [normal(3, 5)]),
    ("relu", lambda a: a.relu(), [normal(3, 5)]),
    ("sigmoid", lambda a: a.sigmoid(), [normal(3, 5) * 5]),
    ("tanh", lambda a: a.tanh(), [normal(3, 5)]),
    ("softplus", lambda a: a.softplus(), [normal(3, 5) * 5]),
    ("softmax", lambda a: a.softmax(), [normal(3, 5)]),
    ("softmax axis 0", lambda a: a.softmax(axis=0), [normal(3, 5)]),
    ("log_softmax", lambda a: a.log_softmax(axis=1), [normal(3, 5)]),
    ("log_softmax rank 3", lambda a: a.log_softmax(axis=0), [normal(2, 3, 4)]),
    ("clip", lambda a: a.clip(-0.5, 0.5), [normal(3, 5)]),
    ("clip below only", lambda a: a.clip(low=0.2), [normal(3, 5)]),
    ("a small network", lambda x, w, b: (x @ w + b).tanh().log_softmax(axis=1).max(axis=1),
     [normal(4, 3), normal(3, 5, seed=1), normal(5, seed=2)]),
]


@pytest.mark.parametrize("name, function, inputs", OPERATIONS,
                         ids=[case[0] for case in OPERATIONS])
def test_each_operation_against_finite_differences(name, function, inputs):
    assert gradcheck(function, *inputs)


def test_gradcheck_catches_a_wrong_gradient():
    # x * detach(x): backward sees x (the detached factor a constant), the truth is 2 x.
    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(2, 3\)\), entry \(0, 0\)"):
        gradcheck(lambda x: x * x.detach(), normal(2, 3))


def test_gradcheck_refuses_bad_tolerances():
    with pytest.raises(ValueError, match="step must be a finite number > 0, got 0"):
        gradcheck(lambda x: x, normal(2), step=0)


def test_gradcheck_runs_in_float64_on_float32_inputs():
    # In float32 a step of 1e-6 would be lost in rounding; the copy in float64 is not.
    assert gradcheck(lambda x: (x * x).exp(), normal(2, 3).astype(np.float32))


@pytest.mark.parametrize("grad_shape, shape, expected", [
    ((3, 4), (4,), lambda g: g.sum(axis=0)),
    ((3, 4), (3, 1), lambda g: g.sum(axis=1, keepdims=True)),
    ((2, 3, 4), (1, 3, 1), lambda g: g.sum(axis=(0, 2)).reshape(1, 3, 1)),
    ((2, 3), (), lambda g: g.sum()),
    ((2, 3), (2, 3), lambda g: g),
])
def test_unbroadcast_sums_over_the_broadcast_axes(grad_shape, shape, expected):
    g = normal(*grad_shape)
    np.testing.assert_allclose(unbroadcast(g, shape), expected(g), rtol=1e-14)


# ------------------------------------------------------------------ dtypes and values

def test_float32_stays_float32_values_and_gradients():
    x = Tensor(normal(3, 4).astype(np.float32), requires_grad=True)
    y = ((x * 2 + 1.5) @ np.ones((4, 2))).sigmoid().log_softmax().mean()
    y.backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


def test_integers_become_float64():
    assert Tensor([1, 2]).dtype == np.float64 and Tensor(np.array([True])).dtype == np.float64


def test_float32_gradients_from_a_float64_operand_are_cast_back():
    x = Tensor(np.ones(3, np.float32), requires_grad=True)
    (x * Tensor(np.ones(3))).sum().backward()
    assert x.grad.dtype == np.float32


def test_an_array_on_the_left_gives_a_tensor():
    x = Tensor(normal(3), requires_grad=True)
    y = np.ones(3) + x
    assert isinstance(y, Tensor) and y.requires_grad


def test_a_tensor_is_not_data():
    with pytest.raises(TypeError, match="detach"):
        Tensor(Tensor([1.0]))
    with pytest.raises(ValueError, match="dtype complex128"):
        Tensor(np.ones(2, complex))


def test_the_stable_functions_do_not_overflow():
    z = Tensor(np.array([[-1000.0, 0.0, 1000.0]]), requires_grad=True)
    np.testing.assert_allclose(z.softmax().data, [[0, 0, 1]])
    np.testing.assert_allclose(z.log_softmax().data, [[-2000, -1000, 0]])
    np.testing.assert_allclose(z.sigmoid().data, [[0, 0.5, 1]])
    np.testing.assert_allclose(z.softplus().data, [[0, np.log(2), 1000]])


def test_max_shares_the_gradient_between_ties():
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]), requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0.5, 0.5], [1, 0, 0]])


@pytest.mark.parametrize("p", [0, 1, 2, 3])
def test_the_derivative_of_an_integer_power_holds_at_and_near_zero(p):
    # p x^(p - 1), and 0 for p = 0 even at x = 0 (x^0 = 1 everywhere): never 0 * inf.
    x = Tensor(np.array([0.0, 1e-3, -1e-3, 1.5]), requires_grad=True)
    (x ** p).sum().backward()
    expected = np.zeros(4) if p == 0 else p * x.data ** (p - 1)
    np.testing.assert_array_equal(x.grad, expected)


@pytest.mark.parametrize("p", [0.5, -1, -1.5])
def test_the_derivative_of_a_power_near_zero(p):
    x = Tensor(np.array([1e-6, 1e-3, 0.7]), requires_grad=True)
    (x ** p).sum().backward()
    np.testing.assert_allclose(x.grad, p * x.data ** (p - 1), rtol=1e-15)


def test_relu_passes_no_gradient_at_zero():
    x = Tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    x.relu().sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 0, 1])


# ------------------------------------------------------------------ the graph

def test_a_diamond_adds_both_paths():
    # y = (2x)(3x) = 6 x^2, dy/dx = 12 x: x reaches y through two nodes.
    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    ((x * 2) * (x * 3)).sum().backward()
    np.testing.assert_allclose(x.grad, [12.0, -24.0])


def test_a_tensor_used_several_times_accumulates():
    # y = x x x + x, dy/dx = 3 x^2 + 1.
    x = Tensor(np.array([2.0, 3.0]), requires_grad=True)
    (x * x * x + x).sum().backward()
    np.testing.assert_allclose(x.grad, [13.0, 28.0])


def test_gradients_accumulate_over_backward_calls_until_reset():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * x).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, [5.0, 7.0])        # 2 x + 3
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 3.0])


@pytest.mark.slow
def test_a_chain_of_100000_operations():
    # Recursion would stop near 1,000 nodes; d(1.00001^n x)/dx = 1.00001^n.
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.00001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 1.00001 ** 100_000, rtol=1e-9)


def test_no_grad_records_nothing_and_is_restored():
    x = Tensor(normal(3), requires_grad=True)
    with no_grad():
        y = x * 2
        with no_grad():
            pass
        z = y + x
    assert not y.requires_grad and not z.requires_grad and y.is_leaf
    assert (x * 2).requires_grad                       # restored after the block
    with pytest.raises(RuntimeError, match="requires no gradient"):
        z.sum().backward()


def test_detach_stops_the_gradient():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * x.detach()).sum().backward()
    np.testing.assert_allclose(x.grad, [1.0, 2.0])      # x, not 2 x


def test_the_graph_is_freed_after_backward():
    x = Tensor(normal(1000), requires_grad=True)
    y = x.exp()
    held = weakref.ref(y.data)
    z = (y * 2).sum()
    del y
    assert held() is not None                           # the graph keeps exp(x) for z
    z.backward()
    assert held() is None                               # nothing outlives the backward


def test_a_second_backward_through_a_freed_graph_is_refused():
    x = Tensor(normal(3), requires_grad=True)
    y = (x * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="freed graph.*retain_graph=True"):
        y.backward()


def test_retain_graph_keeps_it_for_another_backward():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, [4.0, 8.0])      # twice 2 x


def test_backward_needs_a_gradient_for_more_than_one_element():
    x = Tensor(normal(2, 3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"one element .* got shape \(2, 3\)"):
        (x * 2).backward()
    (x * 2).backward(np.ones((2, 3)))
    np.testing.assert_allclose(x.grad, 2.0)


# ------------------------------------------------------------------ shapes that do not fit

@pytest.mark.parametrize("function, message", [
    (lambda a, b: a + b, r"shapes \(2, 3\) and \(4, 3\) do not broadcast together for \+"),
    (lambda a, b: a * b, r"shapes \(2, 3\) and \(4, 3\) do not broadcast together for \*"),
    (lambda a, b: a @ b, r"shapes \(2, 3\) and \(4, 3\) do not fit for @: 3 columns against 4"),
])
def test_shapes_that_do_not_fit_are_named(function, message):
    with pytest.raises(ValueError, match=message):
        function(Tensor(normal(2, 3)), Tensor(normal(4, 3)))


def test_other_shape_errors_name_both_shapes():
    x = Tensor(normal(2, 3), requires_grad=True)
    with pytest.raises(ValueError, match=r"shape \(2, 3\) \(6 entries\) into shape \(4,\)"):
        x.reshape(4)
    with pytest.raises(ValueError, match=r"grad has shape \(3,\) but the tensor has shape "
                                         r"\(2, 3\)"):
        (x * 2).backward(np.ones(3))
    with pytest.raises(ValueError, match=r"shapes \(\) and \(3,\)"):
        Tensor(1.0) @ Tensor(normal(3))


def test_indexing_with_a_tensor_is_refused():
    with pytest.raises(TypeError, match="not with Tensors"):
        Tensor(normal(3))[Tensor([0])]


def test_the_exponent_is_a_constant():
    with pytest.raises(TypeError, match="got Tensor"):
        Tensor(normal(3)) ** Tensor(normal(3))
