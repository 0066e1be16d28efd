"""Input transforms fitted on the training rows only: standardisation and PCA whitening.

Each takes its statistics from the training rows alone, so nothing of the test rows
leaks into training.
"""
import math

import numpy as np

from imagelab.utils.checks import check_float, check_int


def standardize(data_train, data_test):
    """Scale each feature to mean 0 and standard deviation 1, with training statistics.

    Returns
    -------
    data_train, data_test : np.ndarray of float32
        New arrays; the statistics come from ``data_train`` alone, so nothing of the
        test set leaks into training.
    """
    mean = data_train.mean(axis=0, dtype=np.float64)
    std = data_train.std(axis=0, dtype=np.float64)
    std[std == 0] = 1                      # a constant feature stays 0
    mean, std = mean.astype(np.float32), std.astype(np.float32)

    def scale(data):
        scaled = data - mean               # a new float32 array, then scaled in place
        scaled /= std
        return scaled

    return scale(data_train), scale(data_test)


def fit_pca_whitening(data, num_components, eps=1e-2):
    """PCA whitening fitted on ``data``: centre, rotate onto the top principal axes, rescale.

    x -> (x - mean) @ U_k / sqrt(lambda_k + eps), U_k the ``num_components`` leading
    eigenvectors of the covariance of ``data`` and lambda_k their eigenvalues (the
    data are first scaled to unit overall variance, so that ``eps`` means the same
    on any scale). ``eps`` damps the noisy small-variance directions.

    Parameters
    ----------
    data : np.ndarray, shape (N, d)
        Training rows only: no test statistics leak into the transform.
    num_components : int, 1..d
    eps : float >= 0

    Returns
    -------
    mean : np.ndarray of float32, shape (1, d)
    projection : np.ndarray of float32, shape (d, num_components)
        Apply as ``(x - mean) @ projection``; the transformed training data have
        covariance close to the identity for eps = 0.
    """
    data = np.asarray(data)
    d = data.shape[1]
    num_components = check_int(num_components, "num_components", 1, d)
    eps = check_float(eps, "eps", 0)
    mean = data.mean(axis=0, keepdims=True, dtype=np.float64)
    centred = (data - mean.astype(np.float32)).astype(np.float32)
    scale = float(np.mean(np.square(centred, dtype=np.float64)))   # mean feature variance
    if len(data) < d:
        # Fewer rows than features: the SVD of the (N, d) rows, X = U S V^T, gives the
        # eigenvectors V of X^T X / N (eigenvalues S^2 / N) for less than a d x d eigh.
        _, singular, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
        values, vectors = singular ** 2 / len(data), vt.T
    else:
        covariance = (centred.T @ centred).astype(np.float64) / len(data)
        values, vectors = np.linalg.eigh(covariance)   # ascending eigenvalues
        values, vectors = values[::-1], vectors[:, ::-1]
    values, vectors = values[:num_components] / scale, vectors[:, :num_components]
    projection = vectors / np.sqrt(np.maximum(values, 0) + eps) / math.sqrt(scale)
    return mean.astype(np.float32), projection.astype(np.float32)


def transform(data, mean, projection, batch_size=8192):
    """``(data - mean) @ projection`` in float32, by batches of rows to bound the memory."""
    out = np.empty((len(data), projection.shape[1]), np.float32)
    for i in range(0, len(data), batch_size):
        out[i:i + batch_size] = (np.asarray(data[i:i + batch_size], np.float32) - mean) @ projection
    return out
