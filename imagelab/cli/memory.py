"""The memory a training needs, computed from its architecture before anything is allocated.

A ``--width 100000`` asks for hundreds of GiB: refused here in one line, instead of a
NumPy allocation error after the data is loaded. The count is a lower bound (float32
parameters, their gradients and the optimizer's states, and each layer's output for
one batch, which the backward pass keeps): a run it refuses cannot fit in the machine.
"""
import math
import os

from imagelab.utils.checks import FlagError

BYTES = 4                        # float32
GIB = 2 ** 30


def _window(size, kernel, stride, padding):
    """Output length of a window of ``kernel`` sliding by ``stride`` over ``size`` + 2
    padding (at least 1: a window that does not fit is ``build``'s error to report)."""
    return max((size + 2 * padding - kernel) // stride + 1, 1)


def _layer_size(name, args, options, shape):
    """(parameters, output shape) of one specification entry for inputs of ``shape``."""
    if name == "conv":
        # Conv2d's own defaults for what the entry leaves out: kernel 3, stride 1, padding 0
        c_out, kernel, stride, padding = [*args, *[None, 3, 1, 0][len(args):]]
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        bias = c_out if options.get("bias", True) else 0
        return (kh * kw * shape[-1] * c_out + bias,
                (_window(shape[0], kh, stride, padding), _window(shape[1], kw, stride, padding),
                 c_out))
    if name == "pool":
        k = args[0] if args else 2
        stride = args[1] if len(args) > 1 else k
        return 0, (_window(shape[0], k, stride, 0), _window(shape[1], k, stride, 0), shape[2])
    if name == "bn":
        return shape[-1] * (2 if options.get("scale", True) else 1), shape
    if name == "dense":
        bias = args[0] if options.get("bias", True) else 0
        return math.prod(shape) * args[0] + bias, (args[0],)
    if name == "flatten":
        return 0, (math.prod(shape),)
    if name == "gmaxpool":
        return 0, (shape[-1],)
    return 0, shape                        # relu, gelu, scale, dropout


def layer_sizes(spec, input_shape):
    """Parameters and output shape of each layer of ``spec``, without building it.

    Parameters
    ----------
    spec : list of entries (``imagelab.nn.architectures``)
    input_shape : (H, W, C)

    Returns
    -------
    list of (int, tuple)
        Per layer: its number of parameters, the shape of its output (no batch axis).
    """
    sizes, shape = [], tuple(input_shape)
    for name, *args in spec:
        options = args.pop() if args and isinstance(args[-1], dict) else {}
        count, shape = _layer_size(name, args, options, shape)
        sizes.append((count, tuple(shape)))
    return sizes


def training_bytes(spec, input_shape, batch_size, copies):
    """Bytes a training of ``spec`` needs at least: ``copies`` float32 arrays the size of
    the parameters (their values, gradients, the optimizer's states), and the outputs of
    every layer for ``batch_size`` images."""
    sizes = layer_sizes(spec, input_shape)
    parameters = sum(count for count, _ in sizes)
    activations = sum(math.prod(shape) for _, shape in sizes)
    return BYTES * (copies * parameters + batch_size * activations)


def physical_memory():
    """Bytes of memory of this machine (its physical pages)."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def refuse_unless_it_fits(flags, spec, input_shape, batch_size, copies):
    """Raise ``FlagError`` on ``flags`` (those that size the run) if the training needs
    more memory than the machine has (``training_bytes``)."""
    need, have = training_bytes(spec, input_shape, batch_size, copies), physical_memory()
    if need > have:
        raise FlagError(flags, f"the training needs at least {need / GIB:,.1f} GiB of memory "
                               f"(parameters, their gradients and optimizer states, one "
                               f"batch's activations), this machine has {have / GIB:.1f} GiB")
