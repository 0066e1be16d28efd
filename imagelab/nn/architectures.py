"""Convolutional networks, described by a list of layer specifications.

A specification is plain data (JSON), so that a saved model carries its architecture
and nothing in a model file is code. ``build`` follows it, inferring each layer's
input size from the previous layer's output shape.

    [["conv", 32, 3, 1, 1], ["bn"], ["relu"], ["pool", 2], ["flatten"], ["dense", 10]]

Entries: ["conv", c_out, kernel, stride, padding], ["pool", k], ["gmaxpool"], ["bn"],
["relu"], ["gelu"], ["scale", factor], ["flatten"], ["dense", d_out], ["dropout", rate].
"conv", "dense" and "bn" may end with a dict of keyword arguments (their ``options`` in
``LAYERS``, the registry of layer names), such as
["conv", 64, 3, 1, 1, {"bias": false, "init": "identity"}] or ["bn", {"scale": false}];
["bn", {"relu": true}] is a batch norm and a ReLU in one layer (``BatchNorm``'s ``relu``).

``footprint`` walks a specification with shapes and allocates nothing: the shapes of
the weights ``build`` would make and the memory of a forward pass, so that a
specification read from a file can be refused before anything is built.
"""
import dataclasses
import math
from typing import Callable

import numpy as np

from imagelab.nn.batchnorm import BatchNorm
from imagelab.utils.checks import check_int, check_seed
from imagelab.nn.conv import Conv2d, Flatten, GlobalMaxPool, MaxPool2d, _output_size
from imagelab.nn.layers import GELU, Dense, Dropout, ReLU, Scale
from imagelab.nn.network import Network


def lenet(num_classes):
    """LeNet-5 as in PyTorch's CIFAR-10 tutorial: conv 6, 16 (5 x 5), dense 120, 84."""
    return [["conv", 6, 5, 1, 0], ["relu"], ["pool", 2],
            ["conv", 16, 5, 1, 0], ["relu"], ["pool", 2],
            ["flatten"], ["dense", 120], ["relu"], ["dense", 84], ["relu"],
            ["dense", num_classes]]


def conv4(num_classes, batch_norm=True, width=32, hidden=512, dropout=0.0):
    """Four 3 x 3 convolutions, widths w-w-pool-2w-2w-pool, then dense ``hidden``.

    With ``batch_norm``, each convolution (then without bias) and the hidden dense layer
    are followed by a ``BatchNorm`` that applies the ReLU too (``relu=True``: the same
    values as a ReLU layer after it, in fewer passes over the activations). The dense
    layer's one matters: without it, its 4,096 inputs (positive, unnormalised) made
    learning rates above 0.02 blow up in the first steps; with it, 0.1 trains
    (Fashion-MNIST, one epoch: 89.6% validation at 0.1, against 86.4% at 0.05 and 85.8%
    at 0.02 without it).
    """
    spec = []
    for channels in (width, width, None, 2 * width, 2 * width, None):
        if channels is None:
            spec.append(["pool", 2])
            continue
        # A batch norm subtracts the mean of each channel: a bias before it does nothing.
        spec.append(["conv", channels, 3, 1, 1] + ([{"bias": False}] if batch_norm else []))
        spec.append(["bn", {"relu": True}] if batch_norm else ["relu"])
    spec += [["flatten"], ["dense", hidden], ["bn", {"relu": True}] if batch_norm else ["relu"]]
    spec += [["dropout", dropout]] if dropout else []
    return spec + [["dense", num_classes]]


def airbench(num_classes, widths=(64, 256, 256), batchnorm_momentum=0.4, whiten_width=24,
             identity_init=True):
    """airbench94's network (Keller Jordan's cifar10-airbench), for 32 x 32 x 3 images.

    A 2 x 2 convolution to ``whiten_width`` channels without padding (31 x 31; its
    weights are meant to be set by patch whitening), GELU; then one block per width w:
    conv 3 x 3 -> w, pool 2, BN, GELU, conv 3 x 3 -> w, BN, GELU (31 -> 15 -> 7 -> 3);
    a global max pool, a dense layer without bias, and logits scaled by 1/9.

    The block convolutions have no bias and are identity-initialised (``Conv2d``'s
    init="identity") unless ``identity_init`` is False ("uniform"); the batch norms
    have no gamma (scale=False), eps 1e-12 and momentum ``batchnorm_momentum``, in
    ``BatchNorm``'s sense: the weight of the new batch in the running averages
    (airbench's 0.4: its hyperparameter 0.6 is the weight kept, and its BatchNorm
    hands PyTorch momentum=1 - 0.6).

    Not in ``ARCHITECTURES``, whose keys are ``train_cnn``'s --arch choices: its
    ``architecture()`` builds conv4 for any name but lenet.
    """
    conv = {"bias": False, "init": "identity" if identity_init else "uniform"}
    bn = {"momentum": batchnorm_momentum, "eps": 1e-12, "scale": False}
    spec = [["conv", whiten_width, 2, 1, 0, {"init": "uniform"}], ["gelu"]]
    for width in widths:
        spec += [["conv", width, 3, 1, 1, dict(conv)], ["pool", 2], ["bn", dict(bn)], ["gelu"],
                 ["conv", width, 3, 1, 1, dict(conv)], ["bn", dict(bn)], ["gelu"]]
    return spec + [["gmaxpool"], ["dense", num_classes, {"bias": False, "init": "uniform"}],
                   ["scale", 1 / 9]]


ARCHITECTURES = {"lenet": lenet, "conv4": conv4}

@dataclasses.dataclass(frozen=True)
class LayerKind:
    """What one name of a specification stands for: a layer class, built and described.

    Attributes
    ----------
    layer : type
        The layer's class.
    build : callable (shape, rng, *args, **options) -> layer
        The layer for inputs of ``shape`` (no batch axis), from the entry's positional
        arguments and options (every one given, at its default if the entry has none);
        ``rng``, a np.random.Generator, draws its initial weights.
    describe : callable layer -> (args, options)
        The inverse: the entry's positional arguments (list) and every option's value
        (dict).
    options : dict
        Option name -> its value when the entry's trailing dict does not give it.
    footprint : callable (shape, *args, **options) -> Footprint, or None
        For a layer with weights, what it needs, computed from the entry without
        building it; None for a layer without weights, which is built (allocating
        nothing) and asked its output shape.
    """

    layer: type
    build: Callable
    describe: Callable
    options: dict = dataclasses.field(default_factory=dict)
    footprint: Callable = None


MAX_SIZE = 65536
"""Bound on the integers of "conv" and "dense" entries (widths, kernel, stride, padding)
and on each side of an input shape (a pooling window must fit in its input)."""


@dataclasses.dataclass(frozen=True)
class Footprint:
    """What one layer needs, known from its entry and input shape before it is built.

    Attributes
    ----------
    output : tuple of int
        The shape of one output (no batch axis).
    parameters, buffers : list of tuple of int
        The shapes of the layer's parameters and of its buffers, in ``get_weights`` order.
    work : int
        Values per image its forward pass keeps besides its output: a convolution's
        padded input and window matrix.
    """

    output: tuple
    parameters: list = dataclasses.field(default_factory=list)
    buffers: list = dataclasses.field(default_factory=list)
    work: int = 0


def _size(value, name, min_value=1):
    """An integer of an entry, in ``min_value..MAX_SIZE``."""
    return check_int(value, name, min_value, MAX_SIZE)


def _conv_footprint(shape, c_out, kernel_size=3, stride=1, padding=0, bias=True, init="he"):
    """``Conv2d``'s footprint for images of ``shape`` (H, W, C)."""
    if len(shape) != 3:
        raise ValueError(f"a convolution needs images (H, W, C), got shape {shape}")
    (h, w, c), c_out = shape, _size(c_out, "c_out")
    kh, kw = [kernel_size] * 2 if not isinstance(kernel_size, list) else kernel_size
    kh, kw, stride = _size(kh, "kernel_size"), _size(kw, "kernel_size"), _size(stride, "stride")
    padding = _size(padding, "padding", 0)
    layer = f"a {kh} x {kw} convolution"
    out = (_output_size(h, kh, stride, padding, "height", layer),
           _output_size(w, kw, stride, padding, "width", layer), c_out)
    padded = (h + 2 * padding) * (w + 2 * padding) * c if padding else 0
    return Footprint(out, [(kh, kw, c, c_out)] + ([(c_out,)] if bias else []), [],
                     padded + out[0] * out[1] * kh * kw * c)


def _dense_footprint(shape, d_out, bias=True, init="he"):
    """``Dense``'s footprint for inputs of ``shape`` (d_in,)."""
    d_out = _size(d_out, "d_out")
    return Footprint((d_out,), [(_flat(shape), d_out)] + ([(1, d_out)] if bias else []))


def _bn_footprint(shape, momentum=0.1, eps=1e-5, scale=True, relu=False):
    """``BatchNorm``'s footprint for inputs of ``shape`` (..., C): it keeps its input,
    and with ``relu`` a boolean mask (a quarter of a float32 value each), within the
    two values per input counted."""
    channels = (shape[-1],)
    return Footprint(tuple(shape), [channels] * (2 if scale else 1), [channels] * 2,
                     2 * math.prod(shape))


def _plain(layer):
    """The kind of a layer class built without arguments (ReLU, Flatten, ...)."""
    return LayerKind(layer, lambda shape, rng: layer(), lambda _: ([], {}))


def _flat(shape):
    """d_in of a dense layer for inputs of ``shape``, which must be flat."""
    if len(shape) != 1:
        raise ValueError(f"a dense layer needs flat inputs, got shape {shape}: "
                         "put a 'flatten' before it")
    return shape[0]


def _side(kernel):
    """A kernel's size as an entry gives it: kh for a square (kh, kw), else [kh, kw]."""
    return kernel[0] if kernel[0] == kernel[1] else list(kernel)


LAYERS = {
    "conv": LayerKind(
        Conv2d, lambda shape, rng, *args, **options: Conv2d(shape[-1], *args, rng=rng, **options),
        lambda conv: ([conv.c_out, _side(conv.kernel), conv.stride, conv.padding],
                      {"bias": conv.b is not None, "init": conv.init}),
        {"bias": True, "init": "he"}, _conv_footprint),
    "pool": LayerKind(
        MaxPool2d, lambda shape, rng, *args: MaxPool2d(*args),
        lambda pool: ([pool.k] if pool.stride == pool.k else [pool.k, pool.stride], {})),
    "gmaxpool": _plain(GlobalMaxPool),
    "bn": LayerKind(
        BatchNorm, lambda shape, rng, **options: BatchNorm(shape[-1], **options),
        lambda bn: ([], {"momentum": bn.momentum, "eps": bn.eps, "scale": bn.gamma is not None,
                         "relu": bn.relu}),
        {"momentum": 0.1, "eps": 1e-5, "scale": True, "relu": False}, _bn_footprint),
    "relu": _plain(ReLU),
    "gelu": _plain(GELU),
    "scale": LayerKind(Scale, lambda shape, rng, factor: Scale(factor),
                       lambda scale: ([scale.factor], {})),
    "flatten": _plain(Flatten),
    "dense": LayerKind(
        Dense, lambda shape, rng, *args, **options: Dense(_flat(shape), *args, rng=rng, **options),
        lambda dense: ([dense.w.value.shape[1]], {"bias": dense.b is not None,
                                                   "init": dense.init}),
        {"bias": True, "init": "he"}, _dense_footprint),
    "dropout": LayerKind(Dropout, lambda shape, rng, rate: Dropout(rate, rng=rng),
                         lambda dropout: ([dropout.rate], {})),
}
"""Every layer name a specification may use. A new layer: its class, and one entry here."""


def _parse(index, entry):
    """(kind, args, options, where) of ``entry``, number ``index`` of a specification:
    options with their defaults filled in, ``where`` naming the entry for messages.

    Raises ValueError naming the entry: not a list led by a name, an unknown layer, an
    option it does not take.
    """
    if not isinstance(entry, list) or not entry or not isinstance(entry[0], str):
        raise ValueError(f"architecture entry {index} must be a list led by a layer name, "
                         f"got {entry!r}")
    name, *args = entry
    where = f"architecture entry {index} {entry!r}"
    if name not in LAYERS:
        raise ValueError(f"unknown layer {name!r} in the {where}, expected one of "
                         f"{', '.join(LAYERS)}")
    kind = LAYERS[name]
    options = args.pop() if args and isinstance(args[-1], dict) else {}
    for key in options:
        if key not in kind.options:
            raise ValueError(f"layer {name!r} in the {where} takes no option {key!r} "
                             f"(its options: {', '.join(kind.options) or 'none'})")
    return kind, args, {**kind.options, **options}, where


def _layer(index, entry, shape, rng):
    """The layer that ``entry``, number ``index`` of a specification, describes, for
    inputs of ``shape`` (no batch axis).

    Raises ValueError naming the entry: see ``_parse``, and arguments its class does not
    take.
    """
    kind, args, options, where = _parse(index, entry)
    try:
        return kind.build(shape, rng, *args, **options)
    except TypeError as error:                  # too many or too few arguments
        raise ValueError(f"layer {entry[0]!r} in the {where} does not take these arguments "
                         f"({error})") from error


def _footprint(index, entry, shape):
    """The ``Footprint`` of ``entry``, number ``index`` of a specification, for inputs
    of ``shape``; ValueError naming the entry where it does not fit or is out of bounds."""
    kind, args, options, where = _parse(index, entry)
    try:
        if kind.footprint is not None:
            return kind.footprint(shape, *args, **options)
        output = tuple(kind.build(shape, None, *args, **options).output_shape(shape))
        return Footprint(output, work=2 * math.prod(output))
    except TypeError as error:
        raise ValueError(f"layer {entry[0]!r} in the {where} does not take these arguments "
                         f"({error})") from error
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from error


def describe(network):
    """The specification of ``network``'s layers: ``build``'s inverse, weights aside.

    An option is written only where it differs from its default, as ``lenet``,
    ``conv4`` and ``airbench`` write theirs, so that ``describe(build(spec)) == spec``.

    Raises ValueError naming a layer whose class has no entry in ``LAYERS``.
    """
    return [_entry(layer) for layer in network.layers]


def _entry(layer):
    """The specification entry of one layer (see ``describe``)."""
    names = [name for name, kind in LAYERS.items() if type(layer) is kind.layer]
    if not names:
        raise ValueError(f"layer {layer!r} has no name in LAYERS: a specification cannot "
                         "describe it")
    kind = LAYERS[names[0]]
    args, options = kind.describe(layer)
    changed = {key: value for key, value in options.items() if value != kind.options[key]}
    return [names[0], *args] + ([changed] if changed else [])


def build(spec, input_shape, seed=None):
    """The ``Network`` that ``spec`` describes, for images of ``input_shape`` (H, W, C).

    Raises ValueError naming the layer and the shape where a layer does not fit.
    """
    rng = np.random.default_rng(check_seed(seed))
    shape, layers = tuple(input_shape), []
    for index, entry in enumerate(spec):
        layer = _layer(index, entry, shape, rng)
        shape = tuple(layer.output_shape(shape))
        layers.append(layer)
    return Network(layers)


@dataclasses.dataclass(frozen=True)
class Plan:
    """What the network of a specification needs, known before it is built.

    Attributes
    ----------
    input_shape : tuple of int, (H, W, C)
    layers : list of Footprint, one per entry
    """

    input_shape: tuple
    layers: list

    @property
    def weight_shapes(self):
        """The shapes of the arrays ``Network.get_weights`` returns, in its order."""
        return ([s for layer in self.layers for s in layer.parameters]
                + [s for layer in self.layers for s in layer.buffers])

    @property
    def weight_count(self):
        """How many numbers the weights hold (parameters and buffers)."""
        return sum(math.prod(shape) for shape in self.weight_shapes)

    @property
    def output_shape(self):
        """The shape of one output (no batch axis)."""
        return self.layers[-1].output if self.layers else self.input_shape

    def forward_bytes(self, batch_size):
        """An upper bound on the bytes that building the network and one forward pass of
        ``batch_size`` images in float32 hold at once.

        Each weight counts 16 bytes: its float64 initial draw, its float32 value and
        gradient; each image 4 bytes per value: three copies of the input (converted,
        centred, scaled), and every layer's output and what it keeps (``Footprint.work``).
        """
        per_image = 3 * math.prod(self.input_shape) + sum(
            math.prod(layer.output) + layer.work for layer in self.layers)
        return 16 * self.weight_count + 4 * batch_size * per_image


def footprint(spec, input_shape):
    """Walk ``spec`` with shapes, building nothing: the ``Plan`` of its network for
    images of ``input_shape`` (H, W, C).

    Raises ValueError naming the entry where a layer does not fit, an argument is not an
    integer in ``1..MAX_SIZE`` (padding: ``0..MAX_SIZE``), or the entry is malformed.
    """
    if not isinstance(spec, list):
        raise ValueError(f"an architecture must be a list of layer entries, got {spec!r:.80}")
    shape = tuple(_size(side, "input side") for side in input_shape)
    layers = []
    for index, entry in enumerate(spec):
        layers.append(_footprint(index, entry, shape))
        shape = layers[-1].output
    return Plan(tuple(input_shape), layers)
