"""Batch normalisation (Ioffe & Szegedy, 2015), per channel, for any batch shape.

The channel is the last axis: (N, C) after a ``Dense`` layer, (N, H, W, C) after a
``Conv2d``; the statistics are taken over every other axis.
"""
import numpy as np

from imagelab.utils import parallel
from imagelab.utils.checks import check_bool, check_float, check_int
from imagelab.nn.layers import Layer, Parameter


class BatchNorm(Layer):
    """y = gamma x_hat + beta,  x_hat = (x - mean) / sqrt(var + eps), per channel; or
    max(y, 0) with ``relu``.

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
    relu : bool
        True: the output is max(y, 0), the values of this layer followed by a ``ReLU``,
        with the ReLU's work done on each chunk while it is in the cache (its mask in
        the forward pass, g 1[y > 0] in the first pass of the backward one), sparing the
        two passes over the whole array that a layer of its own would make.
    """

    def __init__(self, channels, momentum=0.1, eps=1e-5, dtype=np.float32, scale=True,
                 relu=False):
        self.channels = check_int(channels, "channels", 1)
        self.momentum = check_float(momentum, "momentum", 0, 1, include_min=False)
        self.eps = check_float(eps, "eps", 0, include_min=False)
        self.gamma = (Parameter(np.ones(channels, dtype), decay=False)
                      if check_bool(scale, "scale") else None)
        self.beta = Parameter(np.zeros(channels, dtype), decay=False)
        self.running_mean = np.zeros(channels, dtype)
        self.running_var = np.ones(channels, dtype)
        self.relu = check_bool(relu, "relu")

    def __repr__(self):
        return (f"BatchNorm({self.channels}{'' if self.gamma is not None else ', scale=False'}"
                f"{', relu=True' if self.relu else ''})")

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
        """x (N, ..., C) -> y of the same shape; keeps x and its statistics for backward.

        Each thread of ``imagelab.utils.parallel`` takes a chunk of images at a time:
        two reads of x for the statistics (the mean, then the squared deviations), one
        read of x and one write of y for y = gamma (x - mean) / sqrt(var + eps) + beta
        (with ``relu``, max(y, 0), and the mask y > 0 kept for backward).
        """
        self.output_shape(x.shape[1:])
        images = x.reshape(len(x), -1)                 # (N, P C): P positions per image
        if training:
            mean, var = _mean_and_variance(images, self.channels)  # var biased, float64
            m = images.size // self.channels
            r = self.momentum
            self.running_mean *= 1 - r
            self.running_mean += r * mean
            self.running_var *= 1 - r
            self.running_var += r * var * (m / max(m - 1, 1))      # unbiased estimate
        else:
            mean, var = self.running_mean, self.running_var
        self.batch_statistics, self.images = training, images
        inv_std = 1 / np.sqrt(var + self.eps)
        # Each per-channel vector is tiled over the P positions, so that every operation
        # runs along whole images: NumPy is several times slower along rows of C values.
        self.mean, self.inv_std = (_tiled(v, images, self.channels) for v in (mean, inv_std))
        scale, beta = (_tiled(v, images, self.channels)
                       for v in (self._gamma() * inv_std, self.beta.value))
        y = np.empty_like(images)
        self.positive = np.empty(images.shape, bool) if self.relu else None

        def normalise(c):
            self._centre(images[c], scale, out=y[c])
            y[c] += beta
            if self.relu:
                np.greater(y[c], 0, out=self.positive[c])
                np.maximum(y[c], 0, out=y[c])

        parallel.map_chunks(normalise, images)
        return y.reshape(x.shape)

    def _centre(self, images, scale, out=None):
        """(x - mean) * scale for images (n, P C), ``scale`` (P C,) or (n, P C), into
        ``out`` if given: x_hat when scale is 1 / std."""
        out = np.subtract(images, self.mean, out=out)
        out *= scale
        return out

    def backward(self, d_out, need_dx=True):
        """Fill dC/dgamma, dC/dbeta; return dC/dx of the shape of ``d_out``.

        With g = dC/dy and M rows, after a training pass:  dC/dx = gamma / sqrt(var +
        eps) (g - mean(g) - x_hat mean(g x_hat)), the means over the rows of each
        channel. After an evaluation pass, whose statistics are constants, y is affine
        in x: dC/dx = g gamma / sqrt(var_run + eps) (for the gradient of a trained
        network's loss with respect to its input, ``Network.input_gradient``). Either
        way dC/dgamma = sum of g x_hat and dC/dbeta = sum of g. x - mean is recomputed
        from x, chunk by chunk, where it is needed; 1 / std multiplies the per-channel
        sums and factors, not each value. With ``relu``, g is first d_out 1[y > 0], in
        the first pass, written where dC/dx will be.
        """
        g, images, c_ = d_out.reshape(len(d_out), -1), self.images, self.channels
        m = g.size // c_
        inv_std = self.inv_std[:c_].astype(np.float64)
        if self.relu:
            g, d_out_rows = np.empty_like(g), g

        def sums(c):
            if self.relu:                                 # the ReLU's backward pass
                np.multiply(d_out_rows[c], self.positive[c], out=g[c])
            return _column_sums(g[c], c_), _column_sums(self._centre(images[c], g[c]), c_)

        # sum of g x_hat = (sum of g (x - mean)) / std: one pass fewer than x_hat itself
        chunk_sums = parallel.map_chunks(sums, g)
        sum_g = sum(s[0] for s in chunk_sums)
        sum_g_x_hat = sum(s[1] for s in chunk_sums) * inv_std
        self.beta.grad = sum_g.astype(self.beta.value.dtype)
        if self.gamma is not None:
            self.gamma.grad = sum_g_x_hat.astype(self.gamma.value.dtype)
        self.images = self.positive = None
        if not need_dx:
            return None
        gamma_std = self._gamma() * inv_std
        scale = _tiled(gamma_std, g, c_)
        dx = g if self.relu else np.empty_like(g)        # each chunk of g read, then written
        if not self.batch_statistics:
            parallel.map_chunks(lambda c: np.multiply(g[c], scale, out=dx[c]), g)
            return dx.reshape(d_out.shape)
        # x_hat mean(g x_hat) gamma / std = (x - mean) (gamma / std^2) mean(g x_hat)
        along_centred = _tiled(gamma_std * inv_std * sum_g_x_hat / m, g, c_)
        constant = _tiled(gamma_std * sum_g / m, g, c_)

        def chunk(c):
            np.multiply(g[c], scale, out=dx[c])
            dx[c] -= self._centre(images[c], along_centred)
            dx[c] -= constant

        parallel.map_chunks(chunk, g)
        return dx.reshape(d_out.shape)


def _column_sums(images, channels):
    """Per-channel sums over images (n, P C), (C,) float64: products by vectors of
    ones, over the images and then over the P positions, which the BLAS runs several
    times faster than NumPy's sum along an axis."""
    sums = np.ones(len(images), images.dtype) @ images                # (P C,)
    positions = len(sums) // channels
    return (np.ones(positions, sums.dtype) @ sums.reshape(positions, channels)).astype(
        np.float64)


def _mean_and_variance(images, channels):
    """Per-channel mean and biased variance over images (N, P C), float64 (C,), in two
    passes (the mean, then the squares of the deviations from it), each thread of
    ``imagelab.utils.parallel`` a chunk of images at a time."""
    m = images.size // channels
    mean = sum(parallel.map_chunks(lambda c: _column_sums(images[c], channels), images)) / m
    tiled = _tiled(mean, images, channels)

    def squares(c):
        deviations = images[c] - tiled
        deviations *= deviations
        return _column_sums(deviations, channels)

    return mean, sum(parallel.map_chunks(squares, images)) / m


def _tiled(vector, images, channels):
    """A per-channel vector (C,) repeated over the P positions of images (n, P C), in
    their dtype: (P C,)."""
    return np.tile(np.asarray(vector, images.dtype), images.shape[1] // channels)
