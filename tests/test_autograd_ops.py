"""The Tensor's newer operations: each gradient against finite differences, the
conventions at ties (as PyTorch's), comparisons, and the shapes that do not fit.

sqrt, abs, logsumexp, squeeze, unsqueeze and flatten are methods of the Tensor;
maximum, minimum, where, concatenate and stack functions of
``imagelab.autograd.functional``. Finite differences cannot see a tie (the function
has no derivative there), so the tests at ties check the values chosen by hand.
"""
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp as scipy_logsumexp

from imagelab.autograd.functional import concatenate, maximum, minimum, stack, where
from imagelab.autograd.tensor import Tensor, gradcheck


def normal(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def positive(*shape, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 2.0, shape)


# (name, function of Tensors, inputs); random inputs hold no ties and no zeros.
OPERATIONS = [
    ("sqrt", lambda a: a.sqrt(), [positive(3, 4)]),
    ("abs", lambda a: a.abs(), [normal(3, 4)]),
    ("maximum", lambda a, b: maximum(a, b), [normal(3, 4), normal(3, 4, seed=1)]),
    ("maximum broadcast", lambda a, b: maximum(a, b), [normal(3, 1), normal(2, 1, 4, seed=1)]),
    ("maximum with a number", lambda a: maximum(a, 0.3) + maximum(-0.2, a), [normal(3, 4)]),
    ("minimum broadcast", lambda a, b: minimum(a, b), [normal(4), normal(3, 4, seed=1)]),
    ("where", lambda a, b: where(a > 0, a * 2, b), [normal(3, 4), normal(3, 4, seed=1)]),
    ("where broadcast", lambda a, b: where(np.arange(4) % 2 == 0, a, b),
     [normal(3, 1), normal(4, seed=1)]),
    ("where with a number", lambda a: where(a < 0.5, a.exp(), 1.0), [normal(3, 4)]),
    ("concatenate axis 0", lambda a, b: concatenate([a, b, a]), [normal(2, 3), normal(4, 3)]),
    ("concatenate axis -1", lambda a, b: concatenate([a, b], axis=-1),
     [normal(2, 3, 1), normal(2, 3, 2, seed=1)]),
    ("concatenate with an array", lambda a: concatenate([np.ones((1, 3)), a]), [normal(2, 3)]),
    ("stack", lambda a, b: stack([a, b]), [normal(2, 3), normal(2, 3, seed=1)]),
    ("stack axis -1", lambda a, b: stack([a, b, a], axis=-1), [normal(2, 3), normal(2, 3)]),
    ("squeeze", lambda a: a.squeeze() * np.arange(3.0), [normal(1, 3, 1)]),
    ("squeeze axis", lambda a: a.squeeze(-1), [normal(1, 3, 1)]),
    ("unsqueeze", lambda a: a.unsqueeze(1) * np.arange(4.0).reshape(1, 4, 1), [normal(2, 3)]),
    ("unsqueeze -1", lambda a: a.unsqueeze(-1), [normal(2, 3)]),
    ("flatten", lambda a: a.flatten() * np.arange(24.0), [normal(2, 3, 4)]),
    ("flatten from 1", lambda a: a.flatten(1), [normal(2, 3, 4)]),
    ("flatten 0 to 1", lambda a: a.flatten(0, 1), [normal(2, 3, 4)]),
    ("flatten with an empty axis", lambda a: a.flatten(1), [normal(0, 3, 4)]),
    ("logsumexp", lambda a: a.logsumexp(), [normal(3, 4)]),
    ("logsumexp axis 1", lambda a: a.logsumexp(axis=1), [normal(3, 4) * 10]),
    ("logsumexp axes keepdims", lambda a: a.logsumexp(axis=(0, -1), keepdims=True),
     [normal(2, 3, 4)]),
]


@pytest.mark.parametrize("name, function, inputs", OPERATIONS,
                         ids=[case[0] for case in OPERATIONS])
def test_each_operation_against_finite_differences(name, function, inputs):
    assert gradcheck(function, *inputs)


# ------------------------------------------------------------------ ties, as PyTorch's

def gradients(function, *values):
    """The gradients of sum(function(*tensors)) with respect to each input."""
    tensors = [Tensor(np.array(v, dtype=float), requires_grad=True) for v in values]
    function(*tensors).sum().backward()
    return [t.grad for t in tensors]


def test_maximum_and_minimum_split_the_gradient_equally_at_ties():
    a, b = [1.0, 2.0, 0.0], [1.0, 1.0, 0.5]
    np.testing.assert_array_equal(gradients(maximum, a, b), [[0.5, 1, 0], [0.5, 0, 1]])
    np.testing.assert_array_equal(gradients(minimum, a, b), [[0.5, 0, 1], [0.5, 1, 0]])
    # maximum(x, x) = x: both halves come back to x.
    np.testing.assert_array_equal(gradients(lambda x: maximum(x, x), a)[0], [1, 1, 1])


def test_a_broadcast_tie_adds_its_halves():
    # b (one entry) ties with two entries of a and loses to the third.
    grads = gradients(maximum, [1.0, 1.0, 3.0], [1.0])
    np.testing.assert_array_equal(grads[0], [0.5, 0.5, 1])
    np.testing.assert_array_equal(grads[1], [1.0])


def test_abs_has_derivative_0_at_0():
    np.testing.assert_array_equal(gradients(lambda x: x.abs(), [-2.0, 0.0, 3.0])[0], [-1, 0, 1])


def test_sqrt_has_an_infinite_derivative_at_0_without_a_warning():
    x = Tensor(np.array([0.0, 0.0, 4.0]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x.sqrt().backward(np.array([1.0, 0.0, 1.0]))
    # g / (2 sqrt(x)): inf, and 0 / 0 = nan where g = 0, as torch.sqrt's.
    np.testing.assert_array_equal(x.grad, [np.inf, np.nan, 0.25])


def test_where_sends_each_gradient_to_the_operand_it_took():
    a, b = gradients(lambda a, b: where(np.array([True, False, True]), a, b),
                     [1.0, 2.0, 3.0], [4.0])
    np.testing.assert_array_equal(a, [1, 0, 1])
    np.testing.assert_array_equal(b, [1])


# ------------------------------------------------------------------ logsumexp

@pytest.mark.parametrize("axis, keepdims", [(None, False), (1, False), (0, True), ((0, 1), True)])
def test_logsumexp_agrees_with_scipy(axis, keepdims):
    x = normal(3, 4) * 30
    np.testing.assert_allclose(Tensor(x).logsumexp(axis, keepdims).data,
                               scipy_logsumexp(x, axis=axis, keepdims=keepdims), rtol=1e-14)


def test_logsumexp_neither_overflows_nor_breaks_on_minus_infinity():
    x = Tensor(np.array([[1000.0, 1000.0], [-np.inf, -np.inf], [-np.inf, 0.0]]),
               requires_grad=True)
    out = x.logsumexp(axis=1)
    np.testing.assert_allclose(out.data, [1000 + np.log(2), -np.inf, 0.0], rtol=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out.sum().backward()
    # The softmax of each row; of an all -inf row, nan (as torch.logsumexp's).
    np.testing.assert_allclose(x.grad, [[0.5, 0.5], [np.nan, np.nan], [0, 1]])


# ------------------------------------------------------------------ comparisons

def test_comparisons_give_boolean_arrays():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = Tensor(np.array([2.0, 2.0, 2.0]))
    for result, expected in [(x < y, [1, 0, 0]), (x <= y, [1, 1, 0]), (x > 2, [0, 0, 1]),
                             (x >= np.array([[3.0], [0.0]]), [[0, 0, 1], [1, 1, 1]]),
                             (2.5 < x, [0, 0, 1]), (np.full(3, 2.0) >= x, [1, 1, 0])]:
        assert type(result) is np.ndarray and result.dtype == bool
        np.testing.assert_array_equal(result, np.array(expected, bool))
    assert type(Tensor(1.0) < 2) is np.ndarray                  # 0-d: an array too


def test_equality_is_identity_so_tensors_stay_keys():
    x, twin = Tensor(np.ones(3)), Tensor(np.ones(3))
    assert x == x and x != twin and not (x == twin)
    assert twin not in [x] and len({x, twin}) == 2 and {x: 1}[x] == 1


def test_comparing_shapes_that_do_not_broadcast_names_them():
    with pytest.raises(ValueError, match=r"shapes \(2,\) and \(3,\) do not broadcast "
                                         r"together for <"):
        Tensor(np.ones(2)) < np.ones(3)


# ------------------------------------------------------------------ what does not fit

def test_refusals_name_the_shapes():
    x = Tensor(normal(2, 3))
    with pytest.raises(ValueError, match=r"cannot squeeze axis 1 of a tensor of shape \(2, 3\)"):
        x.squeeze(1)
    with pytest.raises(ValueError, match=r"axis 3 is out of bounds for inserting"):
        x.unsqueeze(3)
    with pytest.raises(ValueError, match=r"start 1 comes after end 0"):
        x.flatten(1, 0)
    with pytest.raises(ValueError, match=r"shapes \(2, 3\), \(4,\) cannot be concatenated "
                                         r"along axis 0"):
        concatenate([x, Tensor(normal(4))])
    with pytest.raises(ValueError, match=r"stack needs tensors of one shape, got shapes "
                                         r"\(2, 3\), \(3,\)"):
        stack([x, Tensor(normal(3))])
    with pytest.raises(ValueError, match=r"shapes \(2, 3\) and \(4,\) do not broadcast "
                                         r"together for maximum"):
        maximum(x, normal(4))
    with pytest.raises(ValueError, match=r"shapes \(5,\), \(2, 3\) and \(\) do not broadcast"):
        where(np.ones(5, bool), x, 0.0)


def test_where_takes_an_array_as_condition_and_a_tensor_among_the_operands():
    with pytest.raises(TypeError, match="not a Tensor"):
        where(Tensor(np.ones(2)), Tensor(np.ones(2)), 0.0)
    with pytest.raises(TypeError, match="at least one operand must be a Tensor"):
        where(np.ones(2, bool), 1.0, 0.0)
    with pytest.raises(TypeError, match="at least one Tensor"):
        concatenate([np.ones(2)])


def test_float32_stays_float32():
    x = Tensor(normal(2, 3).astype(np.float32), requires_grad=True)
    y = concatenate([maximum(x, 0.1), where(x > 0, x.abs().sqrt(), 0.0)]).logsumexp()
    y.backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
