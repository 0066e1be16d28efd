"""Modules and losses on the autograd Tensor (``imagelab.autograd.tensor``), after PyTorch's.

A ``Module`` computes its output from Tensors in ``forward``; its parameters are the
Tensors requiring a gradient among its attributes and those of its sub-modules, found
by walking them (no list to keep up to date). Only forward passes are written here:
every gradient comes from ``Tensor.backward``.

    model = Sequential(Linear(784, 256, "he", rng=0), ReLU(), Linear(256, 10, rng=0))
    loss = cross_entropy(model(Tensor(x)), labels)
    model.zero_grad()
    loss.backward()            # fills p.grad for p in model.parameters()
"""
import numpy as np

from imagelab.nn import layers
from imagelab.autograd.tensor import Tensor
from imagelab.utils.checks import check_float, check_labels, check_seed


def _members(value):
    """The Tensors and Modules an attribute holds: itself, or those in a list, tuple or dict."""
    if isinstance(value, (Tensor, Module)):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _members(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _members(item)


class Module:
    """A computation with parameters: ``forward``, and what is found from its attributes.

    Attributes
    ----------
    training : bool
        Training mode (the default) or evaluation mode, set by ``train()`` and
        ``eval()`` on the module and all its sub-modules; only ``Dropout`` reads it.
    """

    training = True

    def forward(self, *inputs):
        """The output Tensor of input Tensors; each subclass writes its own."""
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *inputs):
        return self.forward(*inputs)

    def children(self):
        """The sub-modules among the attributes (also in lists, tuples and dicts), in order."""
        return [m for value in vars(self).values() for m in _members(value)
                if isinstance(m, Module)]

    def parameters(self):
        """Every Tensor requiring a gradient in this module and its sub-modules, once each.

        In the order of the attributes, depth first: a parameter shared by two
        modules is listed once, where it is first met.
        """
        found = {}
        for value in vars(self).values():
            for member in _members(value):
                tensors = member.parameters() if isinstance(member, Module) else [member]
                found.update((id(t), t) for t in tensors if t.requires_grad)
        return list(found.values())

    def zero_grad(self):
        """Forget the gradients of every parameter (set them to None)."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode=True):
        """Set training mode (``mode=False``: evaluation) here and below; return self."""
        self.training = bool(mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self):
        """Evaluation mode here and below (``train(False)``); return self."""
        return self.train(False)


class Linear(Module):
    """Affine map ``x @ weight + bias``: (..., d_in) -> (..., d_out).

    Parameters
    ----------
    d_in, d_out : int >= 1
    init : {"glorot", "he"}
        As ``imagelab.nn.layers.Dense``, which draws the weights: the same ``rng`` gives
        the same weights as a Dense layer.
    rng : None, int >= 0 or np.random.Generator
    dtype : floating dtype of the parameters

    Attributes
    ----------
    weight : Tensor, shape (d_in, d_out)
    bias : Tensor, shape (d_out,), zeros; broadcast over the rows
    """

    def __init__(self, d_in, d_out, init="glorot", rng=None, dtype=np.float32):
        dense = layers.Dense(d_in, d_out, init, rng, dtype)
        self.weight = Tensor(dense.w.value, requires_grad=True)
        self.bias = Tensor(dense.b.value[0], requires_grad=True)

    def forward(self, x):
        return x @ self.weight + self.bias


class ReLU(Module):
    """Elementwise max(x, 0)."""

    def forward(self, x):
        return x.relu()


class Sigmoid(Module):
    """Elementwise 1 / (1 + exp(-x))."""

    def forward(self, x):
        return x.sigmoid()


class Tanh(Module):
    """Elementwise tanh(x)."""

    def forward(self, x):
        return x.tanh()


class Dropout(Module):
    """Inverted dropout: in training mode, zero each entry with probability ``rate``.

    The kept entries are scaled by 1 / (1 - rate), so an entry's expected value is the
    same in training and in evaluation mode, where the module passes its input through.

    Parameters
    ----------
    rate : float in [0, 1)
    rng : None, int >= 0 or np.random.Generator
        Draws the masks.
    """

    def __init__(self, rate, rng=None):
        self.rate = check_float(rate, "rate", 0, 1, include_max=False)
        self.rng = np.random.default_rng(check_seed(rng, "rng"))

    def forward(self, x):
        if not self.training or self.rate == 0:
            return x
        keep = self.rng.random(x.shape) >= self.rate
        return x * (keep / (1 - self.rate))


class Sequential(Module):
    """Modules applied in order, each to the output of the one before."""

    def __init__(self, *modules):
        self.modules = list(modules)

    def forward(self, x):
        for module in self.modules:
            x = module(x)
        return x


def from_network(network):
    """The Tensor twin of a layer-by-layer network: the same layers, copies of its weights.

    Parameters
    ----------
    network : imagelab.nn.network.Network
        Of ``imagelab.nn.layers`` Dense, ReLU and Sigmoid layers.

    Returns
    -------
    Sequential
        A Linear for each Dense (its weights and biases copied, in their dtype), a
        ReLU for each ReLU, a Sigmoid for each Sigmoid: the same function.
    """
    twins = {layers.ReLU: ReLU, layers.Sigmoid: Sigmoid}
    modules = []
    for layer in network.layers:
        if isinstance(layer, layers.Dense):
            linear = Linear(*layer.w.value.shape, dtype=layer.w.value.dtype)
            linear.weight.data[...] = layer.w.value
            linear.bias.data[...] = layer.b.value[0]
            modules.append(linear)
        elif type(layer) in twins:
            modules.append(twins[type(layer)]())
        else:
            raise ValueError(f"network must hold Dense, ReLU and Sigmoid layers only, got "
                             f"{type(layer).__name__}")
    return Sequential(*modules)


def _same_shape(predictions, targets, name):
    """``targets`` as an array of the shape of ``predictions`` (a Tensor), or a ValueError."""
    targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if targets.shape != predictions.shape:
        raise ValueError(f"{name}: the predictions have shape {predictions.shape} but the "
                         f"targets have shape {targets.shape}; they must be equal")
    return targets


def binary_cross_entropy_with_logits(logits, targets):
    """Mean binary cross-entropy of sigmoid(logits) against targets in [0, 1].

    With p = sigmoid(z): -[y log p + (1 - y) log(1 - p)] = softplus(z) - y z, since
    log p = -softplus(-z) and softplus(z) - softplus(-z) = z. Computed so it is exact
    and never overflows, whatever z; its gradient is (sigmoid(z) - y) / n.

    Parameters
    ----------
    logits : Tensor, any shape
    targets : array_like, shape of ``logits``
        0 or 1 (or probabilities).

    Returns
    -------
    Tensor of shape (), dtype of ``logits``
    """
    targets = _same_shape(logits, targets, "binary_cross_entropy_with_logits")
    return (logits.softplus() - logits * targets).mean()


def cross_entropy(logits, labels):
    """Mean cross-entropy of softmax(logits) against class codes.

    C = -(1/N) sum_n log softmax(z_n)[labels_n], from ``log_softmax`` (which subtracts
    each row's maximum), so it stays finite even where a probability underflows.

    Parameters
    ----------
    logits : Tensor, shape (N, C)
    labels : array_like of int, shape (N,), each in 0..C-1

    Returns
    -------
    Tensor of shape (), dtype of ``logits``
    """
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, C), got {logits.shape}")
    labels = check_labels(labels, "labels", logits.shape[1])
    if len(labels) != len(logits):
        raise ValueError(f"cross_entropy: the logits have shape {logits.shape} but the "
                         f"labels have shape {labels.shape}: one label per row")
    return -logits.log_softmax(axis=1)[np.arange(len(labels)), labels].mean()


def mse_loss(predictions, targets):
    """Mean over all entries of (predictions - targets)^2.

    Parameters
    ----------
    predictions : Tensor, any shape
    targets : array_like, shape of ``predictions``

    Returns
    -------
    Tensor of shape (), dtype of ``predictions``
    """
    targets = _same_shape(predictions, targets, "mse_loss")
    return ((predictions - targets) ** 2).mean()
