"""Convolutional networks, described by a list of layer specifications.

A specification is plain data (JSON), so that a saved model carries its architecture
and nothing in a model file is code. ``build`` follows it, inferring each layer's
input size from the previous layer's output shape.

    [["conv", 32, 3, 1, 1], ["bn"], ["relu"], ["pool", 2], ["flatten"], ["dense", 10]]

Entries: ["conv", c_out, kernel, stride, padding], ["pool", k], ["gmaxpool"], ["bn"],
["relu"], ["gelu"], ["scale", factor], ["flatten"], ["dense", d_out], ["dropout", rate].
"conv", "dense" and "bn" may end with a dict of keyword arguments (``OPTIONS``), such as
["conv", 64, 3, 1, 1, {"bias": false, "init": "identity"}] or ["bn", {"scale": false}].
"""
import numpy as np

from imagelab.nn.batchnorm import BatchNorm
from imagelab.utils.checks import check_seed
from imagelab.nn.conv import Conv2d, Flatten, GlobalMaxPool, MaxPool2d
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

    With ``batch_norm``, each convolution and the hidden dense layer are followed by a
    ``BatchNorm``. The dense layer's one matters: without it, its 4,096 inputs
    (positive, unnormalised) made learning rates above 0.02 blow up in the first steps;
    with it, 0.1 trains (Fashion-MNIST, one epoch: 89.6% validation at 0.1, against
    86.4% at 0.05 and 85.8% at 0.02 without it).
    """
    spec = []
    for channels in (width, width, None, 2 * width, 2 * width, None):
        if channels is None:
            spec.append(["pool", 2])
            continue
        spec.append(["conv", channels, 3, 1, 1])
        spec += [["bn"]] if batch_norm else []
        spec.append(["relu"])
    spec += [["flatten"], ["dense", hidden]] + ([["bn"]] if batch_norm else []) + [["relu"]]
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

# Every layer kind a specification may name.
KINDS = ("conv", "pool", "gmaxpool", "bn", "relu", "gelu", "scale", "flatten", "dense",
         "dropout")
OPTIONS = {"conv": ("bias", "init"), "dense": ("bias", "init"), "bn": ("momentum", "eps", "scale")}
"""The keyword arguments that an entry's trailing dict may give, by layer kind."""


def _options(entry):
    """An entry's kind, positional arguments and keyword arguments (its trailing dict).

    Raises ValueError naming an unknown kind, or the layer and the key of an option it
    does not take.
    """
    kind, *args = entry
    if kind not in KINDS:
        raise ValueError(f"unknown layer {kind!r} in the architecture, expected one of "
                         f"{', '.join(KINDS)}")
    options = args.pop() if args and isinstance(args[-1], dict) else {}
    for key in options:
        if key not in OPTIONS.get(kind, ()):
            expected = ", ".join(OPTIONS.get(kind, ())) or "none"
            raise ValueError(f"layer {kind!r} in the architecture takes no option {key!r} "
                             f"(its options: {expected})")
    return kind, args, options


def _layer(entry, shape, rng):
    """The layer that ``entry`` describes, for inputs of ``shape`` (no batch axis)."""
    kind, args, options = _options(entry)
    if kind == "conv":
        return Conv2d(shape[-1], *args, rng=rng, **options)
    if kind == "pool":
        return MaxPool2d(*args)
    if kind == "gmaxpool":
        return GlobalMaxPool()
    if kind == "bn":
        return BatchNorm(shape[-1], **options)
    if kind == "relu":
        return ReLU()
    if kind == "gelu":
        return GELU()
    if kind == "scale":
        return Scale(*args)
    if kind == "flatten":
        return Flatten()
    if kind == "dense":
        if len(shape) != 1:
            raise ValueError(f"a dense layer needs flat inputs, got shape {shape}: "
                             "put a 'flatten' before it")
        return Dense(shape[0], *args, rng=rng, **{"init": "he", **options})
    return Dropout(*args, rng=rng)                                  # "dropout"


def build(spec, input_shape, seed=None):
    """The ``Network`` that ``spec`` describes, for images of ``input_shape`` (H, W, C).

    Raises ValueError naming the layer and the shape where a layer does not fit.
    """
    rng = np.random.default_rng(check_seed(seed))
    shape, layers = tuple(input_shape), []
    for entry in spec:
        layer = _layer(entry, shape, rng)
        shape = tuple(layer.output_shape(shape))
        layers.append(layer)
    return Network(layers)
