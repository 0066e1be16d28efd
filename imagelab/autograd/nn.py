"""Modules and losses on the autograd Tensor (``imagelab.autograd.tensor``), after PyTorch's.

A ``Module`` computes its output from Tensors in ``forward``; its parameters are the
Tensors requiring a gradient among its attributes and those of its sub-modules, found
by walking them (no list to keep up to date). Only forward passes are written here:
every gradient comes from ``Tensor.backward``.

    model = Sequential(Linear(784, 256, "he", rng=0), ReLU(), Linear(256, 10, rng=0))
    loss = cross_entropy(model(Tensor(x)), labels)
    model.zero_grad()
    loss.backward()            # fills p.grad for p in model.parameters()

``Conv2d``, ``MaxPool2d`` and ``BatchNorm`` run the image layers of ``imagelab.nn``
(``imagelab.autograd.functional.apply_layer``), so that a CNN can be written here too;
``save`` and ``load`` write and read every Tensor of a module as an .npz of plain arrays.
"""
import numpy as np

from imagelab.nn import batchnorm, conv, layers
from imagelab.nn.model_files import Archive, write_npz
from imagelab.autograd.functional import apply_layer
from imagelab.autograd.tensor import Tensor
from imagelab.utils.checks import check_float, check_labels, check_seed


def _members(value, name=""):
    """The Tensors and Modules an attribute holds, with their names: (name, itself), or
    those in a list or tuple (name.0, name.1, ...) or a dict (name.key)."""
    if isinstance(value, (Tensor, Module)):
        yield name, value
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _members(item, f"{name}.{i}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _members(item, f"{name}.{key}")


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
        return [m for key, value in vars(self).items() for _, m in _members(value, key)
                if isinstance(m, Module)]

    def named_tensors(self):
        """Every Tensor among the attributes of this module and its sub-modules, once each,
        by name: parameters and the constant Tensors a module keeps (a batch norm's
        running statistics).

        In the order of the attributes, depth first; a name is the path of attribute
        names, list indices and dict keys that leads to the Tensor ("modules.0.weight"),
        the first path met for a Tensor shared by two modules.

        Returns
        -------
        dict of str -> Tensor
        """
        found, seen = {}, set()
        for key, value in vars(self).items():
            for name, member in _members(value, key):
                tensors = (member.named_tensors().items() if isinstance(member, Module)
                           else [("", member)])
                for inner, tensor in tensors:
                    if id(tensor) not in seen:
                        seen.add(id(tensor))
                        found[f"{name}.{inner}" if inner else name] = tensor
        return found

    def parameters(self):
        """Every Tensor requiring a gradient in this module and its sub-modules, once each,
        in the order of ``named_tensors``."""
        return [t for t in self.named_tensors().values() if t.requires_grad]

    def save(self, path):
        """Write every Tensor of ``named_tensors`` to the .npz file ``path`` (atomically:
        the file is whole or untouched), under its name; no pickle."""
        write_npz(path, {name: t.data for name, t in self.named_tensors().items()})

    def load(self, path):
        """Copy into this module's Tensors the arrays that ``save`` wrote to ``path``.

        Every array's name, shape and dtype is checked against this module's Tensors from
        the file's .npy headers before any data is read; then all are read (finite
        values only) and copied in place, so that optimizers and layers holding the
        Tensors' arrays see the new values. On any refusal the module is unchanged.
        Returns self.

        Raises
        ------
        ValueError
            In one line naming the file and the array: not an .npz file, an object
            (pickled) array, an array missing or not of this module, a shape or dtype
            that differs, values that are not finite.
        """
        tensors = self.named_tensors()
        with Archive.open(path) as archive:
            extra = sorted(set(archive.headers) - set(tensors))
            if extra:
                raise ValueError(f"model file {path} holds arrays that are not part of "
                                 f"the module: {', '.join(map(repr, extra[:5]))}")
            for name, tensor in tensors.items():
                if name not in archive.headers:
                    raise ValueError(f"model file {path} has no {name!r} array")
                shape, dtype = archive.headers[name]
                if (shape, dtype) != (tensor.shape, tensor.dtype):
                    raise ValueError(f"model file {path}: {name!r} has shape {shape} and "
                                     f"dtype {dtype}, the module expects {tensor.shape} "
                                     f"and {tensor.dtype}")
            arrays = {name: archive.read(name, "f", t.shape) for name, t in tensors.items()}
        for name, tensor in tensors.items():        # all read: the module is changed whole
            tensor.data[...] = arrays[name]
        return self

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


class Conv2d(Module):
    """2-D convolution of images (N, H, W, c_in) -> (N, H', W', c_out), channels last.

    Both passes are the code of ``imagelab.nn.conv.Conv2d`` (``apply_layer``), which also
    draws the weights: the same arguments and ``rng`` give the same weights as that
    layer. Parameters as ``imagelab.nn.conv.Conv2d``.

    Attributes
    ----------
    weight : Tensor, shape (kh, kw, c_in, c_out)
    bias : Tensor, shape (c_out,), zeros; or None (``bias=False``)
    """

    def __init__(self, c_in, c_out, kernel_size=3, stride=1, padding=0, rng=None,
                 dtype=np.float32, bias=True, init="he", algorithm="auto"):
        self.layer = conv.Conv2d(c_in, c_out, kernel_size, stride, padding, rng, dtype, bias,
                                 init, algorithm)
        self.weight = Tensor(self.layer.w.value, requires_grad=True)
        self.bias = None if self.layer.b is None else Tensor(self.layer.b.value,
                                                             requires_grad=True)

    def forward(self, x):
        return apply_layer(self.layer, x, [t for t in (self.weight, self.bias) if t is not None])


class MaxPool2d(Module):
    """Maximum over windows of ``kernel_size`` x ``kernel_size`` moved by ``stride``
    (default: ``kernel_size``), (N, H, W, C) -> (N, H', W', C), by the code of
    ``imagelab.nn.conv.MaxPool2d``: the gradient goes to the first maximum of each window
    (row-major), where PyTorch's picks one maximum too."""

    def __init__(self, kernel_size=2, stride=None):
        self.layer = conv.MaxPool2d(kernel_size, stride)

    def forward(self, x):
        return apply_layer(self.layer, x)


class BatchNorm(Module):
    """Batch normalisation per channel (the last axis), by the code of
    ``imagelab.nn.batchnorm.BatchNorm``: batch statistics in training mode (the running
    averages updated), the running averages in evaluation mode. Parameters as that layer.

    Attributes
    ----------
    gamma : Tensor, shape (C,), ones; or None (``scale=False``)
    beta : Tensor, shape (C,), zeros
    running_mean, running_var : Tensor, shape (C,)
        Requiring no gradient: not parameters, but saved with them (``save``).
    """

    def __init__(self, channels, momentum=0.1, eps=1e-5, dtype=np.float32, scale=True,
                 relu=False):
        self.layer = batchnorm.BatchNorm(channels, momentum, eps, dtype, scale, relu)
        self.gamma = None if self.layer.gamma is None else Tensor(self.layer.gamma.value,
                                                                  requires_grad=True)
        self.beta = Tensor(self.layer.beta.value, requires_grad=True)
        # The layer updates its running averages in place: these Tensors share them.
        self.running_mean = Tensor(self.layer.running_mean)
        self.running_var = Tensor(self.layer.running_var)

    def forward(self, x):
        return apply_layer(self.layer, x, [t for t in (self.gamma, self.beta) if t is not None],
                           training=self.training)


class Flatten(Module):
    """(N, ...) -> (N, product of the other sizes), so that a ``Linear`` can follow."""

    def forward(self, x):
        return x.flatten(1)


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
        Of ``imagelab.nn.layers`` Dense, ReLU and Sigmoid layers and
        ``imagelab.nn.conv`` Conv2d, MaxPool2d, Flatten and ``BatchNorm`` layers.

    Returns
    -------
    Sequential
        The module of each layer (``Linear`` for ``Dense``), its weights (and a batch
        norm's running statistics) copied in their dtype: the same function.
    """
    return Sequential(*[_twin(layer) for layer in network.layers])


def _twin(layer):
    """The module computing what ``layer`` computes, with copies of its weights."""
    simple = {layers.ReLU: ReLU, layers.Sigmoid: Sigmoid, conv.Flatten: Flatten}
    if type(layer) in simple:
        return simple[type(layer)]()
    if isinstance(layer, conv.MaxPool2d):
        return MaxPool2d(layer.k, layer.stride)
    if isinstance(layer, layers.Dense):
        twin, copies = Linear(*layer.w.value.shape, dtype=layer.w.value.dtype), [
            ("weight", layer.w.value), ("bias", layer.b.value[0])]
    elif isinstance(layer, conv.Conv2d):
        twin = Conv2d(layer.c_in, layer.c_out, layer.kernel, layer.stride, layer.padding,
                      dtype=layer.w.value.dtype, bias=layer.b is not None)
        copies = [("weight", layer.w.value)]
        copies += [("bias", layer.b.value)] if layer.b is not None else []
    elif isinstance(layer, batchnorm.BatchNorm):
        twin = BatchNorm(layer.channels, layer.momentum, layer.eps, layer.beta.value.dtype,
                         scale=layer.gamma is not None, relu=layer.relu)
        copies = [("beta", layer.beta.value), ("running_mean", layer.running_mean),
                  ("running_var", layer.running_var)]
        copies += [("gamma", layer.gamma.value)] if layer.gamma is not None else []
    else:
        raise ValueError(f"network must hold Dense, ReLU, Sigmoid, Conv2d, MaxPool2d, "
                         f"BatchNorm and Flatten layers only, got {type(layer).__name__}")
    for name, value in copies:
        getattr(twin, name).data[...] = value
    return twin


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
