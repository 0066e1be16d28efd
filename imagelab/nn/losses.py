"""Losses on the outputs of a batch: each returns its value and its gradient.

The lab's two, on logits: the cross-entropy of a softmax output, and the squared
error of a sigmoid output (``mlp.learn_once_cross_entropy`` and ``mlp.learn_once_mse``).
The handout's two-class one, on a network that ends with its own sigmoid: the squared
error of that one output (``SE``). ``predicted_classes`` reads the
classes off the outputs each loss is meant for.
"""
import numpy as np

from imagelab.utils.checks import check_float, check_labels
from imagelab.nn.functional import log_softmax, one_hot, sigmoid


class SE:
    """Squared error ``(x - y)^2``, entry by entry, and its gradient with respect to ``x``."""

    def forward(self, x, y):
        """The squared errors.

        Parameters
        ----------
        x, y : np.ndarray of float, the same shape (any)
            Predictions and targets.

        Returns
        -------
        np.ndarray, shape of ``x``
        """
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape:
            raise ValueError(f"y must have the shape of x {x.shape}, got {y.shape}")
        self.difference = x - y
        return self.difference ** 2

    def backward(self):
        """dL/dx = 2 (x - y), shape of ``x``, for the inputs of the last ``forward``."""
        return 2 * self.difference


def softmax_cross_entropy(z, labels, smoothing=0.0):
    """Mean cross-entropy of softmax(z) against integer labels, and its gradient.

    With ``smoothing`` = eps > 0, against the smoothed targets of PyTorch's
    ``CrossEntropyLoss(label_smoothing=eps)``: T = (1 - eps) Y + eps / C.

    Parameters
    ----------
    z : np.ndarray, shape (N, C)
        Logits.
    labels : np.ndarray of int, shape (N,)
        Class codes in 0..C-1.
    smoothing : float in [0, 1)

    Returns
    -------
    loss : float
        -(1/N) sum_n sum_c T[n, c] log softmax(z)[n, c]
        = (1 - eps) (-(1/N) sum_n log softmax(z)[n, labels[n]]) - eps mean(log softmax(z)).
    dz : np.ndarray, shape (N, C), dtype of ``z``
        dC/dZ = (softmax(z) - T) / N, T = Y the one-hot labels when eps = 0.
    """
    smoothing = check_float(smoothing, "smoothing", 0, 1, include_max=False)
    n = len(z)
    log_p = log_softmax(z)
    rows = np.arange(n)
    loss = -float(np.mean(log_p[rows, labels]))
    dz = np.exp(log_p)
    dz[rows, labels] -= 1 - smoothing     # in place: an int64 one-hot would upcast
    if smoothing:
        loss = (1 - smoothing) * loss - smoothing * float(np.mean(log_p))
        dz -= smoothing / z.shape[1]
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


def squared_error(p, labels):
    """The handout's two-class loss: mean over the batch of SE(p, y), y the 0/1 label.

    Parameters
    ----------
    p : np.ndarray of float, shape (N, 1)
        The network's sigmoid output, the probability of class 1.
    labels : np.ndarray of int, shape (N,)
        0 or 1.

    Returns
    -------
    loss : float
        (1/N) sum_n (p[n] - y[n])^2.
    dp : np.ndarray, shape (N, 1), dtype of ``p``
        dC/dp = 2 (p - y) / N, ``SE.backward()`` over N.
    """
    labels = check_labels(labels, "labels", 2)
    if p.shape != (len(labels), 1):
        raise ValueError(f"p must have shape ({len(labels)}, 1), one probability a row, "
                         f"got {p.shape}")
    se = SE()
    errors = se.forward(p, labels.astype(p.dtype)[:, None])
    return float(np.mean(errors)), se.backward() / len(p)


LOSSES = {"cross_entropy": softmax_cross_entropy, "mse": sigmoid_mse, "se": squared_error}


def predicted_classes(outputs, loss):
    """Class codes of a batch of outputs (N, d_out) of a network trained with ``loss``.

    The largest logit's class; for "se" (one sigmoid output, the probability of class
    1), class 1 where it exceeds 0.5. Returns np.ndarray of int, shape (N,).
    """
    if loss == "se":
        return (outputs[:, 0] > 0.5).astype(np.int64)
    return np.argmax(outputs, axis=1)


def sigmoid_binary_cross_entropy(z, targets):
    """Binary cross-entropy of sigmoid(z) against 0/1 targets, one per entry, from the logits.

    For an edge mask: one logit per pixel, the target 1 on an edge. Computed from z, not
    from sigmoid(z) (whose log is -inf once sigmoid rounds to 0 or 1):

        -t log s(z) - (1 - t) log(1 - s(z)) = max(z, 0) - z t + log(1 + exp(-|z|)),

    whose exp never overflows (its argument is <= 0). PyTorch's ``BCEWithLogitsLoss()``.

    Parameters
    ----------
    z : np.ndarray of float, shape (N, D)
        Logits.
    targets : array_like, shape (N, D)
        0 or 1 (bool, int or float); converted to the dtype of ``z``.

    Returns
    -------
    loss : float
        The mean over all N D entries (the normalisation of ``BCEWithLogitsLoss``, whose
        reduction is "mean").
    dz : np.ndarray, shape (N, D), dtype of ``z``
        dC/dz = (sigmoid(z) - t) / (N D).
    """
    t = _targets_like(z, targets)
    loss = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
    return float(np.mean(loss)), (sigmoid(z) - t) / z.size


def sigmoid_squared_error(z, targets):
    """Squared error of sigmoid(z) against 0/1 targets, one per entry (``sigmoid_mse``
    with arrays of targets instead of labels). Takes ``z`` (N, D) and ``targets`` as
    ``sigmoid_binary_cross_entropy`` does.

    Returns
    -------
    loss : float
        The mean over all N D entries of (sigmoid(z) - t)^2.
    dz : np.ndarray, shape (N, D), dtype of ``z``
        dC/dz = 2 (a - t) a (1 - a) / (N D), a = sigmoid(z).
    """
    t = _targets_like(z, targets)
    a = sigmoid(z)
    difference = a - t
    return float(np.mean(difference ** 2)), 2 * difference * a * (1 - a) / z.size


def _targets_like(z, targets):
    """``targets`` as an array of the dtype of ``z``, refused unless of its shape."""
    targets = np.asarray(targets)
    if targets.shape != z.shape:
        raise ValueError(f"targets must have the shape of z {z.shape}, got {targets.shape}")
    return targets.astype(z.dtype, copy=False)
