"""Tests of imagelab.nn.winograd: its constants make F(4, 3), their Kronecker products
transform whole tiles, each transform takes its tiles in order, each adjoint is the
transpose of its transform, and a float32 convolution by Winograd, and its dC/dx, stay
within the rounding bounds derived below. The layer's use of it (forward and gradients
against a loop, finite differences and PyTorch) is tested in tests/test_conv.py and
tests/test_torch_oracle.py."""
import numpy as np
import pytest

from imagelab.nn import winograd
from imagelab.nn.conv import Conv2d

RNG = np.random.default_rng(0)


def test_the_matrices_compute_four_outputs_of_a_three_tap_filter():
    # F(4, 3) in one dimension: A^T [(G g) * (B^T d)] = the 4 correlations of d (6) with g (3).
    d, g = RNG.normal(size=6), RNG.normal(size=3)
    direct = [d[i:i + 3] @ g for i in range(4)]
    np.testing.assert_allclose(winograd.AT @ ((winograd.G @ g) * (winograd.BT @ d)), direct,
                               rtol=1e-13, atol=1e-13)


def test_the_kronecker_matrix_transforms_a_whole_kernel():
    # (G (x) G) vec(g) = vec(G g G^T), row-major.
    g = RNG.normal(size=(3, 3))
    np.testing.assert_allclose(winograd.G2 @ g.ravel(), (winograd.G @ g @ winograd.G.T).ravel(),
                               rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("name", ["BT", "AT", "AT.T", "BT.T"])
def test_both_sides_is_l_x_l_transposed_for_every_column(name):
    matrix = {"BT": winograd.BT, "AT": winograd.AT, "AT.T": winograd.AT.T,
              "BT.T": winograd.BT.T}[name]
    values = RNG.normal(size=(matrix.shape[1], matrix.shape[1], 5))
    expected = np.einsum("ai,bj,ijm->abm", matrix, matrix, values)
    np.testing.assert_allclose(winograd._both_sides(matrix, values), expected,
                               rtol=1e-13, atol=1e-13)


def test_weight_gradient_is_the_adjoint_of_transform_weights():
    # <T(w), u> = <w, T*(u)> for all w, u.
    w, u = RNG.normal(size=(3, 3, 2, 4)), RNG.normal(size=(36, 2, 4))
    assert np.isclose(np.sum(winograd.transform_weights(w) * u),
                      np.sum(w * winograd.weight_gradient(u)), rtol=1e-13)


@pytest.mark.parametrize("h, w", [(8, 8), (7, 5)])
def test_output_gradient_is_the_adjoint_of_transform_output(h, w):
    # Also where the last tiles are cropped: their cropped outputs get no gradient.
    t_h, t_w = winograd.tiles(h), winograd.tiles(w)
    m = RNG.normal(size=(36, 2 * t_h * t_w, 3))
    d_y = RNG.normal(size=(2, h, w, 3))
    y = np.empty((2, h, w, 3))
    winograd.transform_output(m, 2, t_h, t_w, y)
    assert np.isclose(np.sum(y * d_y), np.sum(m * winograd.output_gradient(d_y, t_h, t_w)),
                      rtol=1e-13)



@pytest.mark.parametrize("h, w, padding", [(8, 8, 1), (7, 5, 1), (9, 6, 0), (5, 5, 2)])
def test_input_gradient_is_the_adjoint_of_the_input_transform(h, w, padding):
    # Also where the last tiles reach past the images: what falls there is dropped.
    t_h, t_w = winograd.tiles(h + 2 * padding - 2), winograd.tiles(w + 2 * padding - 2)
    x = RNG.normal(size=(2, h, w, 3))
    v = winograd.transform_input(winograd.pad_to_tiles(x, padding, t_h, t_w), t_h, t_w)
    d_v = RNG.normal(size=v.shape)
    dx = np.full_like(x, np.nan)                      # every value must be written
    winograd.input_gradient(d_v, t_h, t_w, padding, dx)
    assert np.isclose(np.sum(v * d_v), np.sum(x * dx), rtol=1e-13)

def test_transform_input_takes_every_tile_in_order():
    # Tile (n, i, j) is padded[n, 4 i : 4 i + 6, 4 j : 4 j + 6]; V = B^T d B of each.
    padded = RNG.normal(size=(2, 10, 14, 3))                           # t_h = 2, t_w = 3
    v = winograd.transform_input(padded, 2, 3).reshape(6, 6, 2, 2, 3, 3)
    for n, i, j in np.ndindex(2, 2, 3):
        tile = padded[n, 4 * i:4 * i + 6, 4 * j:4 * j + 6]            # (6, 6, c)
        expected = np.einsum("ia,jb,abc->ijc", winograd.BT, winograd.BT, tile)
        np.testing.assert_allclose(v[:, :, n, i, j], expected, rtol=1e-13, atol=1e-13)


def absolute_winograd(x, w, padding):
    """The convolution by F(4 x 4, 3 x 3) with |B^T|, |G|, |A^T| and |x|, |w|, in float64:
    out[n, 4 i + a, 4 j + b, o] = sum_c (|A^T| [(|G| |g| |G^T|) * (|B^T| |d| |B|)] |A|)."""
    h_out, w_out = x.shape[1] + 2 * padding - 2, x.shape[2] + 2 * padding - 2
    t_h, t_w = winograd.tiles(h_out), winograd.tiles(w_out)
    padded = winograd.pad_to_tiles(np.abs(x), padding, t_h, t_w)
    bt, g, at = np.abs(winograd.BT), np.abs(winograd.G), np.abs(winograd.AT)
    u = np.einsum("ia,jb,abco->ijco", g, g, np.abs(w))                   # (6, 6, c, o)
    out = np.zeros((len(x), 4 * t_h, 4 * t_w, w.shape[3]))
    for i, j in np.ndindex(t_h, t_w):
        tile = padded[:, 4 * i:4 * i + 6, 4 * j:4 * j + 6]                 # (n, 6, 6, c)
        v = np.einsum("ia,jb,nabc->nijc", bt, bt, tile)
        m = np.einsum("nijc,ijco->nijo", v, u)
        out[:, 4 * i:4 * i + 4, 4 * j:4 * j + 4] = np.einsum("ai,bj,nijo->nabo", at, at, m)
    return out[:, :h_out, :w_out]


@pytest.mark.parametrize("c_in, size, padding", [(8, 9, 1), (64, 8, 1), (16, 7, 0)])
def test_float32_winograd_is_within_its_rounding_bound(c_in, size, padding):
    # Each value reaches the output through at most n = c_in + 27 roundings of float32
    # (unit u = 2^-24): 10 in the input's transform (two products by B^T, whose rows
    # have at most 4 nonzero entries: 4 products and their sum each, zeros adding
    # exactly), 1 in U, cast from float64, c_in + 1 in the products and their sum over
    # channels (any order, fused or not), 12 in the output's (two products by A^T, at
    # most 5 nonzero entries a row), 3 to spare.
    # The usual analysis (Higham, "Accuracy and stability of numerical algorithms",
    # ch. 3) then bounds the error by gamma_n = n u / (1 - n u) times the same algorithm
    # run on the absolute values of every matrix and input.
    x = RNG.normal(size=(3, size, size, c_in)).astype(np.float32)
    layer = Conv2d(c_in, 5, 3, 1, padding, rng=1, bias=False, algorithm="winograd")
    out = layer.forward(x)
    exact = Conv2d(c_in, 5, 3, 1, padding, bias=False, dtype=np.float64, algorithm="im2col")
    exact.w.value[...] = layer.w.value
    reference = exact.forward(x.astype(np.float64))
    n, u = c_in + 27, 2.0 ** -24
    bound = n * u / (1 - n * u) * absolute_winograd(x, layer.w.value.astype(np.float64), padding)
    error = np.abs(out - reference)
    assert np.all(error <= bound + 1e-12 * np.abs(reference)), (error / bound).max()
    # The bound is loose (|A^T| and |B^T| amplify), but far below the outputs: a wrong
    # coefficient or tile, an error of the outputs' size, breaks it.
    assert bound.max() < 0.05 * np.abs(reference).max()



def absolute_input_gradient(d_y, w, padding, shape):
    """dC/dx by Winograd's route (``Conv2d._winograd_backward``) with |B^T|, |G|, |A^T|
    and |dC/dy|, |w|, in float64: each tile's |B| [(|G| |g| |G^T|) * (|A| |dY| |A^T|)]
    |B^T|, summed over output channels, added back onto the padded images."""
    n, h_out, w_out, _ = d_y.shape
    t_h, t_w = winograd.tiles(h_out), winograd.tiles(w_out)
    blocks = np.zeros((n, 4 * t_h, 4 * t_w, d_y.shape[3]))
    blocks[:, :h_out, :w_out] = np.abs(d_y)
    bt, g, at = np.abs(winograd.BT), np.abs(winograd.G), np.abs(winograd.AT)
    u = np.einsum("ia,jb,abco->ijco", g, g, np.abs(w))                   # (6, 6, c, o)
    padded = np.zeros((n, 4 * t_h + 2, 4 * t_w + 2, w.shape[2]))
    for i, j in np.ndindex(t_h, t_w):
        d_m = np.einsum("ai,bj,nabo->nijo", at, at,
                        blocks[:, 4 * i:4 * i + 4, 4 * j:4 * j + 4])    # (n, 6, 6, o)
        d_v = np.einsum("nijo,ijco->nijc", d_m, u)
        padded[:, 4 * i:4 * i + 6, 4 * j:4 * j + 6] += np.einsum("ia,jb,nijc->nabc", bt, bt, d_v)
    return padded[:, padding:padding + shape[1], padding:padding + shape[2]]


@pytest.mark.parametrize("c_out, size, padding", [(8, 9, 1), (64, 8, 1), (16, 7, 0)])
def test_float32_input_gradient_is_within_its_rounding_bound(c_out, size, padding):
    # As the forward pass's bound, with n = c_out + 30 roundings: 10 in dC/dM = A dY A^T
    # (two products by A, whose rows have at most 4 nonzero entries), 1 in U, c_out + 1
    # in the products by U^T and their sum over output channels, 12 in B dC/dV B^T (at
    # most 5 nonzero entries a row of B), 3 in adding up to 4 overlapping tiles, 3 to
    # spare.
    x = RNG.normal(size=(3, size, size, 5)).astype(np.float32)
    layer = Conv2d(5, c_out, 3, 1, padding, rng=1, bias=False, algorithm="winograd")
    d_y = RNG.normal(size=layer.forward(x, training=True).shape).astype(np.float32)
    dx = layer.backward(d_y)
    exact = Conv2d(5, c_out, 3, 1, padding, bias=False, dtype=np.float64, algorithm="im2col")
    exact.w.value[...] = layer.w.value
    exact.forward(x.astype(np.float64), training=True)
    reference = exact.backward(d_y.astype(np.float64))
    n, u = c_out + 30, 2.0 ** -24
    bound = n * u / (1 - n * u) * absolute_input_gradient(
        d_y.astype(np.float64), layer.w.value.astype(np.float64), padding, x.shape)
    error = np.abs(dx - reference)
    assert np.all(error <= bound + 1e-12 * np.abs(reference)), (error / bound).max()
    assert bound.max() < 0.05 * np.abs(reference).max()
