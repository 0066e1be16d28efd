"""Tests of imagelab.data.images: rows and channel-last images against pixel-by-pixel loops,
and the mirror image of a row."""
import numpy as np
import pytest

from conftest import images_to_rows_loop, random_images
from imagelab.data.images import IMAGE_SHAPE, hflip_rows, images_to_rows, rows_to_images


def test_image_shape_is_channel_last():
    assert IMAGE_SHAPE == (32, 32, 3)


def test_rows_to_images_puts_each_plane_in_its_channel():
    # A known image: red = row index, green = column index, blue = 200 everywhere.
    y, x = np.mgrid[0:32, 0:32]
    image = np.stack([y, x, np.full_like(y, 200)], axis=-1).astype(np.uint8)
    row = np.concatenate([y.ravel(), x.ravel(), np.full(1024, 200)]).astype(np.uint8)
    np.testing.assert_array_equal(rows_to_images(row[None])[0], image)
    assert rows_to_images(row[None]).dtype == np.uint8
    assert rows_to_images(row[None])[0, 5, 7].tolist() == [5, 7, 200]   # R, G, B of (y=5, x=7)


def test_rows_to_images_inverts_a_pixel_by_pixel_layout():
    images = random_images(3)
    np.testing.assert_array_equal(rows_to_images(images_to_rows_loop(images)), images)


def test_images_to_rows_is_the_pixel_by_pixel_layout():
    images = random_images(3, seed=1)
    rows = images_to_rows(images)
    np.testing.assert_array_equal(rows, images_to_rows_loop(images))
    assert rows.dtype == np.float32 and rows.flags.c_contiguous
    np.testing.assert_array_equal(images_to_rows(rows_to_images(rows)), rows)


def test_a_pure_red_row_gives_a_red_image():
    row = np.zeros((1, 3072), np.float32)
    row[0, :1024] = 255                                  # the first plane is red
    image = rows_to_images(row)[0]
    assert (image[..., 0] == 255).all() and (image[..., 1:] == 0).all()


@pytest.mark.parametrize("shape", [(3072,), (2, 3071), (2, 32, 32, 3)])
def test_rows_to_images_rejects_other_shapes(shape):
    with pytest.raises(ValueError, match="3072"):
        rows_to_images(np.zeros(shape))


def test_hflip_rows_matches_a_loop():
    rng = np.random.default_rng(10)
    rows = rng.integers(0, 256, size=(3, 3 * 32 * 32)).astype(np.float32)
    flipped = hflip_rows(rows)
    for n in range(3):
        for c in range(3):
            for y in range(32):
                for x in range(32):
                    assert flipped[n, c * 1024 + y * 32 + x] == rows[n, c * 1024 + y * 32 + 31 - x]
    np.testing.assert_array_equal(hflip_rows(flipped), rows)
