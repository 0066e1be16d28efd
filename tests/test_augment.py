"""Tests of imagelab.data.augment: translations against a crop of the padded image, mirror
images, the light changes' formula, the channel statistics, and the pipeline."""
import numpy as np
import pytest

from imagelab.data.augment import (ImagePipeline, adjust_light, alternating_flips,
                              channel_statistics, jitter_light, mirror, translate)


def uint8_images(n=6, h=5, w=4, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, c), dtype=np.uint8)


def test_translate_is_a_crop_of_the_zero_padded_image():
    images = uint8_images()
    out = translate(images, 2, np.random.default_rng(1))
    assert out.shape == images.shape and out.dtype == np.uint8
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    for image, moved in zip(padded, out):
        crops = [image[a:a + 5, b:b + 4] for a in range(5) for b in range(5)]
        assert any(np.array_equal(moved, crop) for crop in crops)


def test_translate_with_reflection_is_a_crop_of_the_reflected_image():
    images = uint8_images()
    out = translate(images, 2, np.random.default_rng(1), mode="reflect")
    assert out.shape == images.shape and out.dtype == np.uint8
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    for image, moved in zip(padded, out):
        crops = [image[a:a + 5, b:b + 4] for a in range(5) for b in range(5)]
        assert any(np.array_equal(moved, crop) for crop in crops)
    # No zero comes in: every pixel of a moved image of ones is one.
    ones = np.ones((50, 5, 4, 1), np.uint8)
    assert np.all(translate(ones, 2, np.random.default_rng(3), mode="reflect") == 1)


def test_translate_uses_every_offset_and_zero_padding_changes_nothing():
    images = uint8_images(n=400, h=3, w=3, c=1)
    np.testing.assert_array_equal(translate(images, 0, np.random.default_rng(0)), images)
    rng = np.random.default_rng(2)
    ones = np.ones((400, 3, 3, 1), np.uint8)
    # The number of zero rows on top and bottom tells the vertical offset: -1, 0 or +1.
    kept = translate(ones, 1, rng).sum(axis=(1, 2, 3))
    assert set(kept) == {4, 6, 9}                     # corners, edges, centre


def test_mirror_flips_about_half_and_keeps_the_rest():
    images = uint8_images(n=200)
    out = mirror(images, np.random.default_rng(3))
    flipped = np.array([np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images)])
    kept = np.array([np.array_equal(o, i) for o, i in zip(out, images)])
    assert np.all(flipped | kept) and 70 < flipped.sum() < 130


def test_mirror_flips_exactly_the_images_of_a_mask():
    images = uint8_images(n=5)
    flip = np.array([True, False, False, True, False])
    out = mirror(images, flip=flip)
    for o, i, f in zip(out, images, flip):
        np.testing.assert_array_equal(o, i[:, ::-1] if f else i)


def test_alternating_flips_see_each_image_both_ways_in_two_epochs():
    first = np.random.default_rng(0).random(100) < 0.5
    for epoch in range(4):
        np.testing.assert_array_equal(alternating_flips(first, epoch),
                                      first if epoch % 2 == 0 else ~first)
        assert np.all(alternating_flips(first, epoch) != alternating_flips(first, epoch + 1))


def test_adjust_light_formula_and_clipping():
    images = np.array([[[[0.0], [100.0]], [[200.0], [100.0]]]], np.float32)  # mean 100
    out = adjust_light(images, 0.1, 2.0)             # 100 + 2 (x - 100) + 25.5
    np.testing.assert_allclose(out.ravel(), [0, 125.5, 255, 125.5])
    np.testing.assert_array_equal(adjust_light(images, 0.0, 1.0), images)


def test_jitter_light_stays_in_range_and_changes_images():
    images = uint8_images(n=20)
    out = jitter_light(images, 0.3, 0.5, np.random.default_rng(4))
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 255
    assert not np.allclose(out, images)


def test_channel_statistics_match_numpy_in_float64():
    images = uint8_images(n=50, seed=5)
    mean, std = channel_statistics(images, chunk=7)
    flat = images.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(mean, flat.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(std, flat.std(axis=0), rtol=1e-5)


def test_pipeline_normalises_rows_and_augments_only_in_training():
    images = uint8_images(n=4)
    rows = images.reshape(4, -1)
    mean, std = np.array([1, 2, 3], np.float32), np.array([2, 4, 8], np.float32)
    pipeline = ImagePipeline((5, 4, 3), mean, std, pad=1, flip=True, brightness=0.1)
    x = pipeline.evaluation(rows)
    assert x.dtype == np.float32 and x.shape == (4, 5, 4, 3)
    np.testing.assert_allclose(x, (images - mean) / std, rtol=1e-6)
    y = pipeline.training(rows, np.random.default_rng(6))
    assert y.shape == x.shape and y.dtype == np.float32 and not np.allclose(x, y)
    np.testing.assert_array_equal(rows, images.reshape(4, -1))   # the data is untouched


def test_pipeline_flips_the_images_it_is_told_to():
    images = uint8_images(n=4)
    pipeline = ImagePipeline((5, 4, 3), np.zeros(3), np.ones(3), flip=True)
    flip = np.array([False, True, True, False])
    x = pipeline.training(images.reshape(4, -1), np.random.default_rng(0), flip)
    np.testing.assert_array_equal(x, mirror(images, flip=flip).astype(np.float32))


@pytest.mark.parametrize("kwargs, message", [
    ({"pad": -1}, "pad must be an integer >= 0, got -1"),
    ({"brightness": 1.0}, r"brightness must be a finite number in \[0, 1\), got 1.0"),
    ({"contrast": -0.1}, r"contrast must be a finite number in \[0, 1\), got -0.1"),
    ({"pad_mode": "wrap"}, "pad_mode must be 'constant' or 'reflect', got 'wrap'"),
])
def test_pipeline_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ImagePipeline((5, 4, 3), np.zeros(3), np.ones(3), **kwargs)
