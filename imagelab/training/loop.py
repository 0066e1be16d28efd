"""Training a network on mini-batches: one loop that knows nothing of the dataset.

``train`` takes arrays (rows and labels), a network, an optimizer and a schedule; it
reshuffles the rows every epoch, can swap rows for an augmented view of them, tracks a
validation split and restores the best weights.
"""
import time

import numpy as np

from imagelab.utils.checks import check_dataset, check_float, check_int, check_seed
from imagelab.nn.losses import loss_function, predicted_classes
from imagelab.nn.optim import Adam, learning_rate_at


def iterate_minibatches(n, batch_size, rng):
    """Row indices of one epoch's mini-batches, in a fresh random order.

    Yields arrays of int, of ``batch_size`` rows except maybe the last; together they
    hold every index of 0..n-1 exactly once.
    """
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def split_validation(data, labels, fraction_val, seed=None):
    """Carve a random validation split out of the training data.

    Parameters
    ----------
    data : np.ndarray, shape (N, d)
    labels : np.ndarray, shape (N,)
    fraction_val : float in (0, 1)
    seed : None, int >= 0 or np.random.Generator

    Returns
    -------
    train_index, val_index : np.ndarray of int
        Disjoint row indices covering 0..N-1, ``round(fraction_val * N)`` in the second.
    """
    fraction_val = check_float(fraction_val, "fraction_val", 0, 1, include_min=False,
                               include_max=False)
    seed = check_seed(seed)
    n = len(data)
    n_val = int(round(fraction_val * n))
    if not 0 < n_val < n:
        raise ValueError(f"a validation fraction of {fraction_val} leaves no row on one "
                         f"side of {n} rows")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def evaluate(network, data, labels, loss="cross_entropy", pipeline=None):
    """Loss (without weight decay) and accuracy of ``network`` on labelled data.

    With an ``imagelab.data.augment.ImagePipeline``, ``data`` holds rows of uint8 pixels,
    fed by batches of 250 images (a convolution's window matrix is large: 295 MB for
    conv4's second layer).
    """
    z = (network.predict_logits(data) if pipeline is None else
         network.predict_logits(data, 250, pipeline.evaluation))
    return (loss_function(loss)(z, labels)[0],
            float(np.mean(predicted_classes(z, loss) == labels)))


def train_on_batches(network, optimizer, batches, learning_rate):
    """One pass of ``network`` over ``batches``: for each, its gradients, then a step.

    Parameters
    ----------
    network : imagelab.nn.network.Network
        Trained in place with the cross-entropy (``Network.loss_and_gradients``).
    optimizer : SGD or Adam
        Built on ``network.parameters()``; ``optimizer.step(learning_rate)`` after
        each batch.
    batches : iterable of (np.ndarray (B, d_in), np.ndarray of int (B,))
        E.g. an ``imagelab.autograd.data.DataLoader``.
    learning_rate : float > 0

    Returns
    -------
    float
        The mean of the batches' losses over the rows, as the weights moved.
    """
    total = count = 0
    for x, y in batches:
        loss, _ = network.loss_and_gradients(x, y)
        optimizer.step(learning_rate)
        total += loss * len(x)
        count += len(x)
    return total / count


def warn_at_chance(accuracy, labels, learning_rate):
    """Print a one-line warning if ``accuracy`` on ``labels`` is no better than chance's.

    Chance is the accuracy of always answering the most frequent class; a network still
    there after its first epoch has most likely been thrown off by too large a rate.
    """
    chance = np.bincount(labels).max() / len(labels)
    if accuracy <= chance:
        print(f"warning: validation accuracy {accuracy:.4f} after the first epoch, no better "
              f"than always answering the most frequent class ({chance:.4f}): try a smaller "
              f"learning rate than {learning_rate:g}", flush=True)


def train(network, data, labels, data_val, labels_val, *, num_epoch, batch_size=128,
          optimizer=None, learning_rate=1e-3, schedule="cosine", weight_decay=0.0,
          loss="cross_entropy", patience=None, data_flipped=None, pipeline=None,
          seed=None, verbose=False, start=None, after_epoch=None):
    """Train ``network`` by mini-batches, keeping the weights of the best validation epoch.

    Parameters
    ----------
    network : imagelab.nn.network.Network
        Trained in place.
    data : np.ndarray, shape (N, d_in), labels : np.ndarray of int, shape (N,)
        The training rows (in the network's dtype, to stay fast).
    data_val : np.ndarray, shape (N_val, d_in), labels_val : np.ndarray of int
        The validation split: it chooses the epoch whose weights are kept.
    num_epoch : int >= 1
    batch_size : int >= 1
    optimizer : SGD or Adam, optional
        Built on ``network.parameters()``; default: ``Adam(network.parameters())``.
    learning_rate : float > 0
        Base rate, scaled by ``schedule`` ("cosine" or "constant") each epoch.
    weight_decay : float >= 0
        L2 penalty factor (see ``Network.loss_and_gradients``).
    loss : {"cross_entropy", "mse", "se"} or callable (z, labels) -> (value, dC/dz)
        "se": a network whose last layer is a one-output sigmoid (two classes); a
        callable (e.g. ``functools.partial(focal_loss, gamma=2.0)``) is read as a loss
        on logits, whose largest gives the class.
    patience : int >= 1, optional
        Stop after this many epochs without a better validation accuracy.
    data_flipped : np.ndarray, shape (N, d_in), optional
        Another view of each training row (its mirror image, transformed like
        ``data``): each epoch, each row is taken from ``data`` or ``data_flipped`` at
        random (data augmentation; a precomputed view costs nothing per epoch).
    pipeline : imagelab.data.augment.ImagePipeline, optional
        For images: ``data`` and ``data_val`` then hold rows of uint8 pixels, which
        the pipeline augments (training batches) and normalises as they are drawn.
    seed : None, int >= 0 or np.random.Generator
        Seed of the batch order and of the augmentation.
    verbose : bool
        Print a line per epoch, and a warning if the first leaves the validation
        accuracy at chance's (``warn_at_chance``).
    start : (dict, dict), optional
        Resume from the ``(progress, arrays)`` that ``after_epoch`` was given, the
        network, ``optimizer`` and the generator ``seed`` restored to their state at
        that moment (``imagelab.training.checkpoint``): the run then ends as an
        uninterrupted one would.
    after_epoch : callable (progress, arrays) -> None, optional
        Called after each epoch with the loop's own state: ``progress``, a dict of
        JSON values (the history so far, the best epoch and its accuracy), and
        ``arrays``, a dict of the best epoch's weights ("best/0", "best/1", ...).

    Returns
    -------
    history : dict
        Lists, one value per epoch run: "train_loss" and "train_accuracy" (means over
        the epoch's mini-batches, as the weights moved; the loss without the weight
        decay penalty, like "val_loss"), "val_loss", "val_accuracy" (after the epoch),
        "learning_rate", "seconds"; and "best_epoch" (1-based), the epoch whose
        weights the network holds on return.

    Raises
    ------
    ValueError
        On a bad dataset, or an argument outside the ranges above (checked before
        the first epoch).
    """
    data, labels = check_dataset(data, labels, name="data")
    data_val, labels_val = check_dataset(data_val, labels_val, name="data_val")
    if data_flipped is not None and np.shape(data_flipped) != data.shape:
        raise ValueError(f"data_flipped has shape {np.shape(data_flipped)}, "
                         f"expected {data.shape} like data")
    num_epoch = check_int(num_epoch, "num_epoch", 1)
    batch_size = check_int(batch_size, "batch_size", 1)
    learning_rate = check_float(learning_rate, "learning_rate", 0, include_min=False)
    if patience is not None:
        patience = check_int(patience, "patience", 1)
    optimizer = Adam(network.parameters()) if optimizer is None else optimizer
    data_loss = loss_function(loss)          # resolved once, and a bad name refused here
    rng = np.random.default_rng(check_seed(seed))
    keys = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "learning_rate",
            "seconds")
    history = {key: [] for key in keys}
    best_accuracy, best_weights, best_epoch = -1.0, None, 0
    if start is not None:
        progress, arrays = start
        history = {key: list(progress["history"][key]) for key in keys}
        best_accuracy, best_epoch = progress["best_accuracy"], progress["best_epoch"]
        best_weights = [arrays[f"best/{i}"] for i in range(len(arrays))] or None
    for epoch in range(len(history["train_loss"]), num_epoch):
        if patience is not None and epoch - best_epoch >= patience:
            break
        began = time.perf_counter()
        rate = learning_rate_at(epoch, learning_rate, num_epoch, schedule)
        flip = rng.random(len(data)) < 0.5 if data_flipped is not None else None
        total_loss = total_correct = 0.0
        for index in iterate_minibatches(len(data), batch_size, rng):
            x = data[index]
            if flip is not None:
                x[flip[index]] = data_flipped[index[flip[index]]]
            if pipeline is not None:
                x = pipeline.training(x, rng)
            _, z = network.loss_and_gradients(x, labels[index], loss, weight_decay)
            optimizer.step(rate)
            # The data loss alone (no weight-decay penalty), comparable with val_loss.
            total_loss += data_loss(z, labels[index])[0] * len(index)
            total_correct += np.count_nonzero(predicted_classes(z, loss) == labels[index])
        val_loss, val_accuracy = evaluate(network, data_val, labels_val, loss, pipeline)
        values = (total_loss / len(data), total_correct / len(data), val_loss,
                  val_accuracy, rate, time.perf_counter() - began)
        for key, value in zip(keys, values):
            history[key].append(float(value))
        if val_accuracy > best_accuracy:
            best_accuracy, best_weights, best_epoch = val_accuracy, network.get_weights(), epoch + 1
        if verbose:
            seconds = values[5]
            left = (num_epoch - epoch - 1) * sum(history["seconds"]) / (epoch + 1)
            print(f"epoch {epoch + 1:3d}/{num_epoch}  lr {rate:.2e}  "
                  f"loss {values[0]:.4f}  train {values[1]:.4f}  "
                  f"val loss {val_loss:.4f}  val {val_accuracy:.4f}  {seconds:.1f} s  "
                  f"{len(data) / seconds:,.0f} images/s  {left / 60:.1f} min left",
                  flush=True)
            if epoch == 0:
                warn_at_chance(val_accuracy, labels_val, learning_rate)
        if after_epoch is not None:
            after_epoch({"history": history, "best_accuracy": best_accuracy,
                         "best_epoch": best_epoch},
                        {f"best/{i}": w for i, w in enumerate(best_weights)})
    if best_weights is not None:
        network.set_weights(best_weights)
    history["best_epoch"] = best_epoch
    return history


def train_to_targets(network, x, targets, loss, *, num_epoch, batch_size=128,
                     learning_rate=1e-3, schedule="cosine", optimizer=None, trained_from=0,
                     seed=None):
    """Train ``network`` to map the rows of ``x`` to arrays of ``targets`` (no labels).

    For what ``train`` cannot express: an auto-encoder (targets = inputs), one output
    per pixel (edge masks). No validation split: the caller measures what it needs.

    Parameters
    ----------
    network : imagelab.nn.network.Network
        Trained in place.
    x : np.ndarray, shape (N, ...)
        Inputs.
    targets : np.ndarray, shape (N, ...)
        What each row's output should be; ``targets[index]`` goes to ``loss``.
    loss : callable (outputs, targets) -> (float, dC/doutputs)
        E.g. ``imagelab.nn.losses.sigmoid_mse``-like functions on arrays of targets.
    num_epoch : int >= 1
    batch_size : int >= 1
    learning_rate : float > 0, scaled by ``schedule`` ("cosine" or "constant")
    optimizer : SGD or Adam, optional
        Built on ``network.parameters()``; default ``Adam``.
    trained_from : int >= 0
        Layers below this index are frozen (``Network.loss_and_gradients``).
    seed : None, int >= 0 or np.random.Generator
        Seed of the batch order.

    Returns
    -------
    list of float
        Each epoch's mean training loss, over the rows, as the weights moved.
    """
    if len(x) != len(targets) or not len(x):
        raise ValueError(f"x and targets must hold the same non-zero number of rows, "
                         f"got {len(x)} and {len(targets)}")
    num_epoch = check_int(num_epoch, "num_epoch", 1)
    batch_size = check_int(batch_size, "batch_size", 1)
    learning_rate = check_float(learning_rate, "learning_rate", 0, include_min=False)
    optimizer = Adam(network.parameters()) if optimizer is None else optimizer
    rng = np.random.default_rng(check_seed(seed))
    losses = []
    for epoch in range(num_epoch):
        rate = learning_rate_at(epoch, learning_rate, num_epoch, schedule)
        total = 0.0
        for index in iterate_minibatches(len(x), batch_size, rng):
            value, _ = network.loss_and_gradients(x[index], targets[index], loss,
                                                  trained_from=trained_from)
            optimizer.step(rate)
            total += value * len(index)
        losses.append(total / len(x))
    return losses
