"""Metrics of a classifier's predictions: accuracy, confusion matrix, worst mistakes.

Plain arrays in, plain arrays or numbers out; the figures that show them are in
``imagelab.viz.figures``.
"""
import numpy as np


def accuracy(labels_true, labels_pred):
    """Fraction of predictions that are right: a float in [0, 1].

    Parameters
    ----------
    labels_true, labels_pred : array_like of int, shape (N,), N >= 1
    """
    labels_true, labels_pred = np.asarray(labels_true), np.asarray(labels_pred)
    if labels_true.shape != labels_pred.shape or labels_true.ndim != 1 or not labels_true.size:
        raise ValueError(f"labels_true {labels_true.shape} and labels_pred "
                         f"{labels_pred.shape} must be 1-D of the same non-zero length")
    return float(np.count_nonzero(labels_true == labels_pred)) / len(labels_true)


def confusion_matrix(labels_true, labels_pred, num_classes):
    """Count each (true class, predicted class) pair.

    Parameters
    ----------
    labels_true, labels_pred : array_like of int, shape (N,)
        Class codes in 0..num_classes-1.
    num_classes : int

    Returns
    -------
    np.ndarray of np.int64, shape (num_classes, num_classes)
        ``matrix[i, j]``: number of points of true class i predicted as j. It sums to
        N; its diagonal holds the right predictions.
    """
    labels_true, labels_pred = np.asarray(labels_true), np.asarray(labels_pred)
    if labels_true.shape != labels_pred.shape or labels_true.ndim != 1:
        raise ValueError(f"labels_true {labels_true.shape} and labels_pred "
                         f"{labels_pred.shape} must be 1-D of the same length")
    for name, labels in (("labels_true", labels_true), ("labels_pred", labels_pred)):
        if labels.size and not (labels.min() >= 0 and labels.max() < num_classes):
            raise ValueError(f"{name} must lie in 0..{num_classes - 1}, got values "
                             f"from {labels.min()} to {labels.max()}")
    # The pair (i, j) has the single code i * num_classes + j: one bincount counts all.
    counts = np.bincount(labels_true * num_classes + labels_pred,
                         minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def per_class_scores(confusion):
    """Precision, recall and F1 of each class, from a confusion matrix.

    Parameters
    ----------
    confusion : np.ndarray of int, shape (C, C)
        ``confusion_matrix``: rows are true classes, columns predicted ones.

    Returns
    -------
    dict of np.ndarray of float64, shape (C,)
        "precision": M[c, c] / sum_i M[i, c] (of the points predicted c, the right ones);
        "recall": M[c, c] / sum_j M[c, j] (of the points of class c, the ones found);
        "f1": their harmonic mean 2 P R / (P + R). A ratio whose denominator is 0 (a
        class never predicted, or absent) is 0, as scikit-learn's ``zero_division=0``.
    """
    confusion = np.asarray(confusion, np.float64)
    right = np.diag(confusion)
    predicted, actual = confusion.sum(axis=0), confusion.sum(axis=1)
    precision = np.divide(right, predicted, out=np.zeros_like(right), where=predicted > 0)
    recall = np.divide(right, actual, out=np.zeros_like(right), where=actual > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(right), where=both > 0)
    return {"precision": precision, "recall": recall, "f1": f1}


def seed_spread(values):
    """How a number varies over runs of several seeds: its mean, standard deviation, least
    and largest value.

    Parameters
    ----------
    values : array_like of float, shape (S,), S >= 1
        The number (an accuracy, a score) of each seed's run.

    Returns
    -------
    dict of float
        "mean"; "std", the sample standard deviation (ddof 1; 0 for one value); "min";
        "max". Two results whose [min, max] ranges overlap are not told apart by these
        seeds.
    """
    values = np.asarray(values, np.float64)
    if values.ndim != 1 or not values.size:
        raise ValueError(f"values must be a non-empty 1-D list, got shape {values.shape}")
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return {"mean": float(values.mean()), "std": std, "min": float(values.min()),
            "max": float(values.max())}


def worst_mistakes(probabilities, labels, count):
    """Indices of the most confident wrong predictions, most confident first.

    Parameters
    ----------
    probabilities : np.ndarray, shape (N, C)
        Predicted probability (or any score) of each class.
    labels : np.ndarray of int, shape (N,)
    count : int

    Returns
    -------
    np.ndarray of int, shape (min(count, number of mistakes),)
        Rows whose predicted class (the largest score) is wrong, sorted by decreasing
        score of that predicted class.
    """
    predicted = np.argmax(probabilities, axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")[:count]]
