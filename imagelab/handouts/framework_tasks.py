"""The handout's tasks on the Tensor framework: a binary MLP on toy 2-D points, and a
multi-class MLP on images trained side by side with the layer-by-layer network.

``train_binary_toy`` is the handout's first task (``toy_mlp``): Linear -> ReLU -> ...
-> Linear to one logit, binary cross-entropy from the logit, Adam, a ``DataLoader``.
``compare_with_network`` is its second, on an MNIST-like dataset, with a control: the
same architecture, initial weights, batches, optimizer and epochs trained by
``imagelab.nn.network.Network`` (``imagelab.training.loop.train_on_batches``), whose
gradients are written by hand, so that any difference in accuracy comes from the
Tensor. ``imagelab framework`` runs both. The loops themselves are general
(``imagelab.autograd.loop``, ``imagelab.training.loop``).
"""
import time

import numpy as np

from imagelab.nn import optim as optimizers
from imagelab.autograd.data import DataLoader, Dataset
from imagelab.autograd.loop import predict, train_epoch
from imagelab.autograd.nn import (Linear, ReLU, Sequential, binary_cross_entropy_with_logits,
                                  cross_entropy, from_network)
from imagelab.autograd.optim import Adam
from imagelab.utils.checks import check_dataset, check_float, check_int, check_seed
from imagelab.nn.network import mlp
from imagelab.training.loop import split_validation, train_on_batches
from imagelab.training.metrics import accuracy


def binary_mlp(sizes, seed=None, dtype=np.float32):
    """Linear -> ReLU -> ... -> Linear, ``sizes`` = [d_in, hidden..., 1]: one logit.

    Parameters
    ----------
    sizes : sequence of int >= 1
    seed : None, int >= 0 or np.random.Generator
        Seed of the initial weights (He normal before a ReLU, Glorot for the logit).
    dtype : floating dtype of the parameters

    Returns
    -------
    Sequential
        Rows (N, d_in) -> logits (N, 1); sigmoid gives the probability of class 1.
    """
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least an input and an output size, got {sizes}")
    rng = np.random.default_rng(check_seed(seed))
    modules = []
    for d_in, d_out in zip(sizes[:-2], sizes[1:-1]):
        modules += [Linear(d_in, d_out, "he", rng, dtype), ReLU()]
    modules.append(Linear(sizes[-2], sizes[-1], "glorot", rng, dtype))
    return Sequential(*modules)


def train_binary_toy(points, labels, hidden=(32, 32), num_epoch=100, learning_rate=0.01,
                     batch_size=32, validation=0.25, seed=0):
    """The handout's toy task: a binary MLP on the Tensor, on 2-D points of two classes.

    Parameters
    ----------
    points : np.ndarray of float32, shape (n, 2), labels : np.ndarray of int, shape (n,)
        Classes 0 and 1 (``imagelab.data.toy``'s sets).
    hidden : sequence of int >= 1
    num_epoch : int >= 1
        Passes of Adam (constant ``learning_rate``) over shuffled batches of ``batch_size``.
    validation : float in (0, 1)
        Fraction of the points held out; the accuracy is read on them after the last
        epoch (no epoch is chosen on them).
    seed : None or int >= 0
        Seed of the split, the initial weights and the batches.

    Returns
    -------
    model : Sequential
        Points (N, 2) -> logits (N, 1).
    history : dict
        Lists "train_loss" (binary cross-entropy) and "val_accuracy", one per epoch.
    """
    points, labels = check_dataset(points, labels, "points")
    num_epoch = check_int(num_epoch, "num_epoch", 1)
    train_index, val_index = split_validation(points, labels, validation, seed)
    model = binary_mlp([points.shape[1], *hidden, 1], seed, points.dtype)
    optimizer = Adam(model.parameters(), learning_rate)
    targets = labels[:, None].astype(points.dtype)             # (n, 1), as the logits
    loader = DataLoader(Dataset(points[train_index], targets[train_index]), batch_size,
                        shuffle=True, rng=seed)
    history = {"train_loss": [], "val_accuracy": []}
    for _ in range(num_epoch):
        history["train_loss"].append(train_epoch(model, loader,
                                                 binary_cross_entropy_with_logits, optimizer))
        predicted = predict(model, points[val_index])[:, 0] > 0    # sigmoid(z) > 1/2
        history["val_accuracy"].append(accuracy(labels[val_index], predicted))
    return model, history


class AsTwoLogits:
    """A one-logit binary model seen as a classifier of two logits, (0, z).

    softmax((0, z)) gives class 1 the probability e^z / (1 + e^z) = sigmoid(z), the
    model's own: ``imagelab.viz.figures.plot_confidence`` draws it like a two-logit network.
    """

    def __init__(self, model):
        self.model = model

    def predict_logits(self, data):
        """(0, z) for each row of ``data`` (N, d_in): np.ndarray, shape (N, 2)."""
        z = predict(self.model, data)
        return np.concatenate([np.zeros_like(z), z], axis=1)


def compare_with_network(data_train, labels_train, data_test, labels_test, num_classes,
                         hidden=(256,), num_epoch=10, batch_size=128, learning_rate=1e-3,
                         validation=0.1, seed=0):
    """Train one ReLU MLP through the Tensor and its twin layer by layer, side by side.

    Both start from the same weights (``imagelab.nn.network.mlp``'s, copied by
    ``from_network``), see the same batches (two ``DataLoader`` of the same seed) and
    take Adam steps of the same rate, epoch after epoch, each timed.

    Parameters
    ----------
    data_train : np.ndarray of float32, shape (N, d), labels_train : np.ndarray of int
    data_test : np.ndarray of float32, shape (N_test, d), labels_test : np.ndarray of int
    num_classes : int >= 2
    hidden : sequence of int >= 1
    num_epoch, batch_size : int >= 1
    learning_rate : float > 0
    validation : float in (0, 1)
        Fraction of the training rows held out to follow the epochs (none is chosen).
    seed : int >= 0
        Seed of the split, the weights and the batches.

    Returns
    -------
    dict
        "sizes"; "n_train", "n_val", "n_test"; for side "network" and "tensor":
        "<side>_train_loss", "<side>_val_accuracy", "<side>_seconds" (lists, one per
        epoch) and "<side>_test_accuracy" after the last epoch;
        "max_weight_difference", the largest gap between the two sides' weights then.
    """
    data_train, labels_train = check_dataset(data_train, labels_train, "data_train")
    data_test, labels_test = check_dataset(data_test, labels_test, "data_test")
    num_epoch = check_int(num_epoch, "num_epoch", 1)
    learning_rate = check_float(learning_rate, "learning_rate", 0, include_min=False)
    seed = check_int(seed, "seed", 0)            # both loaders need the same one
    train_index, val_index = split_validation(data_train, labels_train, validation, seed)
    x_val, y_val = data_train[val_index], labels_train[val_index]
    dataset = Dataset(data_train[train_index], labels_train[train_index])
    sizes = [data_train.shape[1], *hidden, check_int(num_classes, "num_classes", 2)]
    network = mlp(sizes, "relu", seed=seed, dtype=data_train.dtype)
    model = from_network(network)
    network_adam = optimizers.Adam(network.parameters())
    tensor_adam = Adam(model.parameters(), learning_rate)
    sides = {
        "network": lambda loader: train_on_batches(network, network_adam, loader,
                                                   learning_rate),
        "tensor": lambda loader: train_epoch(model, loader, cross_entropy, tensor_adam),
    }
    logits = {"network": network.predict_logits, "tensor": lambda x: predict(model, x)}
    loaders = {side: DataLoader(dataset, batch_size, shuffle=True, rng=seed) for side in sides}
    result = {"sizes": sizes, "n_train": len(train_index), "n_val": len(val_index),
              "n_test": len(data_test)}
    for side in sides:
        for key in ("train_loss", "val_accuracy", "seconds"):
            result[f"{side}_{key}"] = []
    for _ in range(num_epoch):
        for side, epoch in sides.items():
            start = time.perf_counter()
            result[f"{side}_train_loss"].append(float(epoch(loaders[side])))
            result[f"{side}_seconds"].append(time.perf_counter() - start)
            result[f"{side}_val_accuracy"].append(
                accuracy(y_val, np.argmax(logits[side](x_val), axis=1)))
    for side in sides:
        result[f"{side}_test_accuracy"] = accuracy(
            labels_test, np.argmax(logits[side](data_test), axis=1))
    result["max_weight_difference"] = max(
        float(np.max(np.abs(p.data.ravel() - q.value.ravel())))
        for p, q in zip(model.parameters(), network.parameters()))
    return result
