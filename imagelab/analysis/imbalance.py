"""Class imbalance made by hand, and three remedies: oversampling, class weights, focal loss.

A scenario keeps a fraction of each class's training images (``SCENARIOS``; "balanced",
all of them, is the reference); a network is then trained on what is left, with or
without a remedy (``REMEDIES``: the focal loss alone or with the class weights as its
alpha), for a fixed number of epochs, and tested on a balanced test set, where the
accuracy is the mean of the per-class accuracies (the recalls): the balanced accuracy.

The classes, on Fashion-MNIST: "dominant" keeps every T-shirt/top (class 0) and a
tenth of every other class, so that the class that swallows Shirts when in doubt
outnumbers each other class ten to one; the "rare" scenarios keep a tenth or a
hundredth of three classes of increasing difficulty, Trouser (1, unlike any other
class), Sneaker (7, beside Sandal and Ankle boot) and Shirt (6, the class most confused
with T-shirt/top, Pullover and Coat), and every image of the seven others.
"""
import functools

import numpy as np

from imagelab.nn.losses import focal_loss, softmax_cross_entropy, weighted_cross_entropy
from imagelab.nn.network import mlp
from imagelab.training.loop import train_to_targets
from imagelab.training.metrics import confusion_matrix, per_class_scores, seed_spread
from imagelab.utils.checks import check_int, check_labels, check_seed

NUM_CLASSES = 10
DOMINANT_CLASS = 0                 # T-shirt/top
RARE_CLASSES = (1, 7, 6)           # Trouser, Sneaker, Shirt: easy, middling, hard


def _fractions(kept, others):
    """An array (NUM_CLASSES,) of ``others``, but ``fraction`` for each ``(classes,
    fraction)`` pair of ``kept``."""
    fractions = np.full(NUM_CLASSES, others)
    for classes, fraction in kept:
        fractions[list(classes)] = fraction
    return fractions


# name -> fraction of each class's training images kept (shape (10,)); "balanced", the
# whole training set, is the reference.
SCENARIOS = {
    "balanced": _fractions([], 1.0),
    "dominant": _fractions([((DOMINANT_CLASS,), 1.0)], 0.1),
    "rare-10": _fractions([(RARE_CLASSES, 0.1)], 1.0),
    "rare-100": _fractions([(RARE_CLASSES, 0.01)], 1.0),
}
# name -> the classes the scenario makes smaller than the largest (its minority); for
# "balanced", the rare classes of the others, to compare their recall.
MINORITY = {"balanced": RARE_CLASSES,
            "dominant": tuple(c for c in range(NUM_CLASSES) if c != DOMINANT_CLASS),
            "rare-10": RARE_CLASSES, "rare-100": RARE_CLASSES}
REMEDIES = ("none", "oversampling", "class-weights", "focal", "focal-weights")


def subsample_classes(labels, fractions, seed):
    """Indices of a subset that keeps a given fraction of each class, drawn at random.

    Parameters
    ----------
    labels : np.ndarray of int, shape (N,)
        Class codes in 0..C-1.
    fractions : array_like of float in (0, 1], shape (C,)
        Class c keeps ``round(fractions[c] * n_c)`` of its n_c rows (at least one).
    seed : int >= 0 or np.random.Generator

    Returns
    -------
    np.ndarray of np.int64, sorted
        Row indices into ``labels``, each at most once.
    """
    fractions = np.asarray(fractions, np.float64)
    labels = check_labels(labels, "labels", len(fractions))
    if not np.all((fractions > 0) & (fractions <= 1)):
        raise ValueError(f"fractions must lie in (0, 1], got {fractions.tolist()}")
    rng = np.random.default_rng(check_seed(seed))
    kept = []
    for c, fraction in enumerate(fractions):
        rows = np.flatnonzero(labels == c)
        count = max(1, int(round(fraction * len(rows)))) if len(rows) else 0
        kept.append(rng.choice(rows, count, replace=False))
    return np.sort(np.concatenate(kept)).astype(np.int64)


def imbalanced_indices(labels, scenario, seed):
    """Indices of the training rows that ``SCENARIOS[scenario]`` keeps (``subsample_classes``)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}, got {scenario!r}")
    return subsample_classes(labels, SCENARIOS[scenario], seed)


def oversample(labels, seed):
    """Indices that repeat the rows of each class until every class has the largest's count.

    Random oversampling (imbalanced-learn's ``RandomOverSampler``): class c, of n_c
    rows, gets each of its rows ``m // n_c`` times (m = max_c n_c) and
    ``m % n_c`` of them, drawn without replacement, once more; so every row is kept and
    no row comes twice more often than another of its class.

    Parameters
    ----------
    labels : np.ndarray of int, shape (N,)
    seed : int >= 0 or np.random.Generator

    Returns
    -------
    np.ndarray of np.int64, sorted, shape (K m,)
        K the number of classes present; indices into ``labels``.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(check_seed(seed))
    classes, counts = np.unique(labels, return_counts=True)
    largest = counts.max()
    chosen = []
    for c, count in zip(classes, counts):
        rows = np.flatnonzero(labels == c)
        chosen += [np.tile(rows, largest // count),
                   rng.choice(rows, largest % count, replace=False)]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def balanced_class_weights(labels, num_classes):
    """Weights inversely proportional to the class frequencies, of mean 1 over the rows.

    w_c = N / (C n_c) (scikit-learn's ``class_weight="balanced"``): sum_c n_c w_c = N,
    so the weighted rows weigh as many as the rows, and each class weighs N / C in all.

    Parameters
    ----------
    labels : np.ndarray of int, shape (N,)
        Every class of 0..num_classes-1 present.
    num_classes : int

    Returns
    -------
    np.ndarray of np.float64, shape (num_classes,)
    """
    labels = check_labels(labels, "labels", num_classes)
    counts = np.bincount(labels, minlength=num_classes)
    if not counts.all():
        raise ValueError(f"every class needs a row to weigh it, classes "
                         f"{np.flatnonzero(counts == 0).tolist()} have none")
    return len(labels) / (num_classes * counts.astype(np.float64))


def remedy_training_set(labels, remedy, seed, gamma=2.0):
    """What a remedy changes: the rows trained on and the loss.

    Parameters
    ----------
    labels : np.ndarray of int, shape (N,)
        The imbalanced training labels, every class of 0..NUM_CLASSES-1 present.
    remedy : one of ``REMEDIES``
        "none": the rows as they are, the cross-entropy; "oversampling": the rows of
        ``oversample``; "class-weights": ``weighted_cross_entropy`` with
        ``balanced_class_weights``; "focal": ``focal_loss`` of exponent ``gamma``;
        "focal-weights": the focal loss with these class weights as its alpha.
    seed : int >= 0
        Seed of the oversampling.
    gamma : float >= 0

    Returns
    -------
    index : np.ndarray of np.int64
        The training rows, repeated where oversampled.
    loss : callable (z, labels) -> (value, dC/dz)
    """
    if remedy not in REMEDIES:
        raise ValueError(f"remedy must be one of {', '.join(REMEDIES)}, got {remedy!r}")
    every_row = np.arange(len(labels))
    if remedy == "oversampling":
        return oversample(labels, seed), softmax_cross_entropy
    if remedy == "class-weights":
        weights = balanced_class_weights(labels, NUM_CLASSES)
        return every_row, functools.partial(weighted_cross_entropy, weights=weights)
    if remedy == "focal":
        return every_row, functools.partial(focal_loss, gamma=gamma)
    if remedy == "focal-weights":
        weights = balanced_class_weights(labels, NUM_CLASSES)
        return every_row, functools.partial(focal_loss, gamma=gamma, weights=weights)
    return every_row, softmax_cross_entropy


def train_fixed_epochs(x, labels, loss, hidden=(256, 256), *, num_epoch=8,
                       learning_rate=1e-3, batch_size=128, seed=0):
    """A ReLU MLP trained on all of ``(x, labels)`` for ``num_epoch`` epochs, Adam, cosine.

    No validation split chooses the epoch: on imbalanced data its accuracy would favour
    the majority classes; the network of the last epoch is kept.

    Parameters
    ----------
    x : np.ndarray of float32, shape (N, d)
    labels : np.ndarray of int, shape (N,)
        Codes in 0..C-1, C = max(labels) + 1 the number of outputs.
    loss : callable (z, labels) -> (value, dC/dz)
    hidden : sequence of int >= 1
    num_epoch, learning_rate, batch_size
        As for ``imagelab.training.loop.train_to_targets``.
    seed : int >= 0
        Seed of the weights and of the batch order.

    Returns
    -------
    network : imagelab.nn.network.Network
    losses : list of float, each epoch's mean training loss
    """
    seed = check_int(seed, "seed", 0)
    network = mlp([x.shape[1], *hidden, int(np.max(labels)) + 1], "relu", seed=seed)
    losses = train_to_targets(network, x, labels, loss, num_epoch=num_epoch,
                              batch_size=batch_size, learning_rate=learning_rate, seed=seed)
    return network, losses


def class_report(labels_true, labels_pred, num_classes):
    """The per-class view of a classifier's predictions.

    Parameters
    ----------
    labels_true, labels_pred : np.ndarray of int, shape (N,)
    num_classes : int

    Returns
    -------
    dict
        "confusion": list of lists of int (C, C), rows true classes;
        "precision", "recall", "f1": lists of C floats (``per_class_scores``);
        "balanced_accuracy": the mean of the recalls (the mean per-class accuracy;
        the plain accuracy on a test set of equal classes); "macro_f1": the mean F1;
        "accuracy": the fraction right.
    """
    confusion = confusion_matrix(labels_true, labels_pred, num_classes)
    scores = per_class_scores(confusion)
    return {"confusion": confusion.tolist(),
            **{key: value.tolist() for key, value in scores.items()},
            "balanced_accuracy": float(np.mean(scores["recall"])),
            "macro_f1": float(np.mean(scores["f1"])),
            "accuracy": float(np.trace(confusion) / max(len(labels_true), 1))}


def minority_scores(report, minority):
    """The mean recall and mean F1 of the classes ``minority`` in a ``class_report``:
    {"minority_recall": float, "minority_f1": float}."""
    minority = list(minority)
    return {f"minority_{key}": float(np.mean(np.asarray(report[key])[minority]))
            for key in ("recall", "f1")}


def summarise_runs(runs):
    """The mean and spread over seeds of the numbers of several runs.

    Parameters
    ----------
    runs : list of dict
        ``class_report`` and ``minority_scores`` of each seed.

    Returns
    -------
    dict
        "balanced_accuracy", "macro_f1", "minority_recall", "minority_f1": each a
        ``spread``; "precision", "recall", "f1": each class's mean over the runs
        (lists of C floats); "recall_min", "recall_max": each class's range.
    """
    summary = {key: seed_spread([run[key] for run in runs])
               for key in ("balanced_accuracy", "macro_f1", "minority_recall", "minority_f1")}
    for key in ("precision", "recall", "f1"):
        summary[key] = np.mean([run[key] for run in runs], axis=0).tolist()
    recall = np.array([run["recall"] for run in runs])
    summary["recall_min"] = recall.min(axis=0).tolist()
    summary["recall_max"] = recall.max(axis=0).tolist()
    return summary


def run_study(x_train, labels_train, x_test, labels_test, plan, seeds, *,
              hidden=(256, 256), num_epoch=8, gamma=2.0, learning_rate=1e-3, batch_size=128,
              on_run=None):
    """Train and test a network for every scenario, remedy and seed.

    Parameters
    ----------
    x_train : np.ndarray of float32, shape (N, d), labels_train : np.ndarray of int (N,)
        The full (balanced) training set, which each scenario subsamples.
    x_test : np.ndarray of float32, shape (M, d), labels_test : np.ndarray of int (M,)
        The test set, left as it is.
    plan : dict
        Name of ``SCENARIOS`` -> the names of ``REMEDIES`` to train on it.
    seeds : sequence of int >= 0
        Seed s draws the scenario's subset, the oversampling, the weights and the batch order.
    hidden, num_epoch, gamma, learning_rate, batch_size
        As for ``train_fixed_epochs`` and ``remedy_training_set``.
    on_run : callable (done, total, text) -> None, optional
        Called after each training (a progress line).

    Returns
    -------
    dict
        scenario -> {"train_counts": list of C int (seed 0's subset), "minority": list
        of int, "remedies": remedy -> {"runs": [class_report, minority_scores, "seed",
        "rows" (trained on), "final_train_loss"], **summarise_runs}}.
    """
    total, done = sum(map(len, plan.values())) * len(seeds), 0
    results = {}
    for scenario, remedies in plan.items():
        subsets = {seed: imbalanced_indices(labels_train, scenario, seed) for seed in seeds}
        counts = np.bincount(labels_train[subsets[seeds[0]]], minlength=NUM_CLASSES)
        record = {"train_counts": counts.tolist(), "minority": list(MINORITY[scenario]),
                  "remedies": {}}
        for remedy in remedies:
            runs = []
            for seed in seeds:
                labels = labels_train[subsets[seed]]
                index, loss = remedy_training_set(labels, remedy, seed, gamma)
                rows = subsets[seed][index]
                network, losses = train_fixed_epochs(
                    x_train[rows], labels_train[rows], loss, hidden, num_epoch=num_epoch,
                    learning_rate=learning_rate, batch_size=batch_size, seed=seed)
                predicted = network.predict_logits(x_test).argmax(axis=1)
                report = class_report(labels_test, predicted, NUM_CLASSES)
                runs.append({"seed": seed, "rows": len(rows), "final_train_loss": losses[-1],
                             **report, **minority_scores(report, MINORITY[scenario])})
                done += 1
                if on_run is not None:
                    on_run(done, total, f"{scenario} {remedy} seed {seed}: balanced accuracy "
                                        f"{runs[-1]['balanced_accuracy']:.4f}")
            record["remedies"][remedy] = {"runs": runs, **summarise_runs(runs)}
        results[scenario] = record
    return results
