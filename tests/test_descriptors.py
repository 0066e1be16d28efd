"""Tests of imagelab.data.descriptors: descriptor values against loops and scikit-image, specs,
the parallel path, the feature cache, and the message when scikit-image is missing."""
import functools
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, images_to_rows_loop, random_images
from imagelab.data import descriptors
from imagelab.data.descriptors import (color_histogram, describe, describer, hog_features,
                                  lbp_features, parse_feature_spec, parse_spec, to_grey)
from imagelab.data.images import rows_to_images


# ---- to_grey ------------------------------------------------------------------------

def test_to_grey_weights_the_channels():
    image = np.zeros((1, 32, 32, 3), np.float32)
    image[0, 0, 0] = [100, 0, 0]
    image[0, 0, 1] = [0, 100, 0]
    image[0, 0, 2] = [0, 0, 100]
    grey = to_grey(image)
    assert grey.shape == (1, 32, 32) and grey.dtype == np.float32
    np.testing.assert_allclose(grey[0, 0, :3], [21.25, 71.54, 7.21], rtol=1e-6)


def test_to_grey_matches_skimage():
    color = pytest.importorskip("skimage.color")
    images = random_images(2)
    np.testing.assert_allclose(to_grey(images) / 255, color.rgb2gray(images / 255), atol=1e-6)


# ---- colour histogram (no scikit-image needed) ---------------------------------------

def test_color_histogram_of_a_pure_colour_image():
    image = np.zeros((1, 32, 32, 3), np.float32)
    image[..., 0] = 255                                  # pure red
    image[0, :16, :, 2] = 130                            # top half magenta-ish
    histogram = color_histogram(image, bins=4)
    assert histogram.shape == (1, 64) and histogram.dtype == np.float32
    expected = np.zeros(64)
    expected[(3 * 4 + 0) * 4 + 0] = 0.5                  # (r, g, b) boxes (3, 0, 0)
    expected[(3 * 4 + 0) * 4 + 2] = 0.5                  # and (3, 0, 2): 130 // 64 = 2
    np.testing.assert_allclose(histogram[0], expected)


def test_color_histogram_matches_histogramdd():
    images = random_images(3, seed=1)
    histogram = color_histogram(images, bins=3)
    for image, row in zip(images, histogram):
        edges = [np.linspace(0, 256, 4)] * 3
        reference, _ = np.histogramdd(image.reshape(-1, 3), bins=edges)
        np.testing.assert_allclose(row, reference.ravel() / 1024, atol=1e-7)


@pytest.mark.parametrize("bins", [0, 257, 2.5])
def test_color_histogram_rejects_bad_bins(bins):
    with pytest.raises(ValueError, match="bins"):
        color_histogram(random_images(1), bins=bins)


def test_descriptors_reject_rows_instead_of_images():
    with pytest.raises(ValueError, match="rows_to_images"):
        color_histogram(np.zeros((2, 3072)))


# ---- HOG and LBP (scikit-image) ----------------------------------------------------------

def test_hog_matches_skimage_image_by_image():
    feature = pytest.importorskip("skimage.feature")
    color = pytest.importorskip("skimage.color")
    images = random_images(3, seed=2)
    features = hog_features(images)
    assert features.shape == (3, 9 * 4 * 3 * 3) and features.dtype == np.float32
    for image, row in zip(images, features):
        reference = feature.hog(color.rgb2gray(image / 255), orientations=9,
                                pixels_per_cell=(8, 8), cells_per_block=(2, 2),
                                block_norm="L2-Hys")
        np.testing.assert_allclose(row, reference, atol=1e-5)


def test_hog_in_colour_uses_the_channels():
    feature = pytest.importorskip("skimage.feature")
    images = random_images(2, seed=3)
    features = hog_features(images, channels="rgb", pixels_per_cell=4, orientations=6)
    assert features.shape == (2, 6 * 4 * 7 * 7)
    reference = feature.hog(images[1] / 255, orientations=6, pixels_per_cell=(4, 4),
                            cells_per_block=(2, 2), block_norm="L2-Hys", channel_axis=-1)
    np.testing.assert_allclose(features[1], reference, atol=1e-5)
    # With R = G = B the grey image is that channel (the weights sum to 1), so both agree.
    grey_images = np.repeat(images[:, :, :, :1], 3, axis=3)
    np.testing.assert_allclose(hog_features(grey_images, channels="rgb"),
                               hog_features(grey_images), atol=1e-5)


@pytest.mark.parametrize("params, match", [({"pixels_per_cell": 5}, "pixels_per_cell"),
                                           ({"cells_per_block": 5}, "cells_per_block"),
                                           ({"channels": "bgr"}, "channels")])
def test_hog_rejects_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        hog_features(random_images(1), **params)


def lbp_cell_histograms_loop(codes, n_codes, grid):
    """Reference: each cell's code histogram by explicit loops over cells and pixels."""
    size = 32 // grid
    out = []
    for gy in range(grid):
        for gx in range(grid):
            counts = np.zeros(n_codes)
            for y in range(gy * size, (gy + 1) * size):
                for x in range(gx * size, (gx + 1) * size):
                    counts[int(codes[y, x])] += 1
            out.extend(counts / size**2)
    return np.array(out)


def test_lbp_matches_cell_histograms_of_skimage_codes():
    feature = pytest.importorskip("skimage.feature")
    images = random_images(2, seed=4)
    features = lbp_features(images, points=8, radius=1, grid=4)
    assert features.shape == (2, 4 * 4 * 10) and features.dtype == np.float32
    for image, row in zip(images, features):
        grey = np.clip(np.rint(to_grey(image[None])[0]), 0, 255).astype(np.uint8)
        codes = feature.local_binary_pattern(grey, 8, 1, method="uniform")
        np.testing.assert_allclose(row, lbp_cell_histograms_loop(codes, 10, 4), atol=1e-7)
    np.testing.assert_allclose(features.reshape(2, 16, 10).sum(axis=2), 1, rtol=1e-6)


def test_lbp_of_a_flat_image_has_known_codes():
    # Inside, every neighbour equals the centre: all 8 bits are 1, uniform code 8.
    # Outside the image counts as 0 (below the centre): an edge pixel has 3 neighbours
    # out, so 5 ones in a row, code 5; a corner has 5 out, code 3. Each 16 x 16 cell of
    # a 2 x 2 grid touches the border along 16 + 16 - 1 pixels, one of them a corner.
    pytest.importorskip("skimage")
    features = lbp_features(np.full((1, 32, 32, 3), 90, np.float32), grid=2)
    expected = np.zeros((4, 10))
    expected[:, 8], expected[:, 5], expected[:, 3] = 15 * 15 / 256, 30 / 256, 1 / 256
    np.testing.assert_allclose(features.reshape(4, 10), expected)


def test_lbp_rejects_a_grid_that_does_not_divide_32():
    with pytest.raises(ValueError, match="grid"):
        lbp_features(random_images(1), grid=3)


@pytest.mark.parametrize("describe_images, params, message", [
    (color_histogram, {"bins": True}, r"bins must be an integer in \[1, 256\], got True"),
    (hog_features, {"orientations": 0}, r"orientations must be an integer >= 1, got 0"),
    (hog_features, {"orientations": 4.5}, r"orientations must be an integer >= 1, got 4.5"),
    (hog_features, {"pixels_per_cell": True}, r"pixels_per_cell must be an integer in "
                                              r"\[1, 32\], got True"),
    (hog_features, {"pixels_per_cell": 8.0}, r"pixels_per_cell must be an integer in "
                                             r"\[1, 32\], got 8.0"),
    (hog_features, {"cells_per_block": True}, r"cells_per_block must be an integer in "
                                              r"\[1, 4\], got True"),
    (lbp_features, {"grid": 64}, r"grid must be an integer in \[1, 32\], got 64"),
    (lbp_features, {"points": True}, r"points must be an integer >= 1, got True"),
    (lbp_features, {"radius": float("nan")}, r"radius must be a finite number > 0, got nan"),
    (lbp_features, {"radius": 0}, r"radius must be a finite number > 0, got 0"),
])
def test_descriptor_parameters_are_checked_by_name_bools_and_floats_refused(
        describe_images, params, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        describe_images(random_images(1), **params)


# ---- specs and describe ----------------------------------------------------------------

def test_parse_spec_fills_defaults_and_reads_values():
    parts = parse_spec("hog:pixels_per_cell=4,channels=rgb+color")
    assert parts == [("hog", {"orientations": 9, "pixels_per_cell": 4, "cells_per_block": 2,
                              "channels": "rgb"}),
                     ("color", {"bins": 4})]


@pytest.mark.parametrize("spec, match", [("sift", "unknown descriptor"),
                                         ("hog:cells=2", "bad parameter"),
                                         ("hog:orientations", "bad parameter"),
                                         ("", "non-empty")])
def test_parse_spec_rejects_bad_specs(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_spec(spec)


def test_parse_feature_spec_takes_raw_or_a_spec():
    assert parse_feature_spec("raw") == "raw"
    assert parse_feature_spec("hog+color:bins=2") == "hog+color:bins=2"
    with pytest.raises(ValueError, match="unknown descriptor"):
        parse_feature_spec("sift")


def test_describer_describes_with_a_cache_beside_the_data(tmp_path):
    assert describer("raw", str(tmp_path)) is None                  # the pixels themselves
    rows = images_to_rows_loop(random_images(3, seed=10))
    features = describer("color:bins=2", str(tmp_path))(rows)
    np.testing.assert_array_equal(features, color_histogram(rows_to_images(rows), bins=2))
    assert len(os.listdir(tmp_path / "features")) == 1


def test_describe_concatenates_in_spec_order():
    images = random_images(4, seed=5)
    rows = images_to_rows_loop(images)
    features = describe(rows, "color:bins=2+color", n_jobs=1)
    assert features.shape == (4, 8 + 64) and features.dtype == np.float32
    np.testing.assert_array_equal(features[:, :8], color_histogram(images, bins=2))
    np.testing.assert_array_equal(features[:, 8:], color_histogram(images, bins=4))


def test_describe_rejects_no_rows():
    with pytest.raises(ValueError, match="no rows"):
        describe(np.zeros((0, 3072)), "color")


def test_describe_in_parallel_keeps_the_row_order(capsys):
    rows = images_to_rows_loop(random_images(7, seed=6))
    serial = describe(rows, "color", n_jobs=1)
    parallel = describe(rows, "color", n_jobs=2, chunk_size=2, progress=True)
    np.testing.assert_array_equal(parallel, serial)
    assert "7/7 images" in capsys.readouterr().err


# ---- the cache ------------------------------------------------------------------------------

@pytest.fixture
def counted_color(monkeypatch):
    """Replace the colour descriptor by one that counts the images it describes."""
    calls = []

    @functools.wraps(color_histogram)
    def counting(images, **params):
        calls.append(len(images))
        return color_histogram(images, **params)

    monkeypatch.setitem(descriptors.DESCRIPTORS, "color", counting)
    return calls


def test_the_cache_hits_for_the_same_data_and_parameters(tmp_path, counted_color):
    rows = images_to_rows_loop(random_images(5, seed=7))
    first = describe(rows, "color", n_jobs=1, cache_dir=str(tmp_path))
    assert counted_color == [5]
    second = describe(rows.copy(), "color", n_jobs=1, cache_dir=str(tmp_path))
    assert counted_color == [5]                          # read back, not computed
    np.testing.assert_array_equal(second, first)
    files = os.listdir(tmp_path)
    assert len(files) == 1 and files[0].startswith("color-") and files[0].endswith(".npy")


def test_the_cache_misses_when_parameters_or_data_change(tmp_path, counted_color):
    rows = images_to_rows_loop(random_images(5, seed=8))
    describe(rows, "color", n_jobs=1, cache_dir=str(tmp_path))
    describe(rows, "color:bins=2", n_jobs=1, cache_dir=str(tmp_path))   # other parameters
    changed = rows.copy()
    changed[0, 0] += 1                                                  # other data
    features = describe(changed, "color", n_jobs=1, cache_dir=str(tmp_path))
    assert counted_color == [5, 5, 5]
    np.testing.assert_array_equal(features, color_histogram(rows_to_images(changed)))
    assert len(os.listdir(tmp_path)) == 3                # no temporary file left behind


def test_a_concatenation_reuses_each_descriptors_cache(tmp_path, counted_color):
    rows = images_to_rows_loop(random_images(3, seed=9))
    describe(rows, "color", n_jobs=1, cache_dir=str(tmp_path))
    describe(rows, "color:bins=2+color", n_jobs=1, cache_dir=str(tmp_path))
    assert counted_color == [3, 3]                       # only bins=2 was new


# ---- without scikit-image ----------------------------------------------------------------

@pytest.fixture
def no_skimage(monkeypatch):
    """Make ``import skimage`` fail, as when scikit-image is not installed."""
    for name in [m for m in sys.modules if m == "skimage" or m.startswith("skimage.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "skimage", None)    # None in sys.modules: ImportError


@pytest.mark.parametrize("describe_images", [hog_features, lbp_features])
def test_a_missing_skimage_says_how_to_install_it(no_skimage, describe_images):
    with pytest.raises(ImportError, match=r"scikit-image.*pip install -e '\.\[descriptors\]'"):
        describe_images(random_images(1))


def test_the_colour_histogram_and_the_cache_work_without_skimage(no_skimage, tmp_path):
    rows = images_to_rows_loop(random_images(2))
    assert describe(rows, "color", n_jobs=1, cache_dir=str(tmp_path)).shape == (2, 64)


def test_the_modules_import_without_skimage():
    code = ("import sys; sys.modules['skimage'] = None; "
            "import read_cifar, knn, mlp, imagelab.utils.checks, imagelab.utils.progress, imagelab.utils.files, "
            "imagelab.data.images, imagelab.cli.arguments, imagelab.data.splits, imagelab.data.preprocessing, "
            "imagelab.data.descriptors, imagelab.classic.cross_validation, imagelab.viz.figures, "
            "imagelab.nn.layers, imagelab.nn.losses, imagelab.nn.optim, imagelab.nn.network, "
            "imagelab.training.loop, imagelab.cli.knn_study, imagelab.cli.mlp_study, imagelab.cli.train_mlp")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
