"""Tests of imagelab.nn.whitening: the whitening convolution decorrelates the patches it was
computed on, in the order and layout of ``Conv2d``; its shapes and refusals."""
import numpy as np
import pytest

from imagelab.nn import whitening
from imagelab.nn.conv import Conv2d
from imagelab.nn.whitening import patch_whitening

U32 = np.finfo(np.float32).eps / 2          # unit roundoffs
U64 = np.finfo(np.float64).eps / 2


def correlated_images(rng, n=40, size=9, channels=3):
    """Images whose neighbouring pixels and channels are correlated, with a mean != 0."""
    z = rng.normal(size=(n, size + 1, size + 1, channels))
    x = z[:, 1:, 1:] + 0.7 * z[:, :-1, 1:] + 0.4 * z[:, 1:, :-1]
    mixing = rng.normal(size=(channels, channels)) + 2 * np.eye(channels)
    return x @ mixing + 0.5


def patches_loop(images, k):
    """Every k x k patch (stride 1), flattened in (a, b, c) order, one by one."""
    n, h, w, _ = images.shape
    return np.array([images[i, y:y + k, x:x + k, :].ravel()
                     for i in range(n) for y in range(h - k + 1) for x in range(w - k + 1)])


def whitened_covariance(images, kernel_size, eps):
    """Mean square products of the first d outputs of the whitening Conv2d on ``images``,
    after checking that the last d outputs are their negatives."""
    d = kernel_size * kernel_size * images.shape[3]
    conv = Conv2d(images.shape[3], 2 * d, kernel_size)
    conv.w.value[...] = patch_whitening(images, kernel_size, eps)
    outputs = conv.forward(images).reshape(-1, 2 * d)    # float64 images: float64 products
    # Filter d + i is minus filter i, but BLAS may sum the d terms of the two columns in
    # different orders (edge blocks, other kernels), so they agree only to rounding: each
    # computed dot product of d terms is within gamma_d |p| . |w| of the exact one,
    # gamma_d = d u64 / (1 - d u64), hence the pair within twice that.
    gamma = d * U64 / (1 - d * U64)
    patches = patches_loop(images, kernel_size)
    weights = conv.w.value.reshape(d, 2 * d)[:, :d]
    bound = 2 * gamma * (np.abs(patches) @ np.abs(weights)) * (1 + gamma)
    assert np.all(np.abs(outputs[:, d:] + outputs[:, :d]) <= bound)
    return outputs[:, :d].T @ outputs[:, :d] / len(outputs)


def tolerance(eigenvalues, eps, n):
    """Bound on |F~^T Sigma F~ - diag(lambda / (lambda + eps))|, entry by entry.

    The float32 weights are F (1 + delta), |delta| <= u32, F's columns V_i / sqrt(lambda_i
    + eps): entry (i, j) moves by at most u32 (sqrt(k_i) + sqrt(k_j)) + u32^2 sqrt(k_i k_j),
    k_i = lambda_max / (lambda_i + eps). The float64 sums over n patches (in chunks in
    ``patch_whitening``, at once here) and the eigen-decomposition of d x d move it by at
    most (n + d) u64 max(k_i, k_j) each.
    """
    kappa = eigenvalues[0] / (eigenvalues + eps)
    root = np.sqrt(kappa)
    return (U32 * (root[:, None] + root[None, :] + U32 * np.outer(root, root))
            + 2 * (n + len(kappa)) * U64 * np.maximum(kappa[:, None], kappa[None, :]))


@pytest.mark.parametrize("kernel_size", [2, 3])
def test_the_convolution_whitens_the_patches_in_decreasing_order(monkeypatch, kernel_size):
    monkeypatch.setattr(whitening, "IMAGES_PER_CHUNK", 7)   # 40 images: 6 chunks, uneven
    images = correlated_images(np.random.default_rng(0))
    patches = patches_loop(images, kernel_size)
    n = len(patches)
    eigenvalues = np.linalg.eigvalsh(patches.T @ patches / n)[::-1]     # decreasing
    # eps far below the eigenvalues: nearly white, |1 - lambda / (lambda + eps)| <=
    # eps / lambda_min; eps at their median: the variances fall with the eigenvalues.
    for eps in (5e-4, float(np.median(eigenvalues))):
        covariance = whitened_covariance(images, kernel_size, eps)
        expected = np.diag(eigenvalues / (eigenvalues + eps))
        assert np.all(np.abs(covariance - expected) <= tolerance(eigenvalues, eps, n))
    assert eigenvalues[-1] > 100 * 5e-4
    covariance = whitened_covariance(images, kernel_size, 5e-4)
    bound = 5e-4 / eigenvalues[-1] + tolerance(eigenvalues, 5e-4, n)
    assert np.all(np.abs(covariance - np.eye(len(eigenvalues))) <= bound)


def test_whitening_weights_shape_dtype_and_signs():
    images = correlated_images(np.random.default_rng(1), n=3, size=6, channels=2)
    for kernel_size, channels_out in ((1, 4), (2, 16), (3, 36)):
        weights = patch_whitening(images.astype(np.float32), kernel_size)
        assert weights.shape == (kernel_size, kernel_size, 2, channels_out)
        assert weights.dtype == np.float32
        half = channels_out // 2
        np.testing.assert_array_equal(weights[..., half:], -weights[..., :half])


@pytest.mark.parametrize("call, message", [
    (lambda: patch_whitening(np.ones((4, 4, 3))),
     r"images must be a non-empty 4-D array \(N, H, W, C\), got shape \(4, 4, 3\)"),
    (lambda: patch_whitening(np.ones((0, 4, 4, 3))),
     r"images must be a non-empty 4-D array \(N, H, W, C\), got shape \(0, 4, 4, 3\)"),
    (lambda: patch_whitening(np.ones((2, 1, 5, 3))),
     r"images must be at least kernel_size x kernel_size = 2 x 2, got 1 x 5"),
    (lambda: patch_whitening(np.ones((2, 4, 4, 3)), kernel_size=5),
     r"images must be at least kernel_size x kernel_size = 5 x 5, got 4 x 4"),
    (lambda: patch_whitening(np.full((2, 4, 4, 3), np.nan)),
     r"images must hold finite values, got nan at index \(0, 0, 0, 0\)"),
    (lambda: patch_whitening(np.full((2, 4, 4, 3), "a")),
     r"images must hold real numbers, got dtype <U1"),
    (lambda: patch_whitening(np.ones((2, 4, 4, 3)), kernel_size=0),
     r"kernel_size must be an integer >= 1, got 0"),
    (lambda: patch_whitening(np.ones((2, 4, 4, 3)), eps=0),
     r"eps must be a finite number > 0, got 0"),
])
def test_patch_whitening_refuses_bad_arguments(call, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        call()
