"""The networks the studies look at: the project's MLP and a small CNN, on pixels in [0, 1].

Every study takes its images as float32 pixels in [0, 1] (``unit_pixels``), without
standardisation, so that a perturbation or an epsilon is measured in the units of the
image itself (epsilon = 0.1 is a tenth of the range of a pixel). Both networks train with
Adam and a cosine schedule, keeping the weights of their best validation epoch
(``imagelab.training.loop.train``).
"""
import numpy as np

from imagelab.data.augment import ImagePipeline
from imagelab.nn.architectures import build
from imagelab.nn.network import mlp
from imagelab.training.loop import split_validation, train
from imagelab.training.metrics import accuracy
from imagelab.utils.checks import check_int

# The study CNN: conv4's shape at half its width (16-16-pool-32-32-pool, dense 128),
# small enough to train in minutes on 2 cores.
STUDY_CNN = [["conv", 16, 3, 1, 1], ["bn"], ["relu"], ["conv", 16, 3, 1, 1], ["bn"], ["relu"],
             ["pool", 2],
             ["conv", 32, 3, 1, 1], ["bn"], ["relu"], ["conv", 32, 3, 1, 1], ["bn"], ["relu"],
             ["pool", 2],
             ["flatten"], ["dense", 128], ["bn"], ["relu"]]


def unit_pixels(rows):
    """float32 pixels in [0, 1]: rows (N, d) of 0..255 divided by 255."""
    return np.asarray(rows, np.float32) / np.float32(255)


def train_mlp(x, labels, hidden=(256, 256), *, num_epoch=8, activation="relu",
              learning_rate=1e-3, batch_size=128, validation=0.1, seed=0, loss="cross_entropy",
              pipeline=None, verbose=False):
    """An MLP ``d - hidden... - num_classes`` trained on the rows ``x``.

    Parameters
    ----------
    x : np.ndarray of float32, shape (N, d)
        Inputs, e.g. ``unit_pixels`` of the training images.
    labels : np.ndarray of int, shape (N,)
    hidden : sequence of int >= 1
        Widths of the hidden layers (``()``: no hidden layer, a linear classifier).
    num_epoch, learning_rate, batch_size, loss, verbose
        As for ``imagelab.training.loop.train``.
    validation : float in (0, 1)
        Fraction of the rows held out to choose the epoch whose weights are kept.
    seed : int >= 0
        Seed of the weights, of the validation split, of the batch order and of the
        augmentation.
    pipeline : object with ``training(rows, rng)`` and ``evaluation(rows)``, optional
        Augments each training batch of rows and prepares the validation rows
        (``imagelab.analysis.augmentation.RowAugmentation``); None trains on ``x`` as is.

    Returns
    -------
    network : imagelab.nn.network.Network
    history : dict, as ``train`` returns it
    """
    num_classes = int(np.max(labels)) + 1
    network = mlp([x.shape[1], *hidden, num_classes], activation, seed=seed)
    return network, _train(network, x, labels, num_epoch, learning_rate, batch_size,
                           validation, seed, loss, verbose, pipeline)


def train_cnn(x, labels, image_shape, spec=None, *, num_epoch=3, learning_rate=1e-3,
              batch_size=128, validation=0.1, seed=0, verbose=False):
    """A CNN (``STUDY_CNN`` and a dense output layer by default) trained on image rows.

    Parameters
    ----------
    x : np.ndarray of float32, shape (N, H * W * C)
        Rows of pixels in [0, 1], each an image of ``image_shape`` flattened.
    labels : np.ndarray of int, shape (N,)
    image_shape : (H, W, C)
    spec : list of architecture entries, optional
        Everything before the output layer (``imagelab.nn.architectures``); default
        ``STUDY_CNN``. A ``["dense", num_classes]`` entry is appended.
    num_epoch, learning_rate, batch_size, validation, seed, verbose
        As for ``train_mlp``.

    Returns
    -------
    network : imagelab.nn.network.Network
        Takes images ``x.reshape(-1, H, W, C)`` and gives logits (N, num_classes).
    history : dict
    """
    num_classes = int(np.max(labels)) + 1
    spec = (STUDY_CNN if spec is None else spec) + [["dense", num_classes]]
    network = build(spec, image_shape, seed=seed)
    # A pipeline of mean 0 and std 1 only reshapes the rows: the network sees [0, 1].
    channels = image_shape[-1]
    pipeline = ImagePipeline(image_shape, np.zeros(channels), np.ones(channels))
    return network, _train(network, x, labels, num_epoch, learning_rate, batch_size,
                           validation, seed, "cross_entropy", verbose, pipeline)


def _train(network, x, labels, num_epoch, learning_rate, batch_size, validation, seed, loss,
           verbose, pipeline=None):
    """Train ``network`` on a split of ``(x, labels)``; return the history."""
    seed = check_int(seed, "seed", 0)
    train_index, val_index = split_validation(x, labels, validation, seed=seed)
    return train(network, x[train_index], labels[train_index], x[val_index],
                 labels[val_index], num_epoch=num_epoch, batch_size=batch_size,
                 learning_rate=learning_rate, loss=loss, seed=seed, verbose=verbose,
                 pipeline=pipeline)


def accuracy_of(network, x, labels, batch_size=4096):
    """Fraction of the inputs ``x`` (rows, or images for a CNN) whose largest logit is
    their label."""
    return accuracy(labels, network.predict_logits(x, batch_size).argmax(axis=1))
