"""Convolution, max pooling (windowed and global) and flattening layers for images,
channels last.

Images are arrays of shape (N, H, W, C), float32, C innermost ("channels last"). That
layout was chosen by measurement: a convolution becomes one matrix product of an
(N H' W', kh kw C) window matrix by a (kh kw C, C_out) weight matrix, the product's
result (N H' W', C_out) *is* the output (N, H', W', C_out) without a transpose, and
the window matrix is one copy of a strided view whose innermost run is kw C contiguous
floats. Measured on conv4's second layer (batch 128, 32 x 32 x 32, 2 cores): that copy
took 31 ms, where the same windows in (C, kh, kw) order (what channels first gives)
took 80-90 ms, and a loop copying one kernel offset at a time 100 ms.

A 3 x 3 convolution of stride 1 with enough channels and outputs takes another route
(``Conv2d``'s ``algorithm``): Winograd's F(4 x 4, 3 x 3), ``imagelab.nn.winograd``, which
needs a quarter of the multiplications, in 36 products of transformed 6 x 6 tiles.

A convolution works a chunk of images at a time, on the threads of
``imagelab.utils.parallel``: each chunk's window matrix is copied into the cache and
multiplied there, and is made again in the backward pass from the kept (padded) input
rather than kept itself, which would take nine times the input's memory.

Each layer has ``forward(x, training)``, ``backward(d_out, need_dx)`` and
``output_shape(input_shape)`` (shapes without the batch axis), like ``imagelab.nn.layers``.
"""
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from imagelab.utils import parallel
from imagelab.utils.checks import check_bool, check_int, check_seed
from imagelab.nn import winograd
from imagelab.nn.layers import Layer, Parameter

# A convolution copies its window matrix a chunk of images at a time: about this many
# bytes, which stay in the cache from their copy to their product (and are never
# written out to memory), but at least this many rows, over which the product spreads
# the cost of packing W. Chosen by timing each layer of conv4 and of the recipe for
# sizes from 1 to 8 MB and 0 to 4,096 rows.
CHUNK_BYTES, MIN_CHUNK_ROWS = 2 << 20, 1024
# A window matrix of at most this many bytes in all is kept from the forward pass for
# the backward pass, not copied again: the first layers' (a few input channels), whose
# copies cost as much as their products, and which take little memory.
KEEP_WINDOWS_BYTES = 32 << 20
# A window's row of kw C values of at most this many bytes is copied as one element of a
# void dtype: NumPy's copy loop then runs along the output positions, not along the few
# values of a row, whose per-call cost dominates. Measured: 1.4 to 2 times faster for
# runs of 12 to 36 bytes (C = 1 to 3 in float32, kw = 2 to 5), even at 72, slower from
# 96 bytes up, where the values' own loop is long enough.
MAX_VOID_RUN_BYTES = 64
# Winograd's transformed input tiles V (2.25 times the input) are kept from the forward
# pass for the backward pass when they take at most this many bytes in all (every
# 3 x 3 layer of conv4 and the recipe: 9 to 57 MB each), sparing one of the six tile
# transforms of a step; else the padded input is kept and V made again.
KEEP_TILES_BYTES = 64 << 20
# A 3 x 3 convolution of stride 1 runs by Winograd's F(4 x 4, 3 x 3) (``algorithm=
# "auto"``) when its 4 x 4 tiles cover at most this many times its outputs, and it has
# at least this many input channels. Measured (forward + backward, 2 threads) on the
# recipe's layers: 1.6 times faster than by window matrix at 7 x 7 outputs (8 x 8
# covered, 1.31 times), no faster at 3 x 3 (4 x 4 covered, 1.78 times); 1.1 to 1.7
# times faster from 24 input channels up, 2.5 times slower with 3.
MAX_TILE_COVER, MIN_WINOGRAD_CHANNELS = 4 / 3, 16
# Winograd's transformed tiles are made a chunk of images at a time, of about this many
# bytes, but at least this many tiles (rows of its 36 products). Chosen by timing the
# forward and backward passes of the recipe's 3 x 3 layers for 256 KB to 4 MB and 32
# to 512 tiles: at 7 x 7 outputs, 256 tiles (64 images) took 7% less time than 128, and
# no layer took longer.
TILE_CHUNK_BYTES, MIN_CHUNK_TILES = 2 << 20, 256
ALGORITHMS = ("auto", "im2col", "winograd")


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


def im2col(x, kernel, stride, ones=False):
    """Window matrix of already padded images: one row per output position.

    Parameters
    ----------
    x : np.ndarray, shape (N, H, W, C)
    kernel : (kh, kw), stride : int
    ones : bool
        Whether each row ends with a 1 (then cols @ [W; b] adds the bias b).

    Returns
    -------
    cols : np.ndarray, shape (N * H' * W', kh * kw * C (+ 1)), dtype of ``x``
        Row (n, i, j) holds the window x[n, s i : s i + kh, s j : s j + kw, :], in
        (kh, kw, C) order; H' = (H - kh) // s + 1, likewise W'.
    """
    x = np.ascontiguousarray(x)
    n, h, w, c = x.shape
    (kh, kw), s = kernel, stride
    h_out, w_out = (h - kh) // s + 1, (w - kw) // s + 1
    cols = np.empty((n, h_out, w_out, kh * kw * c + ones), x.dtype)
    if ones:
        cols[..., -1] = 1
    # Row a of window (n, i, j), x[n, s i + a, s j : s j + kw, :], is a run of kw C
    # contiguous values: copied from this (N, H', W', kh, kw C) view, the window matrix
    # is written in runs of kw C values, not of C (measured a quarter faster). The views
    # only reach x's and cols' own elements (NumPy checks it).
    sn, sh, sw, _ = x.strides
    shape, strides = (n, h_out, w_out, kh), (sn, s * sh, s * sw, sh)
    run = kw * c * x.itemsize
    if run <= MAX_VOID_RUN_BYTES:
        run_type = np.dtype((np.void, run))                 # a run as one element
        windows = np.ndarray(shape, run_type, x, 0, strides)
        rows = np.ndarray(shape, run_type, cols, 0, (*cols.strides[:3], run))
        for a in range(kh):                  # the copy loops over (n, i, j), not a
            np.copyto(rows[..., a], windows[..., a])
    else:
        windows = as_strided(x, (*shape, kw * c), (*strides, x.itemsize), writeable=False)
        np.copyto(cols[..., :kh * kw * c].reshape(windows.shape), windows)  # last axis split
    return cols.reshape(n * h_out * w_out, -1)


def _transposed_product(cols, grads):
    """cols^T dC/dout, (K, c_out), for the window matrix cols (n H' W', K) of n images
    and their dC/dout (n, H', W', c_out).

    A product with at most ``parallel.GIL_RELEASE_SIZE`` outputs (K c_out, such as the
    whitening layer's 13 x 24) would hold the GIL throughout, and the two threads'
    products would run one after the other: it is taken as a stack of products, one per
    image, whose n K c_out outputs release the GIL, and summed.
    """
    n, c_out = len(grads), grads.shape[-1]
    rows = grads.reshape(-1, c_out)                                       # (n H' W', c_out)
    if cols.shape[1] * c_out > parallel.GIL_RELEASE_SIZE:
        return np.matmul(cols.T, rows)
    stacked = cols.reshape(n, -1, cols.shape[1]).transpose(0, 2, 1)       # (n, K, H' W')
    return np.matmul(stacked, rows.reshape(n, -1, c_out)).sum(axis=0)


def col2im(cols, shape, kernel, stride, padding=0):
    """Adjoint of ``im2col`` (of images padded by ``padding``): add each window's row
    back onto the image, dropping what falls on the padding.

    Parameters
    ----------
    cols : np.ndarray, shape (N * H' * W', kh * kw * C)
        H' = (H + 2 padding - kh) // stride + 1, likewise W'.
    shape : (N, H, W, C), the images' shape, unpadded
    padding : int >= 0

    Returns
    -------
    np.ndarray, shape ``shape``, dtype of ``cols``: x[n, y, x, c] sums the entries of
    every window that covers padded position (y + padding, x + padding). One strided
    slice added per kernel offset (a, b): no ``np.add.at``, whose scattered adds are an
    order of magnitude slower.
    """
    n, h, w, c = shape
    (kh, kw), p = kernel, padding
    h_out, w_out = (h + 2 * p - kh) // stride + 1, (w + 2 * p - kw) // stride + 1
    cols = cols.reshape(n, h_out, w_out, kh, kw, c)
    x = np.zeros(shape, cols.dtype)
    for a in range(kh):
        rows, ys = _covered(h, h_out, a - p, stride)
        for b in range(kw):
            columns, xs = _covered(w, w_out, b - p, stride)
            x[:, ys, xs] += cols[:, rows, columns, a, b]
    return x


def _covered(size, out_size, shift, stride):
    """The output positions i whose window offset lands inside the image, 0 <= s i +
    shift < size, and those image positions: (slice of i, slice of s i + shift)."""
    first = max(0, -(shift // stride))                            # ceil(-shift / s), >= 0
    last = max(first, min(out_size, (size - 1 - shift) // stride + 1))
    start = stride * first + shift
    return slice(first, last), slice(start, start + stride * (last - first), stride)


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
    algorithm : {"auto", "im2col", "winograd"}
        How the products are formed: "im2col", one product by a window matrix (any
        kernel, stride, padding); "winograd", Winograd's F(4 x 4, 3 x 3) (3 x 3 kernels,
        stride 1, padding <= 2; ``imagelab.nn.winograd``), 2.25 multiplications an
        output instead of 9, with a float32 rounding error about ten times larger
        (bounded in ``tests/test_winograd.py``); "auto", Winograd where it applies, its
        tiles cover at most ``MAX_TILE_COVER`` times the outputs and it has at least
        ``MIN_WINOGRAD_CHANNELS`` input channels, else im2col. Kept as
        ``self.algorithm``.
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
                 dtype=np.float32, bias=True, init="he", algorithm="auto"):
        self.c_in, self.c_out = check_int(c_in, "c_in", 1), check_int(c_out, "c_out", 1)
        kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
        self.kernel = (check_int(kh, "kernel_size", 1), check_int(kw, "kernel_size", 1))
        self.stride = check_int(stride, "stride", 1)
        self.padding = check_int(padding, "padding", 0)
        rng = np.random.default_rng(check_seed(rng, "rng"))
        self.init, self.w = init, Parameter(self._initial_weights(init, rng).astype(dtype))
        self.b = (Parameter(np.zeros(c_out, dtype), decay=False)
                  if check_bool(bias, "bias") else None)
        self.algorithm = self._check_algorithm(algorithm)

    def _check_algorithm(self, algorithm):
        """``algorithm``, refused if unknown, or "winograd" where it does not apply."""
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
        if algorithm == "winograd" and not self._winograd_applies():
            raise ValueError(f"algorithm='winograd' needs a 3 x 3 kernel, stride 1 and "
                             f"padding <= 2, got kernel_size={self.kernel}, "
                             f"stride={self.stride}, padding={self.padding}")
        return algorithm

    def _winograd_applies(self):
        """Whether the layer's shape suits F(4 x 4, 3 x 3): 3 x 3, stride 1, padding <= 2."""
        return self.kernel == (3, 3) and self.stride == 1 and self.padding <= 2

    def uses_winograd(self, input_shape):
        """Whether ``forward`` on images of ``input_shape`` (H, W, c_in) takes Winograd's
        route (see ``algorithm``)."""
        if self.algorithm != "auto":
            return self.algorithm == "winograd"
        h_out, w_out, _ = self.output_shape(input_shape)
        covered = (winograd.TILE * winograd.tiles(h_out)) * (winograd.TILE * winograd.tiles(w_out))
        return (self._winograd_applies() and self.c_in >= MIN_WINOGRAD_CHANNELS
                and covered <= MAX_TILE_COVER * h_out * w_out)

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

    def _chunks(self, n, positions, dtype):
        """Slices of range(n) images, each of about ``CHUNK_BYTES`` of window matrix
        (``positions`` rows of kh kw c_in values per image), ``MIN_CHUNK_ROWS`` rows at
        least."""
        image_bytes = positions * self.w.value[..., 0].size * np.dtype(dtype).itemsize
        return parallel.chunks(slice(0, n), image_bytes, -(-MIN_CHUNK_ROWS // positions),
                               CHUNK_BYTES)

    def _windows(self, padded):
        """``im2col`` of padded images, with a column of ones if the layer has a bias."""
        return im2col(padded, self.kernel, self.stride, ones=self.b is not None)

    def _weights_and_bias(self):
        """W as a matrix (K, c_out), and below it the bias b, if any: (K + 1, c_out).
        The window matrix's column of ones then adds b in the product, and the product
        of its transpose by dC/dout gives dC/db with dC/dW (no pass of their own)."""
        weights = self.w.value.reshape(-1, self.c_out)
        return weights if self.b is None else np.vstack([weights, self.b.value[None]])

    def forward(self, x, training=False):
        """(N, H, W, c_in) -> (N, H', W', c_out); keeps what ``backward`` needs as
        ``self.saved``, per chunk of images: by im2col, the window matrix if all of them
        take at most ``KEEP_WINDOWS_BYTES``, else the padded input; by Winograd, the
        transformed tiles if they take at most ``KEEP_TILES_BYTES``, else the input padded
        to whole tiles.

        The threads of ``imagelab.utils.parallel`` take the chunks of images in turn. By
        im2col, the chunk's window matrix (M_chunk, kh kw c_in), copied into the cache,
        times W (kh kw c_in, c_out) gives its rows of the output; by Winograd, its tiles'
        transforms V (36, tiles, c_in) times U (36, c_in, c_out).
        """
        _check_images(x, self.c_in, repr(self))
        h_out, w_out, _ = self.output_shape(x.shape[1:])
        out = np.empty((len(x), h_out, w_out, self.c_out), np.result_type(x, self.w.value))
        self.winograd = self.uses_winograd(x.shape[1:])
        chunk, chunks = (self._winograd_forward if self.winograd else self._im2col_forward)(x, out)
        self.pass_size = out.size * math.prod(self.kernel)
        self.saved = parallel.map_in_turn(chunk, chunks, self.pass_size)  # for backward
        self.input_shape = x.shape
        return out

    def _im2col_forward(self, x, out):
        """The forward pass by window matrices: a function of a chunk of the batch (a
        slice) that fills its rows of ``out`` and returns (the chunk, its window matrix or
        its padded input), and the chunks."""
        weights = self._weights_and_bias()                            # (K (+ 1), c_out)
        self.keep_windows = (out.size // self.c_out * weights.nbytes // self.c_out
                             <= KEEP_WINDOWS_BYTES)

        def chunk(images):
            padded = self._pad(x[images])
            cols = self._windows(padded)
            np.matmul(cols, weights, out=out[images].reshape(-1, self.c_out))
            return images, cols if self.keep_windows else padded
        return chunk, self._chunks(len(x), out[0, ..., 0].size, x.dtype)

    def _tile_chunks(self, n, tiles_per_image, dtype):
        """Slices of range(n) images, each of about ``TILE_CHUNK_BYTES`` of transformed
        tiles (36 tiles_per_image rows of max(c_in, c_out) values per image, the larger
        of V and M), ``MIN_CHUNK_TILES`` tiles at least."""
        image_bytes = (winograd.TAPS ** 2 * tiles_per_image * max(self.c_in, self.c_out)
                       * np.dtype(dtype).itemsize)
        return parallel.chunks(slice(0, n), image_bytes, -(-MIN_CHUNK_TILES // tiles_per_image),
                               TILE_CHUNK_BYTES)

    def _winograd_forward(self, x, out):
        """The forward pass by Winograd's F(4 x 4, 3 x 3): a function of a chunk of the
        batch (a slice) that fills its rows of ``out`` and returns (the chunk, its
        transformed tiles V if ``KEEP_TILES_BYTES`` allows, else its input padded to whole
        tiles), and the chunks."""
        t_h, t_w = winograd.tiles(out.shape[1]), winograd.tiles(out.shape[2])
        w = self.w.value
        u = self.u = self._by_input_channels(                        # (36, c_in, c_out)
            lambda c: winograd.transform_weights(w[:, :, c]), (winograd.TAPS ** 2, *w.shape[2:]))
        self.keep_tiles = (winograd.TAPS ** 2 * len(x) * t_h * t_w * self.c_in * x.itemsize
                           <= KEEP_TILES_BYTES)

        def chunk(images):
            padded = winograd.pad_to_tiles(x[images], self.padding, t_h, t_w)
            v = winograd.transform_input(padded, t_h, t_w)            # (36, tiles, c_in)
            winograd.transform_output(np.matmul(v, u), len(padded), t_h, t_w, out[images])
            if self.b is not None:
                out[images] += self.b.value
            return images, v if self.keep_tiles else padded
        return chunk, self._tile_chunks(len(x), t_h * t_w, x.dtype)

    def backward(self, d_out, need_dx=True):
        """Fill dC/dW, dC/db from dC/dout (N, H', W', c_out); return dC/dx or None.

        The threads take the forward pass's chunks in turn, by its route. By im2col: the
        chunk's window matrix, kept or copied again from its padded input, gives its
        share of dC/dW = cols^T dC/dout (the shares summed in the chunks' order; with a
        bias, the column of ones gives dC/db in the same product); and its images'
        dC/dx. By Winograd, see ``_winograd_backward``.
        """
        dx = (np.empty(self.input_shape, np.result_type(d_out, self.w.value)) if need_dx
              else None)
        (self._winograd_backward if self.winograd else self._im2col_backward)(d_out, dx)
        self.saved = None
        return dx

    def _im2col_backward(self, d_out, dx):
        """Gradients by im2col's route (see ``backward``), dC/dx into ``dx`` unless None."""
        def chunk(saved):
            images, kept = saved
            cols = kept if self.keep_windows else self._windows(kept)  # (M_chunk, K (+ 1))
            if dx is not None:
                self._input_gradient(d_out[images], dx[images])
            return _transposed_product(cols, d_out[images])

        d_wb = sum(parallel.map_in_turn(chunk, self.saved, self.pass_size))  # (K (+ 1), c_out)
        self.w.grad = d_wb[:self.w.value[..., 0].size].reshape(self.w.value.shape)
        if self.b is not None:
            self.b.grad = d_wb[-1]

    def _winograd_backward(self, d_out, dx):
        """Gradients by Winograd's route. M = V U, so dC/dU = V^T dC/dM and dC/dV =
        dC/dM U^T (36 products each, dC/dU summed in the chunks' order), with dC/dM =
        A dC/dY A^T for each tile (``winograd.output_gradient``); dC/dW = G^T dC/dU G,
        and dC/dx = the adjoint of the input's transform applied to dC/dV
        (``winograd.input_gradient``)."""
        t_h, t_w = winograd.tiles(d_out.shape[1]), winograd.tiles(d_out.shape[2])
        u_t = self.u.transpose(0, 2, 1)            # U of the forward pass, (36, c_out, c_in)

        def chunk(saved):
            images, kept = saved
            grads = d_out[images]
            v = kept if self.keep_tiles else winograd.transform_input(kept, t_h, t_w)
            d_m = winograd.output_gradient(grads, t_h, t_w)        # (36, tiles, c_out)
            if dx is not None:
                winograd.input_gradient(np.matmul(d_m, u_t), t_h, t_w, self.padding,
                                        dx[images])
            return (np.matmul(v.transpose(0, 2, 1), d_m),
                    grads.sum(axis=(0, 1, 2)) if self.b is not None else 0)

        sums = parallel.map_in_turn(chunk, self.saved, self.pass_size)
        self.w.grad = self._by_input_channels(lambda c: winograd.weight_gradient(
            sum(d_u[:, c] for d_u, _ in sums)), self.w.value.shape)   # in the chunks' order
        if self.b is not None:
            self.b.grad = sum(d_b for _, d_b in sums)
        self.u = None

    def _by_input_channels(self, transform, shape):
        """An array of ``shape`` (..., c_in, c_out) in the weights' dtype, its slice
        [..., c, :] = ``transform(c)`` for slices c of the input channels, the threads
        each taking one: the weights' transforms work on c_in c_out kernels (65,536 for
        256 -> 256 channels, some 5 ms on one core), which would leave the other idle."""
        out = np.empty(shape, self.w.value.dtype)

        def piece(c):
            out[..., c, :] = transform(c)

        size = winograd.TAPS ** 2 * self.c_in * self.c_out
        parallel.map_in_turn(piece, parallel.batch_parts(self.c_in, size), size)
        return out

    def _input_gradient(self, d_out, dx):
        """Write dC/dx of images whose dC/dout (n, H', W', c_out) is ``d_out`` into ``dx``.

        Each route builds one matrix per chunk: the convolution route copies dC/dout's
        windows, (n H W, kh kw c_out); the other computes dC/dout W^T, (n H' W',
        kh kw c_in). At stride 1, H' W' ~ H W, so their sizes go as c_out : c_in: the
        convolution route, otherwise the faster, is taken only when c_out <= c_in,
        where its matrix is no larger.
        """
        if self.dx_as_convolution():
            self._backward_as_convolution(d_out, dx)
        else:
            self._backward_by_col2im(d_out, dx)

    def dx_as_convolution(self):
        """Whether ``backward`` computes dC/dx as a convolution (else by W^T and col2im)."""
        return self.stride == 1 and self.padding < min(self.kernel) and self.c_out <= self.c_in

    def _backward_by_col2im(self, d_out, dx):
        """dC/dx for any stride and padding, into ``dx``: d_cols = dC/dout W^T
        (m, kh kw c_in), each window's row added back onto x by ``col2im``."""
        d_cols = np.matmul(d_out.reshape(-1, self.c_out), self.w.value.reshape(-1, self.c_out).T)
        dx[...] = col2im(d_cols, dx.shape, self.kernel, self.stride, self.padding)

    def _backward_as_convolution(self, d_out, dx):
        """dC/dx for stride 1, into ``dx``: a convolution of dC/dout, padded by k - 1 - p,
        with the kernel turned by 180 degrees and its channel axes swapped.

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
        np.matmul(im2col(padded, self.kernel, 1), turned, out=dx.reshape(-1, self.c_in))


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
        """(N, H, W, C) -> (N, H', W', C); each thread of ``imagelab.utils.parallel``
        takes a chunk of images at a time."""
        _check_images(x, None, repr(self))
        h_out, w_out, c = self.output_shape(x.shape[1:])
        out = np.empty((len(x), h_out, w_out, c), x.dtype)

        def part(images):
            windows = self._windows(x[images], h_out, w_out)
            np.copyto(out[images], windows[0][2])
            for _, _, view in windows[1:]:
                np.maximum(out[images], view, out=out[images])

        parallel.map_chunks(part, x)
        self.x, self.out = x, out
        return out

    def backward(self, d_out, need_dx=True):
        dx = np.empty_like(self.x)
        parallel.map_chunks(lambda images: self._backward(self.x[images], self.out[images],
                                                          d_out[images], dx[images]), dx)
        self.x = self.out = None
        return dx

    def _backward(self, x, out, d_out, dx):
        """Write into ``dx`` the gradient of images ``x`` whose pooled values are ``out``."""
        s, (h_out, w_out) = self.stride, d_out.shape[1:3]
        if (s, s * h_out, s * w_out) != (self.k, *x.shape[1:3]):
            dx[...] = 0                               # windows overlap or leave gaps
        for i, (a, b, view) in enumerate(self._windows(x, h_out, w_out)):
            equal = view == out
            # The window's first maximum: equal here and not at an earlier offset
            # (for booleans, p > q is p and not q); ``claimed`` marks the windows whose
            # maximum is found.
            if i == 0:
                first = claimed = equal
            else:
                first = np.greater(equal, claimed)
                claimed |= equal
            target = dx[:, a:a + s * h_out:s, b:b + s * w_out:s]
            # g * 1[first maximum]: a product by the mask, several times faster than
            # np.where or np.copyto(where=); windows apart need no sum.
            if s >= self.k:
                np.multiply(d_out, first, out=target)
            else:
                target += d_out * first
        dx += 0                                       # -g * 0 gives -0: make it 0


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
