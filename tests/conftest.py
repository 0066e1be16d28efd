"""Shared fixtures: tiny CIFAR-10 batch files written in the official pickle layout."""
import os
import pickle
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Let plain ``pytest`` (not only ``python -m pytest``) import the modules at the repo root.
sys.path.insert(0, ROOT)

from read_cifar import BATCH_FILES, BATCH_FOLDER, DATA_SIZE  # noqa: E402

REAL_CIFAR = os.path.join(ROOT, "data", BATCH_FOLDER)


class Py2Pickler(pickle._Pickler):
    """Write bytes as Python 2 ``str`` (BINSTRING), as the official batches do.

    The standard pickler stores Python 3 bytes as ``_codecs.encode(...)`` calls; the
    official files, written by Python 2, hold plain strings instead, which Python 3
    reads back as bytes with ``encoding="bytes"`` and as str with ``encoding="latin1"``.
    Same idea as /work/shared/cifar10/make_cifar10_batches.py.
    """

    def save_bytes(self, obj):
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + n.to_bytes(4, "little") + obj)
        self.memoize(obj)

    def save_global(self, obj, name=None):
        # The official files name numpy's array rebuilder numpy.core.multiarray._reconstruct;
        # numpy 2 would write numpy._core..., which numpy 1 cannot load.
        if getattr(obj, "__name__", None) == "_reconstruct":
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[bytes] = save_bytes
    dispatch[type(len)] = save_global  # builtin functions such as _reconstruct


def write_batch(path, data, labels, batch_label="training batch 1 of 1"):
    """Write ``data`` (uint8, shape (n, 3072)) and ``labels`` (n ints) as one batch file.

    Keys and values as in the official files: b"batch_label", b"labels" (a list of
    ints), b"data" (a uint8 array) and b"filenames" (a list of bytes).
    """
    batch = {b"batch_label": batch_label.encode(),
             b"labels": [int(x) for x in labels],
             b"data": np.ascontiguousarray(data, dtype=np.uint8),
             b"filenames": [f"image_{i:05d}.png".encode() for i in range(len(labels))]}
    with open(path, "wb") as f:
        Py2Pickler(f, protocol=2).dump(batch)


def make_cifar_folder(folder, sizes=(3, 2, 4, 1, 2, 3), seed=0):
    """Write the six batch files of a tiny CIFAR-10 into ``folder`` (created if needed).

    Parameters
    ----------
    folder : str or path
    sizes : six ints
        The number of rows of data_batch_1 .. data_batch_5, test_batch.
    seed : int
        Seed of the random pixels and labels.

    Returns
    -------
    data : np.ndarray of np.uint8, shape (sum(sizes), 3072)
    labels : np.ndarray of np.int64, shape (sum(sizes),)
        Every row, in the order read_cifar must return them.
    """
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    data = rng.integers(0, 256, size=(sum(sizes), DATA_SIZE), dtype=np.uint8)
    labels = rng.integers(0, 10, size=sum(sizes)).astype(np.int64)
    start = 0
    for name, size in zip(BATCH_FILES, sizes):
        rows = slice(start, start + size)
        write_batch(os.path.join(folder, name), data[rows], labels[rows], batch_label=name)
        start += size
    return data, labels


def numerical_gradient(f, x, eps=1e-6):
    """Central differences of the scalar f() with respect to every entry of x (in place)."""
    g = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + eps
        plus = f()
        x[index] = saved - eps
        minus = f()
        x[index] = saved
        g[index] = (plus - minus) / (2 * eps)
    return g


@pytest.fixture
def cifar_folder(tmp_path):
    """A tiny ``cifar-10-batches-py`` folder in ``tmp_path``: (path, data, labels)."""
    folder = os.path.join(tmp_path, BATCH_FOLDER)
    data, labels = make_cifar_folder(folder)
    return folder, data, labels


@pytest.fixture(scope="session")
def real_cifar():
    """The real batches in data/cifar-10-batches-py; skips the test when they are absent."""
    missing = [name for name in BATCH_FILES if not os.path.isfile(os.path.join(REAL_CIFAR, name))]
    if missing:
        pytest.skip(f"real CIFAR-10 not found in {REAL_CIFAR} (lacks {', '.join(missing)}); "
                    "run knn.py or mlp.py once to download it")
    return REAL_CIFAR
