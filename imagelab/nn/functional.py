"""Element-wise and row-wise functions shared by every network: sigmoid, softmax, one-hot.

Each is written so that it cannot overflow, whatever its input holds.
"""
import numpy as np

from imagelab.utils.checks import check_int


def sigmoid(z):
    """Logistic function 1 / (1 + exp(-z)), elementwise, without overflow.

    ``z`` is an array or anything ``np.asarray`` takes (a list, a number). exp is only
    taken of -|z| <= 0, so it never overflows, whatever ``z`` holds.
    """
    z = np.asarray(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def log_softmax(z):
    """Logarithm of the softmax of each row of ``z`` (N, d_out, array_like), without overflow."""
    z = np.asarray(z)
    shifted = z - z.max(axis=1, keepdims=True)        # softmax(z) = softmax(z - c)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(z):
    """Softmax of each row of ``z`` (N, d_out, array_like): positive, each row sums to 1."""
    return np.exp(log_softmax(z))


def one_hot(labels, num_classes=None):
    """One-hot encoding of integer labels.

    Parameters
    ----------
    labels : array_like of int, any shape S (a scalar too)
        Class codes in 0..num_classes-1.
    num_classes : int >= 1, optional
        Width of the encoding. Defaults to ``max(labels) + 1``; pass it whenever the
        labels may not show every class (a batch, a small test set).

    Returns
    -------
    np.ndarray of np.int64, shape S + (num_classes,)
        ``out[..., c]`` is 1 where ``labels == c`` and 0 elsewhere.
        ``one_hot([1, 2, 0])`` is ``[[0, 1, 0], [0, 0, 1], [1, 0, 0]]``.

    Raises
    ------
    ValueError
        If a label is not an integer in 0..num_classes-1, or ``num_classes`` not an
        integer >= 1.
    """
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    else:
        num_classes = check_int(num_classes, "num_classes", 1)
    if labels.size and not (0 <= labels.min() and labels.max() < num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, got values "
                         f"from {labels.min()} to {labels.max()}")
    return (labels[..., None] == np.arange(num_classes)).astype(np.int64)
