"""Tests of imagelab.nn.losses: gradients against finite differences, values against the
direct formulas, label smoothing against PyTorch's definition, and a cross-entropy that
stays finite for huge logits."""
import numpy as np
import pytest

from imagelab.nn.gradcheck import error_bound, numerical_gradient
from imagelab.nn.losses import LOSSES, sigmoid_mse, softmax_cross_entropy, squared_error
from imagelab.nn.functional import log_softmax

EPS64 = np.finfo(np.float64).eps


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


def test_cross_entropy_without_smoothing_is_the_former_computation_to_the_bit():
    rng = np.random.default_rng(4)
    z, labels = rng.normal(size=(6, 5)).astype(np.float32) * 4, rng.integers(0, 5, size=6)
    log_p = log_softmax(z)                    # the function as it was before smoothing
    expected = np.exp(log_p)
    expected[np.arange(6), labels] -= 1
    expected /= 6
    for loss, dz in (softmax_cross_entropy(z, labels), softmax_cross_entropy(z, labels, 0.0)):
        assert loss == -float(np.mean(log_p[np.arange(6), labels]))
        assert dz.dtype == np.float32
        np.testing.assert_array_equal(dz, expected)


def smoothed_cross_entropy_float64(z, labels, smoothing):
    """PyTorch's CrossEntropyLoss(label_smoothing=eps) written out: the targets
    T = (1 - eps) Y + eps / C, the mean over the rows of -sum_c T_c log p_c, and its
    gradient (p - T) / N, p = exp(z) / sum exp(z) (no shift: moderate logits)."""
    n, c = z.shape
    targets = (1 - smoothing) * np.eye(c)[labels] + smoothing / c
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return -np.sum(targets * np.log(p)) / n, (p - targets) / n


@pytest.mark.parametrize("smoothing", [0.0, 0.2, 0.9])
def test_label_smoothing_is_pytorchs(smoothing):
    rng = np.random.default_rng(5)
    n, c = 8, 10
    z, labels = rng.normal(size=(n, c)) * 3, rng.integers(0, c, size=n)
    expected_loss, expected_dz = smoothed_cross_entropy_float64(z, labels, smoothing)
    loss, dz = softmax_cross_entropy(z, labels, smoothing)
    # Each log p has an error of at most (C + 4) eps M, M = max |z| + log C bounding
    # |log p|; a sum of N C of them adds N C eps M; both computations err, hence twice.
    m = np.abs(z).max() + np.log(c)
    assert abs(loss - expected_loss) <= 2 * (n * c + c + 4) * EPS64 * m
    # p has a relative error of (C + 5) eps M, T and the division by N one each.
    np.testing.assert_allclose(dz, expected_dz, rtol=0, atol=2 * (c + 7) * EPS64 * m / n)


@pytest.mark.parametrize("smoothing", [0.1, 0.5])
def test_smoothed_cross_entropy_gradient_matches_finite_differences(smoothing):
    rng = np.random.default_rng(6)
    n, c, h = 7, 4, 1e-6                          # h: numerical_gradient's step
    z, labels = rng.normal(size=(n, c)) * 3, rng.integers(0, c, size=n)
    _, dz = softmax_cross_entropy(z, labels, smoothing)
    numerical = numerical_gradient(lambda: softmax_cross_entropy(z, labels, smoothing)[0], z)
    # Central differences: the loss's rounding (as above, (N C + C + 4) eps M) over h,
    # plus the truncation h^2 / 6 times the third derivative, at most 1 / N (a
    # Bernoulli's third cumulant is at most 1 / (6 sqrt 3) < 1, and the mean over N rows).
    m = np.abs(z).max() + np.log(c)
    tolerance = error_bound(h, (n * c + c + 4) * EPS64 * m, 1 / n)
    np.testing.assert_allclose(dz, numerical, rtol=0, atol=tolerance)


def test_smoothing_keeps_float32_and_is_checked():
    z = np.array([[1000.0, -1000.0, 0.0]], dtype=np.float32)
    loss, dz = softmax_cross_entropy(z, np.array([1]), 0.3)
    assert np.isfinite(loss) and dz.dtype == np.float32 and np.all(np.isfinite(dz))
    for smoothing in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match=r"^smoothing must be a finite number in \[0, 1\), "
                                             f"got {smoothing}$"):
            softmax_cross_entropy(z, np.array([1]), smoothing)


def test_cross_entropy_is_finite_for_huge_logits():
    z = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]], dtype=np.float32)
    loss, dz = softmax_cross_entropy(z, np.array([0, 0]))
    assert np.isfinite(loss) and loss == pytest.approx(1000.0)
    assert dz.dtype == np.float32 and np.all(np.isfinite(dz))


def test_losses_by_name():
    assert LOSSES == {"cross_entropy": softmax_cross_entropy, "mse": sigmoid_mse,
                      "se": squared_error}
