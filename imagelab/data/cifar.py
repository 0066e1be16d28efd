"""Read CIFAR-10 and split it into a training set and a test set.

CIFAR-10 holds 60,000 colour images of 32x32 pixels in 10 classes. The official
``cifar-10-python.tar.gz`` unpacks to ``cifar-10-batches-py/``: five training
batches ``data_batch_1`` .. ``data_batch_5`` and one ``test_batch`` of 10,000
images each, every one a Python 2 pickle of a dict with (among others)

- ``b"data"``: uint8 array of shape (10000, 3072). A row is one image: the 1024
  red pixels, then the 1024 green, then the 1024 blue, each plane row by row.
- ``b"labels"``: list of 10000 ints in 0..9, the class of each row.

This module reads them (``read_cifar_batch``, ``read_cifar``), shuffles and splits
them (``split_dataset``), and downloads them when they are missing
(``ensure_cifar``).
"""
import os
import pickle
import sys
import tarfile

import numpy as np

from imagelab.utils.checks import check_float, check_seed
from imagelab.data.download import (DownloadError, download_file, remove_stale_downloads,
                               work_folder)

CIFAR_MIRROR = "https://www.cs.toronto.edu/~kriz/"
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_URL = CIFAR_MIRROR + CIFAR_ARCHIVE
CIFAR_MD5 = "c58f30108f718f92721af3b95e74349a"  # published on the CIFAR-10 page
BATCH_FOLDER = "cifar-10-batches-py"
BATCH_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
DATA_SIZE = 32 * 32 * 3
LABEL_NAMES = ["airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck"]
# A download works in "<data_dir>/.cifar-download-<host>-<pid>-<random>" until it is done.
DOWNLOAD_PREFIX = ".cifar-download-"


def _check_stored(path, key, values, max_value):
    """Raise ValueError unless the array stored under ``key`` holds integers in 0..max_value.

    Run on the values as stored, before any cast: uint8 would wrap 1000 to 232 and
    turn NaN into 0. uint8 pixels are in range by their type and cost nothing.
    """
    if values.dtype == np.uint8 and max_value >= 255:
        return
    expected = f"{path} is not a CIFAR-10 batch: {key!r} must hold integers in 0..{max_value}"
    if values.dtype.kind not in "iuf":
        raise ValueError(f"{expected}, got dtype {values.dtype}")
    if values.dtype.kind in "iu" and values.min() >= 0 and values.max() <= max_value:
        return
    good = (values >= 0) & (values <= max_value) & (values == np.round(values))   # NaN: False
    bad = np.flatnonzero(~good.ravel())
    if len(bad):
        where = np.unravel_index(bad[0], values.shape)
        raise ValueError(f"{expected}, got {values[where].item()!r} at index "
                         f"{tuple(int(i) for i in where)}")


def _load_batch(path):
    """Load one batch file as stored: uint8 pixels (n, 3072) and int64 labels (n,), n >= 1."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"CIFAR-10 batch file not found: {path}")
    try:
        with open(path, "rb") as f:
            # The batches are Python 2 pickles: "bytes" keeps their keys as b"data", ...
            # Like any pickle, only load files from a source you trust (see ensure_cifar).
            batch = pickle.load(f, encoding="bytes")
        data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"])
    except Exception as error:  # truncated file, not a pickle, wrong keys, ...
        raise ValueError(f"{path} is not a readable CIFAR-10 batch "
                         f"(truncated or corrupt?): {error!r}") from error
    if data.ndim != 2 or data.shape[1] != DATA_SIZE or labels.shape != (len(data),):
        raise ValueError(f"{path} is not a CIFAR-10 batch: data has shape {data.shape} "
                         f"and labels {labels.shape}, expected (n, {DATA_SIZE}) and (n,)")
    if len(data) == 0:
        raise ValueError(f"{path} is not a CIFAR-10 batch: b'data' has shape {data.shape}, "
                         f"expected at least one row of {DATA_SIZE}")
    _check_stored(path, b"data", data, 255)
    _check_stored(path, b"labels", labels, len(LABEL_NAMES) - 1)
    return data.astype(np.uint8, copy=False), labels.astype(np.int64, copy=False)


def read_cifar_batch(path):
    """Read one CIFAR-10 batch file.

    Parameters
    ----------
    path : str
        Path of a batch file, e.g. ``"data/cifar-10-batches-py/data_batch_1"``.

    Returns
    -------
    data : np.ndarray of np.float32, shape (batch_size, 3072)
        One image a row, pixel values 0..255 in the file's order (R, G, B planes).
    labels : np.ndarray of np.int64, shape (batch_size,)
        The class code (0..9) of each row.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is truncated, corrupt or not a CIFAR-10 batch: no row, rows not of
        3072 values, pixels not integers in 0..255 or labels not integers in 0..9
        (the message names the file, the key and the first bad value).
    """
    data, labels = _load_batch(path)
    return data.astype(np.float32), labels


def read_cifar(directory):
    """Read the six batches of ``cifar-10-batches-py`` (five training, one test).

    Parameters
    ----------
    directory : str
        The folder holding ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``.

    Returns
    -------
    data : np.ndarray of np.float32, shape (60000, 3072)
        All images, the five training batches in order, then the test batch.
    labels : np.ndarray of np.int64, shape (60000,)
        The class code of each row.

    Raises
    ------
    FileNotFoundError
        If the folder or one of the six batch files is missing.
    ValueError
        If a batch file is truncated, corrupt or not a CIFAR-10 batch (see
        ``read_cifar_batch``).
    """
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"CIFAR-10 folder not found: {directory}")
    batches = [_load_batch(os.path.join(directory, name)) for name in BATCH_FILES]
    # Fill one float32 array from the uint8 batches: converting each batch to float32
    # and concatenating would briefly need twice the final 737 MB.
    n = sum(len(labels) for _, labels in batches)
    data = np.empty((n, DATA_SIZE), dtype=np.float32)
    start = 0
    for pixels, labels in batches:
        data[start:start + len(labels)] = pixels
        start += len(labels)
    labels = np.concatenate([labels for _, labels in batches])
    return data, labels


def split_dataset(data, labels, split, seed=None):
    """Shuffle the rows and split them into a training set and a test set.

    Parameters
    ----------
    data : np.ndarray, shape (n, d)
    labels : np.ndarray, shape (n,)
    split : float in (0, 1)
        The fraction of rows that go to the training set (rounded to a whole row).
    seed : None, int or np.random.Generator, optional
        None (the default) shuffles differently at every call; an int or a Generator
        makes the split reproducible.

    Returns
    -------
    data_train : np.ndarray, shape (n_train, d)
    labels_train : np.ndarray, shape (n_train,)
    data_test : np.ndarray, shape (n - n_train, d)
    labels_test : np.ndarray, shape (n - n_train,)
        Every row lands in exactly one of the two sets, with its own label.

    Raises
    ------
    ValueError
        If ``split`` is not a number strictly between 0 and 1, ``seed`` not a valid
        seed, if ``data`` and ``labels`` differ in length, or if one of the two sets
        would be empty.
    """
    split = check_float(split, "split", 0, 1, include_min=False, include_max=False)
    seed = check_seed(seed)
    data, labels = np.asarray(data), np.asarray(labels)
    if len(data) != len(labels):
        raise ValueError(f"data has {len(data)} rows but labels has {len(labels)}: "
                         "they must have the same length")
    n_train = round(split * len(data))
    if not 0 < n_train < len(data):
        raise ValueError(f"split={split} of {len(data)} rows leaves an empty "
                         "training or test set")
    order = np.random.default_rng(seed).permutation(len(data))
    train, test = order[:n_train], order[n_train:]
    return data[train], labels[train], data[test], labels[test]


def _extract(archive, target):
    """Extract ``archive`` into the empty folder ``target``, refusing unsafe members."""
    if not hasattr(tarfile, "data_filter"):
        raise DownloadError("safe extraction needs Python 3.9.17, 3.10.12, 3.11.4, 3.12 "
                            "or newer (tarfile's extraction filters)")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            # The "data" filter refuses members that would land outside ``target``
            # (absolute paths, "..", links), devices and other special files.
            tar.extractall(target, filter="data")
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DownloadError(f"could not extract {archive}: {error}") from error


def data_root(data_dir):
    """The folder that holds ``cifar-10-batches-py``, given it or ``cifar-10-batches-py`` itself."""
    path = os.path.normpath(data_dir)
    if os.path.basename(path) == BATCH_FOLDER:
        return os.path.dirname(path) or os.curdir
    return data_dir


def ensure_cifar(data_dir="data", download=True, url=CIFAR_URL, md5=CIFAR_MD5):
    """Return the path of ``cifar-10-batches-py`` in ``data_dir``, downloading it if missing.

    The archive is downloaded and extracted beside the final folder under temporary
    names, and only moved into place once its checksum is right and every batch file
    is there, so an interrupted or failed download never leaves a folder that a
    later run would trust.

    Partial downloads left in ``data_dir`` by an interrupted run are removed first
    (``imagelab.data.download.remove_stale_downloads``).

    Parameters
    ----------
    data_dir : str
        Folder that holds (or will hold) ``cifar-10-batches-py``, or that folder itself.
    download : bool
        If False, never download: raise instead when the batches are missing.
    url, md5 : str
        Where to download the archive from, and its expected MD5 checksum.

    Returns
    -------
    str
        ``os.path.join(data_root(data_dir), "cifar-10-batches-py")``.

    Raises
    ------
    FileNotFoundError
        If batches are missing and ``download`` is False, or if the folder exists
        but is incomplete (it is left untouched).
    DownloadError
        If the download, checksum or extraction fails; the message names the URL and
        where to put the files by hand.
    """
    data_dir = data_root(data_dir)
    remove_stale_downloads(data_dir, DOWNLOAD_PREFIX)
    target = os.path.join(data_dir, BATCH_FOLDER)
    missing = [name for name in BATCH_FILES if not os.path.isfile(os.path.join(target, name))]
    if not missing:
        return target
    by_hand = (f"Download {url} yourself and unpack it so that {target} holds "
               f"{', '.join(BATCH_FILES)}.")
    if os.path.exists(target):
        raise FileNotFoundError(f"{target} lacks {', '.join(missing)}. "
                                f"Remove or complete that folder. {by_hand}")
    if not download:
        raise FileNotFoundError(f"CIFAR-10 not found in {target} (downloads are off). {by_hand}")
    with work_folder(data_dir, DOWNLOAD_PREFIX) as work:
        archive = os.path.join(work, CIFAR_ARCHIVE)
        print(f"Downloading CIFAR-10 from {url}", file=sys.stderr)
        try:
            download_file(url, archive, md5)
            _extract(archive, os.path.join(work, "extracted"))
        except DownloadError as error:
            raise DownloadError(f"{error}. {by_hand}") from error
        extracted = os.path.join(work, "extracted", BATCH_FOLDER)
        absent = [name for name in BATCH_FILES
                  if not os.path.isfile(os.path.join(extracted, name))]
        if absent:
            raise DownloadError(f"the archive from {url} lacks {BATCH_FOLDER}/"
                                f"{', '.join(absent)}. {by_hand}")
        os.replace(extracted, target)  # atomic: the folder appears whole or not at all
    return target


def copy_note(folder):
    """A footnote for results on a copy of CIFAR-10 that is not the official pixels.

    The ``readme.html`` of a batch folder says where it comes from: a copy rebuilt
    from JPEG files says so, and its accuracies differ slightly from the official
    files'. Returns "" for the official files, or when ``folder`` has no readme.
    """
    try:
        with open(os.path.join(folder, "readme.html"), encoding="utf-8") as f:
            jpeg = "JPEG" in f.read()
    except OSError:
        return ""
    return ("Images rebuilt from a JPEG copy of CIFAR-10: accuracies differ slightly "
            "from the official files." if jpeg else "")
