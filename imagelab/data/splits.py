"""The datasets as the scripts use them: read (downloaded if missing), described, split.

``load_split`` is what every entry point calls: plain arguments in, a
``imagelab.data.registry.Dataset`` holding the training and test sets out. ``data_note``
gives the footnote that every published figure carries, ``result_name`` the name of its
files.
"""
import dataclasses
import os

import numpy as np

from imagelab.utils.checks import DataError, FlagError
from imagelab.data.cifar import split_dataset
from imagelab.data.registry import LAB_DATASET, OFFICIAL, dataset_record, load_dataset

# Rows copied at a time by _take.
TAKE_ROWS = 4096


def _take(first, second, index):
    """Rows ``index`` of ``first`` (n1, d) stacked on ``second`` (n2, d), without stacking them.

    Returns a new array (len(index), d), filled a few rows at a time: no temporary
    the size of the data.
    """
    out = np.empty((len(index), first.shape[1]), first.dtype)
    for start in range(0, len(index), TAKE_ROWS):
        rows, block = index[start:start + TAKE_ROWS], out[start:start + TAKE_ROWS]
        inside = rows < len(first)
        block[inside] = first[rows[inside]]
        block[~inside] = second[rows[~inside] - len(first)]
    return out


def load_split(dataset, data_dir, split, seed, download=True, features=None):
    """Read a dataset (downloading it if allowed), optionally describe it, and split it.

    Parameters
    ----------
    dataset : str, a key of ``imagelab.data.registry.DATASETS``
    data_dir : str
        The folder holding the datasets (see ``imagelab.data.registry.load_dataset``).
    split : float in (0, 1) or "official"
        "official": the dataset's own training and test sets, as published. A float:
        the fraction of all the images, the training set then the test set pooled,
        that a shuffle of ``seed`` draws for training (``read_cifar.split_dataset``).
        On CIFAR-10 the pool is the 60,000 rows of ``read_cifar``, so 0.9 gives the
        lab's split.
    seed : int
        Seed of the shuffle (unused by the official split).
    download : bool
        Download the dataset when it is missing.
    features : callable, optional
        Applied to all the rows (float32, (n, h * w * c)), training and test sets
        together, before the split, e.g. a descriptor
        (``imagelab.data.descriptors.describer``): a seed then gives the same images in
        each set whatever the representation. None keeps the pixels.

    Returns
    -------
    imagelab.data.registry.Dataset
        The training and test sets of the split (rows of pixels, or ``features`` of
        them), with the dataset's name, label names and image shape.

    Raises
    ------
    DataError
        If the data is missing, corrupt or cannot be downloaded.
    FlagError
        If ``split`` leaves no image on one side (checked before ``features`` runs).
    """
    try:
        data = load_dataset(dataset, data_dir, download=download)
    except (OSError, ValueError) as error:   # missing, corrupt or not downloadable
        raise DataError(error) from error
    if split != OFFICIAL:                    # rows first: refuse a bad split at once
        labels = np.concatenate([data.labels_train, data.labels_test])
        try:
            train, labels_train, test, labels_test = split_dataset(
                np.arange(len(labels)), labels, split, seed=seed)
        except ValueError as error:
            raise FlagError("--split", f"must leave images on both sides of the "
                                       f"{len(labels)} images, got {split}") from error
    parts = [data.data_train, data.data_test]
    if features is not None:
        parts = np.split(features(np.concatenate(parts)), [len(data.data_train)])
    if split == OFFICIAL:
        return dataclasses.replace(data, data_train=parts[0], data_test=parts[1])
    return dataclasses.replace(data, data_train=_take(*parts, train), labels_train=labels_train,
                               data_test=_take(*parts, test), labels_test=labels_test)


def data_note(data_dir, dataset=LAB_DATASET):
    """The footnote of results on ``dataset`` read from ``data_dir``: its record's ``note``
    of its folder, e.g. for a copy of CIFAR-10 that is not the official pixels; "" for
    official files."""
    record = dataset_record(dataset)
    return record.note(os.path.join(data_dir, record.folder))


def result_name(prefix, features=None, dataset=LAB_DATASET):
    """File name (no extension) of a result: ``prefix``, the dataset, the representation.

    The lab's dataset (``LAB_DATASET``, cifar10) adds nothing (``knn``, ``mlp``), another
    adds "_<dataset>" (``knn_fashion-mnist``), so that no run overwrites another
    dataset's results. None or "raw" add nothing; a spec adds "_<spec>" with characters
    other than letters, digits, "+", "-", "." and "_" replaced by "_".
    """
    name = prefix if dataset == LAB_DATASET else f"{prefix}_{dataset}"
    if features in (None, "raw"):
        return name
    return name + "_" + "".join(c if c.isalnum() or c in "+-._" else "_" for c in features)
