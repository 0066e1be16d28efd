"""The datasets every tool reads, behind one interface: ``load_dataset(name, data_dir)``.

- ``cifar10``: 60,000 colour images 32 x 32 in 10 classes, read by ``read_cifar``
  (``data_batch_1`` .. ``data_batch_5`` the training set, ``test_batch`` the test set),
  in ``<data_dir>/cifar-10-batches-py``.
- ``mnist`` and ``fashion-mnist``: 70,000 grey images 28 x 28 in 10 classes (digits;
  clothes), 60,000 for training and 10,000 for testing, as four gzipped IDX files in
  ``<data_dir>/mnist`` and ``<data_dir>/fashion-mnist``.

A missing MNIST-family file is downloaded from the official mirrors in turn, each file
checked by its published MD5 whatever mirror served it, under a temporary name in a
work folder; only a verified file is moved into place.
"""
import dataclasses
import os
import sys

import numpy as np

from imagelab.data.download import (DownloadError, download_from_mirrors, remove_stale_downloads,
                               work_folder)
from imagelab.data.idx import read_idx
from imagelab.data.cifar import LABEL_NAMES as CIFAR_LABEL_NAMES
from imagelab.data.cifar import ensure_cifar, read_cifar, read_cifar_batch

DATASETS = ("cifar10", "mnist", "fashion-mnist")
TITLES = {"cifar10": "CIFAR-10", "mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
IMAGE_SHAPES = {"cifar10": (32, 32, 3), "mnist": (28, 28, 1), "fashion-mnist": (28, 28, 1)}
LABEL_NAMES = {
    "cifar10": tuple(CIFAR_LABEL_NAMES),
    "mnist": tuple(str(digit) for digit in range(10)),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                      "Shirt", "Sneaker", "Bag", "Ankle boot"),
}
# "--split official": the dataset's own training and test sets.
OFFICIAL = "official"
# The split of each dataset when none is asked for: the lab's for CIFAR-10, the
# official one (60,000 / 10,000) for the MNIST family, whose results are quoted on it.
DEFAULT_SPLITS = {"cifar10": 0.9, "mnist": OFFICIAL, "fashion-mnist": OFFICIAL}
# The four files of each MNIST-family dataset: (images, labels) of the training set,
# then of the test set.
MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
# Images in the training and the test set of an MNIST-family dataset.
MNIST_COUNTS = (60000, 10000)
# Official mirrors, tried in this order, and each file's MD5 (those torchvision uses).
MIRRORS = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
              "http://yann.lecun.com/exdb/mnist/"),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                      "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/"
                      "master/data/fashion/"),
}
MD5 = {
    "mnist": dict(zip(MNIST_FILES, ("f68b3c2dcbeaaa9fbdd348bbdeb94873",
                                    "d53e105ee54ea40749a09fcbcd1e9432",
                                    "9fb629c4189551a2d022fa330f9573f3",
                                    "ec29112dd5afa0611ce80d1b7f02629c"))),
    "fashion-mnist": dict(zip(MNIST_FILES, ("8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                                            "25c81989df183df01b3e8a0aad5dffbe",
                                            "bef4ecab320f06d8554ea6380940ec79",
                                            "bb300cfdad3c16e7a12a480ee83cd310"))),
}


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset's training and test sets, and what its images are.

    Attributes
    ----------
    name : str
        One of ``DATASETS``.
    data_train : np.ndarray of np.float32, shape (n_train, h * w * c)
    labels_train : np.ndarray of np.int64, shape (n_train,)
    data_test : np.ndarray of np.float32, shape (n_test, h * w * c)
    labels_test : np.ndarray of np.int64, shape (n_test,)
        One image a row, values 0..255: its c planes one after the other, each row by
        row (``imagelab.data.images.rows_to_images``); for grey images (c = 1) the pixels.
    label_names : tuple of str
        The name of each class code.
    image_shape : (h, w, c)
        (32, 32, 3) for CIFAR-10, (28, 28, 1) for the MNIST family.
    """

    name: str
    data_train: np.ndarray
    labels_train: np.ndarray
    data_test: np.ndarray
    labels_test: np.ndarray
    label_names: tuple
    image_shape: tuple

    def arrays(self):
        """``data_train, labels_train, data_test, labels_test``."""
        return self.data_train, self.labels_train, self.data_test, self.labels_test


def _check_name(name):
    """``name`` if it is one of ``DATASETS``, else a ValueError."""
    if name not in DATASETS:
        raise ValueError(f"name must be one of {', '.join(DATASETS)}, got {name!r}")
    return name


def ensure_mnist(name, data_dir, download=True, mirrors=None, md5=None):
    """Return the folder ``<data_dir>/<name>`` holding the four files, downloading missing ones.

    Each missing file is downloaded into a work folder inside the target folder,
    checked by its MD5, and only then moved into place (one file at a time, each
    whole or not at all). Partial downloads of interrupted runs are removed first.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    data_dir : str
    download : bool
        If False, never download: raise instead when a file is missing.
    mirrors : sequence of str, optional
        Base URLs (ending in "/") tried in turn for each file, e.g.
        ``["http://127.0.0.1:8000/"]`` (default: ``MIRRORS[name]``).
    md5 : dict, optional
        File name -> expected MD5 (default: ``MD5[name]``, the official checksums).

    Returns
    -------
    str : ``os.path.join(data_dir, name)``.

    Raises
    ------
    FileNotFoundError
        If a file is missing and ``download`` is False.
    DownloadError
        If no mirror serves a file with the right checksum; the message gives each
        URL's failure and where to put the files by hand.
    """
    mirrors = MIRRORS[name] if mirrors is None else mirrors
    md5 = MD5[name] if md5 is None else md5
    folder = os.path.join(data_dir, name)
    prefix = f".{name}-download-"
    remove_stale_downloads(folder, prefix)
    missing = [file for file in MNIST_FILES if not os.path.isfile(os.path.join(folder, file))]
    if not missing:
        return folder
    by_hand = (f"Download {', '.join(missing)} yourself (from {mirrors[0]}) into {folder}.")
    if not download:
        raise FileNotFoundError(f"{TITLES[name]} not found: {folder} lacks "
                                f"{', '.join(missing)} (downloads are off). {by_hand}")
    with work_folder(folder, prefix) as work:
        for file in missing:
            print(f"Downloading {TITLES[name]} {file}", file=sys.stderr)
            try:
                download_from_mirrors([base + file for base in mirrors],
                                      os.path.join(work, file), md5[file])
            except DownloadError as error:
                raise DownloadError(f"{error}. {by_hand}") from error
            os.replace(os.path.join(work, file), os.path.join(folder, file))   # verified
    return folder


def _read_labels(path, count):
    """The labels of an IDX file: int64 (count,), each in 0..9, or a ValueError."""
    labels = read_idx(path, dtype=np.uint8, shape=(count,)).astype(np.int64)
    bad = np.flatnonzero(labels >= 10)
    if len(bad):
        raise ValueError(f"{path}: label {labels[bad[0]]} at index {bad[0]} is out of "
                         "range 0..9")
    return labels


def read_mnist(name, folder, counts=None):
    """Read the four IDX files of an MNIST-family dataset.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    folder : str
        The folder holding ``MNIST_FILES``.
    counts : (int, int), optional
        The number of training and test images the files must hold (default:
        ``MNIST_COUNTS``, 60,000 and 10,000).

    Returns
    -------
    Dataset
        Images as float32 rows of 784 pixels, labels int64 in 0..9.

    Raises
    ------
    ValueError
        If a file is not what it should be (see ``imagelab.data.idx.read_idx``): images
        not (count, 28, 28) uint8, labels not (count,) uint8 in 0..9.
    """
    counts = MNIST_COUNTS if counts is None else counts
    paths = [os.path.join(folder, file) for file in MNIST_FILES]
    sets = []
    for (images, labels), count in zip((paths[:2], paths[2:]), counts):
        pixels = read_idx(images, dtype=np.uint8, shape=(count, 28, 28))
        sets += [pixels.reshape(count, -1).astype(np.float32), _read_labels(labels, count)]
    return Dataset(name, *sets, LABEL_NAMES[name], IMAGE_SHAPES[name])


def load_dataset(name, data_dir, download=True):
    """Read a dataset, downloading it into ``data_dir`` when it is missing.

    Parameters
    ----------
    name : {"cifar10", "mnist", "fashion-mnist"}
    data_dir : str
        The folder holding ``cifar-10-batches-py``, ``mnist`` and ``fashion-mnist``.
    download : bool
        If False, raise instead of downloading missing files.

    Returns
    -------
    Dataset
        The dataset's own training and test sets (for CIFAR-10, 50,000 and 10,000
        images; for the MNIST family, 60,000 and 10,000).

    Raises
    ------
    ValueError
        If ``name`` is unknown, or a file is corrupt.
    FileNotFoundError, DownloadError
        If files are missing and cannot be downloaded.
    """
    if _check_name(name) == "cifar10":
        folder = ensure_cifar(data_dir, download=download)
        data, labels = read_cifar(folder)             # the test batch comes last
        n_train = len(labels) - len(read_cifar_batch(os.path.join(folder, "test_batch"))[1])
        return Dataset(name, data[:n_train], labels[:n_train], data[n_train:],
                       labels[n_train:], LABEL_NAMES[name], IMAGE_SHAPES[name])
    return read_mnist(name, ensure_mnist(name, data_dir, download=download))
