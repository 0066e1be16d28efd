"""Multilayer perceptrons of any depth, trained on mini-batches, in plain NumPy.

The lab's network (``mlp.py``) is the one-hidden-layer case with sigmoid units and
full-batch gradient descent; this module adds what makes such a network learn better
on CIFAR-10, all opt-in:

- layers ``Dense``, ``Sigmoid``, ``ReLU``, ``Dropout`` with hand-written backward passes, stacked
  by ``Network`` (Glorot or He initialisation, any number of hidden layers);
- losses ``softmax_cross_entropy`` and ``sigmoid_mse`` (the lab's two), plus L2
  weight decay;
- optimizers ``SGD`` (with momentum) and ``Adam``, a cosine learning-rate schedule;
- ``train``: mini-batches reshuffled every epoch, optional mirror-image augmentation,
  early stopping on a validation split that restores the best weights;
- ``fit_pca_whitening``: an input transform fitted on training rows only.

Everything stays in the data's dtype (float32 on CIFAR-10), so an epoch costs about
its matrix products (``benchmarks/bench_network.py`` measures the ratio). Run
``python mlp.py --optimizer adam ...`` (see ``add_arguments``) to use it.
"""
import math
import os
import sys
import time

import numpy as np

import figures
from experiment import (FlagError, file_stem, fraction, load_split, non_negative_float,
                        positive_int, rate, refuse_above, result_name, save_results,
                        stop_if_diverging)
from imagelab.checks import check_dataset, check_float, check_int, check_seed
from mlp import log_softmax, one_hot, sigmoid, standardize
from read_cifar import LABEL_NAMES

IMAGE_SHAPE = (3, 32, 32)   # a CIFAR-10 row holds the R, G and B planes, 32 x 32 each


# ----------------------------------------------------------------------------- layers

class Dense:
    """Affine layer ``Z = X @ W + B``, W: (d_in, d_out), B: (1, d_out).

    Parameters
    ----------
    d_in, d_out : int >= 1
    init : {"glorot", "he"}
        Glorot/Xavier uniform, U(-r, r) with r = sqrt(6 / (d_in + d_out)), suits
        sigmoid units (it is ``mlp.init_weights``'s); He normal, N(0, 2 / d_in), keeps
        the variance of the signal through ReLU units, which zero half of it.
    rng : None, int >= 0 or np.random.Generator
    dtype : floating dtype of the weights
    """

    def __init__(self, d_in, d_out, init="glorot", rng=None, dtype=np.float32):
        d_in, d_out = check_int(d_in, "d_in", 1), check_int(d_out, "d_out", 1)
        rng = np.random.default_rng(check_seed(rng, "rng"))
        if init == "glorot":
            r = math.sqrt(6 / (d_in + d_out))
            w = rng.uniform(-r, r, size=(d_in, d_out))
        elif init == "he":
            w = rng.normal(0, math.sqrt(2 / d_in), size=(d_in, d_out))
        else:
            raise ValueError(f"init must be 'glorot' or 'he', got {init!r}")
        self.params = {"w": w.astype(dtype), "b": np.zeros((1, d_out), dtype)}
        self.grads = {}

    def forward(self, x, training=False):
        """(N, d_in) -> (N, d_out); keeps ``x`` for the backward pass."""
        self.x = x
        return x @ self.params["w"] + self.params["b"]

    def backward(self, dz, need_dx=True):
        """Store dC/dW, dC/dB from dC/dZ (N, d_out); return dC/dX (N, d_in) or None.

        ``need_dx=False`` skips dC/dX, a third of the layer's cost: the first layer's
        input is the data, whose gradient nobody needs.
        """
        self.grads["w"] = self.x.T @ dz                       # dC/dW = X^T dC/dZ
        self.grads["b"] = dz.sum(axis=0, keepdims=True)       # dC/dB = sum over rows
        return dz @ self.params["w"].T if need_dx else None   # dC/dX = dC/dZ W^T


class Sigmoid:
    """Elementwise logistic unit, ``mlp.sigmoid``; no parameters."""
    params = grads = {}

    def forward(self, z, training=False):
        self.a = sigmoid(z)
        return self.a

    def backward(self, da, need_dx=True):
        return da * self.a * (1 - self.a)                     # sigma' = sigma (1 - sigma)


class ReLU:
    """Elementwise max(z, 0); no parameters."""
    params = grads = {}

    def forward(self, z, training=False):
        self.positive = z > 0
        return np.maximum(z, 0)

    def backward(self, da, need_dx=True):
        return da * self.positive                             # 1 where z > 0, else 0


class Dropout:
    """Inverted dropout: in training, zero each unit with probability ``rate``.

    The kept units are scaled by 1 / (1 - rate), so that a unit's expected output is
    the same in training and at test time, when the layer passes its input through.
    """
    params = grads = {}

    def __init__(self, rate, rng=None):
        self.rate = check_float(rate, "dropout rate", 0, 1, include_max=False)
        self.rng = np.random.default_rng(check_seed(rng, "rng"))

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self.mask = None
            return x
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.rate
        self.mask = keep.astype(x.dtype) / x.dtype.type(1 - self.rate)
        return x * self.mask

    def backward(self, da, need_dx=True):
        return da if self.mask is None else da * self.mask


ACTIVATIONS = {"sigmoid": Sigmoid, "relu": ReLU}


# ----------------------------------------------------------------------------- losses

def softmax_cross_entropy(z, labels):
    """Mean cross-entropy of softmax(z) against integer labels, and its gradient.

    Parameters
    ----------
    z : np.ndarray, shape (N, C)
        Logits.
    labels : np.ndarray of int, shape (N,)
        Class codes in 0..C-1.

    Returns
    -------
    loss : float
        C = -(1/N) sum_n log softmax(z)[n, labels[n]].
    dz : np.ndarray, shape (N, C), dtype of ``z``
        dC/dZ = (softmax(z) - Y) / N, Y the one-hot labels.
    """
    n = len(z)
    log_p = log_softmax(z)
    rows = np.arange(n)
    loss = -float(np.mean(log_p[rows, labels]))
    dz = np.exp(log_p)
    dz[rows, labels] -= 1            # subtract Y in place: an int64 one-hot would upcast
    dz /= n
    return loss, dz


def sigmoid_mse(z, labels):
    """The lab's other loss: mean squared error of sigmoid(z) against one-hot labels.

    Returns
    -------
    loss : float
        mean over all N * C entries of (sigmoid(z) - Y)^2.
    dz : np.ndarray, shape (N, C), dtype of ``z``
        dC/dZ = 2 (A - Y) A (1 - A) / (N C), A = sigmoid(z).
    """
    a = sigmoid(z)
    diff = a - one_hot(labels, z.shape[1]).astype(z.dtype)
    return float(np.mean(diff ** 2)), 2 * diff * a * (1 - a) / diff.size


LOSSES = {"cross_entropy": softmax_cross_entropy, "mse": sigmoid_mse}


# ---------------------------------------------------------------------------- network

class Network:
    """A stack of layers: Dense, activation, [Dropout,] ..., Dense.

    Parameters
    ----------
    sizes : sequence of int >= 1
        ``[d_in, d_h1, ..., d_out]``: ``len(sizes) - 2`` hidden layers. The lab's
        network is ``Network([d_in, d_h, d_out], "sigmoid")``.
    activation : {"sigmoid", "relu"}
    init : {"glorot", "he"}, optional
        Default: Glorot for sigmoid units, He for ReLU units.
    dropout : float in [0, 1)
        Dropout rate after each hidden layer (0: no Dropout layer).
    seed : None, int >= 0 or np.random.Generator
        Seed of the initial weights and of the dropout masks.
    dtype : floating dtype of the weights (float32 by default)
    """

    def __init__(self, sizes, activation="sigmoid", init=None, dropout=0.0, seed=None,
                 dtype=np.float32):
        sizes = [check_int(size, f"sizes[{i}]", 1) for i, size in enumerate(sizes)]
        if len(sizes) < 2:
            raise ValueError(f"sizes must list at least an input and an output size, "
                             f"got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, "
                             f"got {activation!r}")
        if init is None:
            init = "he" if activation == "relu" else "glorot"
        rng = np.random.default_rng(check_seed(seed))
        self.layers = []
        for d_in, d_out in zip(sizes[:-1], sizes[1:]):
            self.layers += [Dense(d_in, d_out, init, rng, dtype), ACTIVATIONS[activation]()]
            if dropout:
                self.layers.append(Dropout(dropout, rng))
        # No activation (nor dropout) after the output layer: it gives the logits.
        while not isinstance(self.layers[-1], Dense):
            self.layers.pop()
        self.sizes, self.dtype = sizes, np.dtype(dtype)

    def parameters(self):
        """List of (array, gradient key, layer): every weight and bias, in layer order."""
        return [(layer.params[k], k, layer) for layer in self.layers for k in layer.params]

    def forward(self, x, training=False):
        """Logits (N, d_out) of the rows of ``x`` (N, d_in); ``training`` turns dropout on."""
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def loss_and_gradients(self, x, labels, loss="cross_entropy", weight_decay=0.0):
        """Forward and backward pass on one batch; the gradients go to ``layer.grads``.

        Dropout is on. The loss is ``LOSSES[loss]`` plus the L2 penalty
        (weight_decay / 2) sum ||W||^2 over the weight matrices (not the biases), whose
        gradient is weight_decay * W; ``weight_decay`` is a finite number >= 0.

        Returns
        -------
        loss : float
        logits : np.ndarray, shape (N, d_out)
        """
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
        weight_decay = check_float(weight_decay, "weight_decay", 0)
        z = self.forward(x, training=True)
        value, grad = LOSSES[loss](z, labels)
        for i in range(len(self.layers) - 1, -1, -1):
            grad = self.layers[i].backward(grad, need_dx=i > 0)
        if weight_decay:
            for layer in self.layers:
                if not isinstance(layer, Dense):
                    continue
                w = layer.params["w"]
                value += 0.5 * weight_decay * float(np.sum(w * w))
                layer.grads["w"] += weight_decay * w
        return value, z

    def predict_logits(self, x, batch_size=4096):
        """Logits of ``x`` (N, d_in), computed by batches to bound the memory."""
        x = np.asarray(x, self.dtype)
        return np.concatenate([self.forward(x[i:i + batch_size])
                               for i in range(0, len(x), batch_size)])

    def get_weights(self):
        """Copies of every parameter array, in ``parameters()`` order."""
        return [p.copy() for p, _, _ in self.parameters()]

    def set_weights(self, weights):
        """Copy ``weights`` (as ``get_weights`` returns them) into the network."""
        for (p, _, _), w in zip(self.parameters(), weights):
            p[...] = w

    @classmethod
    def from_lab_weights(cls, w1, b1, w2, b2):
        """The lab's network (``mlp.py``) with the given weights, as a ``Network``."""
        net = cls([w1.shape[0], w1.shape[1], w2.shape[1]], "sigmoid", dtype=w1.dtype)
        net.set_weights([w1, b1, w2, b2])
        return net


# -------------------------------------------------------------------------- optimizers

class SGD:
    """Stochastic gradient descent with (heavy-ball) momentum.

    v <- momentum v - learning_rate g;  w <- w + v.  ``momentum=0`` is the lab's step.
    """

    def __init__(self, momentum=0.9):
        self.momentum = check_float(momentum, "momentum", 0, 1, include_max=False)
        self.state = {}

    def step(self, network, learning_rate):
        """Update every parameter of ``network`` in place from its stored gradients."""
        for p, key, layer in network.parameters():
            g = layer.grads[key]
            v = self.state.setdefault(id(p), np.zeros_like(p))
            v *= self.momentum
            v -= learning_rate * g
            p += v


class Adam:
    """Adam (Kingma & Ba, 2015), with bias-corrected moment estimates.

    m <- b1 m + (1 - b1) g;  s <- b2 s + (1 - b2) g^2;
    w <- w - learning_rate (m / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps).
    """

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8):
        self.beta1 = check_float(beta1, "beta1", 0, 1, include_max=False)
        self.beta2 = check_float(beta2, "beta2", 0, 1, include_max=False)
        self.eps = check_float(eps, "eps", 0, include_min=False)
        self.t, self.state = 0, {}

    def step(self, network, learning_rate):
        """Update every parameter of ``network`` in place from its stored gradients."""
        self.t += 1
        # Bias corrections folded into the step size: Python floats, so float32 stays float32.
        c1, c2 = 1 - self.beta1 ** self.t, 1 - self.beta2 ** self.t
        step_size = learning_rate * math.sqrt(c2) / c1
        eps = self.eps * math.sqrt(c2)       # = eps added to sqrt(s / c2), rescaled
        for p, key, layer in network.parameters():
            g = layer.grads[key]
            # m, s and a work buffer, updated in place: no new array per step.
            m, s, work = self.state.setdefault(id(p), [np.zeros_like(p) for _ in range(3)])
            m *= self.beta1
            m += (1 - self.beta1) * g
            s *= self.beta2
            np.multiply(g, g, out=work)
            work *= 1 - self.beta2
            s += work
            np.sqrt(s, out=work)
            work += eps
            np.divide(m, work, out=work)
            work *= step_size
            p -= work


OPTIMIZERS = {"sgd": SGD, "adam": Adam}


def learning_rate_at(epoch, base, num_epochs, schedule="cosine"):
    """Learning rate of epoch ``epoch`` (0-based) out of ``num_epochs``.

    "constant": ``base``; "cosine": base (1 + cos(pi epoch / num_epochs)) / 2, from
    ``base`` at the first epoch down towards 0 at the last.
    """
    if schedule == "constant":
        return base
    if schedule == "cosine":
        return base * 0.5 * (1 + math.cos(math.pi * epoch / num_epochs))
    raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")


# ---------------------------------------------------------------------------- training

def iterate_minibatches(n, batch_size, rng):
    """Row indices of one epoch's mini-batches, in a fresh random order.

    Yields arrays of int, of ``batch_size`` rows except maybe the last; together they
    hold every index of 0..n-1 exactly once.
    """
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def hflip_rows(data, image_shape=IMAGE_SHAPE):
    """Mirror images left-right: (N, C*H*W) rows of C planes of H x W -> same shape.

    Returns a new array: each row's planes with their columns in reverse order.
    """
    data = np.asarray(data)
    n = len(data)
    return np.ascontiguousarray(data.reshape(n, *image_shape)[..., ::-1]).reshape(n, -1)


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


def evaluate(network, data, labels, loss="cross_entropy"):
    """Loss (without weight decay) and accuracy of ``network`` on labelled data."""
    z = network.predict_logits(data)
    return LOSSES[loss](z, labels)[0], float(np.mean(np.argmax(z, axis=1) == labels))


def train(network, data, labels, data_val, labels_val, *, num_epochs, batch_size=128,
          optimizer=None, learning_rate=1e-3, schedule="cosine", weight_decay=0.0,
          loss="cross_entropy", patience=None, data_flipped=None, seed=None,
          verbose=False):
    """Train ``network`` by mini-batches, keeping the weights of the best validation epoch.

    Parameters
    ----------
    network : Network
        Trained in place.
    data : np.ndarray, shape (N, d_in), labels : np.ndarray of int, shape (N,)
        The training rows (in the network's dtype, to stay fast).
    data_val : np.ndarray, shape (N_val, d_in), labels_val : np.ndarray of int
        The validation split: it chooses the epoch whose weights are kept.
    num_epochs : int >= 1
    batch_size : int >= 1
    optimizer : SGD or Adam, optional (default: Adam())
    learning_rate : float > 0
        Base rate, scaled by ``schedule`` ("cosine" or "constant") each epoch.
    weight_decay : float >= 0
        L2 penalty factor (see ``Network.loss_and_gradients``).
    loss : {"cross_entropy", "mse"}
    patience : int >= 1, optional
        Stop after this many epochs without a better validation accuracy.
    data_flipped : np.ndarray, shape (N, d_in), optional
        Another view of each training row (its mirror image, transformed like
        ``data``): each epoch, each row is taken from ``data`` or ``data_flipped`` at
        random (data augmentation; a precomputed view costs nothing per epoch).
    seed : None, int >= 0 or np.random.Generator
        Seed of the batch order and of the augmentation.
    verbose : bool

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
    num_epochs = check_int(num_epochs, "num_epochs", 1)
    batch_size = check_int(batch_size, "batch_size", 1)
    learning_rate = check_float(learning_rate, "learning_rate", 0, include_min=False)
    if patience is not None:
        patience = check_int(patience, "patience", 1)
    optimizer = Adam() if optimizer is None else optimizer
    rng = np.random.default_rng(check_seed(seed))
    keys = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "learning_rate",
            "seconds")
    history = {key: [] for key in keys}
    best_accuracy, best_weights, best_epoch = -1.0, None, 0
    for epoch in range(num_epochs):
        start = time.perf_counter()
        rate = learning_rate_at(epoch, learning_rate, num_epochs, schedule)
        flip = rng.random(len(data)) < 0.5 if data_flipped is not None else None
        total_loss = total_correct = 0.0
        for index in iterate_minibatches(len(data), batch_size, rng):
            x = data[index]
            if flip is not None:
                x[flip[index]] = data_flipped[index[flip[index]]]
            _, z = network.loss_and_gradients(x, labels[index], loss, weight_decay)
            optimizer.step(network, rate)
            # The data loss alone (no weight-decay penalty), comparable with val_loss.
            total_loss += LOSSES[loss](z, labels[index])[0] * len(index)
            total_correct += np.count_nonzero(np.argmax(z, axis=1) == labels[index])
        val_loss, val_accuracy = evaluate(network, data_val, labels_val, loss)
        values = (total_loss / len(data), total_correct / len(data), val_loss,
                  val_accuracy, rate, time.perf_counter() - start)
        for key, value in zip(keys, values):
            history[key].append(float(value))
        if val_accuracy > best_accuracy:
            best_accuracy, best_weights, best_epoch = val_accuracy, network.get_weights(), epoch + 1
        if verbose:
            print(f"epoch {epoch + 1:3d}/{num_epochs}  lr {rate:.2e}  "
                  f"loss {values[0]:.4f}  train {values[1]:.4f}  "
                  f"val loss {val_loss:.4f}  val {val_accuracy:.4f}  {values[5]:.1f} s",
                  flush=True)
        if patience is not None and epoch + 1 - best_epoch >= patience:
            break
    if best_weights is not None:
        network.set_weights(best_weights)
    history["best_epoch"] = best_epoch
    return history


# ----------------------------------------------------------------------- preprocessing

def fit_pca_whitening(data, num_components, eps=1e-2):
    """PCA whitening fitted on ``data``: centre, rotate onto the top principal axes, rescale.

    x -> (x - mean) @ U_k / sqrt(lambda_k + eps), U_k the ``num_components`` leading
    eigenvectors of the covariance of ``data`` and lambda_k their eigenvalues (the
    data are first scaled to unit overall variance, so that ``eps`` means the same
    on any scale). ``eps`` damps the noisy small-variance directions.

    Parameters
    ----------
    data : np.ndarray, shape (N, d)
        Training rows only: no test statistics leak into the transform.
    num_components : int, 1..d
    eps : float >= 0

    Returns
    -------
    mean : np.ndarray of float32, shape (1, d)
    projection : np.ndarray of float32, shape (d, num_components)
        Apply as ``(x - mean) @ projection``; the transformed training data have
        covariance close to the identity for eps = 0.
    """
    data = np.asarray(data)
    d = data.shape[1]
    num_components = check_int(num_components, "num_components", 1, d)
    eps = check_float(eps, "eps", 0)
    mean = data.mean(axis=0, keepdims=True, dtype=np.float64)
    centred = (data - mean.astype(np.float32)).astype(np.float32)
    scale = float(np.mean(np.square(centred, dtype=np.float64)))   # mean feature variance
    if len(data) < d:
        # Fewer rows than features: the SVD of the (N, d) rows, X = U S V^T, gives the
        # eigenvectors V of X^T X / N (eigenvalues S^2 / N) for less than a d x d eigh.
        _, singular, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
        values, vectors = singular ** 2 / len(data), vt.T
    else:
        covariance = (centred.T @ centred).astype(np.float64) / len(data)
        values, vectors = np.linalg.eigh(covariance)   # ascending eigenvalues
        values, vectors = values[::-1], vectors[:, ::-1]
    values, vectors = values[:num_components] / scale, vectors[:, :num_components]
    projection = vectors / np.sqrt(np.maximum(values, 0) + eps) / math.sqrt(scale)
    return mean.astype(np.float32), projection.astype(np.float32)


def transform(data, mean, projection, batch_size=8192):
    """``(data - mean) @ projection`` in float32, by batches of rows to bound the memory."""
    out = np.empty((len(data), projection.shape[1]), np.float32)
    for i in range(0, len(data), batch_size):
        out[i:i + batch_size] = (np.asarray(data[i:i + batch_size], np.float32) - mean) @ projection
    return out


# ------------------------------------------------------------------ command-line entry

def add_arguments(parser):
    """Add the flags of the mini-batch trainer to ``mlp.py``'s parser (all opt-in)."""
    group = parser.add_argument_group(
        "mini-batch training (network.py); used when --optimizer is given")
    group.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default=None,
                       help="train with mini-batches and this optimizer instead of the "
                            "lab's full-batch gradient descent")
    group.add_argument("--hidden", type=positive_int, nargs="+", default=None,
                       help="sizes of the hidden layers, e.g. --hidden 1024 512 "
                            "(default: --d-h, one layer)")
    group.add_argument("--activation", choices=sorted(ACTIVATIONS), default="sigmoid",
                       help="hidden units (default: sigmoid, the lab's)")
    group.add_argument("--batch-size", type=positive_int, default=128,
                       help="rows per mini-batch (default: 128)")
    group.add_argument("--dropout", type=rate, default=0.0,
                       help="dropout rate after each hidden layer (default: 0)")
    group.add_argument("--momentum", type=rate, default=0.9,
                       help="momentum of --optimizer sgd (default: 0.9)")
    group.add_argument("--schedule", choices=["constant", "cosine"], default="cosine",
                       help="learning-rate schedule over the epochs (default: cosine)")
    group.add_argument("--weight-decay", type=non_negative_float, default=0.0,
                       help="L2 penalty factor on the weights (default: 0)")
    group.add_argument("--patience", type=positive_int, default=None,
                       help="early stopping: stop after this many epochs without a "
                            "better validation accuracy (default: run every epoch)")
    group.add_argument("--validation", type=fraction, default=0.1,
                       help="fraction of the training data held out for validation "
                            "(default: 0.1)")
    group.add_argument("--pca", type=positive_int, default=None,
                       help="PCA-whiten the inputs onto this many components, fitted on "
                            "the training rows (default: standardise each feature)")
    group.add_argument("--flip", action="store_true",
                       help="augment with left-right mirror images (with --features: "
                            "the descriptors of the mirror images)")
    group.add_argument("--figures", action="store_true",
                       help="also draw the confusion matrix, a grid of test predictions "
                            "and a grid of the worst mistakes")
    group.add_argument("--name", type=file_stem, default="mlp_network",
                       help="stem of the result files (default: mlp_network)")


TRAINER_FLAGS = ("hidden", "activation", "batch_size", "dropout", "momentum", "schedule",
                 "weight_decay", "patience", "validation", "pca", "flip", "figures", "name")


def check_arguments(parser, args):
    """Reject trainer flags given without --optimizer, so that the lab's path stays plain."""
    if args.optimizer is None:
        changed = [f"--{dest.replace('_', '-')}" for dest in TRAINER_FLAGS
                   if getattr(args, dest) != parser.get_default(dest)]
        if changed:
            parser.error(f"{', '.join(changed)}: only with --optimizer (sgd or adam)")


def prepare_inputs(args, data_train, labels_train, data_test, images_train=None):
    """Carve the validation split, build the mirrored view, standardise or PCA-whiten.

    Parameters
    ----------
    args : argparse.Namespace
        With ``validation``, ``seed``, ``flip``, ``pca``, ``data_dir`` and ``features``.
    data_train, labels_train, data_test : np.ndarray
        Raw pixels or descriptors.
    images_train : np.ndarray, shape (N_train, 3072), optional
        The pixels of ``data_train`` when it holds descriptors and ``args.flip`` is set.

    Returns
    -------
    x_train, y_train, x_val, y_val, x_test : np.ndarray
        float32 inputs; all statistics come from the ``x_train`` rows alone.
    x_flip : np.ndarray like ``x_train``, or None without ``args.flip``

    Raises
    ------
    FlagError
        If ``args.validation`` leaves no row on one side, or ``args.pca`` is wider
        than the inputs.
    """
    try:
        train_index, val_index = split_validation(data_train, labels_train, args.validation,
                                                  seed=args.seed)
    except ValueError as error:
        raise FlagError("--validation", f"must leave rows on both sides of the "
                        f"{len(data_train)} training rows, got {args.validation}") from error
    if args.pca:
        refuse_above("--pca", args.pca, data_train.shape[1], "the width of the inputs")
    x_train, x_val = data_train[train_index], data_train[val_index]
    y_train, y_val = labels_train[train_index], labels_train[val_index]
    x_flip = None
    if args.flip and images_train is not None:
        # The descriptors of the mirrored images (cached on disk like the others).
        from descriptors import describe
        x_flip = describe(hflip_rows(images_train[train_index]), args.features,
                          progress=True, cache_dir=os.path.join(args.data_dir, "features"))
    elif args.flip:
        x_flip = hflip_rows(x_train)
    if args.pca:
        mean, projection = fit_pca_whitening(x_train, args.pca)
        x_val, x_test = transform(x_val, mean, projection), transform(data_test, mean, projection)
        if x_flip is not None:
            x_flip = transform(x_flip, mean, projection)
        x_train = transform(x_train, mean, projection)
    else:
        # Standardise everything with the statistics of the training rows alone.
        others = [x_val, data_test] + ([x_flip] if x_flip is not None else [])
        x_train, rest = standardize(x_train, np.concatenate(others))
        x_val, x_test, x_flip = np.split(rest, np.cumsum([len(x_val), len(data_test)]))
        x_flip = x_flip if args.flip else None
    return x_train, y_train, x_val, y_val, x_test, x_flip


def run(args, data_train, labels_train, data_test, labels_test, argv=None, note=""):
    """Train and test a network as ``args`` say, save the results; return the record.

    Writes ``<name>.png`` (learning curves) and ``<name>.json`` in ``args.results_dir``,
    and with ``args.figures`` the confusion matrix and the image grids of the test split
    (``figures.save_classification_figures``).

    Parameters
    ----------
    args : argparse.Namespace
        ``mlp.py``'s flags (``add_arguments``'s and the lab's).
    data_train, labels_train, data_test, labels_test : np.ndarray
        The split (raw pixels or the descriptors ``args.features`` names); the
        validation split is carved out of the training rows, and the test rows are
        only used once, at the end.
    argv : list of str, optional
        The command-line arguments, written in the record (default: ``sys.argv[1:]``).
    note : str
        Footnote for the learning curves (``experiment.data_note``).
    """
    start = time.perf_counter()
    features = getattr(args, "features", None)
    images_train = images_test = None
    if features not in (None, "raw") and (args.flip or args.figures):
        # The pixels of the same split (same seed), to mirror and to draw the images.
        images_train, _, images_test, _ = load_split(args)
    x_train, y_train, x_val, y_val, x_test, x_flip = prepare_inputs(
        args, data_train, labels_train, data_test, images_train)
    num_classes = int(max(labels_train.max(), labels_test.max())) + 1
    sizes = [x_train.shape[1], *(args.hidden or [args.d_h]), num_classes]
    network = Network(sizes, args.activation, dropout=args.dropout, seed=args.seed)
    optimizer = SGD(args.momentum) if args.optimizer == "sgd" else Adam()
    with stop_if_diverging(args.learning_rate):
        history = train(network, x_train, y_train, x_val, y_val, num_epochs=args.num_epoch,
                        batch_size=args.batch_size, optimizer=optimizer,
                        learning_rate=args.learning_rate, schedule=args.schedule,
                        weight_decay=args.weight_decay, patience=args.patience,
                        data_flipped=x_flip, seed=args.seed, verbose=True)
    logits = network.predict_logits(x_test)          # the test split's only use
    test_accuracy = float(np.mean(np.argmax(logits, axis=1) == labels_test))
    elapsed = time.perf_counter() - start
    print(f"best epoch {history['best_epoch']}  validation accuracy "
          f"{max(history['val_accuracy']):.4f}  test accuracy {test_accuracy:.4f}  "
          f"({elapsed:.1f} s)")

    config = {k: getattr(args, k) for k in (
        "optimizer", "activation", "batch_size", "dropout", "learning_rate", "momentum",
        "schedule", "weight_decay", "num_epoch", "patience", "validation", "pca", "flip",
        "seed", "split")}
    command = ["python", "mlp.py", *(sys.argv[1:] if argv is None else argv)]
    record = {"command": " ".join(command), "features": features or "raw", "sizes": sizes,
              **config, "n_train": len(x_train), "n_val": len(x_val), "n_test": len(x_test),
              "test_accuracy": test_accuracy, "seconds": round(elapsed, 1),
              "history": history}
    name = result_name(args.name, features)
    title = (f"MLP {'-'.join(map(str, sizes))} on {features or 'raw pixels'}"
             f"{f' (PCA {args.pca})' if args.pca else ''}, {args.activation}, "
             f"{args.optimizer}: test accuracy {test_accuracy:.1%}")
    save_results(args.results_dir, name, figures.plot_learning_curves(history, title),
                 record, note=note)
    if args.figures:
        figures.save_classification_figures(
            args.results_dir, name, images_test if images_test is not None else data_test,
            labels_test, logits, LABEL_NAMES[:num_classes], title=f"MLP ({name})")
    return record
