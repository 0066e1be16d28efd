"""The handout's two-class task: Linear -> ReLU -> ... -> Linear -> Sigmoid, squared error.

Two classes of an image dataset (two MNIST digits, two Fashion-MNIST articles) become
the targets 0 and 1; a network of ``imagelab.handouts.numpy_layers`` with one sigmoid output, the
probability of the second class, learns them with the squared error (``"se"`` of
``imagelab.nn.losses``) through the trainer's loop (``imagelab.training.loop.train``).
``run_two_class`` calls them in order on a dataset (``two_class_split``,
``train_two_class``, ``save_two_class_results``); ``imagelab numpy-nn`` is it
on the command line.
"""
import time

import numpy as np

from imagelab.data.preprocessing import standardize
from imagelab.handouts.numpy_layers import Linear, ReLU, Sigmoid
from imagelab.nn.network import Network
from imagelab.nn.optim import OPTIMIZERS
from imagelab.training import metrics
from imagelab.training.loop import split_validation, train
from imagelab.utils.checks import check_dataset, check_int, check_labels, check_seed
from imagelab.utils.files import add_note, save_figure, save_results
from imagelab.viz.figures import plot_learning_curves, plot_two_class_grid


def two_class_split(data_train, labels_train, data_test, labels_test, classes, validation,
                    seed=None):
    """Keep the rows of two classes, as targets 0 and 1, and carve a validation split.

    Parameters
    ----------
    data_train : np.ndarray, shape (N, d), labels_train : np.ndarray of int, shape (N,)
    data_test : np.ndarray, shape (N_test, d), labels_test : np.ndarray of int
    classes : (int, int)
        The class codes that become targets 0 and 1.
    validation : float in (0, 1)
        Fraction of the two classes' training rows held out for validation.
    seed : None or int >= 0
        Seed of the validation split.

    Returns
    -------
    dict of np.ndarray
        "x_train", "x_val", "x_test" (rows of ``data_*``, not copied otherwise) and
        "y_train", "y_val", "y_test" (int64 targets, 1 for ``classes[1]``).
    """
    first, second = (check_int(c, f"classes[{i}]", 0) for i, c in enumerate(classes))
    if first == second:
        raise ValueError(f"classes must be two different classes, got {first} twice")
    split = {}
    for name, data, labels in (("train", data_train, labels_train),
                               ("test", data_test, labels_test)):
        labels = check_labels(labels, f"labels_{name}")
        kept = (labels == first) | (labels == second)
        if not kept.any():
            raise ValueError(f"labels_{name} holds neither class {first} nor {second}")
        split[f"x_{name}"] = np.asarray(data)[kept]
        split[f"y_{name}"] = (labels[kept] == second).astype(np.int64)
    train_index, val_index = split_validation(split["x_train"], split["y_train"], validation,
                                              seed)
    split["x_val"], split["y_val"] = split["x_train"][val_index], split["y_train"][val_index]
    split["x_train"], split["y_train"] = (split["x_train"][train_index],
                                          split["y_train"][train_index])
    return split


def two_class_network(input_dim, hidden, seed=None, dtype=np.float32):
    """Linear -> ReLU -> ... -> Linear -> Sigmoid, one output: the probability of class 1.

    Parameters
    ----------
    input_dim : int >= 1
    hidden : sequence of int >= 1
        Sizes of the hidden layers (each Linear then ReLU, He-initialised); may be empty.
    seed : None, int >= 0 or np.random.Generator
    dtype : floating dtype of the weights (float32: fast on images)

    Returns
    -------
    imagelab.nn.network.Network
    """
    rng = np.random.default_rng(check_seed(seed))
    sizes = [input_dim, *(check_int(h, f"hidden[{i}]", 1) for i, h in enumerate(hidden))]
    layers = []
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        layers += [Linear(d_in, d_out, "he", rng, dtype), ReLU()]
    # The output: Glorot suits the sigmoid.
    return Network(layers + [Linear(sizes[-1], 1, "glorot", rng, dtype), Sigmoid()])


def train_two_class(x_train, y_train, x_val, y_val, x_test, *, hidden=(128,),
                    optimizer="adam", learning_rate=1e-3, num_epoch=20, batch_size=64,
                    seed=None, verbose=False):
    """Train ``two_class_network`` with the squared error; keep the best validation epoch.

    Each input feature is standardised with the statistics of ``x_train`` alone.

    Parameters
    ----------
    x_train : np.ndarray, shape (N, d), y_train : np.ndarray of int (0 or 1), shape (N,)
    x_val : np.ndarray, shape (N_val, d), y_val : np.ndarray of int (0 or 1)
        Chooses the epoch whose weights are kept.
    x_test : np.ndarray, shape (N_test, d)
        Used once, at the end.
    hidden : sequence of int >= 1
    optimizer : {"adam", "sgd"}
        "sgd" has momentum 0.9.
    learning_rate : float > 0
        Base rate of the cosine schedule.
    num_epoch, batch_size : int >= 1
    seed : None or int >= 0
        Seed of the weights and of the batch order.
    verbose : bool
        Print a line per epoch.

    Returns
    -------
    history : dict
        As ``imagelab.training.loop.train`` returns it (per-epoch losses and accuracies).
    probabilities : np.ndarray of float32, shape (N_test,)
        The network's probability of class 1 for each test row.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    x_train, y_train = check_dataset(x_train, check_labels(y_train, "y_train", 2), "x_train")
    x_val, y_val = check_dataset(x_val, check_labels(y_val, "y_val", 2), "x_val")
    x_test, _ = check_dataset(x_test, name="x_test")
    x_train, rest = standardize(x_train, np.concatenate([x_val, x_test]))
    x_val, x_test = rest[:len(x_val)], rest[len(x_val):]
    network = two_class_network(x_train.shape[1], hidden, seed)
    history = train(network, x_train, y_train, x_val, y_val, num_epoch=num_epoch,
                    batch_size=batch_size, optimizer=OPTIMIZERS[optimizer](network.parameters()),
                    learning_rate=learning_rate, loss="se", seed=seed, verbose=verbose)
    return history, network.predict_logits(x_test)[:, 0]


def save_two_class_results(results_dir, history, rows_test, targets_test, probabilities,
                           class_names, image_shape, record, note="", name="numpy_nn"):
    """Write ``<name>_training.png``, ``<name>_classification.png`` and ``<name>.json``.

    Parameters
    ----------
    history : dict
        As ``train_two_class`` returns it.
    rows_test, targets_test, probabilities, class_names, image_shape
        As ``plot_two_class_grid`` takes them.
    record : dict
        Saved in the JSON file with the history and the test accuracy (strict JSON).
    note : str
        Footnote of both figures (where the data comes from), kept in the record.

    Returns
    -------
    float : the test accuracy.
    """
    accuracy = metrics.accuracy(targets_test, (probabilities > 0.5).astype(np.int64))
    title = (f"{class_names[0]} vs {class_names[1]}: test accuracy {accuracy:.2%}")
    record = {**record, "test_accuracy": accuracy, "history": history}
    save_results(results_dir, name, plot_learning_curves(history, title), record, note,
                 figure_name=f"{name}_training")
    grid = plot_two_class_grid(rows_test, targets_test, probabilities, class_names,
                               image_shape, title)
    add_note(grid, note)
    save_figure(results_dir, f"{name}_classification", grid)
    return accuracy


def run_two_class(dataset, classes, results_dir, command, *, validation=0.1, verbose=True,
                  **config):
    """The whole task on a dataset: keep two classes, train, test once, save the results.

    Parameters
    ----------
    dataset : imagelab.data.registry.Dataset or any object with its fields
        ``name``, ``data_train``, ``labels_train``, ``data_test``, ``labels_test``
        (float32 rows (n, h * w * c), values 0..255; int64 labels), ``label_names``
        and ``image_shape``.
    classes : (int, int)
        The class codes that become targets 0 and 1.
    results_dir : str
        Where ``save_two_class_results`` writes.
    command : str
        The command line, kept in the record.
    validation : float in (0, 1)
        Fraction of the training rows held out for validation.
    verbose : bool
        Print a line per epoch.
    **config
        ``hidden``, ``optimizer``, ``learning_rate``, ``num_epoch``, ``batch_size``,
        ``seed`` of ``train_two_class`` (``seed`` also splits the validation rows).

    Returns
    -------
    accuracy : float, the test accuracy
    history : dict, as ``train_two_class`` returns it
    """
    start = time.perf_counter()
    split = two_class_split(dataset.data_train, dataset.labels_train, dataset.data_test,
                            dataset.labels_test, classes, validation, config.get("seed"))
    history, probabilities = train_two_class(
        split["x_train"], split["y_train"], split["x_val"], split["y_val"], split["x_test"],
        verbose=verbose, **config)
    names = tuple(dataset.label_names[c] for c in classes)
    counts = {f"n_{side}": len(split[f"y_{side}"]) for side in ("train", "val", "test")}
    note = (f"{dataset.name}: {names[0]} ({classes[0]}) vs {names[1]} ({classes[1]}); "
            f"{counts['n_train']:,} training, {counts['n_val']:,} validation, "
            f"{counts['n_test']:,} test images")
    record = {"command": command, "dataset": dataset.name, "classes": list(classes),
              "class_names": list(names), **config, "validation": validation, **counts,
              "training_seconds": round(time.perf_counter() - start, 1)}
    accuracy = save_two_class_results(results_dir, history, split["x_test"], split["y_test"],
                                      probabilities, names, dataset.image_shape, record, note)
    return accuracy, history
