"""Shared fixtures and helpers: tiny CIFAR-10 batch files in the official pickle layout,
tiny IDX files, easy classification problems, random images, optimizers written out
entry by entry, and running the commands in this process."""
import collections
import contextlib
import dataclasses
import gzip
import io
import os
import pickle
import runpy
import struct
import sys
from unittest import mock

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Let plain ``pytest`` (not only ``python -m pytest``) import the modules at the repo root.
sys.path.insert(0, ROOT)

from imagelab import cli  # noqa: E402
from imagelab.data.registry import DATASETS, MNIST_FILES  # noqa: E402
from imagelab.data.cifar import BATCH_FILES, BATCH_FOLDER, DATA_SIZE  # noqa: E402

REAL_CIFAR = os.path.join(ROOT, "data", BATCH_FOLDER)


class Py2Pickler(pickle._Pickler):
    """Write bytes as Python 2 ``str`` (BINSTRING), as the official batches do.

    The standard pickler stores Python 3 bytes as ``_codecs.encode(...)`` calls; the
    official files, written by Python 2, hold plain strings instead, which Python 3
    reads back as bytes with ``encoding="bytes"`` and as str with ``encoding="latin1"``.
    Same idea as the shared CIFAR-10 builder (``make_cifar10_batches.py``).
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


IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
             np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(array):
    """The IDX encoding of ``array``: header (magic, sizes) then big-endian values."""
    array = np.asarray(array)
    header = bytes([0, 0, IDX_CODES[array.dtype], array.ndim])
    header += b"".join(struct.pack(">I", size) for size in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def mnist_files(counts=(12, 8), seed=0, labels_max=9):
    """The four gzipped IDX files of a tiny MNIST-family dataset.

    Returns
    -------
    files : dict
        File name (``imagelab.data.registry.MNIST_FILES``) -> gzipped bytes.
    arrays : list
        images_train uint8 (n_train, 28, 28), labels_train uint8 (n_train,),
        images_test, labels_test: what the files hold, in the order of the names.
    """
    rng = np.random.default_rng(seed)
    arrays = []
    for count in counts:
        arrays += [rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8),
                   rng.integers(0, labels_max + 1, size=count).astype(np.uint8)]
    files = {name: gzip.compress(idx_bytes(array), mtime=0)
             for name, array in zip(MNIST_FILES, arrays)}
    return files, arrays


def make_mnist_folder(folder, counts=(12, 8), seed=0, labels_max=9):
    """Write a tiny MNIST-family dataset's four files into ``folder``; return its arrays."""
    files, arrays = mnist_files(counts, seed, labels_max)
    os.makedirs(folder, exist_ok=True)
    for name, content in files.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(content)
    return arrays


def set_mnist_sizes(monkeypatch, sizes):
    """Let the MNIST family's records expect ``sizes`` (training, test) images."""
    for name in ("mnist", "fashion-mnist"):
        monkeypatch.setitem(DATASETS, name, dataclasses.replace(DATASETS[name], sizes=sizes))


def fashion_mnist_folder(data_dir, monkeypatch, counts):
    """``data_dir`` with a fashion-mnist/ of ``counts`` (training, test) random images, the
    MNIST family's records expecting that many; returns ``data_dir`` as a string."""
    set_mnist_sizes(monkeypatch, counts)
    make_mnist_folder(os.path.join(data_dir, "fashion-mnist"), counts=counts)
    return str(data_dir)


@pytest.fixture
def tiny_mnist(monkeypatch):
    """Let the MNIST family hold 12 training and 8 test images, as ``make_mnist_folder`` writes."""
    set_mnist_sizes(monkeypatch, (12, 8))


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


# ------------------------------------------------------------------ data for the tests

def blobs(rng, n, n_classes=3, d=5, spread=1.5, scale=2.0, dtype=np.float64):
    """Gaussian clusters: an easy classification problem (hard with a large ``spread``).

    Parameters
    ----------
    rng : np.random.Generator
    n : int
        Number of rows.
    n_classes, d : int
        Classes and features.
    spread : float
        Standard deviation of the rows around their centre.
    scale : float
        Standard deviation of the centres, drawn around 0.
    dtype : floating dtype of the rows

    Returns
    -------
    data : np.ndarray of ``dtype``, shape (n, d)
    labels : np.ndarray of int, shape (n,)
    """
    labels = rng.integers(0, n_classes, size=n)
    centres = rng.normal(0, scale, size=(n_classes, d))
    data = centres[labels] + rng.normal(0, spread, size=(n, d))
    return data.astype(dtype), labels


def random_images(n, seed=0):
    """n random (32, 32, 3) float32 images with integer values 0..255."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 32, 32, 3)).astype(np.float32)


def images_to_rows_loop(images):
    """Reference: CIFAR rows written pixel by pixel, red plane, green plane, blue plane."""
    rows = np.zeros((len(images), 3072), dtype=images.dtype)
    for i, image in enumerate(images):
        position = 0
        for channel in range(3):
            for y in range(32):
                for x in range(32):
                    rows[i, position] = image[y, x, channel]
                    position += 1
    return rows


# ------------------------------------------------------------------ optimizers, slowly

# Settings that the tests of both optimizer families (layers, Tensors) run through.
SGD_SETTINGS = [{"momentum": 0.8}, {"momentum": 0.0}, {"momentum": 0.8, "weight_decay": 0.1},
                {"momentum": 0.85, "nesterov": True},
                {"momentum": 0.85, "nesterov": True, "weight_decay": 0.03}]
ADAM_SETTINGS = [{"beta1": 0.8, "beta2": 0.9, "eps": 1e-3},
                 {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}]
LEARNING_RATES = [0.1, 0.3, 0.05, 0.2]


def sgd_loop(w, gradients, learning_rates, momentum, nesterov=False, weight_decay=0.0):
    """SGD written out entry by entry: d = g + weight_decay w, then

    * heavy ball, as CS231n writes it: v = momentum v - learning_rate d (v = 0 at first);
      w = w + v (PyTorch's v = momentum v + d, w = w - learning_rate v is the same step
      at a constant rate only);
    * Nesterov, as PyTorch (torch.optim.sgd, dampening 0) writes it: b = d at the first
      step, then b = momentum b + d; w = w - learning_rate (d + momentum b).

    Returns the weights after the steps, a copy of ``w`` (any shape) updated.
    """
    w = w.copy()
    buffers = {}
    for g, learning_rate in zip(gradients, learning_rates):
        for index in np.ndindex(w.shape):
            d = g[index] + weight_decay * w[index]
            if nesterov:
                buffers[index] = d if index not in buffers else momentum * buffers[index] + d
                w[index] = w[index] - learning_rate * (d + momentum * buffers[index])
            else:
                buffers[index] = momentum * buffers.get(index, 0.0) - learning_rate * d
                w[index] += buffers[index]
    return w


def adam_loop(w, gradients, learning_rates, beta1, beta2, eps):
    """Adam as Kingma & Ba write it, entry by entry: m, s the moving averages of g and
    g^2, divided by 1 - beta^t; w = w - learning_rate m_hat / (sqrt(s_hat) + eps).

    Returns the weights after the steps, a copy of ``w`` (any shape) updated.
    """
    w = w.copy()
    m, s = np.zeros_like(w), np.zeros_like(w)
    for t, (g, learning_rate) in enumerate(zip(gradients, learning_rates), start=1):
        for index in np.ndindex(w.shape):
            m[index] = beta1 * m[index] + (1 - beta1) * g[index]
            s[index] = beta2 * s[index] + (1 - beta2) * g[index] ** 2
            m_hat, s_hat = m[index] / (1 - beta1 ** t), s[index] / (1 - beta2 ** t)
            w[index] -= learning_rate * m_hat / (np.sqrt(s_hat) + eps)
    return w


# ------------------------------------------------------------------ running the commands

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
USAGE = " (run with --help for usage)"


def is_png(path):
    """Whether ``path`` is a PNG file of more than 1,000 bytes (a figure, not an empty one)."""
    with open(path, "rb") as f:
        return os.path.getsize(path) > 1000 and f.read(8) == PNG_SIGNATURE


def prog(script):
    """The program name a command's errors start with: "knn.py" for ``python knn.py``,
    "imagelab train-mlp" for the command ``train-mlp``."""
    return script if script.endswith(".py") else f"imagelab {script}"


Run = collections.namedtuple("Run", "returncode stdout stderr")


def exit_status(code):
    """The exit status of ``SystemExit(code)``, as the interpreter ends a program with it.

    None is 0 and an int is itself; anything else (a message) is printed on stderr,
    status 1.
    """
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def run_command(script, *argv):
    """Run ``python <script> ARGV`` (a lab script at the root, such as "knn.py") or
    ``imagelab <script> ARGV`` (a command name, such as "train-mlp") in this process.

    Returns
    -------
    Run
        (returncode, stdout, stderr), what a subprocess would give; an exception other
        than SystemExit is raised (the test fails with its traceback).
    """
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            if script.endswith(".py"):
                with mock.patch.object(sys, "argv", [script, *argv]):
                    runpy.run_path(os.path.join(ROOT, script), run_name="__main__")
            else:
                cli.main([script, *argv])
            returncode = 0
        except SystemExit as stop:
            returncode = exit_status(stop.code)
    return Run(returncode, stdout.getvalue(), stderr.getvalue())


def run_script(script, data_dir, results_dir, *flags):
    """``run_command`` on the given folders, downloads off."""
    return run_command(script, "--data-dir", data_dir, "--results-dir", results_dir,
                       "--no-download", *flags)


def snapshot(*folders):
    """Every path under ``folders`` with the content of each file (None for a folder)."""
    found = {}
    for folder in folders:
        for parent, dirs, files in os.walk(folder):
            found.update({os.path.join(parent, name): None for name in dirs})
            for name in files:
                with open(os.path.join(parent, name), "rb") as f:
                    found[os.path.join(parent, name)] = f.read()
    return found


@pytest.fixture
def folders(tmp_path):
    """(data_dir, results_dir): tiny CIFAR-10 (6 x 10 images), and results of an earlier
    run to keep."""
    make_cifar_folder(str(tmp_path / "data" / BATCH_FOLDER), sizes=(10,) * 6)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "knn.json").write_text('{"earlier": "run"}\n')
    return str(tmp_path / "data"), str(tmp_path / "results")
