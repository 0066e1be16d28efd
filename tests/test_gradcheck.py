"""Tests of imagelab.nn.gradcheck: the error of central differences is the one its
docstring derives (truncation h^2 f''' / 6, rounding r / h), the point is restored, and
``check_gradient`` names the first wrong entry."""
import numpy as np
import pytest

from imagelab.autograd.tensor import gradcheck
from imagelab.nn.gradcheck import (GradcheckError, check_gradient, error_bound,
                                   numerical_gradient)

EPS64 = np.finfo(np.float64).eps


def point(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_a_quadratic_has_no_truncation_error_only_rounding():
    # f = sum x^2 / 2 has f''' = 0. Its n products and n - 1 additions err by at most
    # n eps sum x^2 / 2 = n eps f; rounding x_i +- h moves f by at most |f'| eps |x_i| / 2.
    x = point(3, 4)
    f = lambda: 0.5 * float(np.sum(x * x))                          # noqa: E731
    h = 1e-6
    rounding = x.size * EPS64 * f() + EPS64 * np.max(x * x) / 2
    np.testing.assert_allclose(numerical_gradient(f, x, h), x, rtol=0,
                               atol=error_bound(h, rounding, 0))


@pytest.mark.parametrize("h", [1e-2, 3e-3])
def test_a_cubic_errs_by_exactly_h_squared_over_six(h):
    # f = sum x^3 / 6: f' = x^2 / 2 and f''' = 1, so D - f' = h^2 / 6 to the rounding:
    # f's n + 1 roundings, at most (n + 1) eps sum |x|^3 / 6, that of x_i +- h, which
    # moves f by |f'| eps |x_i| / 2, and that of the reference x^2 / 2.
    x = point(5)
    f = lambda: float(np.sum(x ** 3)) / 6                            # noqa: E731
    cubes = np.abs(x) ** 3
    rounding = (x.size + 1) * EPS64 * float(np.sum(cubes)) / 6 + EPS64 * np.max(cubes) / 4
    error = numerical_gradient(f, x, h) - x * x / 2
    np.testing.assert_allclose(error, h ** 2 / 6, rtol=0,
                               atol=rounding / h + EPS64 * np.max(x * x))


def test_the_point_is_restored_to_the_bit():
    x = point(4, 3) * 1e3
    before = x.copy()
    numerical_gradient(lambda: float(np.sum(np.sin(x))), x, 0.1)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("call, message", [
    (lambda: numerical_gradient(lambda: 0.0, np.ones(2, np.float32)),
     r"^x must be a float64 array \(central differences need its precision\), got float32$"),
    (lambda: numerical_gradient(lambda: 0.0, [1.0, 2.0]),
     r"^x must be a float64 array .*, got list$"),
    (lambda: numerical_gradient(lambda: 0.0, np.ones(2), step=0),
     r"^step must be a finite number > 0, got 0$"),
    (lambda: check_gradient(lambda: 0.0, np.ones(2), np.ones(3)),
     r"^gradient must have the shape of x, \(2,\), got \(3,\)$"),
    (lambda: check_gradient(lambda: 0.0, np.ones(2), np.ones(2), atol=-1),
     r"^atol must be a finite number >= 0, got -1$"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_check_gradient_names_the_first_wrong_entry():
    x = point(2, 3)
    f = lambda: float(np.sum(np.exp(x)))                            # noqa: E731
    assert check_gradient(f, x, np.exp(x), atol=1e-8)
    wrong = np.exp(x)
    wrong[1, 0] += 1e-6
    wrong[1, 2] += 1e-6
    with pytest.raises(GradcheckError, match=r"^weights \(shape \(2, 3\)\), entry \(1, 0\): "
                                             r"gradient .*, finite differences "):
        check_gradient(f, x, wrong, atol=1e-8, rtol=0, name="weights")


def test_the_tensors_gradcheck_raises_the_same_error():
    with pytest.raises(GradcheckError, match=r"^input 1 \(shape \(3,\)\), entry \(0,\)"):
        gradcheck(lambda a, b: a * b.detach(), point(3), point(3, seed=1))
