"""The memory a training needs, computed from its architecture before anything is allocated.

A ``--width 20000`` asks for tens of GiB: refused here in one line, instead of a
NumPy allocation error after the data is loaded. The count is a lower bound (float32
parameters, their gradients and the optimizer's states, and each layer's output for
one batch, which the backward pass keeps): a run it refuses cannot fit in the machine.
"""
import math
import os

from imagelab.nn.architectures import footprint
from imagelab.utils.checks import FlagError

BYTES = 4                        # float32
GIB = 2 ** 30


def training_bytes(spec, input_shape, batch_size, copies):
    """Bytes a training of ``spec`` needs at least: ``copies`` float32 arrays the size of
    the parameters (their values, gradients, the optimizer's states), and the outputs of
    every layer for ``batch_size`` images, from the architecture's ``footprint``.

    Raises ValueError naming the entry whose sizes are out of bounds or do not fit.
    """
    plan = footprint(spec, input_shape)
    parameters = sum(math.prod(shape) for layer in plan.layers for shape in layer.parameters)
    activations = sum(math.prod(layer.output) for layer in plan.layers)
    return BYTES * (copies * parameters + batch_size * activations)


def physical_memory():
    """Bytes of memory of this machine (its physical pages)."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def refuse_unless_it_fits(flags, spec, input_shape, batch_size, copies):
    """Raise ``FlagError`` on ``flags`` (those that size the run) if the training needs
    more memory than the machine has (``training_bytes``), or sizes out of bounds."""
    try:
        need = training_bytes(spec, input_shape, batch_size, copies)
    except ValueError as error:
        raise FlagError(flags, str(error)) from error
    have = physical_memory()
    if need > have:
        raise FlagError(flags, f"the training needs at least {need / GIB:,.1f} GiB of memory "
                               f"(parameters, their gradients and optimizer states, one "
                               f"batch's activations), this machine has {have / GIB:.1f} GiB")
