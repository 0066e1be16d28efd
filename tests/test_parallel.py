"""Tests of imagelab.utils.parallel and of the layers that split their passes with it:
the slices of ``batch_parts``, ``chunks`` and ``parts_of``, what ``run`` promises
(order, exceptions, the calling thread, the BLAS at one thread), and every split layer
(and a whole network) with splitting forced into uneven threads and chunks against the
same computed in one thread, in one piece.

The layers' own tests use arrays too small to be split: here ``MIN_ELEMENTS_PER_THREAD``
is 1 and the chunks a few bytes, so that every pass is cut into threads and chunks of
one or two images, over a batch of 5 (uneven parts: 2 + 3, or 1 + 2 + 2).

Tolerances: splitting regroups the sums of a reduction (over the batch, or inside a
BLAS product whose shape changed). Two evaluations of the same sum of n terms t_i in
any order are each within (n - 1) u sum |t_i| of the exact sum (u = eps / 2, the
products' own rounding adds one more u |t_i|), so they differ by at most
n eps sum |t_i|: that is the bound checked for the linear layers, element by element,
sum |t_i| being the same layer run on the absolute values of its inputs and weights.
"""
import threading
import time

import numpy as np
import pytest
import threadpoolctl

from imagelab.nn import architectures, conv, winograd
from imagelab.nn.batchnorm import BatchNorm
from imagelab.nn.conv import Conv2d, MaxPool2d
from imagelab.nn.layers import GELU, Dense, ReLU
from imagelab.utils import parallel

from test_conv import conv_loop

EPS = np.finfo(np.float64).eps
BATCH = 5                       # parts of 2 + 3 images (2 threads), 1 + 2 + 2 (3 threads)


@pytest.fixture(autouse=True)
def restore_threads():
    """Every test may change the thread count: give back the one it found."""
    original = parallel.threads()
    yield
    parallel.set_threads(original)


def force_splitting(monkeypatch, count, images_per_chunk=1, conv_positions=None):
    """Split every pass between ``count`` threads and into chunks of one row (or, for a
    convolution of ``conv_positions`` output positions, of ``images_per_chunk`` images).
    """
    monkeypatch.setattr(parallel, "MIN_ELEMENTS_PER_THREAD", 1)
    monkeypatch.setattr(parallel, "CHUNK_BYTES", 64)
    monkeypatch.setattr(conv, "CHUNK_BYTES", 64)
    monkeypatch.setattr(conv, "MIN_CHUNK_ROWS",
                        1 if conv_positions is None else images_per_chunk * conv_positions)
    parallel.set_threads(count)


def assert_within(actual, expected, bound, what=""):
    """|actual - expected| <= bound, element by element (bound an array or a number)."""
    assert actual.shape == expected.shape, what
    bound = np.broadcast_to(bound, expected.shape) + np.finfo(np.float64).tiny
    excess = np.abs(actual - expected) - bound
    assert np.all(excess <= 0), (f"{what}: {np.sum(excess > 0)} of {excess.size} beyond the "
                                 f"bound, worst by {excess.max():.3g}")


# ---------------------------------------------------------------- batch_parts, chunks

def assert_partition(parts, n):
    """The slices cover range(n) in order, without overlap or gap, none empty."""
    assert parts[0].start in (0, None) and parts[-1].stop == n
    covered = [i for part in parts for i in range(n)[part]]
    assert covered == list(range(n))
    assert all(part.step in (None, 1) for part in parts)


@pytest.mark.parametrize("count", [2, 3, 4])
@pytest.mark.parametrize("n", [1, 2, 5, 7, 12, 100])
def test_batch_parts_one_per_thread_as_equal_as_can_be(monkeypatch, n, count):
    monkeypatch.setattr(parallel, "MIN_ELEMENTS_PER_THREAD", 10)
    parallel.set_threads(count)
    parts = parallel.batch_parts(n, 10 * count * n)          # size enough for every thread
    assert_partition(parts, n)
    assert len(parts) == min(count, n)
    lengths = [p.stop - p.start for p in parts]
    assert max(lengths) - min(lengths) <= 1 and min(lengths) >= 1


def test_batch_parts_single_slice_when_small_or_one_thread(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_ELEMENTS_PER_THREAD", 100)
    parallel.set_threads(2)
    # Fewer than 2 * MIN_ELEMENTS_PER_THREAD elements: one slice; 200 and more: two.
    assert parallel.batch_parts(10, 199) == [slice(0, 10)]
    assert parallel.batch_parts(10, 200) == [slice(0, 5), slice(5, 10)]
    assert parallel.batch_parts(0, 10 ** 9) == [slice(0, 0)]
    parallel.set_threads(3)
    # As many threads as MIN_ELEMENTS_PER_THREAD fit, never more than set.
    assert len(parallel.batch_parts(10, 299)) == 2
    assert len(parallel.batch_parts(10, 10 ** 9)) == 3
    parallel.set_threads(1)
    assert parallel.batch_parts(10, 10 ** 9) == [slice(0, 10)]


def test_parts_of_splits_the_first_axis(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_ELEMENTS_PER_THREAD", 1)
    parallel.set_threads(3)
    x = np.zeros((7, 4))
    parts = parallel.parts_of(x)
    assert_partition(parts, 7)
    assert [p.stop - p.start for p in parts] == [2, 2, 3]
    assert parallel.parts_of(np.float64(3.0)) == [...]
    monkeypatch.setattr(parallel, "MIN_ELEMENTS_PER_THREAD", 15)      # 28 elements < 30
    assert parallel.parts_of(x) == [slice(0, 7)]


@pytest.mark.parametrize("start, stop, row_bytes, min_rows, chunk_bytes, threads, sizes", [
    (0, 10, 8, 1, 24, 1, [2, 3, 2, 3]),      # 3 rows of 8 bytes a chunk: 4 chunks, as equal
    (3, 10, 8, 1, 24, 1, [2, 2, 3]),         # rows that do not start at 0
    (None, 10, 8, 4, 24, 1, [3, 3, 4]),      # min_rows wins over the bytes: 3 chunks
    (0, 10, 100, 1, 24, 1, [1] * 10),        # a row larger than the chunk: a row a chunk
    (0, 10, 0, 1, 24, 1, [10]),              # empty rows count as 1 byte
    (0, 10, 8, 1, 10 ** 6, 1, [10]),         # one chunk for the whole
    (4, 4, 8, 1, 24, 1, []),                 # no rows: no chunk
    (0, 10, 8, 1, 24, 2, [2, 3, 2, 3]),      # 4 chunks: 2 for each of 2 threads
    (0, 10, 8, 1, 24, 3, [3, 3, 4]),         # 4 rounded down to 3, one for each of 3
    (0, 10, 8, 1, 10 ** 6, 2, [5, 5]),       # one chunk a thread at least
    (0, 1, 8, 1, 10 ** 6, 2, [1]),           # rows allowing
    (0, 256, 9 * 2304 * 4, 114, 2 << 20, 2, [128, 128]),   # the recipe's last layer
])
def test_chunks_cover_the_rows_in_order(start, stop, row_bytes, min_rows, chunk_bytes,
                                        threads, sizes):
    parallel.set_threads(threads)
    pieces = parallel.chunks(slice(start, stop), row_bytes, min_rows, chunk_bytes)
    assert [i for piece in pieces for i in range(stop)[piece]] == list(range(start or 0, stop))
    assert [piece.stop - piece.start for piece in pieces] == sizes


def test_map_chunks_calls_in_order_over_every_row(monkeypatch):
    force_splitting(monkeypatch, 2)
    x = np.arange(5 * 3, dtype=np.float64).reshape(5, 3)    # rows of 24 bytes: 2 a chunk
    seen = parallel.map_chunks(lambda rows: (rows, x[rows].copy()), x)
    slices = [rows for rows, _ in seen]
    # Chunks of 64 // 24 = 2 rows would be 3: 2 for 2 threads.
    assert slices == [slice(0, 2), slice(2, 5)]
    np.testing.assert_array_equal(np.concatenate([values for _, values in seen]), x)
    assert parallel.map_chunks(lambda part: part, np.float64(1)) == [...]



def test_map_chunks_hands_a_paused_threads_chunks_to_the_other(monkeypatch):
    """The first chunk waits until every other chunk is done: with fixed halves, the
    chunks after it in its own half would never start (its thread is the one waiting),
    so the wait would time out; taken in turn, the other thread does them all."""
    force_splitting(monkeypatch, 2)
    x = np.zeros((8, 3))                                  # rows of 24 bytes: 2 a chunk
    others_done, done, lock = threading.Event(), [], threading.Lock()

    def work(rows):
        if rows.start == 0:
            return others_done.wait(timeout=10), threading.get_ident()
        with lock:
            done.append(rows)
            if len(done) == 3:
                others_done.set()
        return True, threading.get_ident()

    results = parallel.map_chunks(work, x)
    assert [finished for finished, _ in results] == [True] * 4
    assert len({thread for _, thread in results[1:]}) == 1     # one thread did the rest
    assert results[0][1] != results[1][1]


# ---------------------------------------------------------------- run

def test_run_returns_the_results_in_part_order():
    parallel.set_threads(3)
    parts = [slice(0, 1), slice(1, 3), slice(3, 5)]

    def part(rows, label):
        time.sleep(0.02 * (3 - rows.start))      # the later parts end first
        return (rows, label)

    assert parallel.run(part, parts, "abc") == list(zip(parts, "abc"))


def test_run_raises_a_pool_part_exception_after_every_part_ended():
    parallel.set_threads(3)
    ended = []

    def part(index):
        if index == 1:
            raise RuntimeError("part 1 failed")
        time.sleep(0.1)                          # still running when part 1 has failed
        ended.append(index)
        return index

    with pytest.raises(RuntimeError, match="part 1 failed"):
        parallel.run(part, [0, 1, 2])
    assert sorted(ended) == [0, 2]
    # The pool is still usable afterwards.
    assert parallel.run(lambda i: i * 2, [0, 1, 2]) == [0, 2, 4]


def test_run_raises_the_callers_exception_after_the_others_ended():
    parallel.set_threads(2)
    ended = []

    def part(index):
        if index == 0:
            raise ValueError("caller's part")
        time.sleep(0.1)
        ended.append(index)

    with pytest.raises(ValueError, match="caller's part"):
        parallel.run(part, [0, 1])
    assert ended == [1]


def test_run_with_one_thread_runs_every_part_in_the_caller():
    parallel.set_threads(1)
    caller = threading.get_ident()
    assert parallel.run(lambda i: threading.get_ident(), range(4)) == [caller] * 4


def test_run_with_threads_runs_the_first_part_in_the_caller():
    parallel.set_threads(3)
    barrier = threading.Barrier(3, timeout=10)    # every part runs at once, or it fails

    def part(index):
        barrier.wait()
        return threading.get_ident()

    idents = parallel.run(part, range(3))
    assert idents[0] == threading.get_ident()
    assert len(set(idents)) == 3


def blas_threads():
    return [info["num_threads"] for info in threadpoolctl.threadpool_info()
            if info["user_api"] == "blas"]


def test_run_holds_the_blas_at_one_thread_while_parts_run():
    if not blas_threads():
        pytest.skip("threadpoolctl finds no BLAS")
    parallel.set_threads(2)
    # Two BLAS threads before, so that "back to what it was" is not "still 1".
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        inside = parallel.run(lambda i: blas_threads(), [0, 1, 2])
        after = blas_threads()
    if max(before) < 2:
        pytest.skip("this BLAS does not take 2 threads")
    assert inside == [[1] * len(before)] * 3
    assert after == before


# ---------------------------------------------------------------- layers

def serial(function):
    """``function()`` in one thread and without forced chunks (the defaults)."""
    parallel.set_threads(1)
    return function()


CONV_CASES = [(3, 1, 1), (3, 1, 0), (5, 1, 2), (1, 1, 0), (2, 2, 0), (3, 2, 1), (3, 1, 3),
              ((2, 3), 1, 1)]
# Widening goes through col2im, narrowing through the backward "as a convolution"
# wherever its stride and padding allow.
CHANNELS = [(3, 5), (4, 2)]


def conv_pass(layer, x, g):
    """Forward, backward: output, dC/dx, dC/dW, dC/db (None without a bias)."""
    out = layer.forward(x, training=True)
    dx = layer.backward(g)
    return out, dx, layer.w.grad, None if layer.b is None else layer.b.grad


@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize("images_per_chunk", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("keep_windows", [True, False])
@pytest.mark.parametrize("c_in, c_out", CHANNELS)
@pytest.mark.parametrize("kernel, stride, padding", CONV_CASES)
def test_conv_split_matches_one_thread(monkeypatch, kernel, stride, padding, c_in, c_out,
                                       keep_windows, bias, images_per_chunk, count):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, 7, 6, c_in))
    layer = Conv2d(c_in, c_out, kernel, stride, padding, rng=1, dtype=np.float64, bias=bias)
    if bias:
        layer.b.value[:] = rng.normal(size=c_out)
    h_out, w_out, _ = layer.output_shape(x.shape[1:])
    g = rng.normal(size=(BATCH, h_out, w_out, c_out))

    expected = serial(lambda: conv_pass(layer, x, g))
    # sum |t_i| of every result: the same layer on |x|, |W|, |b| and |g|.
    absolute = Conv2d(c_in, c_out, kernel, stride, padding, dtype=np.float64, bias=bias)
    absolute.w.value[...] = np.abs(layer.w.value)
    if bias:
        absolute.b.value[...] = np.abs(layer.b.value)
    magnitudes = serial(lambda: conv_pass(absolute, np.abs(x), np.abs(g)))

    force_splitting(monkeypatch, count, images_per_chunk, h_out * w_out)
    # The window matrices kept from the forward pass, or copied again in backward.
    monkeypatch.setattr(conv, "KEEP_WINDOWS_BYTES", 1 << 30 if keep_windows else 0)
    actual = conv_pass(layer, x, g)
    kh, kw = layer.kernel
    # Terms of each sum: an output, kh kw c_in products and the bias; dC/dx, at most
    # kh kw windows of c_out products; dC/dW and dC/db, one per output position.
    terms = [kh * kw * c_in + 1, kh * kw * c_out, BATCH * h_out * w_out, BATCH * h_out * w_out]
    for name, a, e, m, n in zip(["out", "dx", "dW", "db"], actual, expected, magnitudes, terms):
        if e is None:
            assert a is None
            continue
        assert_within(a, e, n * EPS * m, name)
    # And the split forward pass against the loop itself.
    np.testing.assert_allclose(
        actual[0], conv_loop(x, layer.w.value, layer.b.value if bias else np.zeros(c_out),
                             stride, padding), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize("keep_tiles", [True, False])
@pytest.mark.parametrize("padding", [0, 1, 2])
def test_winograd_split_matches_one_thread(monkeypatch, padding, keep_tiles, count):
    """Winograd's route split between threads: the chunks of images, and the weights'
    transforms (U, and dC/dW from dC/dU) by slices of the input channels."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(BATCH, 9, 7, 5))
    layer = Conv2d(5, 3, 3, 1, padding, rng=1, dtype=np.float64, bias=False,
                   algorithm="winograd")
    h_out, w_out, _ = layer.output_shape(x.shape[1:])
    g = rng.normal(size=(BATCH, h_out, w_out, 3))
    expected = serial(lambda: conv_pass(layer, x, g))
    # Bound of each result's sum |t_i|: the same algorithm, every matrix and input made
    # non-negative (|B^T|, |A^T|, |G|, |x|, |W|, |g|), so that nothing cancels.
    absolute = Conv2d(5, 3, 3, 1, padding, dtype=np.float64, bias=False, algorithm="winograd")
    absolute.w.value[...] = np.abs(layer.w.value)
    with monkeypatch.context() as patch:
        for name in ("BT", "AT", "G", "G2"):
            patch.setattr(winograd, name, np.abs(getattr(winograd, name)))
        magnitudes = serial(lambda: conv_pass(absolute, np.abs(x), np.abs(g)))

    force_splitting(monkeypatch, count)
    monkeypatch.setattr(conv, "MIN_CHUNK_TILES", 1)
    monkeypatch.setattr(conv, "TILE_CHUNK_BYTES", 1)                # one image a chunk
    monkeypatch.setattr(conv, "KEEP_TILES_BYTES", 1 << 30 if keep_tiles else 0)
    actual = conv_pass(layer, x, g)
    # Only the order of the sums changes (dC/dU's over the chunks); any two orders of a
    # sum of n terms differ by at most 2 gamma_n sum |t_i|, n below every tile of the
    # batch plus the roundings of the transforms and of the channels' sums.
    n = BATCH * winograd.tiles(h_out) * winograd.tiles(w_out) + 64
    for name, a, e, m in zip(["out", "dx", "dW"], actual, expected, magnitudes):
        assert_within(a, e, 2 * n * EPS * m, name)


@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize("k, stride", [(2, None), (3, 2), (3, 1), (2, 1)])
def test_max_pool_split_matches_one_thread(monkeypatch, k, stride, count):
    rng = np.random.default_rng(3)
    # Few distinct values: windows with several maxima, whose first one takes g.
    x = rng.integers(0, 3, size=(BATCH, 7, 8, 3)).astype(np.float64)
    layer = MaxPool2d(k, stride)
    g = rng.normal(size=(BATCH, *layer.output_shape(x.shape[1:])))

    def passes():
        return layer.forward(x), layer.backward(g)

    expected = serial(passes)
    force_splitting(monkeypatch, count)
    actual = passes()
    # Maxima, and sums over window offsets in the same order for each image: exact.
    for a, e in zip(actual, expected):
        np.testing.assert_array_equal(a, e)


def batch_norm_pass(layer, x, g, training):
    y = layer.forward(x, training=training)
    dx = layer.backward(g)
    return (y, dx, *(p.grad for p in layer.parameters()),
            layer.running_mean.copy(), layer.running_var.copy())


@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize("scale", [True, False])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(BATCH, 6, 5, 3), (BATCH, 3), (BATCH * 7, 3)])
def test_batch_norm_split_matches_one_thread(monkeypatch, shape, training, scale, count):
    rng = np.random.default_rng(4)
    x = 2 + 3 * rng.normal(size=shape)
    g = rng.normal(size=shape)

    def fresh():
        layer = BatchNorm(3, dtype=np.float64, scale=scale)
        r = np.random.default_rng(5)
        for parameter in layer.parameters():
            parameter.value[:] = r.normal(size=3)
        layer.running_mean[:] = 2 + r.normal(size=3)
        layer.running_var[:] = 9 * r.uniform(0.5, 2, size=3)
        return layer

    expected = serial(lambda: batch_norm_pass(fresh(), x, g, training))
    force_splitting(monkeypatch, count)
    actual = batch_norm_pass(fresh(), x, g, training)

    # The m = N P rows of a channel are summed in regrouped order: each statistic (mean,
    # biased variance, sum of g, sum of g x_hat) moves by at most m eps times the sum of
    # its terms' sizes, i.e. by m eps relative to the largest of the terms (the
    # variance's terms are positive; the mean's error is bounded by m eps max|x|, which
    # is m eps max|x_hat| std). y = gamma (x - mean) / std + beta then moves by at most
    # m eps |gamma| (max|x_hat| + max|x_hat| / 2) plus a few ulps of |y|; dC/dx =
    # gamma / std (g - mean(g) - x_hat mean(g x_hat)) by at most m eps |gamma| / std
    # times max|g| (1 + max|x_hat|)^2 summed over its 4 uncertain factors; dC/dbeta by
    # m eps sum|g|, dC/dgamma by m eps sum|g| (1 + max|x_hat|) twice (the sum, x_hat).
    # The running averages move as the mean and variance. A factor 4 covers the ulps
    # of the elementwise steps.
    m = x.size // 3
    layer = fresh()
    mean, var = ((x.reshape(-1, 3).mean(0), x.reshape(-1, 3).var(0)) if training
                 else (layer.running_mean, layer.running_var))
    inv_std = 1 / np.sqrt(var + layer.eps)
    x_hat = np.max(np.abs(x.reshape(-1, 3) - mean) * inv_std)
    gamma = np.max(np.abs(layer.gamma.value)) if scale else 1.0
    sum_g = np.sum(np.abs(g))
    bounds = {"y": 4 * m * EPS * (gamma * 2 * x_hat + np.max(np.abs(expected[0]))),
              "dx": 4 * m * EPS * 4 * gamma * np.max(inv_std) * np.max(np.abs(g))
              * (1 + x_hat) ** 2,
              "dgamma": 4 * m * EPS * 2 * sum_g * (1 + x_hat),
              "dbeta": 4 * m * EPS * sum_g,
              "running_mean": 4 * m * EPS * np.max(np.abs(x)),
              "running_var": 4 * m * EPS * 2 * np.max(var)}
    names = ["y", "dx"] + (["dgamma"] if scale else []) + ["dbeta", "running_mean",
                                                            "running_var"]
    assert len(actual) == len(names)
    for name, a, e in zip(names, actual, expected):
        assert_within(a, e, bounds[name], name)


@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_dense_split_matches_one_thread(monkeypatch, bias, count):
    rng = np.random.default_rng(6)
    d_in, d_out = 7, 4
    x, g = rng.normal(size=(BATCH, d_in)), rng.normal(size=(BATCH, d_out))
    layer = Dense(d_in, d_out, "he", 1, dtype=np.float64, bias=bias)
    if bias:
        layer.b.value[...] = rng.normal(size=layer.b.value.shape)

    def passes(layer, x, g):
        z = layer.forward(x)
        dx = layer.backward(g)
        return z, dx, layer.w.grad, None if layer.b is None else layer.b.grad

    expected = serial(lambda: passes(layer, x, g))
    absolute = Dense(d_in, d_out, "he", 1, dtype=np.float64, bias=bias)
    absolute.w.value[...] = np.abs(layer.w.value)
    if bias:
        absolute.b.value[...] = np.abs(layer.b.value)
    magnitudes = serial(lambda: passes(absolute, np.abs(x), np.abs(g)))
    force_splitting(monkeypatch, count)
    actual = passes(layer, x, g)
    # Terms: Z, d_in products and the bias; dC/dx, d_out; dC/dW and dC/db, N.
    terms = [d_in + 1, d_out, BATCH, BATCH]
    for name, a, e, m, n in zip(["z", "dx", "dW", "db"], actual, expected, magnitudes, terms):
        if e is None:
            assert a is None
            continue
        assert_within(a, e, n * EPS * m, name)


@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize("shape", [(BATCH, 6, 5, 3), (BATCH, 4), (BATCH * 3,)])
def test_activations_split_match_one_thread(monkeypatch, shape, count):
    rng = np.random.default_rng(7)
    x, g = 2 * rng.normal(size=shape), rng.normal(size=shape)

    def passes(layer):
        return layer.forward(x), layer.backward(g)

    relu, gelu = serial(lambda: passes(ReLU())), serial(lambda: passes(GELU()))
    force_splitting(monkeypatch, count)
    # ReLU: comparisons, maxima and products by 0 or 1, exact whatever the pieces.
    for a, e in zip(passes(ReLU()), relu):
        np.testing.assert_array_equal(a, e)
    # GELU: elementwise, exact but for tanh, whose vectorised and scalar code (a
    # piece's tail may take the other) are each within a few ulps: t moves by at
    # most 8 eps (|t| <= 1), y = x (1 + t) / 2 by 4 eps |x| plus an ulp of y, dC/dx by
    # |g| 8 eps (1/2 + |x| k (1 + 0.134 x^2)) (k < 0.8) plus a few ulps of it.
    y, dx = passes(GELU())
    assert_within(y, gelu[0], 4 * EPS * np.abs(x) + 2 * EPS * np.abs(gelu[0]), "y")
    assert_within(dx, gelu[1], 8 * EPS * np.abs(g) * (0.5 + 0.8 * np.abs(x)
                                                      * (1 + 0.134 * x ** 2))
                  + 4 * EPS * np.abs(gelu[1]), "dx")


# ---------------------------------------------------------------- a whole network

def conv4_in_float64():
    """conv4 (width 4, hidden 8) for 8 x 8 x 3 images, its weights and buffers in
    float64 (``build`` makes float32): every layer then computes in float64."""
    network = architectures.build(architectures.conv4(10, width=4, hidden=8), (8, 8, 3),
                                  seed=0)
    for parameter in network.parameters():
        parameter.value = parameter.value.astype(np.float64)
    for layer in network.layers:
        for name, value in vars(layer).items():
            if isinstance(value, np.ndarray) and value.dtype == np.float32:
                setattr(layer, name, value.astype(np.float64))
    return network


def network_pass(x, labels):
    network = conv4_in_float64()
    loss, logits = network.loss_and_gradients(x, labels)
    return loss, logits, [p.grad.copy() for p in network.parameters()], network


@pytest.mark.parametrize("count", [2, 3])
def test_network_split_matches_one_thread(monkeypatch, count):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(BATCH, 8, 8, 3))
    labels = rng.integers(0, 10, size=BATCH)
    loss, logits, grads, network = serial(lambda: network_pass(x, labels))
    assert all(p.value.dtype == np.float64 for p in network.parameters())
    force_splitting(monkeypatch, count)
    split_loss, split_logits, split_grads, _ = network_pass(x, labels)
    # Each layer regroups sums of at most n = 320 terms (5 images of 8 x 8 positions,
    # the first batch norms and dC/dW): n eps = 7e-14 relative to the sizes of the
    # terms. Through the 17 layers forward and back the error grows at most by a sum
    # of such relative errors, each amplified by the layer's condition (a batch norm's
    # 1 / std, ~ 1 / 0.1 at worst on 5 images, with a few such layers in a row): a
    # bound of 17 * 320 eps * 10^4 = 1.2e-8 relative to the largest entry of each array
    # (cancellation makes an element-wise relative bound meaningless). For the
    # gradients, the largest entry of any of them: the hidden dense layer's bias, before
    # a batch norm, has a gradient of exactly 0, computed as the rounding noise of a sum
    # of terms as large as the other gradients.
    relative = 17 * 320 * EPS * 1e4
    assert abs(split_loss - loss) <= relative * abs(loss)
    assert_within(split_logits, logits, relative * np.max(np.abs(logits)), "logits")
    assert len(split_grads) == len(grads)
    scale = max(np.max(np.abs(e)) for e in grads)
    for i, (a, e) in enumerate(zip(split_grads, grads)):
        assert_within(a, e, relative * scale, f"gradient {i}")


def test_forced_splitting_splits_every_layer(monkeypatch):
    """The forcing above reaches each layer: every ``run`` of the network's passes gets
    several parts, and the convolutions' and ``map_chunks``'s parts several chunks."""
    rng = np.random.default_rng(8)
    x, labels = rng.normal(size=(BATCH, 8, 8, 3)), rng.integers(0, 10, size=BATCH)
    force_splitting(monkeypatch, 2)
    runs, chunks = [], []
    original_run, original_chunks = parallel.run, parallel.chunks

    def counting_run(function, parts, *per_part):
        runs.append(len(parts))
        return original_run(function, parts, *per_part)

    def counting_chunks(*args, **kwargs):
        pieces = original_chunks(*args, **kwargs)
        chunks.append(len(pieces))
        return pieces

    monkeypatch.setattr(parallel, "run", counting_run)
    monkeypatch.setattr(parallel, "chunks", counting_chunks)
    network_pass(x, labels)
    assert runs and all(count == 2 for count in runs)
    assert chunks and all(count >= 2 for count in chunks)
