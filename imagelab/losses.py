"""Losses on the logits of a batch: each returns its value and its gradient.

The lab's two: the cross-entropy of a softmax output, and the squared error of a
sigmoid output (``mlp.learn_once_cross_entropy`` and ``mlp.learn_once_mse``).
"""
import numpy as np

from mlp import log_softmax, one_hot, sigmoid


def softmax_cross_entropy(z, labels):
    """Mean cross-entropy of softmax(z) against integer labels, and its gradient.

    Parameters
    ----------
    z : np.ndarray, shape (N, C)
        Logits.
    labels : np.ndarray of int, shape (N,)
        Class codes in 0..C-1.

    Returns
    -------
    loss : float
        C = -(1/N) sum_n log softmax(z)[n, labels[n]].
    dz : np.ndarray, shape (N, C), dtype of ``z``
        dC/dZ = (softmax(z) - Y) / N, Y the one-hot labels.
    """
    n = len(z)
    log_p = log_softmax(z)
    rows = np.arange(n)
    loss = -float(np.mean(log_p[rows, labels]))
    dz = np.exp(log_p)
    dz[rows, labels] -= 1            # subtract Y in place: an int64 one-hot would upcast
    dz /= n
    return loss, dz


def sigmoid_mse(z, labels):
    """The lab's other loss: mean squared error of sigmoid(z) against one-hot labels.

    Returns
    -------
    loss : float
        mean over all N * C entries of (sigmoid(z) - Y)^2.
    dz : np.ndarray, shape (N, C), dtype of ``z``
        dC/dZ = 2 (A - Y) A (1 - A) / (N C), A = sigmoid(z).
    """
    a = sigmoid(z)
    diff = a - one_hot(labels, z.shape[1]).astype(z.dtype)
    return float(np.mean(diff ** 2)), 2 * diff * a * (1 - a) / diff.size


LOSSES = {"cross_entropy": softmax_cross_entropy, "mse": sigmoid_mse}
