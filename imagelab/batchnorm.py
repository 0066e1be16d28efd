"""Batch normalisation (Ioffe & Szegedy, 2015), per channel, for any batch shape.

The channel is the last axis: (N, C) after a ``Dense`` layer, (N, H, W, C) after a
``Conv2d``; the statistics are taken over every other axis.
"""
import numpy as np

from imagelab.checks import check_float, check_int
from imagelab.layers import Layer, Parameter


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
    dtype : floating dtype of gamma and beta
    """

    def __init__(self, channels, momentum=0.1, eps=1e-5, dtype=np.float32):
        self.channels = check_int(channels, "channels", 1)
        self.momentum = check_float(momentum, "momentum", 0, 1, include_min=False)
        self.eps = check_float(eps, "eps", 0, include_min=False)
        self.gamma = Parameter(np.ones(channels, dtype), decay=False)
        self.beta = Parameter(np.zeros(channels, dtype), decay=False)
        self.running_mean = np.zeros(channels, dtype)
        self.running_var = np.ones(channels, dtype)

    def __repr__(self):
        return f"BatchNorm({self.channels})"

    def parameters(self):
        return [self.gamma, self.beta]

    def buffers(self):
        """The running statistics: saved with the weights, not trained."""
        return [self.running_mean, self.running_var]

    def output_shape(self, input_shape):
        if input_shape[-1] != self.channels:
            raise ValueError(f"{self!r} expects {self.channels} channels on the last axis, "
                             f"got input shape {tuple(input_shape)}")
        return tuple(input_shape)

    def forward(self, x, training=False):
        """x (..., C) -> y of the same shape; in training, keeps x_hat for backward."""
        self.output_shape(x.shape[1:])
        rows = x.reshape(-1, self.channels)                        # (M, C)
        if not training:
            scale = self.gamma.value / np.sqrt(self.running_var + self.eps)
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
        return (x_hat * self.gamma.value + self.beta.value).reshape(x.shape)

    def backward(self, d_out, need_dx=True):
        """Fill dC/dgamma, dC/dbeta; return dC/dx of the shape of ``d_out``.

        With g = dC/dy and M rows:  dC/dx = gamma / sqrt(var + eps)
        (g - mean(g) - x_hat mean(g x_hat)), the means over the rows of each channel.
        """
        g = d_out.reshape(-1, self.channels)
        m = len(g)
        self.beta.grad = g.sum(axis=0)
        self.gamma.grad = np.einsum("ij,ij->j", g, self.x_hat)
        if not need_dx:
            return None
        scale = self.gamma.value * self.inv_std
        dx = g * scale
        dx -= self.x_hat * (scale * self.gamma.grad / m) + scale * self.beta.grad / m
        self.x_hat = None
        return dx.reshape(d_out.shape)
