"""Tests of imagelab.nn.layers: every gradient against finite differences, dropout's rate
and mean, the activations' values, and the settings a layer refuses."""
import math

import numpy as np
import pytest

from imagelab.nn.gradcheck import numerical_gradient
from imagelab.nn.layers import (ACTIVATIONS, GELU, Dense, Dropout, Layer, Parameter, ReLU, Scale,
                             Sigmoid)


def test_dense_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    layer = Dense(4, 3, "he", rng, dtype=np.float64)
    layer.b.value[...] = rng.normal(size=(1, 3))
    x, r = rng.normal(size=(5, 4)), rng.normal(size=(5, 3))

    def loss():                         # C = sum(Z * R), so dC/dZ = R
        return np.sum(layer.forward(x) * r)

    layer.forward(x)
    dx = layer.backward(r)
    for parameter in (layer.w, layer.b):
        np.testing.assert_allclose(parameter.grad,
                                   numerical_gradient(loss, parameter.value), atol=1e-8)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), atol=1e-8)
    assert layer.backward(r, need_dx=False) is None


@pytest.mark.parametrize("activation", [Sigmoid, ReLU, GELU])
def test_activation_gradients_match_finite_differences(activation):
    rng = np.random.default_rng(1)
    z = rng.normal(size=(6, 5))
    z[np.abs(z) < 1e-3] = 0.5           # keep ReLU away from its kink at 0
    r = rng.normal(size=z.shape)
    layer = activation()

    def loss():
        return np.sum(layer.forward(z) * r)

    layer.forward(z)
    np.testing.assert_allclose(layer.backward(r), numerical_gradient(loss, z), atol=1e-8)


def test_gelu_gradient_where_the_cubic_term_matters():
    # Inputs up to |x| = 4, where 0.044715 x^3 ~ 3 and tanh saturates. The third
    # derivative of this GELU stays below 0.8 in size, so central differences are off by
    # at most eps^2 * 0.8 / 6 ~ 1e-13 per entry, plus rounding, 1e-16 |C| / eps ~ 1e-9:
    # both far under the tolerance.
    rng = np.random.default_rng(7)
    z, r = rng.uniform(-4, 4, size=(5, 8)), rng.normal(size=(5, 8))
    layer = GELU()

    def loss():
        return np.sum(layer.forward(z) * r)

    layer.forward(z)
    np.testing.assert_allclose(layer.backward(r), numerical_gradient(loss, z), atol=1e-8)


def test_gelu_is_within_5e4_of_the_exact_erf_form():
    # x Phi(x) with math.erf, one value at a time. The tanh form's largest gap, 4.7e-4
    # near x = -2.7, lies inside the grid; beyond |x| = 10 both are x or 0 to 1e-20.
    x = np.linspace(-10, 10, 20001)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x])
    gap = np.abs(GELU().forward(x) - exact)
    assert gap.max() < 5e-4
    assert abs(x[gap.argmax()]) == pytest.approx(2.7, abs=0.05)


def test_gelu_keeps_float32_and_matches_its_float64_values():
    x = np.random.default_rng(8).normal(0, 3, size=(4, 6)).astype(np.float32)
    layer = GELU()
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(x))
    assert y.dtype == dx.dtype == np.float32
    # float32 against float64: about ten roundings of relative size 6e-8 on values of
    # size |x| <= 15 -> under 1e-5 absolute.
    exact = GELU()
    np.testing.assert_allclose(y, exact.forward(x.astype(np.float64)), atol=1e-5)
    np.testing.assert_allclose(dx, exact.backward(np.ones(x.shape)), atol=1e-5)
    assert ACTIVATIONS["gelu"] is GELU


def test_scale_multiplies_both_ways_and_keeps_the_dtype():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    layer = Scale(1 / 9)
    y = layer.forward(x)
    assert y.dtype == np.float32 and layer.backward(y).dtype == np.float32
    np.testing.assert_array_equal(y, x * np.float32(1 / 9))
    np.testing.assert_array_equal(layer.backward(x), x * np.float32(1 / 9))
    assert repr(layer) == "Scale(0.111)" and layer.parameters() == []
    with pytest.raises(ValueError, match="^factor must be a finite number, got inf$"):
        Scale(float("inf"))


def test_dropout_gradient_matches_finite_differences():
    rng = np.random.default_rng(15)
    x, r = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    layer = Dropout(0.4)

    def loss():                         # the same mask at every call: reseed first
        layer.rng = np.random.default_rng(0)
        return np.sum(layer.forward(x, training=True) * r)

    loss()
    np.testing.assert_allclose(layer.backward(r), numerical_gradient(loss, x), atol=1e-8)


def test_dropout_drops_at_its_rate_and_keeps_the_mean():
    x = np.ones((400, 500), np.float32)
    layer = Dropout(0.3, rng=0)
    out = layer.forward(x, training=True)
    assert out.dtype == np.float32
    assert np.mean(out == 0) == pytest.approx(0.3, abs=0.01)
    np.testing.assert_allclose(out[out != 0], 1 / 0.7, rtol=1e-6)
    assert np.mean(out) == pytest.approx(1, abs=0.01)
    assert layer.forward(x) is x                     # off outside training
    with pytest.raises(ValueError, match="dropout"):
        Dropout(1.0)


def test_activations_values():
    z = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(ReLU().forward(z), [[0, 0, 3]])
    np.testing.assert_allclose(Sigmoid().forward(z), 1 / (1 + np.exp(-z)))


def test_dense_refuses_an_unknown_init():
    with pytest.raises(ValueError, match="^init must be 'glorot', 'he' or 'uniform', got 'zeros'$"):
        Dense(2, 2, init="zeros")


def test_dense_without_bias():
    rng = np.random.default_rng(9)
    layer = Dense(4, 3, rng=0, dtype=np.float64, bias=False)
    assert layer.parameters() == [layer.w] and layer.b is None
    assert repr(layer) == "Dense(4, 3, bias=False)"
    x, r = rng.normal(size=(5, 4)), rng.normal(size=(5, 3))
    np.testing.assert_array_equal(layer.forward(x), x @ layer.w.value)

    def loss():
        return np.sum(layer.forward(x) * r)

    layer.forward(x)
    dx = layer.backward(r)
    np.testing.assert_allclose(layer.w.grad, numerical_gradient(loss, layer.w.value), atol=1e-8)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), atol=1e-8)
    with pytest.raises(ValueError, match="^bias must be True or False, got 0$"):
        Dense(4, 3, bias=0)


def test_dense_uniform_init_is_pytorchs():
    # U(-1/sqrt(d_in), 1/sqrt(d_in)): every weight inside the bound, and the variance
    # 1 / (3 d_in) within 5%, four times its relative standard error sqrt(0.8 / n) = 1.25%
    # for n = 5,120 weights.
    w = Dense(256, 20, init="uniform", rng=0).w.value
    assert np.abs(w).max() <= 1 / 16
    assert w.var() == pytest.approx(1 / (3 * 256), rel=0.05)


def test_parameters_of_each_layer():
    layer = Dense(3, 2, rng=0, dtype=np.float64)
    assert layer.parameters() == [layer.w, layer.b]
    assert layer.w.decay and not layer.b.decay                 # decay on weights only
    assert layer.w.value.shape == layer.w.grad.shape == (3, 2)
    assert layer.b.value.shape == (1, 2) and not layer.b.value.any()
    assert all(p.value.dtype == p.grad.dtype == np.float64 for p in layer.parameters())
    for other in (Sigmoid(), ReLU(), Dropout(0.5), Layer()):
        assert other.parameters() == []
    p = Parameter(np.ones(3, np.float32), decay=False)
    assert p.decay is False and p.grad.dtype == np.float32 and not p.grad.any()


@pytest.mark.parametrize("make, message", [
    (lambda: Dropout(float("nan")), r"dropout rate must be a finite number in \[0, 1\), got nan"),
    (lambda: Dropout(-0.2), r"dropout rate must be a finite number in \[0, 1\), got -0.2"),
    (lambda: Dropout(0.5, rng=-1), r"rng must be None, an integer >= 0 or a numpy.random"),
    (lambda: Dense(2.5, 3), r"d_in must be an integer >= 1, got 2.5"),
    (lambda: Dense(2, 0), r"d_out must be an integer >= 1, got 0"),
    (lambda: Dense(2, 3, rng=1.5), r"rng must be None, an integer >= 0 or a numpy.random"),
])
def test_layers_refuse_bad_settings_by_name(make, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        make()
