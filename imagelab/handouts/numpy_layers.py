"""The layer API of the handout ``numpy-nn-layers.txt``: Linear, ReLU, Sigmoid and SE.

Each layer has ``forward`` and ``backward``; ``backward`` returns the gradient of the
loss with respect to the layer's input. They are the network trainer's layers
(``imagelab.nn.layers``) under the handout's names, not a second copy of the maths:

- ``Linear`` holds a ``Dense`` layer: its ``W`` and ``b`` are the values of the
  ``Dense`` layer's two ``Parameter`` objects, and its ``backward`` is
  ``Dense.backward``, which fills their gradients with sums over the batch (what an
  optimizer steps with). The handout's per-sample gradients ``dL_wrt_W`` and
  ``dL_wrt_b`` are the terms of those sums, formed when read (a batch of them takes
  ``batch`` times the memory of ``W``, which training never needs).
- ``ReLU`` and ``Sigmoid`` are ``imagelab.nn.layers``' own classes.
- ``SE`` is the squared error ``(x - y)^2``, entry by entry, with its gradient.
"""
import numpy as np

from imagelab.utils.checks import check_int
from imagelab.nn.layers import Dense, Layer, ReLU, Sigmoid
from imagelab.nn.losses import SE

__all__ = ["Linear", "ReLU", "Sigmoid", "SE"]


class Linear(Layer):
    """Affine layer ``f(x) = x W + b`` on a batch of rows, with per-sample gradients.

    A ``Dense`` layer does the work (forward, backward, parameters); ``Linear`` adds
    the handout's names. It holds the ``Dense`` rather than being one, because both
    call their bias ``b``: a ``Parameter`` there, an array here.

    Parameters
    ----------
    input_dim, output_dim : int >= 1
    init, rng : as for ``imagelab.nn.layers.Dense`` (Glorot uniform by default)
    dtype : floating dtype of the weights (float64, NumPy's default, as in the handout)

    Attributes
    ----------
    W : np.ndarray, shape (input_dim, output_dim)
    b : np.ndarray, shape (1, output_dim)
        The values of the ``Dense`` layer's ``Parameter`` objects: an optimizer built
        on ``parameters()`` updates them. Assigning an array of the same shape
        replaces the value (copied, cast to a floating dtype).
    dL_wrt_W : np.ndarray, shape (batch, input_dim, output_dim), or None
    dL_wrt_b : np.ndarray, shape (batch, 1, output_dim), or None
        Per-sample gradients of the last ``backward`` (None before it): row n's term
        of the batch gradients held by ``parameters()``, which are their sums over
        the batch.
    """

    def __init__(self, input_dim, output_dim, init="glorot", rng=None, dtype=np.float64):
        self.dense = Dense(check_int(input_dim, "input_dim", 1),
                           check_int(output_dim, "output_dim", 1), init, rng, dtype)
        self.dL_wrt_output = None

    @property
    def W(self):
        return self.dense.w.value

    @W.setter
    def W(self, value):
        _assign(self.dense.w, value, "W")

    @property
    def b(self):
        return self.dense.b.value

    @b.setter
    def b(self, value):
        _assign(self.dense.b, value, "b")

    def parameters(self):
        return self.dense.parameters()

    def forward(self, x, training=False):
        """(batch, input_dim) -> (batch, output_dim), ``Dense.forward``."""
        self.dL_wrt_output = None
        return self.dense.forward(x)

    def backward(self, dL_wrt_output, need_dx=True):
        """Fill the batch gradients (``Dense.backward``); keep ``dL_wrt_output``.

        Parameters
        ----------
        dL_wrt_output : np.ndarray, shape (batch, output_dim)
        need_dx : bool
            False skips the gradient with respect to the input (returns None).

        Returns
        -------
        np.ndarray, shape (batch, input_dim), or None
            dL/dx = dL_wrt_output W^T.
        """
        self.dL_wrt_output = dL_wrt_output
        return self.dense.backward(dL_wrt_output, need_dx)

    @property
    def dL_wrt_W(self):
        if self.dL_wrt_output is None:
            return None
        # Row n's term of x^T dL_wrt_output: the outer product of x[n] and dL_wrt_output[n].
        return self.dense.x[:, :, None] * self.dL_wrt_output[:, None, :]

    @property
    def dL_wrt_b(self):
        return None if self.dL_wrt_output is None else self.dL_wrt_output[:, None, :]

    def grads(self):
        """The per-sample gradients ``(dL_wrt_W, dL_wrt_b)`` of the last ``backward``."""
        return self.dL_wrt_W, self.dL_wrt_b


def _assign(parameter, value, name):
    """Replace ``parameter``'s value by a floating copy of ``value`` of the same shape."""
    value = np.array(value, dtype=np.result_type(value, np.float32))
    if value.shape != parameter.value.shape:
        raise ValueError(f"{name} must have shape {parameter.value.shape}, got {value.shape}")
    parameter.value, parameter.grad = value, np.zeros_like(value)
