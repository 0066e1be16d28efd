"""Tests of imagelab.training.tta: the shifted views against a loop, and each level's logits
against the views computed by hand."""
import numpy as np
import pytest

from imagelab.nn.conv import Flatten
from imagelab.nn.layers import Dense
from imagelab.nn.network import Network
from imagelab.training.tta import mirrored, shift, tta_logits


def reflect(i, size):
    """np.pad's "reflect" index for i in -1..size: the edge pixel is not repeated."""
    return -i if i < 0 else 2 * (size - 1) - i if i >= size else i


@pytest.mark.parametrize("dy, dx", [(1, 1), (-1, -1), (1, -1), (0, 1), (0, 0)])
def test_shift_moves_the_image_and_reflects_the_edge(dy, dx):
    images = np.random.default_rng(0).normal(size=(2, 4, 5, 3))
    out = shift(images, dy, dx)
    assert out.shape == images.shape
    for i in range(4):
        for j in range(5):
            np.testing.assert_array_equal(out[:, i, j],
                                          images[:, reflect(i - dy, 4), reflect(j - dx, 5)])


def test_each_level_averages_its_views():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(7, 4, 4, 3)).astype(np.uint8)
    dense = Dense(48, 5, rng=2)
    network = Network([Flatten(), dense])

    def prepare(batch):
        return (batch.astype(np.float32) - 100) / 50

    def logits(x):
        return x.reshape(len(x), -1) @ dense.w.value + dense.b.value

    x = prepare(images)
    level_0 = logits(x)
    level_1 = (logits(x) + logits(mirrored(x))) / 2
    moved = [(logits(shift(x, d, d)) + logits(mirrored(shift(x, d, d)))) / 2 for d in (1, -1)]
    level_2 = level_1 / 2 + (moved[0] + moved[1]) / 4
    out = tta_logits(network, images, prepare, batch_size=3)
    # The same float32 sums in another order: a few units of the last place of logits
    # of magnitude |z| <= sum |x w| (48 terms).
    scale = np.abs(x.reshape(7, -1)) @ np.abs(dense.w.value) + np.abs(dense.b.value)
    for got, expected in zip(out, (level_0, level_1, level_2)):
        assert got.dtype == np.float32 and got.shape == (7, 5)
        assert np.all(np.abs(got - expected) <= 8 * np.finfo(np.float32).eps * scale)


def test_a_symmetric_network_gives_the_same_logits_at_every_level():
    # Logits that depend only on the sum of the pixels: unchanged by a mirror, and by
    # a shift of a constant image.
    images = np.full((3, 4, 4, 1), 7, np.uint8)
    dense = Dense(16, 2, rng=0)
    dense.w.value[:] = dense.w.value[:1]              # every pixel weighed alike
    network = Network([Flatten(), dense])
    out = tta_logits(network, images, lambda b: b.astype(np.float32))
    np.testing.assert_allclose(out[1], out[0], rtol=1e-6)
    np.testing.assert_allclose(out[2], out[0], rtol=1e-6)


def test_a_bad_batch_size_is_refused():
    with pytest.raises(ValueError, match="batch_size"):
        tta_logits(Network([Flatten()]), np.zeros((1, 2, 2, 1)), lambda b: b, batch_size=0)
