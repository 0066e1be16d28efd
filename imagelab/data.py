"""CIFAR-10 as the scripts use it: read (downloaded if missing), described, split.

``load_split`` is what every entry point calls: plain arguments in, the four arrays of
the lab out. ``data_note`` gives the footnote that every published figure carries.
"""
import os

import numpy as np

from imagelab.arguments import DataError, FlagError
from read_cifar import BATCH_FOLDER, ensure_cifar, read_cifar, split_dataset


def load_split(data_dir, split, seed, download=True, features=None):
    """Read CIFAR-10 (downloading it if allowed), optionally describe it, and split it.

    Parameters
    ----------
    data_dir : str
        The folder holding ``cifar-10-batches-py`` (see ``read_cifar.ensure_cifar``).
    split : float in (0, 1)
        Fraction of the 60,000 images for training.
    seed : int
        Seed of the shuffle (``read_cifar.split_dataset``).
    download : bool
        Download the archive when the batches are missing.
    features : callable, optional
        Applied to all 60,000 rows (float32, (60000, 3072)) before the split, e.g. a
        descriptor (``imagelab.descriptors.describe``): a seed then gives the same
        images in each set whatever the representation. None keeps the pixels.

    Returns
    -------
    data_train, labels_train, data_test, labels_test
        As ``read_cifar.split_dataset`` returns them.

    Raises
    ------
    DataError
        If the data is missing, corrupt or cannot be downloaded.
    FlagError
        If ``split`` leaves no image on one side (checked before ``features`` runs).
    """
    try:
        data, labels = read_cifar(ensure_cifar(data_dir, download=download))
    except (OSError, ValueError) as error:   # missing, corrupt or not downloadable
        raise DataError(error) from error
    try:                                     # rows first: refuse a bad split at once
        train, labels_train, test, labels_test = split_dataset(
            np.arange(len(labels)), labels, split, seed=seed)
    except ValueError as error:
        raise FlagError("--split", f"must leave images on both sides of the {len(labels)} "
                                   f"images, got {split}") from error
    if features is not None:
        data = features(data)
    return data[train], labels_train, data[test], labels_test


def data_note(data_dir):
    """A footnote for figures made from batches that are not the official pixels.

    The ``readme.html`` of a batch folder says where it comes from: the copy these
    machines build (``../shared/cifar10``) says its images went through JPEG once,
    which changes accuracies slightly. Returns "" for the official files.
    """
    try:
        with open(os.path.join(data_dir, BATCH_FOLDER, "readme.html"), encoding="utf-8") as f:
            jpeg = "JPEG" in f.read()
    except OSError:
        return ""
    return ("Images rebuilt from a JPEG copy of CIFAR-10: accuracies differ slightly "
            "from the official files." if jpeg else "")
