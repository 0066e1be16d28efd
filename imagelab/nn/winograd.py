"""Winograd's minimal filtering F(4 x 4, 3 x 3): a 3 x 3 convolution in 4 x 4 tiles.

A 3 x 3 convolution of stride 1 computes each 4 x 4 block of outputs from a 6 x 6 tile
of input d (tiles overlap by 2) in 16 * 9 = 144 multiplications per channel pair. Lavin
and Gray (2016, "Fast algorithms for convolutional neural networks") write the block as

    Y = A^T [ (G g G^T) * (B^T d B) ] A          (* : element by element)

with the constant matrices below: B^T d B (6 x 6) and G g G^T (6 x 6) are linear
transforms of the tile and of the 3 x 3 kernel g, and the 36 element-wise products,
summed over input channels, are 36 matrix products

    M[xi] = V[xi] @ U[xi],   V[xi] (tiles, c_in),  U[xi] (c_in, c_out),  xi < 36,

36 multiplications per channel pair for 16 outputs: 2.25 an output instead of 9. Each
transform of tiles, L X L^T for a small matrix L, is two matrix products on the tiles'
values copied into rows (``_both_sides``): L along each tile's rows, then along its
columns, 2 x 6 = 12 multiply-adds per value for B^T where the one product by the
Kronecker matrix B^T (x) B^T (36 x 36) takes 36. Measured on conv4's and the recipe's
layers (forward + backward, 2 threads, in one process alternated): 10% faster in all
under OpenBLAS's SkylakeX kernel (20% on conv4's three), the same within 1-2% under
Haswell and Zen. (Written as a dozen passes of additions over strided slices, the
transforms took the same time on one core, but two threads were hardly faster than
one: products run side by side.)

Images are channels last, (N, H, W, C), as in ``imagelab.nn.conv``.

The rounding error is larger than a direct sum's: the transforms' coefficients reach 5
and 8 (and 1/6, 1/24 in G), so the terms summed reach a few times |g| |d| before they
cancel. ``tests/test_winograd.py`` bounds it, forward and dC/dx, by the same algorithm
run on |B^T|, |G|, |A^T| and the absolute values.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

TILE, KERNEL = 4, 3                      # F(4 x 4, 3 x 3): 4 x 4 outputs a 6 x 6 tile
TAPS = TILE + KERNEL - 1                 # 6

# Interpolation points 0, 1, -1, 2, -2 and infinity.
BT = np.array([[4, 0, -5, 0, 1, 0],
               [0, -4, -4, 1, 1, 0],
               [0, 4, -4, -1, 1, 0],
               [0, -2, -1, 2, 1, 0],
               [0, 2, -1, -2, 1, 0],
               [0, 4, 0, -5, 0, 1]], float)                  # (6, 6), input transform
G = np.array([[1 / 4, 0, 0],
              [-1 / 6, -1 / 6, -1 / 6],
              [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6],
              [1 / 24, -1 / 12, 1 / 6],
              [0, 0, 1]])                                    # (6, 3), kernel transform
AT = np.array([[1, 1, 1, 1, 1, 0],
               [0, 1, -1, 2, -2, 0],
               [0, 1, 1, 4, 4, 0],
               [0, 1, -1, 8, -8, 1]], float)                 # (4, 6), output transform
# G g G^T of a whole 3 x 3 kernel, its values in row-major order, is (G (x) G) g: the
# weights' transforms (a few thousand kernels) as one product.
G2 = np.kron(G, G)                                               # (36, 9)


def tiles(size):
    """Tiles T along an axis of ``size`` outputs: ceil(size / 4)."""
    return -(-size // TILE)


def pad_to_tiles(x, padding, t_h, t_w):
    """Images zero-padded by ``padding`` at the top and left, and at the bottom and
    right up to 4 T + 2: (n, H, W, c) -> (n, 4 t_h + 2, 4 t_w + 2, c), a new array.
    Needs H + 2 padding <= 4 t_h + 2, as when t_h = ``tiles`` of the H + 2 padding - 2
    outputs (likewise W)."""
    n, h, w, c = x.shape
    padded = np.zeros((n, TILE * t_h + 2, TILE * t_w + 2, c), x.dtype)
    padded[:, padding:padding + h, padding:padding + w] = x
    return padded


def transform_weights(w):
    """U = G g G^T of each kernel g = w[:, :, c, o].

    Parameters
    ----------
    w : np.ndarray, shape (3, 3, c_in, c_out)

    Returns
    -------
    np.ndarray, shape (36, c_in, c_out), dtype of ``w``: U[6 i + j] = (G g G^T)[i, j],
    computed in float64.
    """
    u = G2 @ w.reshape(KERNEL * KERNEL, -1).astype(np.float64)            # (36, c k)
    return u.astype(w.dtype).reshape(TAPS * TAPS, *w.shape[2:])


def weight_gradient(d_u):
    """dC/dw from dC/dU, the adjoint of ``transform_weights``: (36, c_in, c_out) ->
    (3, 3, c_in, c_out), dtype of ``d_u``: dC/dg = G^T dC/dU G."""
    d_w = G2.T @ d_u.reshape(TAPS * TAPS, -1).astype(np.float64)          # (9, c k)
    return d_w.astype(d_u.dtype).reshape(KERNEL, KERNEL, *d_u.shape[1:])


def transform_input(padded, t_h, t_w):
    """V = B^T d B of every 6 x 6 tile d of padded images.

    Parameters
    ----------
    padded : np.ndarray, shape (n, 4 t_h + 2, 4 t_w + 2, c)
        Tile (i, j) is padded[:, 4 i : 4 i + 6, 4 j : 4 j + 6].

    Returns
    -------
    np.ndarray, shape (36, n t_h t_w, c), dtype of ``padded``: V[6 a + b] holds entry
    (a, b) of every tile's transform, tiles in (n, i, j) order. The tiles' 36 values
    are copied into rows (one pass over 2.25 times the input, as im2col's copy is over
    9 times), then transformed by two products with B^T (``_both_sides``).
    """
    n, _, _, c = padded.shape
    sn, sh, sw, sc = padded.strides
    view = as_strided(padded, (TAPS, TAPS, n, t_h, t_w, c),
                      (sh, sw, sn, TILE * sh, TILE * sw, sc), writeable=False)
    d = np.empty((TAPS, TAPS, n * t_h * t_w * c), padded.dtype)         # (6, 6, tiles c)
    np.copyto(d.reshape(view.shape), view)
    return _both_sides(BT, d).reshape(TAPS * TAPS, -1, c)


def transform_output(m, n, t_h, t_w, out):
    """Y = A^T M A of every tile, cropped into ``out``.

    Parameters
    ----------
    m : np.ndarray, shape (36, n t_h t_w, c_out)
        As ``transform_input`` orders them.
    out : np.ndarray, shape (n, H, W, c_out), H <= 4 t_h, W <= 4 t_w
        Written: out[:, 4 i + a, 4 j + b] = Y of tile (i, j) at (a, b).
    """
    k = m.shape[-1]
    y = _both_sides(AT, m.reshape(TAPS, TAPS, -1)).reshape(TILE, TILE, n, t_h, t_w, k)
    h, w = out.shape[1:3]
    whole = out if (h, w) == (TILE * t_h, TILE * t_w) else np.empty(
        (n, TILE * t_h, TILE * t_w, k), out.dtype)                    # the last tiles cropped
    np.copyto(_tile_order(whole.reshape(n, t_h, TILE, t_w, TILE, k)), y)
    if whole is not out:
        out[...] = whole[:, :h, :w]


def output_gradient(d_out, t_h, t_w):
    """dC/dM from dC/dY, the adjoint of ``transform_output``: A dY A^T of each 4 x 4
    block of d_out (n, H, W, c_out), zero beyond H, W -> (36, n t_h t_w, c_out)."""
    n, h, w, k = d_out.shape
    if (h, w) != (TILE * t_h, TILE * t_w):
        whole = np.zeros((n, TILE * t_h, TILE * t_w, k), d_out.dtype)
        whole[:, :h, :w] = d_out
        d_out = whole
    blocks = np.empty((TILE, TILE, n, t_h, t_w, k), d_out.dtype)        # (16, tiles k)
    np.copyto(blocks, _tile_order(d_out.reshape(n, t_h, TILE, t_w, TILE, k)))
    return _both_sides(AT.T, blocks.reshape(TILE, TILE, -1)).reshape(TAPS * TAPS, -1, k)


def input_gradient(d_v, t_h, t_w, padding, dx):
    """dC/dx from dC/dV, the adjoint of ``pad_to_tiles`` then ``transform_input``.

    Each tile's dC/dd = B dC/dV B^T (``_both_sides``), and the 6 x 6 tiles, 4 apart,
    are added back onto the padded images: their
    first 4 x 4 values are copied (no two tiles share them), their last two rows and
    columns added onto the next tiles' first ones. The padding is then cropped.

    Parameters
    ----------
    d_v : np.ndarray, shape (36, n t_h t_w, c)
        As ``transform_input`` orders V.
    padding : int
        The padding at the top and left that ``pad_to_tiles`` added.
    dx : np.ndarray, shape (n, H, W, c), H + padding <= 4 t_h + 4 (likewise W)
        Written: dC/dx.
    """
    n, c = len(dx), d_v.shape[-1]
    d_tiles = _both_sides(BT.T, d_v.reshape(TAPS, TAPS, -1)).reshape(
        TAPS, TAPS, n, t_h, t_w, c)                                   # (6, 6, n, t_h, t_w, c)
    # The padded images as blocks of 4 x 4, one more block down and right for the
    # last tiles' last two rows and columns: blocks[:, i, a, j, b] = row 4 i + a, column 4 j + b.
    blocks = np.empty((n, t_h + 1, TILE, t_w + 1, TILE, c), d_v.dtype)
    blocks[:, t_h] = 0
    blocks[:, :t_h, :, t_w] = 0
    head, tail = slice(0, TILE), slice(TILE, TAPS)              # a tile's rows 0-3 and 4-5
    np.copyto(_tile_order(blocks[:, :t_h, :, :t_w]), d_tiles[head, head])
    _tile_order(blocks[:, 1:, :2, :t_w])[...] += d_tiles[tail, head]
    _tile_order(blocks[:, :t_h, :, 1:, :2])[...] += d_tiles[head, tail]
    _tile_order(blocks[:, 1:, :2, 1:, :2])[...] += d_tiles[tail, tail]
    h, w = dx.shape[1:3]
    padded = blocks.reshape(n, TILE * (t_h + 1), TILE * (t_w + 1), c)
    np.copyto(dx, padded[:, padding:padding + h, padding:padding + w])


def _both_sides(matrix, values):
    """L X L^T for every column of ``values``: (k, k, m) -> (l, l, m), L = ``matrix``
    (l, k), in the dtype of ``values``.

    Two products by L: along each X's rows (``np.matmul`` of L by each of the k slices
    (k, m): the k rows of every X at once), then along its columns (one product by the
    (k, l m) result):  out[a, b] = sum_i L[a, i] sum_j L[b, j] X[i, j].
    """
    left = matrix.astype(values.dtype)
    k, l = values.shape[0], left.shape[0]
    rows = np.matmul(left, values)                                     # (k, l, m)
    return (left @ rows.reshape(k, -1)).reshape(l, l, -1)


def _tile_order(blocks):
    """A view (a, b, n, i, j, c) of ``blocks`` (n, i, a, j, b, c), as tiles are ordered."""
    return blocks.transpose(2, 4, 0, 1, 3, 5)
