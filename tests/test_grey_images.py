"""Grey 28 x 28 images (the MNIST family) in the descriptors and the image grids."""
import numpy as np
import pytest

from imagelab.data.descriptors import color_histogram, describe, hog_features, lbp_features, to_grey
from imagelab.viz.figures import plot_image_grid
from imagelab.data.images import rows_to_images

GREY = (28, 28, 1)


@pytest.fixture
def grey_rows():
    return np.random.default_rng(0).integers(0, 256, size=(5, 784)).astype(np.float32)


def test_grey_images_are_their_own_grey_levels(grey_rows):
    images = rows_to_images(grey_rows, GREY)
    np.testing.assert_array_equal(to_grey(images), grey_rows.reshape(5, 28, 28))


def test_hog_of_grey_images_has_four_cells_a_side(grey_rows):
    pytest.importorskip("skimage")
    features = hog_features(rows_to_images(grey_rows, GREY))
    assert features.shape == (5, 324) and features.dtype == np.float32    # 7-pixel cells
    assert hog_features(rows_to_images(grey_rows, GREY), pixels_per_cell=4).shape == (5, 1296)


def test_hog_refuses_rgb_channels_of_grey_images(grey_rows):
    with pytest.raises(ValueError, match="channels='rgb' needs colour images"):
        hog_features(rows_to_images(grey_rows, GREY), channels="rgb")


def test_cells_must_divide_the_side(grey_rows):
    with pytest.raises(ValueError, match="pixels_per_cell must be a positive integer dividing 28"):
        hog_features(rows_to_images(grey_rows, GREY), pixels_per_cell=8)


def test_lbp_of_grey_images(grey_rows):
    pytest.importorskip("skimage")
    features = lbp_features(rows_to_images(grey_rows, GREY))
    assert features.shape == (5, 160)
    np.testing.assert_allclose(features.reshape(5, 16, 10).sum(axis=2), 1, rtol=1e-6)


def test_colour_histogram_of_grey_images_is_the_grey_level_histogram(grey_rows):
    histogram = color_histogram(rows_to_images(grey_rows, GREY), bins=8)
    expected = np.stack([np.bincount((row // 32).astype(int), minlength=8) / 784
                         for row in grey_rows])
    np.testing.assert_allclose(histogram, expected, rtol=1e-6)


def test_colour_histogram_of_colour_images_is_unchanged():
    images = np.array([[[[0, 0, 0], [255, 255, 255]], [[255, 0, 0], [0, 0, 255]]]])
    codes = np.flatnonzero(color_histogram(images, bins=2)[0])
    assert codes.tolist() == [0, 1, 4, 7]        # black, blue, red, white: (r * 2 + g) * 2 + b


def test_describe_takes_the_image_shape(grey_rows):
    features = describe(grey_rows, "color:bins=4", image_shape=GREY, n_jobs=1)
    assert features.shape == (5, 4)
    with pytest.raises(ValueError, match=r"data must have shape \(n, 3072\)"):
        describe(grey_rows, "color", n_jobs=1)


def test_image_grid_draws_grey_images_in_grey(grey_rows):
    figure = plot_image_grid(grey_rows, np.arange(5), np.arange(5), list("abcde"), "grey",
                             image_shape=GREY)
    image = figure.axes[0].images[0]
    assert image.get_array().shape == (28, 28) and image.get_cmap().name == "gray"
    assert figure.axes[0].get_title() == "true: a\npred: a"
