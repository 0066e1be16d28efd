"""Datasets and mini-batches for the Tensor framework, after PyTorch's ``Dataset`` and ``DataLoader``.

A ``Dataset`` is arrays of the same length read row by row together (the inputs and
their labels); a ``DataLoader`` cuts it into batches, in order or shuffled afresh at
each pass by a seeded generator. Batches are NumPy arrays: the model wraps its input
in a ``Tensor``, the labels stay integers.
"""
import math

import numpy as np

from imagelab.utils.checks import check_int, check_seed


class Dataset:
    """Arrays of equal length, indexed together: ``dataset[i]`` is their rows ``i``.

    Parameters
    ----------
    *arrays : array_like, each of length n >= 1
        E.g. the rows (n, d) and the labels (n,).
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("Dataset needs at least one array, got none")
        self.arrays = [np.asarray(a) for a in arrays]
        lengths = [len(a) for a in self.arrays]
        if min(lengths) == 0 or len(set(lengths)) > 1:
            raise ValueError(f"the arrays of a Dataset must have the same length >= 1, "
                             f"got lengths {lengths}")

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        """The rows ``index`` (an int, a slice or an integer array) of every array, a tuple."""
        return tuple(a[index] for a in self.arrays)


class DataLoader:
    """The batches of a dataset, one pass each time it is iterated.

    Parameters
    ----------
    dataset : Dataset
        Or anything with ``len`` whose ``[index]`` takes an array of row indices.
    batch_size : int >= 1
    shuffle : bool
        A new random order of the rows at each pass; otherwise their own order.
    drop_last : bool
        Leave out the last batch when it has fewer than ``batch_size`` rows.
    rng : None, int >= 0 or np.random.Generator
        Draws the orders: the same seed, the same batches, pass after pass (each pass
        a permutation ``rng.permutation(n)``, as ``imagelab.training.loop.train`` draws).

    Yields
    ------
    ``dataset[index]`` for each batch's array of row indices.
    """

    def __init__(self, dataset, batch_size, shuffle=False, drop_last=False, rng=None):
        self.dataset = dataset
        self.batch_size = check_int(batch_size, "batch_size", 1)
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.rng = np.random.default_rng(check_seed(rng, "rng"))

    def __len__(self):
        """The number of batches in a pass."""
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        stop = len(self) * self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            yield self.dataset[order[start:start + self.batch_size]]
