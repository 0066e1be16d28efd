"""Saved convolutional models: weights, architecture and input normalisation in one .npz.

A model file holds only arrays of numbers and strings, read with
``allow_pickle=False``: a model file from elsewhere cannot run code. The architecture
is a JSON list (``imagelab.nn.architectures``), so that ``load_model`` rebuilds the network before
copying the weights into it, and checks every array's shape on the way.
"""
import io
import json
import os
import zipfile

import numpy as np

from imagelab.nn.architectures import build
from imagelab.utils.files import write_atomic

FORMAT = "imagelab-cnn-1"


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

    def logits(self, images, batch_size=250):
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
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(path, lambda f: f.write(buffer.getvalue()))


def _read(path):
    """The arrays of an .npz file, as a dict; ValueError naming the file otherwise."""
    if not os.path.isfile(path):
        raise ValueError(f"model file {path} does not exist")
    if not zipfile.is_zipfile(path):         # np.load would try it as a pickle
        raise ValueError(f"model file {path} is not an .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as content:
            return {key: content[key] for key in content.files}
    except ValueError as error:              # an object array, which only pickle can read
        raise ValueError(f"model file {path} holds something other than plain arrays "
                         f"({error})") from error
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"model file {path} is not a readable .npz file ({error})") from error


def _required(arrays, path, key, kind):
    """``arrays[key]`` if present and of dtype kind ``kind`` ("U" text, "f" float, "i" int)."""
    if key not in arrays:
        raise ValueError(f"model file {path} has no {key!r} array: not a model saved by "
                         "imagelab")
    if arrays[key].dtype.kind != kind:
        raise ValueError(f"model file {path}: {key!r} must be of kind {kind!r}, got dtype "
                         f"{arrays[key].dtype}")
    return arrays[key]


def save_model_in(folder, name, classifier):
    """Write ``classifier`` to ``<folder>/<name>.npz``, the folder made if needed; return
    the path."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name + ".npz")
    save_model(path, classifier)
    return path


def load_model(path):
    """Read a model written by ``save_model``; returns a ``Classifier``.

    Raises
    ------
    ValueError
        In one line naming the file and the array: not an .npz, object arrays,
        a missing key, an architecture that does not build, or a weight whose
        shape is not the one the architecture gives it.
    """
    arrays = _read(path)
    if str(_required(arrays, path, "format", "U")) != FORMAT:
        raise ValueError(f"model file {path} has format {str(arrays['format'])!r}, "
                         f"expected {FORMAT!r}")
    image_shape = tuple(int(n) for n in _required(arrays, path, "image_shape", "i"))
    try:
        architecture = json.loads(str(_required(arrays, path, "architecture", "U")))
        network = build(architecture, image_shape)
    except (ValueError, TypeError) as error:
        raise ValueError(f"model file {path}: its architecture does not build ({error})") \
            from error
    targets = network.get_weights()
    weights = []
    for i, target in enumerate(targets):
        weight = _required(arrays, path, f"weight_{i}", "f")
        if weight.shape != target.shape:
            raise ValueError(f"model file {path}: 'weight_{i}' has shape {weight.shape}, "
                             f"the architecture expects {target.shape}")
        weights.append(weight)
    network.set_weights(weights)
    return Classifier(network, architecture, image_shape, _required(arrays, path, "mean", "f"),
                      _required(arrays, path, "std", "f"),
                      [str(name) for name in _required(arrays, path, "label_names", "U")])
