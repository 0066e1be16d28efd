"""Losses on the outputs of a batch: each returns its value and its gradient.

The lab's two, on logits: the cross-entropy of a softmax output, and the squared
error of a sigmoid output (``mlp.learn_once_cross_entropy`` and ``mlp.learn_once_mse``).
For imbalanced classes, two variants of the first: a weight per class
(``weighted_cross_entropy``) and the focal loss, which scales down the rows already
well classified (``focal_loss``).
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


def weighted_cross_entropy(z, labels, weights):
    """Cross-entropy of softmax(z) with a weight per class, and its gradient.

    PyTorch's ``CrossEntropyLoss(weight=w)``: each row counts with the weight of its
    class, and the sum is divided by the batch's total weight (a weighted mean), so
    that uniform weights give ``softmax_cross_entropy`` whatever their value.

    Parameters
    ----------
    z : np.ndarray, shape (N, C)
        Logits.
    labels : np.ndarray of int, shape (N,)
        Class codes in 0..C-1.
    weights : array_like of float > 0, shape (C,)
        w_c, the weight of class c (e.g. ``1 / frequency``, rescaled).

    Returns
    -------
    loss : float
        sum_n w_{y_n} (-log softmax(z)[n, y_n]) / W, W = sum_n w_{y_n}.
    dz : np.ndarray, shape (N, C), dtype of ``z``
        dC/dZ = w_{y_n} (softmax(z)[n] - Y[n]) / W, row n: W does not depend on z.
    """
    # The focal loss with gamma = 0: its factor (1 - p_t)^0 = 1 leaves the cross-entropy.
    return focal_loss(z, labels, gamma=0.0, weights=weights)


def focal_loss(z, labels, gamma=2.0, weights=None):
    """Focal loss of softmax(z) (Lin et al. 2017), optionally weighted by class, and its gradient.

    The cross-entropy -log p_t of each row (p_t = softmax(z)[n, y_n], the probability
    of its true class) scaled by (1 - p_t)^gamma: a row already well classified
    (p_t near 1) counts little, so the hard rows, often those of rare classes, lead.
    gamma = 0 gives the cross-entropy; ``weights`` (Lin et al.'s alpha, one per class)
    make it a weighted mean as in ``weighted_cross_entropy``.

    The gradient. With q = 1 - p_t and l = log p_t, the row's loss is
    F = -a q^gamma l (a = w_{y_n}, or 1). Since dp_t/dz_j = p_t (Y_j - p_j) and
    dl/dz_j = Y_j - p_j,

        dF/dz_j = -a (Y_j - p_j) (q^gamma - gamma q^(gamma-1) p_t l)
                = a g (p_j - Y_j),   g = q^gamma (1 + gamma p_t s),   s = -l / q,

    the second form free of q^(gamma-1), which is infinite at q = 0 for gamma < 1:
    s = -log(p_t) / (1 - p_t) lies in [1, inf) and tends to 1 as p_t -> 1, so it is
    taken as 1 where q = 0. With gamma = 0, g = 1: the cross-entropy's p - Y.

    Parameters
    ----------
    z : np.ndarray, shape (N, C)
        Logits.
    labels : np.ndarray of int, shape (N,)
        Class codes in 0..C-1.
    gamma : float >= 0
        The focusing exponent (Lin et al.: 2).
    weights : array_like of float > 0, shape (C,), optional
        alpha_c, the weight of class c; default: all 1 (the plain mean).

    Returns
    -------
    loss : float
        sum_n a_n q_n^gamma (-log p_t,n) / sum_n a_n.
    dz : np.ndarray, shape (N, C), dtype of ``z``
        a_n g_n (softmax(z)[n] - Y[n]) / sum_n a_n, row n.
    """
    gamma = check_float(gamma, "gamma", 0)
    num_classes = z.shape[1]
    row_weights = _row_weights(np.ones(num_classes) if weights is None else weights, labels,
                               num_classes)
    total = float(np.sum(row_weights))
    log_p = log_softmax(z)
    rows = np.arange(len(z))
    log_pt = log_p[rows, labels].astype(np.float64)
    p_t = np.exp(log_pt)
    q = -np.expm1(log_pt)        # 1 - p_t, exact even where p_t is near 1
    s = np.divide(-log_pt, q, out=np.ones_like(q), where=q > 0)
    loss = float(np.sum(row_weights * q ** gamma * -log_pt)) / total
    g = q ** gamma * (1 + gamma * p_t * s)
    dz = np.exp(log_p)
    dz[rows, labels] -= 1
    dz *= (row_weights * g / total).astype(z.dtype)[:, None]
    return loss, dz


def _row_weights(weights, labels, num_classes):
    """The weight of each row's class, float64 (N,); ValueError unless ``weights`` holds
    ``num_classes`` finite numbers > 0."""
    weights = np.asarray(weights, np.float64)
    if weights.shape != (num_classes,) or not np.all(np.isfinite(weights) & (weights > 0)):
        raise ValueError(f"weights must be {num_classes} finite numbers > 0, one per class, "
                         f"got {weights.tolist()}")
    return weights[labels]


def loss_function(loss):
    """``LOSSES[loss]`` for a name, ``loss`` itself for a callable (z, labels) ->
    (value, dC/dz), such as ``functools.partial(focal_loss, gamma=2.0)``; ValueError for
    anything else."""
    if callable(loss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
    return LOSSES[loss]


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
