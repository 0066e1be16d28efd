"""Saved convolutional models: weights, architecture and input normalisation in one .npz.

A model file holds only arrays of numbers and strings, read with
``allow_pickle=False``: a model file from elsewhere cannot run code. The architecture
is a JSON list (``imagelab.nn.architectures``), so that ``load_model`` rebuilds the network before
copying the weights into it, and checks every array's shape on the way.

A model file from elsewhere is bounded before it is trusted: each array's dtype and
shape come from its .npy header before its data is read, the architecture's text is
bounded in length and depth before it is parsed, and the memory its network needs
(``imagelab.nn.architectures.footprint``) before it is built.
"""
import contextlib
import io
import json
import os
import re
import zipfile
import zlib

import numpy as np

from imagelab.nn.architectures import build, footprint
from imagelab.utils.checks import check_finite
from imagelab.utils.files import write_atomic

FORMAT = "imagelab-cnn-1"
KEYS = ("format", "architecture", "image_shape", "mean", "std", "label_names")
"""The arrays of a model file beside its weights ``weight_0``, ``weight_1``, ..."""
BATCH_SIZE = 250                 # images a forward pass of ``Classifier.logits`` takes
MAX_BYTES = 2 * 2**30            # default bound on what a model may need (load_model)
MAX_JSON_LENGTH = 2**20          # characters of the architecture's JSON text
MAX_JSON_DEPTH = 4               # list of entries > entry > options > kernel sizes
MAX_NAME_LENGTH = 256            # characters of a label name


UNREADABLE = (OSError, EOFError, ValueError, RuntimeError, NotImplementedError,
              zipfile.BadZipFile, zlib.error)
"""What reading a damaged, encrypted or oddly compressed zip member may raise."""


class TooLarge(ValueError):
    """A model that would need more memory than the caller allows (``load_model``)."""


class Classifier:
    """A trained network with the normalisation and label names of its training data.

    Attributes
    ----------
    network : imagelab.nn.network.Network
    architecture : list, the layer specification (``imagelab.nn.architectures``)
    image_shape : (H, W, C)
    mean, std : np.ndarray of float32, shape (C,)
    label_names : tuple of str
    """

    def __init__(self, network, architecture, image_shape, mean, std, label_names):
        self.network, self.architecture = network, architecture
        self.image_shape = tuple(int(n) for n in image_shape)
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.label_names = tuple(label_names)

    def logits(self, images, batch_size=BATCH_SIZE):
        """Class scores (N, classes), float32, of images (N, H, W, C) with values 0..255."""
        images = np.asarray(images)
        if images.shape[1:] != self.image_shape:
            raise ValueError(f"images must have shape (N, {', '.join(map(str, self.image_shape))})"
                             f" for this model, got {images.shape}")
        return self.network.predict_logits(
            images, batch_size, lambda x: (x.astype(np.float32) - self.mean) / self.std)

    def classify(self, images):
        """Predicted class (N,), np.int64, of images (N, H, W, C) with values 0..255."""
        return np.argmax(self.logits(images), axis=1).astype(np.int64)


def save_model(path, classifier):
    """Write ``classifier`` to ``path`` (.npz), whole or not at all."""
    arrays = {"format": np.array(FORMAT),
              "architecture": np.array(json.dumps(classifier.architecture)),
              "image_shape": np.array(classifier.image_shape),
              "mean": classifier.mean, "std": classifier.std,
              "label_names": np.array(classifier.label_names, dtype=str)}
    for i, weight in enumerate(classifier.network.get_weights()):
        arrays[f"weight_{i}"] = weight
    write_npz(path, arrays)


def write_npz(path, arrays):
    """Write ``arrays`` (name -> np.ndarray of numbers or text) to the .npz at ``path``,
    whole or not at all: the archive is built in memory, then written atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(path, lambda f: f.write(buffer.getvalue()))


class Archive:
    """An .npz file opened for reading one array at a time, each checked from its .npy
    header (dtype, shape) before its data is read.

    For ``load_model`` and for the Tensor modules' ``load``
    (``imagelab.autograd.nn.Module.load``): ``Archive.open(path)`` refuses a file that is
    not a zip archive or holds object arrays (which only pickle could read).

    Attributes
    ----------
    path : str
    headers : dict
        Array name -> (shape, dtype), from the headers of every member.
    """

    def __init__(self, path, archive):
        self.path, self.zip = path, archive
        try:
            self.headers = {name[:-4]: self._header(name) for name in archive.namelist()}
        except UNREADABLE as error:
            raise ValueError(f"model file {path} is not a readable .npz file "
                             f"({error})") from error
        for key, (_, dtype) in self.headers.items():
            if dtype.hasobject:                  # only pickle could read it
                raise ValueError(f"model file {path} holds something other than plain "
                                 f"arrays: {key!r} has dtype {dtype}")

    @classmethod
    @contextlib.contextmanager
    def open(cls, path):
        """The ``Archive`` of the file at ``path``, closed when the block ends."""
        if not os.path.isfile(path):
            raise ValueError(f"model file {path} does not exist")
        if not zipfile.is_zipfile(path):         # np.load would try it as a pickle
            raise ValueError(f"model file {path} is not an .npz file (not a zip archive)")
        try:
            archive = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as error:
            raise ValueError(f"model file {path} is not a readable .npz file "
                             f"({error})") from error
        with archive:
            yield cls(path, archive)

    def _header(self, member):
        """(shape, dtype) that the .npy header of ``member`` gives."""
        if not member.endswith(".npy"):
            raise ValueError(f"{member!r} is not an .npy array")
        with self.zip.open(member) as f:
            version = np.lib.format.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"{member!r} has .npy format version {version}")
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read(f)
        return shape, dtype

    def header(self, key, kind, shape, length=MAX_NAME_LENGTH):
        """Check the header of ``key``: dtype kind ``kind`` ("U" text, "f" float, "i"
        int), shape ``shape``, and, for text, at most ``length`` characters a string."""
        if key not in self.headers:
            raise ValueError(f"model file {self.path} has no {key!r} array: not a model "
                             "saved by imagelab")
        found, dtype = self.headers[key]
        if dtype.kind != kind:
            raise ValueError(f"model file {self.path}: {key!r} must be of kind {kind!r}, got "
                             f"dtype {dtype}")
        if found != tuple(shape):
            raise ValueError(f"model file {self.path}: {key!r} has shape {found}, the "
                             f"architecture expects {tuple(shape)}")
        if kind == "U" and dtype.itemsize > 4 * length:             # UCS-4
            raise ValueError(f"model file {self.path}: {key!r} holds text of up to "
                             f"{dtype.itemsize // 4:,} characters, at most {length:,} expected")

    def read(self, key, kind, shape, length=MAX_NAME_LENGTH):
        """The array ``key``, once its header passes ``header``; float arrays must be
        finite."""
        self.header(key, kind, shape, length)
        try:
            with self.zip.open(key + ".npy") as f:
                array = np.lib.format.read_array(f, allow_pickle=False)
        except UNREADABLE as error:
            raise ValueError(f"model file {self.path}: {key!r} cannot be read ({error})") \
                from error
        try:
            check_finite(array, repr(key))
        except ValueError as error:
            raise ValueError(f"model file {self.path}: {error}") from error
        return array


def save_model_in(folder, name, classifier):
    """Write ``classifier`` to ``<folder>/<name>.npz``, the folder made if needed; return
    the path."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name + ".npz")
    save_model(path, classifier)
    return path


def load_model(path, max_bytes=MAX_BYTES, batch_size=BATCH_SIZE):
    """Read a model written by ``save_model``; returns a ``Classifier``.

    Nothing is read or built before it is known to fit: the arrays' shapes and dtypes
    come from their .npy headers, the architecture's text is bounded before it is
    parsed, and its ``footprint`` before the network is built.

    Parameters
    ----------
    path : str
    max_bytes : int
        Refuse a model whose network and a forward pass of ``batch_size`` images
        (``Plan.forward_bytes``) would need more bytes.
    batch_size : int
        The most images a forward pass will take: ``BATCH_SIZE``, as
        ``Classifier.logits`` takes them, or fewer when fewer will be classified.

    Raises
    ------
    ValueError
        In one line naming the file and the array: not an .npz, object arrays, a missing
        or unexpected array, an architecture out of bounds or that does not build, a
        model above ``max_bytes`` (``TooLarge``), a weight whose shape is not the one the
        architecture gives it, values that are not finite, a std that is not > 0, label
        names that are not one per output.
    """
    with Archive.open(path) as archive:
        found = str(archive.read("format", "U", ()))
        if found != FORMAT:
            raise ValueError(f"model file {path} has format {found!r}, expected {FORMAT!r}")
        image_shape = tuple(int(n) for n in archive.read("image_shape", "i", (3,)))
        architecture = _architecture(archive)
        plan = _plan(archive, architecture, image_shape, max_bytes, batch_size)
        channels, outputs = (image_shape[-1],), plan.output_shape
        mean, std = archive.read("mean", "f", channels), archive.read("std", "f", channels)
        if not np.all(std > 0):
            raise ValueError(f"model file {path}: 'std' must hold values > 0, got {std}")
        label_names = archive.read("label_names", "U", outputs)
        network = build(architecture, image_shape)
        targets = [p.value for p in network.parameters()] + network.buffers()
        for i, target in enumerate(targets):
            target[...] = archive.read(f"weight_{i}", "f", target.shape)
    return Classifier(network, architecture, image_shape, mean, std,
                      [str(name) for name in label_names])


def _architecture(archive):
    """The architecture of the model in ``archive``: its JSON text, bounded in length
    and nesting depth before it is parsed."""
    text = str(archive.read("architecture", "U", (), MAX_JSON_LENGTH))
    brackets = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)          # strings left out
    depth = np.cumsum([1 if c in "[{" else -1 for c in re.findall(r"[][{}]", brackets)])
    if depth.size and depth.max() > MAX_JSON_DEPTH:
        raise ValueError(f"model file {archive.path}: 'architecture' nests {depth.max()} "
                         f"levels deep, at most {MAX_JSON_DEPTH} expected")
    try:
        return json.loads(text)
    except ValueError as error:
        raise ValueError(f"model file {archive.path}: 'architecture' is not JSON ({error})") \
            from error


def _plan(archive, architecture, image_shape, max_bytes, batch_size):
    """The architecture's ``Plan``, once it is known to fit ``max_bytes`` with forward
    passes of ``batch_size`` images, and the archive to hold its weights and nothing
    else unknown."""
    try:
        plan = footprint(architecture, image_shape)
    except ValueError as error:
        raise ValueError(f"model file {archive.path}: its architecture does not build "
                         f"({error})") from error
    needed = plan.forward_bytes(batch_size)
    if needed > max_bytes:
        raise TooLarge(f"model file {archive.path}: its architecture needs about "
                       f"{needed / 2**20:,.1f} MiB ({plan.weight_count:,} weights, forward "
                       f"passes of batches of {batch_size}), more than the limit of "
                       f"{max_bytes / 2**20:,.0f} MiB")
    if len(plan.output_shape) != 1:
        raise ValueError(f"model file {archive.path}: the architecture must end in one score "
                         f"per class, its outputs have shape {plan.output_shape}")
    weights = [f"weight_{i}" for i in range(len(plan.weight_shapes))]
    for name, shape in zip(weights, plan.weight_shapes):
        archive.header(name, "f", shape)
    unexpected = sorted(set(archive.headers) - set(weights) - set(KEYS))
    if unexpected:
        raise ValueError(f"model file {archive.path} holds arrays that are not part of the "
                         f"model: {', '.join(map(repr, unexpected[:5]))}")
    return plan
