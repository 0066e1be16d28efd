"""Layers of a network, each with a forward pass and a hand-written backward pass.

A layer keeps what its backward pass needs from the forward pass. Its parameters are
``Parameter`` objects (a value and the gradient of the loss with respect to it), so
that the backward pass (which fills the gradients) stays apart from the optimizer's
step (which reads them): each can be checked on its own.
"""
import math

import numpy as np

from imagelab.utils import parallel
from imagelab.utils.checks import check_bool, check_float, check_int, check_seed
from imagelab.nn.functional import sigmoid


class Parameter:
    """A trainable array and the gradient of the loss with respect to it.

    Parameters
    ----------
    value : np.ndarray
        Updated in place by an optimizer.
    decay : bool
        Whether weight decay applies to it (weights: yes; biases: no).

    Attributes
    ----------
    grad : np.ndarray, shape and dtype of ``value``
        Filled by the backward pass of the layer that owns the parameter.
    """

    def __init__(self, value, decay=True):
        self.value, self.decay = value, decay
        self.grad = np.zeros_like(value)


class Layer:
    """What every layer offers: ``forward``, ``backward``, its parameters (none here),
    its saved but untrained arrays (none here) and the shape of its output."""

    def __repr__(self):
        return f"{type(self).__name__}()"

    def parameters(self):
        """The layer's ``Parameter`` objects, in a fixed order."""
        return []

    def buffers(self):
        """Arrays the layer keeps and a saved model needs, but no optimizer trains."""
        return []

    def output_shape(self, input_shape):
        """Shape of one output (no batch axis) for one input of ``input_shape``."""
        return tuple(input_shape)

    def flops(self, input_shape):
        """Floating-point operations of the forward pass on one input: its matrix
        products' multiply-adds, two each; the element-wise work, a few operations per
        value, is not counted (here: 0)."""
        return 0


class Dense(Layer):
    """Affine layer ``Z = X @ W + B``, W: (d_in, d_out), B: (1, d_out); or ``Z = X @ W``.

    Parameters
    ----------
    d_in, d_out : int >= 1
    init : {"glorot", "he", "uniform"}
        Glorot/Xavier uniform, U(-r, r) with r = sqrt(6 / (d_in + d_out)), suits
        sigmoid units (it is ``mlp.init_weights``'s); He normal, N(0, 2 / d_in), keeps
        the variance of the signal through ReLU units, which zero half of it; "uniform",
        U(-1 / sqrt(d_in), 1 / sqrt(d_in)), is PyTorch's default for ``nn.Linear``.
        Kept as ``self.init``.
    rng : None, int >= 0 or np.random.Generator
    dtype : floating dtype of the weights
    bias : bool
        False: no B, so ``parameters()`` is [W] and ``self.b`` is None.
    """

    def __init__(self, d_in, d_out, init="glorot", rng=None, dtype=np.float32, bias=True):
        d_in, d_out = check_int(d_in, "d_in", 1), check_int(d_out, "d_out", 1)
        rng = np.random.default_rng(check_seed(rng, "rng"))
        if init == "glorot":
            r = math.sqrt(6 / (d_in + d_out))
            w = rng.uniform(-r, r, size=(d_in, d_out))
        elif init == "he":
            w = rng.normal(0, math.sqrt(2 / d_in), size=(d_in, d_out))
        elif init == "uniform":
            w = rng.uniform(-1 / math.sqrt(d_in), 1 / math.sqrt(d_in), size=(d_in, d_out))
        else:
            raise ValueError(f"init must be 'glorot', 'he' or 'uniform', got {init!r}")
        self.init, self.w = init, Parameter(w.astype(dtype))
        self.b = (Parameter(np.zeros((1, d_out), dtype), decay=False)
                  if check_bool(bias, "bias") else None)

    def __repr__(self):
        no_bias = "" if self.b is not None else ", bias=False"
        return f"Dense({self.w.value.shape[0]}, {self.w.value.shape[1]}{no_bias})"

    def parameters(self):
        return [self.w] if self.b is None else [self.w, self.b]

    def output_shape(self, input_shape):
        """(d_in,) -> (d_out,); any other input shape is refused."""
        if tuple(input_shape) != self.w.value.shape[:1]:
            raise ValueError(f"{self!r} expects inputs of shape ({self.w.value.shape[0]},), "
                             f"got {tuple(input_shape)}")
        return self.w.value.shape[1:]

    def flops(self, input_shape):
        """2 d_in d_out: the product X W for one row."""
        self.output_shape(input_shape)
        return 2 * self.w.value.size

    def forward(self, x, training=False):
        """(N, d_in) -> (N, d_out); keeps ``x`` for the backward pass. Each thread of
        ``imagelab.utils.parallel`` computes its rows of Z."""
        self.x = x
        z = np.empty((len(x), self.w.value.shape[1]), np.result_type(x, self.w.value))

        def part(rows):
            np.matmul(x[rows], self.w.value, out=z[rows])
            if self.b is not None:
                z[rows] += self.b.value

        parallel.run(part, parallel.parts_of(x))
        return z

    def backward(self, dz, need_dx=True):
        """Fill dC/dW, dC/dB from dC/dZ (N, d_out); return dC/dX (N, d_in) or None.

        ``need_dx=False`` skips dC/dX, a third of the layer's cost: the first layer's
        input is the data, whose gradient nobody needs. The threads of
        ``imagelab.utils.parallel`` take the rows of dC/dW (input features) for the
        first product, and the rows of dC/dX (examples) for the second: neither needs
        a sum of the threads' results.
        """
        x, w = self.x, self.w.value
        d_w = np.empty(w.shape, np.result_type(x, dz))
        parallel.run(lambda features: np.matmul(x[:, features].T, dz, out=d_w[features]),
                     parallel.batch_parts(len(w), x.size))             # dC/dW = X^T dC/dZ
        self.w.grad = d_w
        if self.b is not None:
            self.b.grad = dz.sum(axis=0, keepdims=True)               # dC/dB = sum over rows
        if not need_dx:
            return None
        dx = np.empty(np.shape(x), np.result_type(dz, w))
        parallel.run(lambda rows: np.matmul(dz[rows], w.T, out=dx[rows]),
                     parallel.parts_of(dx))                           # dC/dX = dC/dZ W^T
        return dx


class Sigmoid(Layer):
    """Elementwise logistic unit, ``mlp.sigmoid``; no parameters.

    ``forward(x)`` and ``backward(dL_wrt_output)`` take arrays of any shape (the same
    shape for both), as the layer API of ``imagelab.handouts.numpy_layers`` asks.
    """

    def forward(self, x, training=False):
        self.a = sigmoid(x)
        return self.a

    def backward(self, dL_wrt_output, need_dx=True):
        return dL_wrt_output * self.a * (1 - self.a)          # sigma' = sigma (1 - sigma)


class ReLU(Layer):
    """Elementwise max(x, 0); no parameters; inputs of any shape, like ``Sigmoid``.

    Each thread of ``imagelab.utils.parallel`` takes a chunk of the first axis at a
    time.
    """

    def forward(self, x, training=False):
        self.positive = np.empty(np.shape(x), bool)
        y = np.empty_like(x)

        def part(rows):
            np.greater(x[rows], 0, out=self.positive[rows])
            np.maximum(x[rows], 0, out=y[rows])

        parallel.map_chunks(part, x)
        return y

    def backward(self, dL_wrt_output, need_dx=True):
        dx = np.empty_like(dL_wrt_output)

        def part(rows):
            # g * 1[x > 0]: a product by the boolean mask runs about 7x faster than
            # np.where; adding 0 turns its -0 (from -g * 0) into 0.
            np.multiply(dL_wrt_output[rows], self.positive[rows], out=dx[rows])
            dx[rows] += 0

        parallel.map_chunks(part, dx)
        return dx


class GELU(Layer):
    """Gaussian error linear unit, tanh approximation (PyTorch's approximate="tanh",
    GPT-2's); no parameters; inputs of any shape, like ``ReLU``.

    y = x Phi(x) ~= 0.5 x (1 + tanh(u)),  u = sqrt(2 / pi) (x + 0.044715 x^3)

    The exact x Phi(x) needs erf, which NumPy has only as the scalar ``math.erf``; the
    two differ by less than 5e-4 anywhere (4.7e-4 at x = -2.70), under 1e-3. The
    constants take the input's dtype, so float32 inputs are never upcast. Each thread
    of ``imagelab.utils.parallel`` takes a chunk of the first axis at a time, in the cache
    through the several operations of each pass.
    """

    def forward(self, x, training=False):
        """x -> y of the same shape and dtype; keeps x and t = tanh(u) for backward."""
        self.x, self.t, y = x, np.empty_like(x), np.empty_like(x)
        parallel.map_chunks(lambda rows: self._forward(x[rows], self.t[rows], y[rows]), x)
        return y

    @staticmethod
    def _forward(x, t, y):
        """Write t = tanh(u) and y = 0.5 x (1 + t) for the inputs ``x``."""
        c = x.dtype.type
        np.multiply(x, x, out=t)
        t *= c(0.044715)
        t += c(1)
        t *= x
        t *= c(math.sqrt(2 / math.pi))                         # u = k x (1 + 0.044715 x^2)
        np.tanh(t, out=t)
        np.add(t, c(1), out=y)
        y *= x
        y *= c(0.5)

    def backward(self, dL_wrt_output, need_dx=True):
        dx = np.empty_like(self.x)
        parallel.map_chunks(lambda rows: self._backward(self.x[rows], self.t[rows],
                                                        dL_wrt_output[rows], dx[rows]), dx)
        self.x = self.t = None
        return dx

    @staticmethod
    def _backward(x, t, g, dx):
        """Write dx = g dy/dx; overwrites t."""
        # dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 * 0.044715 x^2), k = sqrt(2 / pi)
        c = x.dtype.type
        np.multiply(x, x, out=dx)
        dx *= c(3 * 0.044715)
        dx += c(1)
        dx *= x
        dx *= c(0.5 * math.sqrt(2 / math.pi))
        square = t * t
        np.subtract(c(1), square, out=square)
        dx *= square
        t += c(1)
        t *= c(0.5)
        dx += t
        dx *= g


class Scale(Layer):
    """y = factor x, a constant factor; no parameters (airbench multiplies its logits
    by 1/9). Inputs of any shape; the factor takes the input's dtype.

    Parameters
    ----------
    factor : finite float
    """

    def __init__(self, factor):
        self.factor = check_float(factor, "factor")

    def __repr__(self):
        return f"Scale({self.factor:.3g})"

    def forward(self, x, training=False):
        return x * x.dtype.type(self.factor)

    def backward(self, d_out, need_dx=True):
        return d_out * d_out.dtype.type(self.factor)          # dC/dx = factor dC/dy


class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability ``rate``.

    The kept units are scaled by 1 / (1 - rate), so that a unit's expected output is
    the same in training and at test time, when the layer passes its input through.
    """

    def __init__(self, rate, rng=None):
        self.rate = check_float(rate, "dropout rate", 0, 1, include_max=False)
        self.rng = np.random.default_rng(check_seed(rng, "rng"))

    def __repr__(self):
        return f"Dropout({self.rate})"

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self.mask = None
            return x
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.rate
        self.mask = keep.astype(x.dtype) / x.dtype.type(1 - self.rate)
        return x * self.mask

    def backward(self, da, need_dx=True):
        return da if self.mask is None else da * self.mask


ACTIVATIONS = {"sigmoid": Sigmoid, "relu": ReLU, "gelu": GELU}
