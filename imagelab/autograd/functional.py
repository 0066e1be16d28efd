"""Operations of several Tensors, and the layers of ``imagelab.nn`` as Tensor operations.

The Tensor's methods (``imagelab.autograd.tensor``) act on one tensor, or on two through
an operator; the functions here take several: ``maximum`` and ``minimum`` (element by
element), ``where``, ``concatenate`` and ``stack``. Each is written as the methods are:
the forward pass in NumPy and a backward function, broadcast inputs summed back by
``unbroadcast``.

``apply_layer`` turns a layer of ``imagelab.nn`` (a convolution, a pooling, a batch
norm) into one operation whose forward and backward passes are the layer's own code, so
that a CNN written with Tensors computes exactly what the layer-by-layer network does,
with the same fast code (``imagelab.autograd.nn.Conv2d``, ``MaxPool2d``, ``BatchNorm``).

Ties, as PyTorch's: where a = b, ``maximum(a, b)`` and ``minimum(a, b)`` give each
operand half of the gradient.
"""
import copy

import numpy as np

from imagelab.autograd.tensor import Tensor, _axes, _broadcasting, _node, unbroadcast


def _pair(a, b):
    """``a`` and ``b`` as Tensors; an array or a number takes the other's dtype, as in a + b."""
    if isinstance(a, Tensor):
        return a, a._lift(b)
    if isinstance(b, Tensor):
        return b._lift(a), b
    raise TypeError(f"at least one operand must be a Tensor, got {type(a).__name__} and "
                    f"{type(b).__name__}")


def _extreme(a, b, function, wins, name):
    """``function(a, b)`` (np.maximum or np.minimum) element by element; the gradient goes
    to the operand that ``wins`` (np.greater or np.less), half to each at a tie."""
    a, b = _pair(a, b)
    out = _broadcasting(function, a, b, name)
    # The share of a in each entry: 1 where it wins, 1/2 at a tie, 0 where b wins.
    share_a = wins(a.data, b.data) + 0.5 * (a.data == b.data)

    def backward(g):
        return (unbroadcast(g * share_a, a.shape) if a.requires_grad else None,
                unbroadcast(g * (1 - share_a), b.shape) if b.requires_grad else None)
    return _node(out, name, (a, b), backward)


def maximum(a, b):
    """The larger of ``a`` and ``b`` entry by entry (Tensors, arrays or numbers, at least
    one Tensor; broadcast). Where a = b, each gets half of the gradient (PyTorch's
    ``torch.maximum``)."""
    return _extreme(a, b, np.maximum, np.greater, "maximum")


def minimum(a, b):
    """The smaller of ``a`` and ``b`` entry by entry; half of the gradient to each at a
    tie, as ``maximum``."""
    return _extreme(a, b, np.minimum, np.less, "minimum")


def where(condition, a, b):
    """``a`` where ``condition`` holds, ``b`` elsewhere, as ``np.where`` (broadcast).

    Parameters
    ----------
    condition : array_like of bool
        Such as a comparison of Tensors (``x > 0``), which is an array: a condition has
        no gradient.
    a, b : Tensor, array_like or number (at least one a Tensor)

    Returns
    -------
    Tensor of the three shapes broadcast together; each entry's gradient goes to the
    operand it was taken from.
    """
    if isinstance(condition, Tensor):
        raise TypeError("the condition must be an array of bool, not a Tensor (compare "
                        "Tensors with <, <=, >, >=, which give arrays)")
    condition = np.asarray(condition, dtype=bool)
    a, b = _pair(a, b)
    try:
        out = np.where(condition, a.data, b.data)
    except ValueError:
        raise ValueError(f"shapes {condition.shape}, {a.shape} and {b.shape} do not "
                         "broadcast together for where") from None

    def backward(g):
        return (unbroadcast(np.where(condition, g, 0), a.shape) if a.requires_grad else None,
                unbroadcast(np.where(condition, 0, g), b.shape) if b.requires_grad else None)
    return _node(out, "where", (a, b), backward)


def _tensors(values, name):
    """A non-empty sequence of Tensors; arrays in it take the first Tensor's dtype."""
    values = list(values)
    first = next((v for v in values if isinstance(v, Tensor)), None)
    if first is None:
        raise TypeError(f"{name} needs a sequence holding at least one Tensor")
    return [first._lift(v) for v in values]


def concatenate(tensors, axis=0):
    """The tensors joined along an existing ``axis``, as ``np.concatenate``; each one's
    gradient is its own slice of the result's."""
    tensors = _tensors(tensors, "concatenate")
    try:
        out = np.concatenate([t.data for t in tensors], axis=axis)
    except ValueError:                  # np.exceptions.AxisError is one too
        raise ValueError(f"tensors of shapes {', '.join(str(t.shape) for t in tensors)} "
                         f"cannot be concatenated along axis {axis}") from None
    axis = _axes(axis, out.ndim)[0]
    ends = np.cumsum([t.shape[axis] for t in tensors])[:-1]    # where each piece ends

    def backward(g):
        return tuple(piece if t.requires_grad else None
                     for t, piece in zip(tensors, np.split(g, ends, axis=axis)))
    return _node(out, "concatenate", tuple(tensors), backward)


def stack(tensors, axis=0):
    """Tensors of one shape joined along a new ``axis``, as ``np.stack``: each given an
    axis of size 1 there (``unsqueeze``), then concatenated."""
    tensors = _tensors(tensors, "stack")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack needs tensors of one shape, got shapes "
                         f"{', '.join(str(t.shape) for t in tensors)}")
    return concatenate([t.unsqueeze(axis) for t in tensors], axis)


def apply_layer(layer, x, parameters=(), training=False):
    """``layer.forward(x)`` as one Tensor operation, whose backward is ``layer.backward``.

    The operation runs on a shallow copy of ``layer``: what a forward pass keeps for
    its backward pass (a convolution's window matrix, a pooling's input) then belongs
    to this call, so a layer applied twice before one ``backward()`` is right. The copy
    shares the layer's buffers, so a batch norm's running statistics are updated in
    place, and its ``Parameter`` objects, whose values become the Tensors' data.

    Parameters
    ----------
    layer : imagelab.nn.layers.Layer
        Such as ``imagelab.nn.conv.Conv2d``, ``MaxPool2d``, ``imagelab.nn.batchnorm.BatchNorm``.
    x : Tensor
        The layer's input, batch first.
    parameters : sequence of Tensor
        One per ``layer.parameters()``, in its order and of its shapes: they take part
        in the forward pass and receive the gradients the layer's backward pass computes.
    training : bool
        Passed to ``layer.forward`` (a batch norm's batch or running statistics).

    Returns
    -------
    Tensor, the layer's output. Its backward runs once: the layer frees what it kept
    (``retain_graph`` cannot keep it), so a second one is refused.
    """
    own = copy.copy(layer)
    targets = own.parameters()
    if len(targets) != len(parameters):
        raise ValueError(f"{layer!r} has {len(targets)} parameters, got {len(parameters)}")
    for target, tensor in zip(targets, parameters):
        if tensor.shape != target.value.shape:
            raise ValueError(f"{layer!r} expects a parameter of shape {target.value.shape}, "
                             f"got shape {tensor.shape}")
        target.value = tensor.data
    out = own.forward(x.data, training)

    def backward(g):
        nonlocal own
        if own is None:
            raise RuntimeError(f"backward through {layer!r} twice: the layer freed what its "
                               "forward pass kept; run the forward pass again")
        used, own = own, None
        dx = used.backward(g, need_dx=x.requires_grad)
        return (dx if x.requires_grad else None,) + tuple(
            target.grad if tensor.requires_grad else None
            for target, tensor in zip(targets, parameters))
    return _node(out, type(layer).__name__, (x, *parameters), backward)
