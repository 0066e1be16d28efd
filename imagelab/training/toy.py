"""A small MLP on a toy 2-D set, and its probability of class 1 over the plane.

The sets are ``imagelab.data.toy``'s; the figure that draws the grid is
``imagelab.viz.figures.plot_confidence``.
"""
import numpy as np

from imagelab.nn.functional import softmax
from imagelab.nn.network import mlp
from imagelab.training.loop import split_validation, train
from imagelab.utils.checks import check_int


def train_toy(points, labels, hidden=(32, 32), activation="relu", num_epoch=100,
              learning_rate=0.01, validation=0.25, seed=None):
    """Train an MLP 2 - hidden - 2 on a toy set with ``imagelab.training.loop.train``.

    Parameters
    ----------
    points : np.ndarray of np.float32, shape (n, 2), labels : np.ndarray of int, shape (n,)
    hidden : sequence of int >= 1
        Sizes of the hidden layers.
    activation : {"sigmoid", "relu"}
    num_epoch : int >= 1
        Epochs of Adam on mini-batches of 32, learning rate ``learning_rate`` decayed
        on a cosine.
    validation : float in (0, 1)
        Fraction of the points held out; the epoch with the best accuracy on them is kept.
    seed : None or int >= 0
        Seed of the split, the initial weights and the batch order.

    Returns
    -------
    network : imagelab.nn.network.Network
        Its logits (N, 2) for points (N, 2); softmax gives the probabilities.
    val_accuracy : float
        Accuracy of ``network`` on the held-out points.
    """
    train_index, val_index = split_validation(points, labels, validation, seed)
    network = mlp([points.shape[1], *hidden, 2], activation, seed=seed)
    history = train(network, points[train_index], labels[train_index], points[val_index],
                    labels[val_index], num_epoch=num_epoch, batch_size=32,
                    learning_rate=learning_rate, seed=seed)
    return network, history["val_accuracy"][history["best_epoch"] - 1]


def probability_grid(network, points, steps=200, margin=0.5):
    """The network's probability of class 1 on a regular grid around ``points``.

    Parameters
    ----------
    network : imagelab.nn.network.Network
        Two inputs, two logits.
    points : np.ndarray, shape (n, 2)
        The grid spans their bounding box widened by ``margin`` on every side.
    steps : int >= 2
        Grid points along each axis.

    Returns
    -------
    x, y : np.ndarray, shape (steps,)
        The grid's coordinates along each axis.
    probability : np.ndarray, shape (steps, steps)
        ``probability[i, j]`` at (x[j], y[i]), as ``contourf`` takes it.
    """
    steps = check_int(steps, "steps", 2)
    low, high = points.min(axis=0) - margin, points.max(axis=0) + margin
    x, y = (np.linspace(low[i], high[i], steps, dtype=np.float32) for i in range(2))
    grid = np.stack(np.meshgrid(x, y), axis=-1).reshape(-1, 2)
    probability = softmax(network.predict_logits(grid))[:, 1]
    return x, y, probability.reshape(steps, steps)
