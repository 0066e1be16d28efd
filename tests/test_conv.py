"""Tests of imagelab.nn.conv: each layer against a plain-loop reference and against finite
differences on tiny shapes (the convolution by both algorithms), the two backward paths
of im2col's route against each other, the choice of algorithm, and the shapes and
settings the layers refuse. imagelab.nn.winograd's transforms: tests/test_winograd.py."""
import numpy as np
import pytest

from imagelab.nn.gradcheck import numerical_gradient
from imagelab.nn import conv
from imagelab.nn.conv import Conv2d, Flatten, GlobalMaxPool, MaxPool2d, col2im, im2col
from imagelab.utils import parallel

# (kernel, stride, padding): stride 1 with padding < kernel takes the backward pass
# "as a convolution" when c_out <= c_in, the others the product by W^T and col2im.
CONV_CASES = [(3, 1, 1), (3, 1, 0), (5, 1, 2), (1, 1, 0), (2, 2, 0), (3, 2, 1), (3, 1, 3),
              ((2, 3), 1, 1)]
# The cases Winograd's F(4 x 4, 3 x 3) takes (3 x 3, stride 1, padding <= 2), on images
# whose outputs fill whole 4 x 4 tiles or only part of the last ones.
WINOGRAD_CASES = [(3, 1, 1), (3, 1, 0), (3, 1, 2)]
# (c_in, c_out): widening (col2im in every case) and narrowing (both routes).
CHANNELS = [(3, 4), (4, 2)]


def conv_loop(x, w, b, stride, padding):
    """Reference, one output at a time:
    out[n, i, j, o] = b[o] + sum_{a, b, c} x_pad[n, s i + a, s j + b, c] w[a, b, c, o]."""
    kh, kw, _, c_out = w.shape
    x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    h_out = (x.shape[1] - kh) // stride + 1
    w_out = (x.shape[2] - kw) // stride + 1
    out = np.zeros((len(x), h_out, w_out, c_out))
    for n in range(len(x)):
        for i in range(h_out):
            for j in range(w_out):
                for o in range(c_out):
                    window = x[n, i * stride:i * stride + kh, j * stride:j * stride + kw]
                    out[n, i, j, o] = b[o] + np.sum(window * w[..., o])
    return out


def pool_loop(x, k, stride):
    """Reference: the maximum of each k x k window."""
    h_out, w_out = (x.shape[1] - k) // stride + 1, (x.shape[2] - k) // stride + 1
    out = np.zeros((len(x), h_out, w_out, x.shape[3]))
    for i in range(h_out):
        for j in range(w_out):
            window = x[:, i * stride:i * stride + k, j * stride:j * stride + k]
            out[:, i, j] = window.max(axis=(1, 2))
    return out


def conv_layer(kernel, stride, padding, c_in=3, c_out=4, seed=1, algorithm="im2col"):
    layer = Conv2d(c_in, c_out, kernel, stride, padding, rng=seed, dtype=np.float64,
                   algorithm=algorithm)
    layer.b.value[:] = np.random.default_rng(seed).normal(size=c_out)
    return layer


ROUTES = ([(*case, "im2col") for case in CONV_CASES]
          + [(*case, "winograd") for case in WINOGRAD_CASES])


@pytest.mark.parametrize("kernel, stride, padding, algorithm", ROUTES)
@pytest.mark.parametrize("size", [(7, 6), (10, 12)])
def test_conv_forward_matches_the_loop(kernel, stride, padding, algorithm, size):
    x = np.random.default_rng(0).normal(size=(2, *size, 3))
    layer = conv_layer(kernel, stride, padding, algorithm=algorithm)
    out = layer.forward(x)
    assert layer.winograd == (algorithm == "winograd")
    # float64 rounding: Winograd's terms reach about 25 |w| |x| before they cancel
    # (tests/test_winograd.py bounds it), some 1e-13 on these sums of 27 values.
    np.testing.assert_allclose(out, conv_loop(x, layer.w.value, layer.b.value, stride, padding),
                               rtol=1e-12, atol=1e-12)
    assert out.shape[1:] == layer.output_shape(x.shape[1:])


@pytest.mark.parametrize("c_in, c_out", CHANNELS)
@pytest.mark.parametrize("kernel, stride, padding, algorithm", ROUTES)
def test_conv_gradients_match_finite_differences(kernel, stride, padding, algorithm, c_in,
                                                 c_out):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 6, 5, c_in))
    layer = conv_layer(kernel, stride, padding, c_in, c_out, algorithm=algorithm)
    r = rng.normal(size=layer.forward(x).shape)

    def loss():                                 # C = sum(out * R): dC/dout = R
        return np.sum(layer.forward(x) * r)

    layer.forward(x)
    dx = layer.backward(r)
    # Central differences of a quadratic-free (linear) function: exact but for
    # rounding, about 1e-16 * |C| / eps = 1e-10 here.
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), atol=1e-7)
    for parameter in (layer.w, layer.b):
        np.testing.assert_allclose(parameter.grad, numerical_gradient(loss, parameter.value),
                                   atol=1e-7)


def weight_gradient_loop(x, r, kernel, stride, padding):
    """Reference, one output position at a time, for dC/dout = r: dC/dW[a, b, c, o] =
    sum_{n, i, j} x_pad[n, s i + a, s j + b, c] r[n, i, j, o], dC/db[o] = sum of r[..., o]."""
    kh, kw = kernel
    x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    d_w = np.zeros((kh, kw, x.shape[3], r.shape[3]))
    for i in range(r.shape[1]):
        for j in range(r.shape[2]):
            window = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw]
            d_w += np.einsum("nabc,no->abco", window, r[:, i, j])
    return d_w, r.sum(axis=(0, 1, 2))


@pytest.mark.parametrize("c_in, c_out", [(3, 4), (8, 16)])
def test_weight_gradient_matches_the_loop_as_one_product_or_a_stack(c_in, c_out):
    # dC/dW = cols^T dC/dout is one product when its (9 c_in + 1) c_out outputs are
    # more than GIL_RELEASE_SIZE (8 -> 16: 1,168), else a stack of one product per image,
    # summed (3 -> 4: 112).
    assert ((9 * c_in + 1) * c_out <= parallel.GIL_RELEASE_SIZE) == (c_in == 3)
    rng = np.random.default_rng(6)
    x = rng.normal(size=(5, 6, 7, c_in))
    layer = conv_layer(3, 2, 1, c_in, c_out)
    r = rng.normal(size=layer.forward(x, training=True).shape)
    layer.backward(r, need_dx=False)
    d_w, d_b = weight_gradient_loop(x, r, (3, 3), 2, 1)
    # float64 sums of 5 x 3 x 4 terms each, in another order: 1e-13 of their size.
    np.testing.assert_allclose(layer.w.grad, d_w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.b.grad, d_b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("c_in, c_out, kernel, padding", [
    (5, 6, 3, 1), (6, 5, 3, 1), (2, 8, 3, 0), (8, 2, 5, 2), (4, 4, (2, 3), 1)])
def test_conv_backward_as_a_convolution_equals_col2im(c_in, c_out, kernel, padding):
    # Both private routes called directly, whichever ``backward`` would choose.
    rng = np.random.default_rng(3)
    layer = conv_layer(kernel, 1, padding, c_in, c_out)
    x = rng.normal(size=(3, 8, 7, c_in))
    r = rng.normal(size=layer.forward(x).shape)
    as_convolution, by_col2im = np.full(x.shape, np.nan), np.full(x.shape, np.nan)
    layer._backward_as_convolution(r, as_convolution)
    layer._backward_by_col2im(r, by_col2im)
    # The same sums of at most 5 * 5 * 8 products, in another order: float64 rounding.
    np.testing.assert_allclose(as_convolution, by_col2im, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("c_in, c_out, stride, padding, route", [
    (6, 5, 1, 1, "convolution"), (5, 5, 1, 0, "convolution"), (5, 6, 1, 1, "col2im"),
    (6, 5, 2, 1, "col2im"), (6, 5, 1, 3, "col2im")])
def test_conv_backward_takes_the_route_with_the_smaller_matrix(c_in, c_out, stride, padding,
                                                                route, monkeypatch):
    layer = conv_layer(3, stride, padding, c_in, c_out)
    taken = []

    def spy(name, method):
        def recorded(d_out, dx):
            taken.append(name)
            return method(d_out, dx)
        return recorded

    for name, attribute in (("convolution", "_backward_as_convolution"),
                            ("col2im", "_backward_by_col2im")):
        monkeypatch.setattr(layer, attribute, spy(name, getattr(layer, attribute)))
    x = np.random.default_rng(4).normal(size=(2, 6, 6, c_in))
    assert layer.backward(layer.forward(x)).shape == x.shape
    # Once for each chunk of images (as many as the threads, at least), by one route.
    assert taken and set(taken) == {route}
    assert layer.dx_as_convolution() == (route == "convolution")


@pytest.mark.parametrize("algorithm", ["im2col", "winograd"])
def test_conv_without_bias_matches_the_loop_and_finite_differences(algorithm):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 5, 5, 3))
    layer = Conv2d(3, 4, 3, 1, 1, rng=0, dtype=np.float64, bias=False, algorithm=algorithm)
    assert layer.parameters() == [layer.w] and layer.b is None
    assert repr(layer).endswith("padding=1, bias=False)")
    out = layer.forward(x)
    np.testing.assert_allclose(out, conv_loop(x, layer.w.value, np.zeros(4), 1, 1),
                               rtol=1e-12, atol=1e-12)
    r = rng.normal(size=out.shape)

    def loss():
        return np.sum(layer.forward(x) * r)

    layer.forward(x)
    dx = layer.backward(r)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), atol=1e-7)
    np.testing.assert_allclose(layer.w.grad, numerical_gradient(loss, layer.w.value), atol=1e-7)


def test_uniform_init_is_pytorchs():
    # U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 3 * 3 * 16 = 144: inside the bound,
    # variance 1 / (3 fan_in) within 5%, nearly four times its relative standard error
    # sqrt(0.8 / n) = 1.3% for n = 3 * 3 * 16 * 32 = 4,608 weights.
    layer = Conv2d(16, 32, 3, rng=0, init="uniform")
    assert np.abs(layer.w.value).max() <= 1 / 12 and not layer.b.value.any()
    assert layer.w.value.var() == pytest.approx(1 / (3 * 144), rel=0.05)


@pytest.mark.parametrize("c_in, c_out, kernel", [(3, 5, 3), (5, 3, 3), (4, 4, 5)])
def test_identity_init_copies_the_first_channels(c_in, c_out, kernel):
    x = np.random.default_rng(7).normal(size=(2, 6, 6, c_in)).astype(np.float32)
    layer = Conv2d(c_in, c_out, kernel, 1, kernel // 2, rng=0, bias=False, init="identity")
    n = min(c_in, c_out)
    out = layer.forward(x)
    np.testing.assert_array_equal(out[..., :n], x[..., :n])     # products by 0 and 1: exact
    w = layer.w.value
    assert np.count_nonzero(w[..., :n]) == n
    bound = 1 / np.sqrt(kernel * kernel * c_in)                 # the others: "uniform"
    assert np.all((np.abs(w[..., n:]) <= bound) & (w[..., n:] != 0))


@pytest.mark.parametrize("kernel, stride, padding", [(2, 1, 1), ((3, 5), 1, 1), (3, 1, 0),
                                                      (3, 2, 1)])
def test_identity_init_needs_a_size_keeping_odd_kernel(kernel, stride, padding):
    with pytest.raises(ValueError, match=r"^init='identity' needs odd kernel sizes, stride 1 "
                                         r"and padding kh // 2 = kw // 2, got kernel_size="):
        Conv2d(3, 3, kernel, stride, padding, init="identity")


@pytest.mark.parametrize("algorithm", ["im2col", "winograd"])
def test_first_layer_skips_the_input_gradient(algorithm):
    layer = conv_layer(3, 1, 1, algorithm=algorithm)
    layer.forward(np.ones((1, 4, 4, 3)))
    assert layer.backward(np.ones((1, 4, 4, 4)), need_dx=False) is None
    assert layer.w.grad.shape == (3, 3, 3, 4) and layer.b.grad.shape == (4,)


@pytest.mark.parametrize("channels, kernel, dtype", [
    (3, (2, 2), np.float32), (1, (5, 3), np.float32), (3, (3, 2), np.float64),   # void runs
    (6, (3, 3), np.float32), (4, (2, 3), np.float64)])                          # value runs
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("ones", [False, True])
def test_im2col_matches_the_loop(channels, kernel, dtype, stride, ones):
    # Runs of kw C values of at most MAX_VOID_RUN_BYTES are copied as void elements,
    # longer ones value by value: both against windows taken one at a time, from a
    # non-contiguous input.
    assert ((kernel[1] * channels * np.dtype(dtype).itemsize <= conv.MAX_VOID_RUN_BYTES)
            == (channels <= 3))
    x = np.random.default_rng(5).normal(size=(2, 9, 8, 2 * channels)).astype(dtype)
    x = x[..., ::2]
    kh, kw = kernel
    cols = im2col(x, kernel, stride, ones=ones)
    h_out, w_out = (9 - kh) // stride + 1, (8 - kw) // stride + 1
    expected = [np.append(x[n, i * stride:i * stride + kh, j * stride:j * stride + kw].ravel(),
                          [1] * ones)
                for n in range(2) for i in range(h_out) for j in range(w_out)]
    assert cols.dtype == dtype and np.array_equal(cols, np.array(expected, dtype))


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_col2im_is_the_adjoint_of_im2col(stride):
    # <im2col(x), c> = <x, col2im(c)> for all x, c: col2im is im2col's transpose.
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 7, 8, 3))
    cols = im2col(x, (3, 2), stride)
    c = rng.normal(size=cols.shape)
    assert np.isclose(np.sum(cols * c), np.sum(x * col2im(c, x.shape, (3, 2), stride)))


@pytest.mark.parametrize("algorithm", ["im2col", "winograd"])
def test_conv_keeps_float32(algorithm):
    layer = Conv2d(3, 8, 3, padding=1, rng=0, algorithm=algorithm)
    out = layer.forward(np.ones((2, 5, 5, 3), np.float32), training=True)
    assert out.dtype == np.float32 and layer.backward(out).dtype == np.float32
    assert layer.w.grad.dtype == layer.b.grad.dtype == np.float32


@pytest.mark.parametrize("k, stride", [(2, 2), (3, 2), (2, 1), (3, 3)])
def test_pool_forward_matches_the_loop_and_gradients_match(k, stride):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 7, 6, 3))
    layer = MaxPool2d(k, stride)
    out = layer.forward(x)
    np.testing.assert_array_equal(out, pool_loop(x, k, stride))
    r = rng.normal(size=out.shape)

    def loss():
        return np.sum(layer.forward(x) * r)

    layer.forward(x)
    np.testing.assert_allclose(layer.backward(r), numerical_gradient(loss, x), atol=1e-7)



@pytest.mark.parametrize("k, stride, shape", [
    (2, 2, (2, 8, 6, 3)),             # the windows cover the input exactly
    (3, 3, (2, 6, 6, 3)),
    (2, 2, (2, 7, 6, 3)),             # a row left out
    (2, 3, (2, 8, 8, 3)),             # gaps between the windows
])
def test_pool_gradient_is_written_everywhere_in_memory_not_zeroed(monkeypatch, k, stride, shape):
    """dC/dx is built in ``np.empty_like`` memory: filled with NaN here, every input
    outside the windows' maxima must still come out 0."""
    monkeypatch.setattr(np, "empty_like", lambda a, *args, **kwargs: np.full_like(
        a, np.nan, *args, **kwargs))
    rng = np.random.default_rng(6)
    x = rng.normal(size=shape)
    layer = MaxPool2d(k, stride)
    r = rng.normal(size=layer.forward(x).shape)

    def loss():
        return np.sum(layer.forward(x) * r)

    layer.forward(x)
    np.testing.assert_allclose(layer.backward(r), numerical_gradient(loss, x), atol=1e-7)

def test_pool_gives_a_tie_to_the_first_maximum_only():
    x = np.zeros((1, 2, 2, 1))                     # four equal values, as after a ReLU
    layer = MaxPool2d(2)
    layer.forward(x)
    dx = layer.backward(np.full((1, 1, 1, 1), -3.0))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[-3, 0], [0, 0]])
    assert not np.signbit(dx.ravel()[1:]).any()     # zeros, not -0 (-3 * 0)


def test_global_max_pool_matches_the_loop_and_finite_differences():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(3, 4, 5, 2))              # continuous values: no ties
    layer = GlobalMaxPool()
    out = layer.forward(x)
    expected = np.array([[max(x[n, i, j, c] for i in range(4) for j in range(5))
                          for c in range(2)] for n in range(3)])
    np.testing.assert_array_equal(out, expected)
    assert layer.output_shape((4, 5, 2)) == (2,) and out.shape == (3, 2)
    r = rng.normal(size=out.shape)
    top_two = np.sort(x.reshape(3, 20, 2), axis=1)[:, -2:]
    assert (top_two[:, 1] - top_two[:, 0]).min() > 1e-4   # the argmax stays put at +-1e-6

    def loss():
        return np.sum(layer.forward(x) * r)

    layer.forward(x)
    np.testing.assert_allclose(layer.backward(r), numerical_gradient(loss, x), atol=1e-7)


def test_global_max_pool_gives_a_tie_to_the_first_maximum_only():
    x = np.zeros((1, 2, 3, 2), np.float32)
    x[0, 1, 0, 1] = x[0, 1, 2, 1] = 5              # channel 1: two maxima, row-major first
    layer = GlobalMaxPool()
    np.testing.assert_array_equal(layer.forward(x), [[0, 5]])
    dx = layer.backward(np.array([[-3, 7]], np.float32))
    assert dx.dtype == np.float32
    np.testing.assert_array_equal(dx[0, :, :, 0], [[-3, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(dx[0, :, :, 1], [[0, 0, 0], [7, 0, 0]])


def test_flatten_round_trip():
    x = np.arange(2 * 3 * 4 * 5.0).reshape(2, 3, 4, 5)
    layer = Flatten()
    out = layer.forward(x)
    assert out.shape == (2, 60) and layer.output_shape((3, 4, 5)) == (60,)
    np.testing.assert_array_equal(layer.backward(out), x)


@pytest.mark.parametrize("make, shape, message", [
    (lambda: Conv2d(3, 4, 3), (2, 8, 8, 1),
     r"expects images of shape \(N, H, W, 3\), got shape \(2, 8, 8, 1\)"),
    (lambda: Conv2d(3, 4, 3), (8, 8, 3),
     r"expects images of shape \(N, H, W, 3\), got shape \(8, 8, 3\)"),
    (lambda: Conv2d(3, 4, 5), (2, 4, 8, 3),
     r"a 5-wide window does not fit in an input height of 4 \(padding 0\)"),
    (lambda: MaxPool2d(3), (2, 2, 2, 1),
     r"a 3-wide window does not fit in an input height of 2"),
    (lambda: MaxPool2d(2), (2, 4, 4),
     r"expects images of shape \(N, H, W, C\), got shape \(2, 4, 4\)"),
    (lambda: GlobalMaxPool(), (2, 16),
     r"GlobalMaxPool\(\) expects images of shape \(N, H, W, C\), got shape \(2, 16\)"),
])
def test_shapes_that_do_not_fit_are_named(make, shape, message):
    with pytest.raises(ValueError, match=message):
        make().forward(np.zeros(shape))


@pytest.mark.parametrize("make, message", [
    (lambda: Conv2d(0, 4), "c_in must be an integer >= 1, got 0"),
    (lambda: Conv2d(3, 4, stride=0), "stride must be an integer >= 1, got 0"),
    (lambda: Conv2d(3, 4, padding=-1), "padding must be an integer >= 0, got -1"),
    (lambda: MaxPool2d(0), "kernel_size must be an integer >= 1, got 0"),
    (lambda: Conv2d(3, 4, init="zeros"), "init must be 'he', 'uniform' or 'identity', got "
                                         "'zeros'"),
    (lambda: Conv2d(3, 4, bias="false"), "bias must be True or False, got 'false'"),
    (lambda: Conv2d(3, 4, algorithm="fft"), r"algorithm must be one of \('auto', 'im2col', "
                                            r"'winograd'\), got 'fft'"),
    (lambda: Conv2d(3, 4, 5, algorithm="winograd"), r"algorithm='winograd' needs a 3 x 3 "
     r"kernel, stride 1 and padding <= 2, got kernel_size=\(5, 5\), stride=1, padding=0"),
    (lambda: Conv2d(3, 4, 3, 2, algorithm="winograd"), r"needs .* got kernel_size=\(3, 3\), "
                                                       r"stride=2, padding=0"),
    (lambda: Conv2d(3, 4, 3, 1, 3, algorithm="winograd"), r"needs .* stride=1, padding=3"),
])
def test_bad_settings_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("c_in, kernel, stride, padding, size, winograd", [
    (16, 3, 1, 1, 32, True), (16, 3, 1, 1, 15, True), (16, 3, 1, 1, 7, True),
    (16, 3, 1, 1, 3, False), (16, 3, 1, 1, 6, False), (16, 3, 1, 0, 10, True),
    (15, 3, 1, 1, 32, False), (3, 3, 1, 1, 32, False), (16, 3, 2, 1, 32, False),
    (16, 5, 1, 2, 32, False), (16, 3, 1, 3, 32, False), (16, 2, 1, 0, 32, False)])
def test_auto_takes_winograd_where_it_applies_and_pays(c_in, kernel, stride, padding, size,
                                                       winograd):
    # 3 x 3 outputs need one 4 x 4 tile (16 / 9 = 1.78 times the outputs); 6 x 6 need
    # 2 x 2 tiles (64 / 36); 7 x 7, 64 / 49 = 1.31 <= 4 / 3. At least 16 input channels.
    layer = Conv2d(c_in, 3, kernel, stride, padding, rng=0)
    assert layer.uses_winograd((size, size, c_in)) == winograd
    layer.forward(np.zeros((1, size, size, c_in), np.float32))
    assert layer.winograd == winograd


@pytest.mark.parametrize("algorithm", ["im2col", "winograd"])
def test_each_algorithm_is_kept_whatever_the_size(algorithm):
    layer = Conv2d(2, 3, 3, 1, 1, rng=0, algorithm=algorithm)
    for size in (3, 32):
        assert layer.uses_winograd((size, size, 2)) == (algorithm == "winograd")


def test_winograd_gradients_are_the_same_with_its_tiles_kept_or_made_again(monkeypatch):
    # KEEP_TILES_BYTES decides what the forward pass keeps, not the result: the same
    # products in the same order either way.
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 9, 10, 16)).astype(np.float32)
    layer = Conv2d(16, 5, 3, 1, 1, rng=0, algorithm="winograd")
    r = rng.normal(size=(3, 9, 10, 5)).astype(np.float32)
    results = []
    for keep_bytes in (conv.KEEP_TILES_BYTES, 0):
        monkeypatch.setattr(conv, "KEEP_TILES_BYTES", keep_bytes)
        out = layer.forward(x)
        assert layer.keep_tiles == (keep_bytes > 0)
        results.append((out, layer.backward(r), layer.w.grad, layer.b.grad))
    for kept, made_again in zip(*results):
        np.testing.assert_array_equal(kept, made_again)
