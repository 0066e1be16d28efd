"""Argument checks shared by every module, with scikit-learn-style messages.

Each check returns the cleaned value, or raises ``ValueError`` (for a wrong type
too, so that a caller catches one exception) in one line that names the argument,
says what was expected and shows the value received::

    learning_rate must be a finite number > 0, got nan
"""
import math
import numbers

import numpy as np


class CheckError(ValueError):
    """A refused argument: "<name> must be <expected>, got <value>", with each part kept.

    A command line can then say the same with the flag and the text the user typed.
    """

    def __init__(self, name, expected, value):
        super().__init__(f"{name} must be {expected}, got {_shown(value)}")
        self.name, self.expected, self.value = name, expected, value


def _bounds(min_value, max_value, include_min, include_max):
    """Words for an interval: "> 0", ">= 1", "in [0, 1)", ..."""
    if min_value is not None and max_value is not None:
        return (f"in {'[' if include_min else '('}{min_value}, "
                f"{max_value}{']' if include_max else ')'}")
    if min_value is not None:
        return f"{'>=' if include_min else '>'} {min_value}"
    if max_value is not None:
        return f"{'<=' if include_max else '<'} {max_value}"
    return ""


def _shown(value):
    """``repr`` of a value, NumPy scalars as their Python value: 0.5, not np.float64(0.5)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _in_bounds(value, min_value, max_value, include_min, include_max):
    if min_value is not None and (value < min_value or (value == min_value and not include_min)):
        return False
    if max_value is not None and (value > max_value or (value == max_value and not include_max)):
        return False
    return True


def check_int(value, name, min_value=None, max_value=None):
    """An integer (Python or NumPy, never a bool) in ``[min_value, max_value]``.

    Returns
    -------
    int
    """
    expected = " ".join(filter(None, ["an integer", _bounds(min_value, max_value, True, True)]))
    if (not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_))
            or not _in_bounds(int(value), min_value, max_value, True, True)):
        raise CheckError(name, expected, value)
    return int(value)


def check_float(value, name, min_value=None, max_value=None, include_min=True,
                include_max=True):
    """A finite real number (not a bool) in the given interval.

    ``include_min=False`` makes the lower bound strict: ``check_float(x, "learning_rate",
    0, include_min=False)`` asks for a finite number > 0.

    Returns
    -------
    float
    """
    expected = " ".join(filter(None, ["a finite number",
                                      _bounds(min_value, max_value, include_min, include_max)]))
    if (not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_))
            or not math.isfinite(value)
            or not _in_bounds(value, min_value, max_value, include_min, include_max)):
        raise CheckError(name, expected, value)
    return float(value)


def check_bool(value, name):
    """True or False (a Python or NumPy bool): not 0, 1 or the string "false", which an
    ``if`` would read as a truth value without a word.

    Returns
    -------
    bool
    """
    if not isinstance(value, (bool, np.bool_)):
        raise CheckError(name, "True or False", value)
    return bool(value)


def check_seed(seed, name="seed", allow_generator=True):
    """None, an integer >= 0 (not a bool) or, if allowed, a ``np.random.Generator``.

    Returns the seed (an int, None or the Generator itself), ready for
    ``np.random.default_rng``; ``allow_generator=False`` for a seed that must also
    feed ``np.random.SeedSequence``.
    """
    if seed is None or (allow_generator and isinstance(seed, np.random.Generator)):
        return seed
    if not isinstance(seed, numbers.Integral) or isinstance(seed, (bool, np.bool_)) or seed < 0:
        expected = ("None, an integer >= 0 or a numpy.random.Generator" if allow_generator
                    else "None or an integer >= 0")
        raise ValueError(f"{name} must be {expected}, got {_shown(seed)}")
    return int(seed)


def check_finite(array, name):
    """Raise ValueError if ``array`` (array_like of numbers) holds NaN or an infinity.

    A float sum is finite exactly when every entry is finite, unless it overflows, so
    the sum is checked first and the entries (a full-size boolean mask) only when the
    sum is not finite; the message then says which entry is bad. The sum stays in the
    array's dtype: one pass over float32 data, without converting each value.
    """
    array = np.asarray(array)
    if array.dtype.kind not in "fc":
        return
    with np.errstate(over="ignore", invalid="ignore"):   # inf - inf is NaN: still caught
        if np.isfinite(array.sum()):
            return
    bad = np.flatnonzero(~np.isfinite(array.ravel()))
    if len(bad):
        where = np.unravel_index(bad[0], array.shape)
        raise ValueError(f"{name} must hold finite values, got {array[where].item()!r} at index "
                         f"{tuple(int(i) for i in where)}")


def check_nonnegative(array, name):
    """Raise ValueError unless ``array`` holds real numbers >= 0 (+inf allowed, NaN not).

    Like ``check_finite``: the minimum first, the entries only when it is not >= 0.
    """
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.size == 0 or array.min() >= 0:        # min is NaN when an entry is NaN
        return
    where = np.unravel_index(np.flatnonzero(~(array.ravel() >= 0))[0], array.shape)
    raise ValueError(f"{name} must hold values >= 0, got {array[where].item()!r} at index "
                     f"{tuple(int(i) for i in where)}")


def check_labels(labels, name="labels", num_classes=None):
    """Integer class codes: a 1-D int64 array, each in ``0..num_classes-1`` when given.

    Returns
    -------
    np.ndarray of np.int64, shape (n,)
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class codes, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {labels.dtype}")
    if num_classes is not None and labels.size:
        outside = (labels < 0) | (labels >= num_classes)
        if outside.any():
            raise ValueError(f"{name} must lie in 0..{num_classes - 1}, got {labels[outside][0]}")
    return labels.astype(np.int64, copy=False)


def check_dataset(data, labels=None, name="data", finite=True):
    """A finite, non-empty 2-D array of numbers, and one integer label per row.

    Parameters
    ----------
    data : array_like, shape (n, d)
    labels : array_like of int, shape (n,), optional
    name : str
        How the error messages call ``data``; its labels are called "labels of <name>".
    finite : bool, optional
        False leaves out the check of the values (a pass over the whole array), for a
        caller that reads every value anyway and calls ``check_finite`` itself when
        what it computes from them is not finite.

    Returns
    -------
    data : np.ndarray, shape (n, d)
        ``data`` as an array (no copy when it already is one).
    labels : np.ndarray of np.int64, shape (n,), or None
    """
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[0] == 0 or data.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (n_samples, n_features), "
                         f"got shape {data.shape}")
    if data.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {data.dtype}")
    if finite:
        check_finite(data, name)
    if labels is None:
        return data, None
    labels = check_labels(labels, f"labels of {name}")
    if len(labels) != len(data):
        raise ValueError(f"{name} has {len(data)} rows but its labels have {len(labels)}: "
                         "expected one label per row")
    return data, labels


class FlagError(Exception):
    """A flag's value that the data refuses, e.g. ``--k-max`` above the training size.

    ``ArgumentParser.flag_errors`` reports it in one line, like a bad flag.
    """

    def __init__(self, flag, message):
        super().__init__(f"argument {flag}: {message}")


class DataError(Exception):
    """The data is missing, corrupt or cannot be downloaded: a message, not a traceback."""
