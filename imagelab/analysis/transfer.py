"""Transfer learning: an auto-encoder's encoder under a new classification head.

An auto-encoder ``d - hidden - bottleneck - hidden - d`` (``autoencoder``) learns to give
back its input from the training images alone, without their labels. Its first three
layers, ``Dense(d, hidden), ReLU, Dense(hidden, bottleneck)``, are the encoder; its
output, the code, is linear. A classifier ``d - hidden - bottleneck - num_classes``
(``classifier``) is the encoder's shape under a new head ``Dense(bottleneck,
num_classes)``; it learns from a fraction of the labels (``labelled_subset``) in one of
three ways (``METHODS``):

- "scratch": from random weights, every layer trained;
- "frozen": the encoder's weights, kept; only the head is trained;
- "fine-tuned": the encoder's weights as a start, every layer trained.

Every method gets the same training time, measured in labelled images (``epochs_for``):
as many as ``budget`` passes over the whole training set, so the same number of
optimizer steps however few the labels. The auto-encoder's own training is a cost paid
once before, for every fraction and method, and is reported apart (``run_study``).
"""
import time

import numpy as np

from imagelab.utils.checks import check_float, check_int, check_seed
from imagelab.nn.functional import sigmoid
from imagelab.nn.layers import Dense, ReLU
from imagelab.nn.losses import sigmoid_squared_error, softmax_cross_entropy
from imagelab.nn.network import Network
from imagelab.training.loop import train_to_targets
from imagelab.training.metrics import accuracy, seed_spread

METHODS = ("scratch", "frozen", "fine-tuned")

# Dense, ReLU, Dense (the bottleneck): the layers the auto-encoder and the classifier
# share (``encoder_layers``). ``trained_from=ENCODER_LAYERS`` freezes them.
ENCODER_LAYERS = 3


def spread_and_values(values):
    """``seed_spread`` of the values over the seeds, with the values themselves, so that
    two methods run on the same seeds can be compared seed by seed."""
    return {**seed_spread(values), "values": [float(v) for v in values]}


def reconstruction_loss(z, x):
    """Squared error of the reconstruction sigmoid(z) of images x, summed over the pixels.

    Parameters
    ----------
    z : np.ndarray of float, shape (N, d)
        The auto-encoder's outputs (logits, one per pixel).
    x : np.ndarray of float, shape (N, d)
        The images, pixels in [0, 1].

    Returns
    -------
    loss : float
        (1/N) sum_n sum_i (a[n, i] - x[n, i])^2, a = sigmoid(z): the mean over the
        images of each one's squared error.
    dz : np.ndarray, shape (N, d), dtype of ``z``
        dC/dz = 2 (a - x) a (1 - a) / N, as sigmoid'(z) = a (1 - a).
    """
    # sigmoid_squared_error is the mean over the N d entries: d times it is the mean over
    # the images of their sums, which reads as an error per image.
    loss, dz = sigmoid_squared_error(z, x)
    d = z.shape[1]
    return d * loss, d * dz


def encoder_layers(d, hidden, bottleneck, rng):
    """The encoder: ``Dense(d, hidden)`` (He weights), ``ReLU``, ``Dense(hidden, bottleneck)``
    (Glorot weights), whose outputs, the code, are linear: no unit of the bottleneck can
    die (a ReLU there left a third of them at zero for every image in our trials)."""
    return [Dense(d, hidden, "he", rng), ReLU(), Dense(hidden, bottleneck, "glorot", rng)]


def autoencoder(d, hidden, bottleneck, seed=None):
    """The auto-encoder ``d - hidden - bottleneck - hidden - d``: the ``encoder_layers``,
    then ``Dense(bottleneck, hidden)``, ``ReLU``, ``Dense(hidden, d)``.

    Its outputs are logits: the reconstruction is their sigmoid (``reconstruct``).
    """
    rng = np.random.default_rng(check_seed(seed))
    return Network(encoder_layers(d, hidden, bottleneck, rng)
                   + [Dense(bottleneck, hidden, "he", rng), ReLU(),
                      Dense(hidden, d, "glorot", rng)])


def classifier(d, hidden, bottleneck, num_classes, seed=None):
    """The classifier ``d - hidden - bottleneck - num_classes``: the ``encoder_layers``
    and a head ``Dense(bottleneck, num_classes)``, a linear classifier of the code.

    The head's weights are drawn after the encoder's from one generator: the same
    ``seed`` gives every method the same head.
    """
    rng = np.random.default_rng(check_seed(seed))
    return Network(encoder_layers(d, hidden, bottleneck, rng)
                   + [Dense(bottleneck, num_classes, "glorot", rng)])


def copy_encoder(source, target):
    """Copy the weights of the first ``ENCODER_LAYERS`` layers of ``source`` into ``target``.

    Raises ValueError if their shapes differ (another hidden width or bottleneck).
    """
    for i in range(ENCODER_LAYERS):
        for p, q in zip(source.layers[i].parameters(), target.layers[i].parameters()):
            if p.value.shape != q.value.shape:
                raise ValueError(f"layer {i} of the encoder has weights of shape "
                                 f"{p.value.shape}, the classifier's {q.value.shape}")
            q.value[...] = p.value


def reconstruct(network, x, batch_size=4096):
    """The auto-encoder's reconstructions of the rows ``x`` (N, d): sigmoid(outputs)."""
    return sigmoid(network.predict_logits(x, batch_size))


def reconstruction_error(network, x, batch_size=4096):
    """Mean over the rows of ``x`` of ``reconstruction_loss``: squared error per image."""
    return reconstruction_loss(network.predict_logits(x, batch_size), x)[0]


def labelled_subset(labels, fraction, seed=None):
    """The rows whose labels a classifier may use: ``fraction`` of each class, at random.

    Stratified, so that even 1% of the labels holds every class in its share: class c
    gives ``max(1, round(fraction * n_c))`` of its n_c rows.

    Parameters
    ----------
    labels : np.ndarray of int, shape (N,)
    fraction : float in (0, 1]
    seed : None, int >= 0 or np.random.Generator

    Returns
    -------
    np.ndarray of int
        Sorted row indices, distinct.
    """
    fraction = check_float(fraction, "fraction", 0, 1, include_min=False)
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        chosen.append(rng.choice(rows, max(1, round(fraction * len(rows))), replace=False))
    return np.sort(np.concatenate(chosen))


def epochs_for(n_labelled, n_total, budget):
    """Passes over ``n_labelled`` rows that see as many images as ``budget`` passes over
    ``n_total``: round(budget n_total / n_labelled), at least 1.

    With a batch size that divides both, every fraction then takes the same number of
    optimizer steps (1%, 10% and 100% of 60,000 with batches of 100).
    """
    n_labelled = check_int(n_labelled, "n_labelled", 1)
    budget = check_int(budget, "budget", 1)
    return max(1, round(budget * n_total / n_labelled))


def train_autoencoder(x, bottleneck, *, hidden=256, num_epoch=3, batch_size=100,
                      learning_rate=1e-3, seed=None):
    """An ``autoencoder`` trained on the rows ``x`` to give them back (no labels).

    Adam, cosine schedule, ``reconstruction_loss``.

    Parameters
    ----------
    x : np.ndarray of float32, shape (N, d)
        Pixels in [0, 1].
    bottleneck, hidden : int >= 1
    num_epoch, batch_size, learning_rate, seed
        As for ``imagelab.training.loop.train_to_targets``; ``seed`` also seeds the
        weights.

    Returns
    -------
    network : imagelab.nn.network.Network
    losses : list of float
        Each epoch's mean training loss (squared error per image).
    """
    network = autoencoder(x.shape[1], hidden, bottleneck, seed)
    losses = train_to_targets(network, x, x, reconstruction_loss, num_epoch=num_epoch,
                              batch_size=batch_size, learning_rate=learning_rate, seed=seed)
    return network, losses


def train_classifier(x, labels, method, pretrained, bottleneck, num_classes, *, hidden=256,
                     num_epoch, batch_size=100, learning_rate=1e-3, seed=None):
    """A ``classifier`` trained on ``(x, labels)`` by one of the ``METHODS``.

    Adam, cosine schedule, softmax cross-entropy, a fixed number of epochs (no
    validation split: with 1% of the labels it would cost more labels than the training
    has). The head's and the scratch encoder's random weights come from ``seed``, so
    that the three methods of one seed start from the same head.

    Parameters
    ----------
    x : np.ndarray of float32, shape (N, d)
    labels : np.ndarray of int, shape (N,)
    method : one of ``METHODS``
    pretrained : Network or None
        The trained auto-encoder whose encoder is copied ("frozen", "fine-tuned");
        unused for "scratch".
    bottleneck, num_classes, hidden : int >= 1
    num_epoch, batch_size, learning_rate, seed
        As for ``imagelab.training.loop.train_to_targets``.

    Returns
    -------
    imagelab.nn.network.Network
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    network = classifier(x.shape[1], hidden, bottleneck, num_classes, seed)
    if method != "scratch":
        copy_encoder(pretrained, network)
    train_to_targets(network, x, labels, softmax_cross_entropy, num_epoch=num_epoch,
                     batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                     trained_from=ENCODER_LAYERS if method == "frozen" else 0)
    return network


def run_study(x, labels, x_test, labels_test, num_classes, *, bottlenecks=(16, 32, 64, 128),
              fractions=(0.01, 0.1, 1.0), seeds=(0, 1, 2), hidden=256, ae_epochs=3,
              budget=2, batch_size=100, learning_rate=1e-3, frozen_learning_rate=1e-2,
              shown=0, report=None):
    """Every bottleneck, label fraction, method and seed: test accuracies and costs.

    For each seed s and bottleneck: an auto-encoder trained on every row of ``x``
    (``train_autoencoder``, seed s); then, for each fraction, the labelled rows
    (``labelled_subset``, seed s) and the three ``METHODS`` (``train_classifier``,
    seed s, ``epochs_for(n_labelled, len(x), budget)`` epochs).

    Parameters
    ----------
    x, x_test : np.ndarray of float32, shape (N, d), (N_test, d)
        Pixels in [0, 1].
    labels, labels_test : np.ndarray of int
    num_classes : int
    bottlenecks, fractions, seeds : sequences
    hidden, ae_epochs, budget, batch_size, learning_rate
        As above; ``budget`` in passes over all N rows; ``learning_rate`` is the
        auto-encoder's and the trained encoders' ("scratch", "fine-tuned").
    frozen_learning_rate : float > 0
        The rate of a head on a frozen encoder: a convex problem (a softmax regression
        of the codes), which takes a larger rate and needs it to converge within the
        same steps.
    shown : int >= 0
        How many test rows (the first) to give back reconstructed, for a figure.
    report : callable (done, text) -> None, optional
        Called after each training with the count of trainings done and a line that
        says what it gave (e.g. ``imagelab.utils.progress.Progress(total).update``).

    Returns
    -------
    record : dict of JSON values
        "accuracy"[bottleneck][fraction][method] and "autoencoder"[bottleneck] (test
        "reconstruction_error", "seconds"): ``spread_and_values`` over the seeds;
        "difference": each transfer method minus scratch, seed by seed (the same
        labelled rows and head), as a ``spread_and_values``; "labelled"[fraction] (rows),
        "epochs"[fraction], "steps"[fraction] (optimizer steps), "train_seconds"[method]
        (``spread_and_values`` of one classifier's training time). Keys are ``str`` of
        the numbers.
    reconstructions : dict
        Bottleneck -> ``reconstruct`` of ``x_test[:shown]`` by the first seed's
        auto-encoder, np.ndarray (shown, d).
    """
    total = len(seeds) * len(bottlenecks) * (1 + len(fractions) * len(METHODS))
    done = 0
    scores, errors, ae_seconds, seconds = {}, {}, {}, {m: [] for m in METHODS}
    reconstructions = {}
    subsets = {(f, s): labelled_subset(labels, f, s) for f in fractions for s in seeds}
    epochs = {f: epochs_for(len(subsets[f, seeds[0]]), len(x), budget) for f in fractions}
    for s in seeds:
        for b in bottlenecks:
            began = time.perf_counter()
            pretrained, _ = train_autoencoder(x, b, hidden=hidden, num_epoch=ae_epochs,
                                              batch_size=batch_size,
                                              learning_rate=learning_rate, seed=s)
            ae_seconds.setdefault(b, []).append(time.perf_counter() - began)
            errors.setdefault(b, []).append(reconstruction_error(pretrained, x_test))
            reconstructions.setdefault(b, reconstruct(pretrained, x_test[:shown]))
            done += 1
            _report(report, done, total, f"seed {s} bottleneck {b}: auto-encoder, test "
                                         f"error {errors[b][-1]:.2f} per image")
            for f in fractions:
                rows = subsets[f, s]
                for method in METHODS:
                    began = time.perf_counter()
                    rate = frozen_learning_rate if method == "frozen" else learning_rate
                    network = train_classifier(x[rows], labels[rows], method, pretrained, b,
                                               num_classes, hidden=hidden,
                                               num_epoch=epochs[f], batch_size=batch_size,
                                               learning_rate=rate, seed=s)
                    seconds[method].append(time.perf_counter() - began)
                    score = accuracy(labels_test, network.predict_logits(x_test).argmax(1))
                    scores.setdefault((b, f, method), []).append(score)
                    done += 1
                    _report(report, done, total, f"seed {s} bottleneck {b} labels {f:g} "
                                                 f"{method}: test accuracy {score:.4f}")
    return (_record(scores, errors, ae_seconds, seconds, subsets, epochs, bottlenecks,
                    fractions, seeds, batch_size), reconstructions)


def _report(report, done, total, text):
    """Pass ``text`` on to ``report``, with the count of trainings done, if there is one."""
    if report is not None:
        report(done, f"[{done}/{total}] {text}")


def _record(scores, errors, ae_seconds, seconds, subsets, epochs, bottlenecks, fractions,
            seeds, batch_size):
    """The dictionary ``run_study`` returns, from its lists of values."""
    def steps(f):
        return epochs[f] * -(-len(subsets[f, seeds[0]]) // batch_size)   # ceil division
    accuracy_table, difference = {}, {}
    for b in bottlenecks:
        accuracy_table[str(b)], difference[str(b)] = {}, {}
        for f in fractions:
            cell = {m: scores[b, f, m] for m in METHODS}
            accuracy_table[str(b)][str(f)] = {m: spread_and_values(v) for m, v in cell.items()}
            difference[str(b)][str(f)] = {
                f"{m} - scratch": spread_and_values(np.subtract(cell[m], cell["scratch"]))
                for m in METHODS[1:]}
    return {"accuracy": accuracy_table, "difference": difference,
            "autoencoder": {str(b): {"reconstruction_error": spread_and_values(errors[b]),
                                     "seconds": spread_and_values(ae_seconds[b])}
                            for b in bottlenecks},
            "labelled": {str(f): len(subsets[f, seeds[0]]) for f in fractions},
            "epochs": {str(f): epochs[f] for f in fractions},
            "steps": {str(f): steps(f) for f in fractions},
            "train_seconds": {m: spread_and_values(v) for m, v in seconds.items()}}
