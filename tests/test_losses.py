"""Tests of imagelab.losses: gradients against finite differences, values against the
direct formulas, and a cross-entropy that stays finite for huge logits."""
import numpy as np
import pytest

from conftest import numerical_gradient
from imagelab.losses import LOSSES, sigmoid_mse, softmax_cross_entropy, squared_error


@pytest.mark.parametrize("loss_fn", [softmax_cross_entropy, sigmoid_mse])
def test_loss_gradients_match_finite_differences(loss_fn):
    rng = np.random.default_rng(2)
    z, labels = rng.normal(size=(7, 4)) * 3, rng.integers(0, 4, size=7)
    _, dz = loss_fn(z, labels)
    np.testing.assert_allclose(dz, numerical_gradient(lambda: loss_fn(z, labels)[0], z),
                               atol=1e-8)


def test_loss_values_against_direct_formulas():
    rng = np.random.default_rng(3)
    z, labels = rng.normal(size=(5, 3)), rng.integers(0, 3, size=5)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    expected = -np.mean([np.log(p[n, labels[n]]) for n in range(5)])
    assert softmax_cross_entropy(z, labels)[0] == pytest.approx(expected)
    a = 1 / (1 + np.exp(-z))
    y = np.eye(3)[labels]
    assert sigmoid_mse(z, labels)[0] == pytest.approx(np.mean((a - y) ** 2))


def test_cross_entropy_is_finite_for_huge_logits():
    z = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]], dtype=np.float32)
    loss, dz = softmax_cross_entropy(z, np.array([0, 0]))
    assert np.isfinite(loss) and loss == pytest.approx(1000.0)
    assert dz.dtype == np.float32 and np.all(np.isfinite(dz))


def test_losses_by_name():
    assert LOSSES == {"cross_entropy": softmax_cross_entropy, "mse": sigmoid_mse,
                      "se": squared_error}
