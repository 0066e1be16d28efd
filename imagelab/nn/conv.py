"""Convolution, max pooling (windowed and global) and flattening layers for images,
channels last.

Images are arrays of shape (N, H, W, C), float32, C innermost ("channels last"). That
layout was chosen by measurement: a convolution becomes one matrix product of an
(N H' W', kh kw C) window matrix by a (kh kw C, C_out) weight matrix, the product's
result (N H' W', C_out) *is* the output (N, H', W', C_out) without a transpose, and
the window matrix is one copy of a strided view whose innermost run is C contiguous
floats. Measured on conv4's second layer (batch 128, 32 x 32 x 32, 2 cores): that copy
takes 31 ms, where the same windows in (C, kh, kw) order (what channels first gives)
take 80-90 ms, and a loop copying one kernel offset at a time 100 ms.

Each layer has ``forward(x, training)``, ``backward(d_out, need_dx)`` and
``output_shape(input_shape)`` (shapes without the batch axis), like ``imagelab.nn.layers``.
"""
import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from imagelab.utils.checks import check_bool, check_int, check_seed
from imagelab.nn.layers import Layer, Parameter


def _check_images(x, channels, layer):
    """Refuse anything but a batch of images (N, H, W, channels), naming the layer."""
    if np.ndim(x) != 4 or (channels is not None and np.shape(x)[3] != channels):
        expected = f"(N, H, W, {channels})" if channels is not None else "(N, H, W, C)"
        raise ValueError(f"{layer} expects images of shape {expected}, got shape "
                         f"{np.shape(x)}")


def _output_size(size, kernel, stride, padding, what, layer):
    """Output length of a window of ``kernel`` sliding by ``stride`` over ``size`` + 2 padding."""
    if size + 2 * padding < kernel:
        raise ValueError(f"{layer}: a {kernel}-wide window does not fit in an input {what} "
                         f"of {size} (padding {padding})")
    return (size + 2 * padding - kernel) // stride + 1


def im2col(x, kernel, stride):
    """Window matrix of already padded images: one row per output position.

    Parameters
    ----------
    x : np.ndarray, shape (N, H, W, C)
    kernel : (kh, kw), stride : int

    Returns
    -------
    cols : np.ndarray, shape (N * H' * W', kh * kw * C), dtype of ``x``
        Row (n, i, j) holds the window x[n, s i : s i + kh, s j : s j + kw, :], in
        (kh, kw, C) order; H' = (H - kh) // s + 1, likewise W'.
    """
    n, c = x.shape[0], x.shape[3]
    windows = sliding_window_view(x, kernel, axis=(1, 2))[:, ::stride, ::stride]
    h_out, w_out = windows.shape[1:3]
    # (N, H', W', C, kh, kw) view -> (N, H', W', kh, kw, C): one copy, C innermost.
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * h_out * w_out,
                                                        kernel[0] * kernel[1] * c)


def col2im(cols, shape, kernel, stride):
    """Adjoint of ``im2col``: add each window's row back onto the padded image.

    Parameters
    ----------
    cols : np.ndarray, shape (N * H' * W', kh * kw * C)
    shape : (N, H, W, C), the padded images' shape

    Returns
    -------
    np.ndarray, shape ``shape``: x[n, s i + a, s j + b, c] sums the entries of every
    window that covers it. One strided slice added per kernel offset (a, b): no
    ``np.add.at``, whose scattered adds are an order of magnitude slower.
    """
    n, h, w, c = shape
    kh, kw = kernel
    h_out, w_out = (h - kh) // stride + 1, (w - kw) // stride + 1
    cols = cols.reshape(n, h_out, w_out, kh, kw, c)
    x = np.zeros(shape, cols.dtype)
    for a in range(kh):
        for b in range(kw):
            x[:, a:a + stride * h_out:stride, b:b + stride * w_out:stride] += cols[:, :, :, a, b]
    return x


class Conv2d(Layer):
    """2-D convolution (cross-correlation, as in every framework) with zero padding.

    out[n, i, j, o] = b[o] + sum_{a, b, c} x_pad[n, s i + a, s j + b, c] W[a, b, c, o]

    Parameters
    ----------
    c_in, c_out : int >= 1
        Input and output channels.
    kernel_size : int >= 1 or (kh, kw)
    stride : int >= 1
    padding : int >= 0
        Zeros added on each side of H and W ("same" size: padding = kernel_size // 2).
    rng : None, int >= 0 or np.random.Generator
    dtype : floating dtype of the weights
    bias : bool
        False: no b, so ``parameters()`` is [W] and ``self.b`` is None.
    init : {"he", "uniform", "identity"}
        With fan_in = kh kw c_in: "he", N(0, 2 / fan_in), for the ReLU units that
        follow; "uniform", U(-1 / sqrt(fan_in), 1 / sqrt(fan_in)), PyTorch's default;
        "identity", "uniform" and then, as ``torch.nn.init.dirac_`` on the first
        min(c_in, c_out) output channels, W[:, :, :, o] = 0 but W[kh // 2, kw // 2, o, o]
        = 1: at first, output channel o copies input channel o. It needs odd kernel
        sizes, stride 1 and padding kh // 2 = kw // 2, which keep the size. Kept as
        ``self.init``.
    """

    def __init__(self, c_in, c_out, kernel_size=3, stride=1, padding=0, rng=None,
                 dtype=np.float32, bias=True, init="he"):
        self.c_in, self.c_out = check_int(c_in, "c_in", 1), check_int(c_out, "c_out", 1)
        kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
        self.kernel = (check_int(kh, "kernel_size", 1), check_int(kw, "kernel_size", 1))
        self.stride = check_int(stride, "stride", 1)
        self.padding = check_int(padding, "padding", 0)
        rng = np.random.default_rng(check_seed(rng, "rng"))
        self.init, self.w = init, Parameter(self._initial_weights(init, rng).astype(dtype))
        self.b = (Parameter(np.zeros(c_out, dtype), decay=False)
                  if check_bool(bias, "bias") else None)

    def _initial_weights(self, init, rng):
        """W (kh, kw, c_in, c_out), float64, drawn as ``init`` says."""
        (kh, kw), shape = self.kernel, (*self.kernel, self.c_in, self.c_out)
        fan_in = kh * kw * self.c_in
        if init == "he":
            return rng.normal(0, math.sqrt(2 / fan_in), size=shape)
        if init not in ("uniform", "identity"):
            raise ValueError(f"init must be 'he', 'uniform' or 'identity', got {init!r}")
        w = rng.uniform(-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in), size=shape)
        if init == "identity":
            if kh % 2 == 0 or kw % 2 == 0 or self.stride != 1 or not (
                    self.padding == kh // 2 == kw // 2):
                raise ValueError(f"init='identity' needs odd kernel sizes, stride 1 and "
                                 f"padding kh // 2 = kw // 2, got kernel_size={self.kernel}, "
                                 f"stride={self.stride}, padding={self.padding}")
            n = min(self.c_in, self.c_out)
            w[..., :n] = 0
            w[kh // 2, kw // 2, range(n), range(n)] = 1
        return w

    def __repr__(self):
        return (f"Conv2d({self.c_in}, {self.c_out}, kernel_size={self.kernel}, "
                f"stride={self.stride}, padding={self.padding}"
                f"{'' if self.b is not None else ', bias=False'})")

    def parameters(self):
        return [self.w] if self.b is None else [self.w, self.b]

    def output_shape(self, input_shape):
        """(H, W, c_in) -> (H', W', c_out); a window that does not fit is refused."""
        h, w, c = input_shape
        if c != self.c_in:
            raise ValueError(f"{self!r} expects {self.c_in} input channels, got input "
                             f"shape {tuple(input_shape)}")
        return (_output_size(h, self.kernel[0], self.stride, self.padding, "height", self),
                _output_size(w, self.kernel[1], self.stride, self.padding, "width", self),
                self.c_out)

    def flops(self, input_shape):
        """2 H' W' kh kw c_in c_out: one window-matrix row times W per output position."""
        h_out, w_out, _ = self.output_shape(input_shape)
        return 2 * h_out * w_out * self.w.value.size

    def _pad(self, x):
        p = self.padding
        return np.pad(x, ((0, 0), (p, p), (p, p), (0, 0))) if p else x

    def forward(self, x, training=False):
        """(N, H, W, c_in) -> (N, H', W', c_out); keeps the window matrix for backward."""
        _check_images(x, self.c_in, repr(self))
        h_out, w_out, _ = self.output_shape(x.shape[1:])
        self.padded_shape = (x.shape[0], x.shape[1] + 2 * self.padding,
                             x.shape[2] + 2 * self.padding, self.c_in)
        self.cols = im2col(self._pad(x), self.kernel, self.stride)   # (M, K)
        out = self.cols @ self.w.value.reshape(-1, self.c_out)       # (M, c_out)
        if self.b is not None:
            out += self.b.value
        self.out_shape = (x.shape[0], h_out, w_out, self.c_out)
        return out.reshape(self.out_shape)

    def backward(self, d_out, need_dx=True):
        """Fill dC/dW, dC/db from dC/dout (N, H', W', c_out); return dC/dx or None."""
        rows = d_out.reshape(-1, self.c_out)                         # (M, c_out)
        self.w.grad = (self.cols.T @ rows).reshape(self.w.value.shape)
        if self.b is not None:
            self.b.grad = rows.sum(axis=0)
        self.cols = None                      # the largest array of the layer: free it now
        if not need_dx:
            return None
        d_out = d_out.reshape(self.out_shape)
        # Each route builds one large matrix: the convolution route copies dC/dout's
        # windows, (N H W, kh kw c_out); the other computes dC/dout W^T, (N H' W',
        # kh kw c_in). At stride 1, H' W' ~ H W, so their sizes go as c_out : c_in: for a
        # widening layer (64 -> 256 channels at 15 x 15, batch 256) the convolution route
        # would copy 531 MB, against 133 MB. So it is taken, where it is otherwise the
        # faster, only when c_out <= c_in.
        if self.dx_as_convolution():
            return self._backward_as_convolution(d_out)
        return self._backward_by_col2im(d_out)

    def dx_as_convolution(self):
        """Whether ``backward`` computes dC/dx as a convolution (else by W^T and col2im)."""
        return self.stride == 1 and self.padding < min(self.kernel) and self.c_out <= self.c_in

    def _backward_by_col2im(self, d_out):
        """dC/dx for any stride and padding: d_cols = dC/dout W^T (M, kh kw c_in), each
        window's row added back onto x_pad by ``col2im``, the padding cut off."""
        d_cols = d_out.reshape(-1, self.c_out) @ self.w.value.reshape(-1, self.c_out).T
        dx = col2im(d_cols, self.padded_shape, self.kernel, self.stride)   # (M, K) -> x_pad
        p = self.padding
        return dx[:, p:dx.shape[1] - p, p:dx.shape[2] - p] if p else dx

    def _backward_as_convolution(self, d_out):
        """dC/dx for stride 1: a convolution of dC/dout, padded by k - 1 - p, with the
        kernel turned by 180 degrees and its channel axes swapped.

        dx[n, y, x, c] = sum_{a, b, o} dout_pad[n, y + a, x + b, o] W[k-1-a, k-1-b, c, o]
        (the adjoint of the forward sum). It costs one window copy and one product as
        wide as the forward pass's, half the time measured for the product by W^T
        followed by ``col2im``'s nine strided additions. Needs stride 1 and padding <
        kernel size (a padding of k - 1 - p >= 0); ``backward`` also asks c_out <= c_in.
        """
        (kh, kw), p = self.kernel, self.padding
        padded = np.pad(d_out, ((0, 0), (kh - 1 - p, kh - 1 - p), (kw - 1 - p, kw - 1 - p),
                                (0, 0)))
        turned = self.w.value[::-1, ::-1].transpose(0, 1, 3, 2).reshape(-1, self.c_in)
        dx = im2col(padded, self.kernel, 1) @ turned                # (N H W, c_in)
        return dx.reshape(self.padded_shape[0], self.padded_shape[1] - 2 * p,
                          self.padded_shape[2] - 2 * p, self.c_in)


class MaxPool2d(Layer):
    """Maximum over windows of ``kernel_size`` x ``kernel_size``, moved by ``stride``.

    The gradient goes to the first maximum of each window (row-major order), as a
    framework's argmax would; windows that overlap (stride < kernel_size) add up.
    """

    def __init__(self, kernel_size=2, stride=None):
        self.k = check_int(kernel_size, "kernel_size", 1)
        self.stride = self.k if stride is None else check_int(stride, "stride", 1)

    def __repr__(self):
        return f"MaxPool2d({self.k}, stride={self.stride})"

    def output_shape(self, input_shape):
        h, w, c = input_shape
        return (_output_size(h, self.k, self.stride, 0, "height", self),
                _output_size(w, self.k, self.stride, 0, "width", self), c)

    def _windows(self, x, h_out, w_out):
        """The k*k strided views x[:, a + s i, b + s j, :], one per window offset (a, b)."""
        s = self.stride
        return [(a, b, x[:, a:a + s * h_out:s, b:b + s * w_out:s])
                for a in range(self.k) for b in range(self.k)]

    def forward(self, x, training=False):
        """(N, H, W, C) -> (N, H', W', C)."""
        _check_images(x, None, repr(self))
        h_out, w_out, _ = self.output_shape(x.shape[1:])
        self.x = x
        windows = self._windows(x, h_out, w_out)
        out = windows[0][2].copy()
        for _, _, view in windows[1:]:
            np.maximum(out, view, out=out)
        self.out = out
        return out

    def backward(self, d_out, need_dx=True):
        dx = np.zeros_like(self.x)
        unclaimed = np.ones(d_out.shape, bool)       # windows whose maximum is not yet found
        s, (h_out, w_out) = self.stride, d_out.shape[1:3]
        for a, b, view in self._windows(self.x, h_out, w_out):
            first = view == self.out
            first &= unclaimed
            unclaimed &= ~first
            target = dx[:, a:a + s * h_out:s, b:b + s * w_out:s]
            # g * 1[first maximum]: a product by the mask, several times faster than
            # np.where or np.copyto(where=); windows apart need no sum.
            if s >= self.k:
                np.multiply(d_out, first, out=target)
            else:
                target += d_out * first
        dx += 0                                       # -g * 0 gives -0: make it 0
        self.x = self.out = None
        return dx


class GlobalMaxPool(Layer):
    """(N, H, W, C) -> (N, C): each channel's maximum over all positions.

    The gradient goes to the first maximum of each (n, c), row-major over (H, W), as in
    ``MaxPool2d``. Only the argmax (N, C) is kept for backward, not the input.
    """

    def __repr__(self):
        return "GlobalMaxPool()"

    def output_shape(self, input_shape):
        """(H, W, C) -> (C,); anything but an image shape is refused."""
        if len(input_shape) != 3:
            raise ValueError(f"{self!r} expects images of shape (H, W, C), got input shape "
                             f"{tuple(input_shape)}")
        return tuple(input_shape[2:])

    def forward(self, x, training=False):
        """out[n, c] = max_{i, j} x[n, i, j, c]; keeps the first argmax over i W + j."""
        _check_images(x, None, repr(self))
        self.shape = x.shape
        flat = x.reshape(len(x), -1, x.shape[3])                      # (N, H W, C)
        self.argmax = flat.argmax(axis=1)                             # first maximum
        return np.take_along_axis(flat, self.argmax[:, None], axis=1)[:, 0]

    def backward(self, d_out, need_dx=True):
        """dC/dx: dC/dout[n, c] at the first maximum of (n, c), 0 elsewhere."""
        n, h, w, c = self.shape
        dx = np.zeros((n, h * w, c), d_out.dtype)
        np.put_along_axis(dx, self.argmax[:, None], d_out[:, None], axis=1)
        self.argmax = None
        return dx.reshape(self.shape)


class Flatten(Layer):
    """(N, H, W, C) -> (N, H W C), so that a ``Dense`` layer can follow."""

    def __repr__(self):
        return "Flatten()"

    def output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, x, training=False):
        self.shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, d_out, need_dx=True):
        return d_out.reshape(self.shape)
