"""Patch-whitening initialisation of a first convolution (airbench's init_whitening_conv).

The filters are the eigenvectors of the covariance of the images' k x k patches, each
scaled by 1 / sqrt(eigenvalue + eps): the convolution's outputs are then decorrelated,
each of variance about 1, from the first step of training. Images are channels last,
(N, H, W, C), as ``imagelab.nn.conv.Conv2d`` takes them.
"""
import numpy as np

from imagelab.utils.checks import check_finite, check_float, check_int
from imagelab.nn.conv import im2col

# Images whose patches are gathered at a time: 256 images of 32 x 32 x 3 give 246,016
# patches of 12 values, 24 MB in float64, where airbench's 5,000 would need 460 MB.
IMAGES_PER_CHUNK = 256


def patch_covariance(images, kernel_size):
    """Uncentred covariance of every k x k patch (stride 1, no padding) of ``images``.

    Parameters
    ----------
    images : np.ndarray of float, shape (N, H, W, C)
    kernel_size : int k, at most H and W

    Returns
    -------
    np.ndarray of np.float64, shape (k k C, k k C)
        Sigma = P^T P / n, P the (n, k k C) patches flattened in (a, b, c) order (as
        ``im2col`` lays out a window), without subtracting their mean (as airbench).
        P^T P is summed over chunks of ``IMAGES_PER_CHUNK`` images, so that P is never
        held whole in float64.
    """
    d = kernel_size * kernel_size * images.shape[3]
    total, count = np.zeros((d, d)), 0
    for start in range(0, len(images), IMAGES_PER_CHUNK):
        patches = im2col(images[start:start + IMAGES_PER_CHUNK].astype(np.float64),
                         (kernel_size, kernel_size), 1)
        total += patches.T @ patches
        count += len(patches)
    return total / count


def patch_whitening(images, kernel_size=2, eps=5e-4):
    """Weights of a whitening convolution: d = k k C filters and their negatives.

    With Sigma = V diag(lambda) V^T the patches' covariance (``patch_covariance``), its
    eigenvalues in decreasing order, filter i is V_i / sqrt(lambda_i + eps): output i
    of the convolution, <patch, V_i> / sqrt(lambda_i + eps), has the mean square
    lambda_i / (lambda_i + eps) and is uncorrelated with the others. Output d + i is
    minus output i (a ReLU or GELU after it then keeps both signs).

    Parameters
    ----------
    images : array_like of real numbers, shape (N, H, W, C)
        Already normalised as the network will see them (airbench: 5,000 training images).
    kernel_size : int >= 1
        k, at most H and W.
    eps : float > 0
        Added to each eigenvalue: bounds the gain of the directions of tiny variance.

    Returns
    -------
    np.ndarray of np.float32, shape (k, k, C, 2 k k C)
        W[a, b, c, o], as ``imagelab.nn.conv.Conv2d(C, 2 k k C, k).w.value``.
    """
    kernel_size = check_int(kernel_size, "kernel_size", 1)
    eps = check_float(eps, "eps", 0, include_min=False)
    images = np.asarray(images)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"images must be a non-empty 4-D array (N, H, W, C), got shape "
                         f"{images.shape}")
    if images.dtype.kind not in "iuf":
        raise ValueError(f"images must hold real numbers, got dtype {images.dtype}")
    if min(images.shape[1:3]) < kernel_size:
        raise ValueError(f"images must be at least kernel_size x kernel_size = {kernel_size} "
                         f"x {kernel_size}, got {images.shape[1]} x {images.shape[2]}")
    check_finite(images, "images")
    eigenvalues, eigenvectors = np.linalg.eigh(patch_covariance(images, kernel_size))
    # eigh sorts increasingly: reverse to the decreasing order.
    filters = eigenvectors[:, ::-1] / np.sqrt(eigenvalues[::-1] + eps)    # (d, d), column i
    weights = np.concatenate([filters, -filters], axis=1)
    return weights.reshape(kernel_size, kernel_size, images.shape[3], -1).astype(np.float32)
