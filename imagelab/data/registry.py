"""The datasets every tool reads, behind one interface: ``load_dataset(name, data_dir)``.

Each dataset is one ``DatasetRecord`` in ``DATASETS``: what its images are, where its
files come from and how they are read. Adding a dataset is adding a record.

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
from typing import Callable

import numpy as np

from imagelab.data.cifar import (BATCH_FILES, BATCH_FOLDER, CIFAR_ARCHIVE, CIFAR_MD5,
                                 CIFAR_MIRROR, LABEL_NAMES as CIFAR_LABEL_NAMES, copy_note,
                                 ensure_cifar, read_cifar, read_cifar_batch)
from imagelab.data.download import (DownloadError, download_from_mirrors, remove_stale_downloads,
                                    work_folder)
from imagelab.data.idx import read_idx

# "--split official": the dataset's own training and test sets.
OFFICIAL = "official"
# The lab's dataset: --dataset's default; its results keep the lab's file names.
LAB_DATASET = "cifar10"


@dataclasses.dataclass(frozen=True)
class DatasetRecord:
    """One dataset: what its images are, where its files come from, how they are read.

    Attributes
    ----------
    name : str
        The ``--dataset`` value, e.g. "mnist", which result file names carry
        (``imagelab.data.splits.result_name``).
    title : str
        The name figures give it, e.g. "MNIST".
    image_shape : (h, w, c)
    label_names : tuple of str
        The name of each class code, 0 .. classes - 1.
    folder : str
        The folder in the data folder that holds its files.
    files : tuple of str
        The files of ``folder`` once the dataset is there.
    downloads : tuple of str
        The files fetched from a mirror: the files themselves, or an archive of them.
    md5 : tuple of str
        The published MD5 checksum of each download.
    mirrors : tuple of str
        Base URLs (ending in "/") tried in turn for each download.
    sizes : (int, int)
        The number of images in its official training and test sets.
    default_split : float in (0, 1) or OFFICIAL
        ``--split``'s default for it (see ``imagelab.data.splits.load_split``).
    fetch : callable (record, data_dir, download) -> str
        The path of ``folder`` in ``data_dir``, once its files are there (downloaded
        if ``download`` allows).
    read : callable (record, folder) -> (data_train, labels_train, data_test, labels_test)
        The official sets, as ``Dataset`` holds them.
    note : callable (folder) -> str
        A footnote for its published results ("" for the official files).
    """

    name: str
    title: str
    image_shape: tuple
    label_names: tuple
    folder: str
    files: tuple
    downloads: tuple
    md5: tuple
    mirrors: tuple
    sizes: tuple
    default_split: object
    fetch: Callable
    read: Callable
    note: Callable = lambda folder: ""


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset's training and test sets, and what its images are.

    Attributes
    ----------
    name : str
        A key of ``DATASETS``.
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


def dataset_record(name):
    """The record of dataset ``name``; a ValueError naming the known ones otherwise."""
    if name not in DATASETS:
        raise ValueError(f"name must be one of {', '.join(DATASETS)}, got {name!r}")
    return DATASETS[name]


def fetch_files(record, data_dir, download=True):
    """Return the folder of ``record`` in ``data_dir``, downloading its missing files.

    For a dataset whose downloads are its files (the MNIST family). Each missing file
    is downloaded into a work folder inside the target folder, checked by its MD5,
    and only then moved into place (one file at a time, each whole or not at all).
    Partial downloads of interrupted runs are removed first.

    Parameters
    ----------
    record : DatasetRecord
        Its ``mirrors`` are tried in turn for each file, each file checked by its
        ``md5`` whatever mirror served it.
    data_dir : str
    download : bool
        If False, never download: raise instead when a file is missing.

    Returns
    -------
    str : ``os.path.join(data_dir, record.folder)``.

    Raises
    ------
    FileNotFoundError
        If a file is missing and ``download`` is False.
    DownloadError
        If no mirror serves a file with the right checksum; the message gives each
        URL's failure and where to put the files by hand.
    """
    folder = os.path.join(data_dir, record.folder)
    prefix = f".{record.folder}-download-"
    remove_stale_downloads(folder, prefix)
    missing = [file for file in record.files if not os.path.isfile(os.path.join(folder, file))]
    if not missing:
        return folder
    by_hand = (f"Download {', '.join(missing)} yourself (from {record.mirrors[0]}) into "
               f"{folder}.")
    if not download:
        raise FileNotFoundError(f"{record.title} not found: {folder} lacks "
                                f"{', '.join(missing)} (downloads are off). {by_hand}")
    md5 = dict(zip(record.downloads, record.md5))
    with work_folder(folder, prefix) as work:
        for file in missing:
            print(f"Downloading {record.title} {file}", file=sys.stderr)
            try:
                download_from_mirrors([base + file for base in record.mirrors],
                                      os.path.join(work, file), md5[file])
            except DownloadError as error:
                raise DownloadError(f"{error}. {by_hand}") from error
            os.replace(os.path.join(work, file), os.path.join(folder, file))   # verified
    return folder


def _read_labels(path, count, classes):
    """The labels of an IDX file: int64 (count,), each in 0..classes - 1, or a ValueError."""
    labels = read_idx(path, dtype=np.uint8, shape=(count,)).astype(np.int64)
    bad = np.flatnonzero(labels >= classes)
    if len(bad):
        raise ValueError(f"{path}: label {labels[bad[0]]} at index {bad[0]} is out of "
                         f"range 0..{classes - 1}")
    return labels


def read_mnist(record, folder):
    """Read the four IDX files of an MNIST-family dataset (grey images).

    Parameters
    ----------
    record : DatasetRecord
        Its ``files``: images and labels of the training set, then of the test set;
        its ``sizes``: the number of images each set must hold.
    folder : str
        The folder holding the files.

    Returns
    -------
    data_train, labels_train, data_test, labels_test
        Images as float32 rows of h * w pixels, labels int64 in 0..classes - 1.

    Raises
    ------
    ValueError
        If a file is not what it should be (see ``imagelab.data.idx.read_idx``): images
        not (count, h, w) uint8, labels not (count,) uint8 in 0..classes - 1.
    """
    paths = [os.path.join(folder, file) for file in record.files]
    sets = []
    for (images, labels), count in zip((paths[:2], paths[2:]), record.sizes):
        pixels = read_idx(images, dtype=np.uint8, shape=(count, *record.image_shape[:2]))
        sets += [pixels.reshape(count, -1).astype(np.float32),
                 _read_labels(labels, count, len(record.label_names))]
    return tuple(sets)


def _fetch_cifar10(record, data_dir, download):
    """The batch folder of CIFAR-10 in ``data_dir``, its one archive downloaded if missing."""
    return ensure_cifar(data_dir, download, record.mirrors[0] + record.downloads[0],
                        record.md5[0])


def _read_cifar10(record, folder):
    """CIFAR-10's official sets: the five training batches, then the test batch."""
    data, labels = read_cifar(folder)             # the test batch comes last
    n_train = len(labels) - len(read_cifar_batch(os.path.join(folder, "test_batch"))[1])
    return data[:n_train], labels[:n_train], data[n_train:], labels[n_train:]


# The four files of each MNIST-family dataset: (images, labels) of the training set,
# then of the test set; and what else the family shares.
MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
MNIST_FAMILY = {"image_shape": (28, 28, 1), "files": MNIST_FILES, "downloads": MNIST_FILES,
                "sizes": (60000, 10000), "fetch": fetch_files, "read": read_mnist,
                # The official split, on which their results are quoted.
                "default_split": OFFICIAL}

CIFAR10 = DatasetRecord(
    name="cifar10", title="CIFAR-10", image_shape=(32, 32, 3),
    label_names=tuple(CIFAR_LABEL_NAMES), folder=BATCH_FOLDER, files=tuple(BATCH_FILES),
    downloads=(CIFAR_ARCHIVE,), md5=(CIFAR_MD5,), mirrors=(CIFAR_MIRROR,),
    sizes=(50000, 10000), default_split=0.9,                    # the lab's split
    fetch=_fetch_cifar10, read=_read_cifar10, note=copy_note)
# Official mirrors, tried in this order, and each file's MD5 (those torchvision uses).
MNIST = DatasetRecord(
    name="mnist", title="MNIST", label_names=tuple(str(digit) for digit in range(10)),
    folder="mnist", md5=("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                         "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "http://yann.lecun.com/exdb/mnist/"), **MNIST_FAMILY)
FASHION_MNIST = DatasetRecord(
    name="fashion-mnist", title="Fashion-MNIST",
    label_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"),
    folder="fashion-mnist",
    md5=("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
         "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
             "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/"
             "fashion/"), **MNIST_FAMILY)

DATASETS = {record.name: record for record in (CIFAR10, MNIST, FASHION_MNIST)}
"""Name -> record of every dataset: ``--dataset``'s choices."""


def load_dataset(name, data_dir, download=True):
    """Read a dataset, downloading it into ``data_dir`` when it is missing.

    Parameters
    ----------
    name : str, a key of ``DATASETS``
    data_dir : str
        The folder holding each dataset's folder (``cifar-10-batches-py``, ``mnist``,
        ``fashion-mnist``).
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
    record = dataset_record(name)
    folder = record.fetch(record, data_dir, download)
    return Dataset(name, *record.read(record, folder), record.label_names, record.image_shape)
