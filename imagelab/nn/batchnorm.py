"""Batch normalisation (Ioffe & Szegedy, 2015), per channel, for any batch shape.

The channel is the last axis: (N, C) after a ``Dense`` layer, (N, H, W, C) after a
``Conv2d``; the statistics are taken over every other axis.
"""
import numpy as np

from imagelab.utils.checks import check_bool, check_float, check_int
from imagelab.nn.layers import Layer, Parameter


class BatchNorm(Layer):
    """y = gamma x_hat + beta,  x_hat = (x - mean) / sqrt(var + eps), per channel.

    In training, mean and var are the batch's (var biased, as in the paper's
    normalisation); running averages of them, mean_run <- (1 - m) mean_run + m mean
    (and the unbiased var likewise), normalise at evaluation.

    Parameters
    ----------
    channels : int >= 1
    momentum : float in (0, 1]
        Weight m of the new batch in the running averages (PyTorch's 0.1 by default).
    eps : float > 0
        Any value > 0, airbench's 1e-12 included: float32 holds it (its smallest normal
        number is 1.2e-38), and a constant channel's x - mean = 0 is then multiplied by
        1 / sqrt(eps) = 1e6, which stays finite.
    dtype : floating dtype of gamma and beta
    scale : bool
        False: gamma is fixed at 1 and is not a parameter (``parameters()`` is [beta],
        ``self.gamma`` is None), as airbench's BatchNorm(weight=False).
    """

    def __init__(self, channels, momentum=0.1, eps=1e-5, dtype=np.float32, scale=True):
        self.channels = check_int(channels, "channels", 1)
        self.momentum = check_float(momentum, "momentum", 0, 1, include_min=False)
        self.eps = check_float(eps, "eps", 0, include_min=False)
        self.gamma = (Parameter(np.ones(channels, dtype), decay=False)
                      if check_bool(scale, "scale") else None)
        self.beta = Parameter(np.zeros(channels, dtype), decay=False)
        self.running_mean = np.zeros(channels, dtype)
        self.running_var = np.ones(channels, dtype)

    def __repr__(self):
        return f"BatchNorm({self.channels}{'' if self.gamma is not None else ', scale=False'})"

    def parameters(self):
        return [self.beta] if self.gamma is None else [self.gamma, self.beta]

    def _gamma(self):
        """gamma's value, or 1 when it is fixed (``scale=False``)."""
        return 1 if self.gamma is None else self.gamma.value

    def buffers(self):
        """The running statistics: saved with the weights, not trained."""
        return [self.running_mean, self.running_var]

    def output_shape(self, input_shape):
        if input_shape[-1] != self.channels:
            raise ValueError(f"{self!r} expects {self.channels} channels on the last axis, "
                             f"got input shape {tuple(input_shape)}")
        return tuple(input_shape)

    def forward(self, x, training=False):
        """x (..., C) -> y of the same shape; keeps x_hat (training) or x for backward."""
        self.output_shape(x.shape[1:])
        rows = x.reshape(-1, self.channels)                        # (M, C)
        self.batch_statistics = training
        if not training:
            self.rows = rows
            scale = self._gamma() / np.sqrt(self.running_var + self.eps)
            return (rows * scale + (self.beta.value - self.running_mean * scale)).reshape(x.shape)
        m = len(rows)
        mean = rows.mean(axis=0)
        x_hat = rows - mean
        var = np.einsum("ij,ij->j", x_hat, x_hat) / m              # biased, one pass
        self.inv_std = 1 / np.sqrt(var + self.eps)
        x_hat *= self.inv_std
        self.x_hat = x_hat
        r = self.momentum
        self.running_mean *= 1 - r
        self.running_mean += r * mean
        self.running_var *= 1 - r
        self.running_var += r * var * (m / max(m - 1, 1))          # unbiased estimate
        if self.gamma is None:                                     # one pass, not two
            return (x_hat + self.beta.value).reshape(x.shape)
        y = x_hat * self.gamma.value
        y += self.beta.value
        return y.reshape(x.shape)

    def backward(self, d_out, need_dx=True):
        """Fill dC/dgamma, dC/dbeta; return dC/dx of the shape of ``d_out``.

        With g = dC/dy and M rows:  dC/dx = gamma / sqrt(var + eps)
        (g - mean(g) - x_hat mean(g x_hat)), the means over the rows of each channel.
        After an evaluation forward pass, ``evaluation_backward``.
        """
        if not self.batch_statistics:
            return self.evaluation_backward(d_out, need_dx)
        g = d_out.reshape(-1, self.channels)
        m = len(g)
        self.beta.grad = g.sum(axis=0)
        g_x_hat = np.einsum("ij,ij->j", g, self.x_hat)             # dC/dgamma
        if self.gamma is not None:
            self.gamma.grad = g_x_hat
        if not need_dx:
            return None
        scale = self._gamma() * self.inv_std
        dx = g * scale
        dx -= self.x_hat * (scale * g_x_hat / m) + scale * self.beta.grad / m
        self.x_hat = None
        return dx.reshape(d_out.shape)

    def evaluation_backward(self, d_out, need_dx=True):
        """``backward`` after an evaluation forward pass, whose statistics are constants.

        y = gamma x_hat + beta with x_hat = (x - mean_run) / sqrt(var_run + eps) is affine
        in x: dC/dx = g gamma / sqrt(var_run + eps), dC/dgamma = sum of g x_hat and
        dC/dbeta = sum of g over the rows of each channel (g = dC/dy). For the gradient of
        a trained network's loss with respect to its input (``Network.input_gradient``).
        """
        g = d_out.reshape(-1, self.channels)
        inv_std = 1 / np.sqrt(self.running_var + self.eps)
        self.beta.grad = g.sum(axis=0)
        if self.gamma is not None:
            self.gamma.grad = np.einsum("ij,ij->j", g, (self.rows - self.running_mean) * inv_std)
        self.rows = None
        return (g * (self._gamma() * inv_std)).reshape(d_out.shape) if need_dx else None
