"""Tests of the augmentation study: ``rotate`` against scikit-image and exact quarter
turns, the noise's statistics, the pipeline's flips and shifts against slow loops,
``compare``'s bookkeeping, the command end to end on tiny MNIST-style files, and its
refusals."""
import json
import os

import numpy as np
import pytest

from conftest import fashion_mnist_folder
from imagelab.analysis import augmentation
from imagelab.analysis.augmentation import RowAugmentation, add_noise, compare, examples
from imagelab.cli.studies import augmentation as command
from imagelab.data.augment import rotate

EPS64 = np.finfo(np.float64).eps


def bordered_images(n, h, w, c, seed=0):
    """Random images in [0, 1] inside a black border of 3 pixels, so that no rotation by
    up to 30 degrees brings a pixel of the content outside the frame (where conventions
    for the edge differ between libraries)."""
    images = np.zeros((n, h, w, c))
    images[:, 3:-3, 3:-3] = np.random.default_rng(seed).random((n, h - 6, w - 6, c))
    return images


@pytest.mark.parametrize("shape", [(12, 12, 1), (11, 14, 3)])
def test_rotate_is_scikit_images_bilinear_rotation(shape):
    transform = pytest.importorskip("skimage.transform")
    images = bordered_images(4, *shape)
    angles = np.array([0.0, 7.5, -20.0, 30.0])
    out = rotate(images, angles)
    assert out.shape == images.shape and out.dtype == images.dtype
    for image, angle, mine in zip(images, angles, out):
        expected = transform.rotate(image, angle, order=1, mode="constant", cval=0,
                                    preserve_range=True)
        # Both blend 4 values in [0, 1] with weights from a few float64 operations: they
        # agree to some tens of eps.
        np.testing.assert_allclose(mine, expected, rtol=0, atol=64 * EPS64)


def test_a_quarter_turn_is_numpys_rot90_and_no_turn_changes_nothing():
    images = np.random.default_rng(1).random((2, 5, 5, 1))
    np.testing.assert_array_equal(rotate(images, [0.0, 0.0]), images)
    # cos(90 deg) is 6e-17, not 0: the source points are off the pixels by that much.
    np.testing.assert_allclose(rotate(images, [90.0, 90.0]), np.rot90(images, 1, axes=(1, 2)),
                               rtol=0, atol=16 * EPS64)


def test_the_noise_has_the_mean_and_spread_it_is_given():
    rng = np.random.default_rng(2)
    rows = np.full((100, 1000), 0.5, np.float32)
    noise = add_noise(rows, 0.1, rng) - rows
    # 1e5 draws of N(0, 0.01) (clipping at 5 sigma never happens): the mean is within
    # 5 standard errors, 5 * 0.1 / sqrt(1e5), the std within 5 * 0.1 / sqrt(2e5).
    assert abs(noise.mean()) < 5 * 0.1 / np.sqrt(1e5)
    assert abs(noise.std() - 0.1) < 5 * 0.1 / np.sqrt(2e5)
    assert noise.dtype == np.float32
    clipped = add_noise(np.zeros((10, 10), np.float32), 1.0, rng)
    assert clipped.min() == 0 and clipped.max() <= 1


def shifted(image, dy, dx):
    """``image`` (H, W, C) moved by dy rows and dx columns, zeros coming in (a loop)."""
    h, w = image.shape[:2]
    out = np.zeros_like(image)
    for r in range(h):
        for c in range(w):
            if 0 <= r - dy < h and 0 <= c - dx < w:
                out[r, c] = image[r - dy, c - dx]
    return out


def test_the_pipeline_flips_a_half_and_shifts_each_image_by_at_most_its_pad():
    rng = np.random.default_rng(3)
    images = rng.random((200, 4, 5, 1)).astype(np.float32)
    rows = images.reshape(200, -1)
    assert np.array_equal(RowAugmentation((4, 5, 1)).training(rows, rng), rows)
    flipped = RowAugmentation((4, 5, 1), flip=True).training(rows, rng).reshape(images.shape)
    mirrored = [np.array_equal(out, image[:, ::-1]) for out, image in zip(flipped, images)]
    kept = [np.array_equal(out, image) for out, image in zip(flipped, images)]
    assert all(m or k for m, k in zip(mirrored, kept))
    # 200 fair coins: 100 +- 5 standard deviations (sqrt(50) ~ 7).
    assert abs(sum(mirrored) - 100) < 36
    moved = RowAugmentation((4, 5, 1), shift=1).training(rows[:20], rng).reshape(20, 4, 5, 1)
    for out, image in zip(moved, images):
        assert any(np.array_equal(out, shifted(image, dy, dx))
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    assert RowAugmentation((4, 5, 1), shift=1).evaluation(rows.astype(np.float64)).dtype == \
        np.float32


def test_examples_draw_each_configuration():
    rows = np.random.default_rng(4).random((3, 16)).astype(np.float32)
    drawn = examples(rows, (4, 4, 1), {"none": (0.0, 0, 0.0, False),
                                       "rotated": (0.0, 0, 30.0, False)})
    assert np.array_equal(drawn["none"], rows) and not np.array_equal(drawn["rotated"], rows)


def blobs(n, seed):
    """Rows of 16 pixels in [0, 1]: class k lights pixel block k of 4 (easy to learn)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 4
    x = 0.1 * rng.random((n, 16))
    for k in range(4):
        x[labels == k, 4 * k:4 * k + 4] += 0.8
    return x.astype(np.float32), labels


def test_compare_keeps_the_accuracies_of_each_seed_and_their_gap():
    x, labels = blobs(80, 0)
    x_test, labels_test = blobs(40, 1)
    record = compare(x, labels, x_test, labels_test, (4, 4, 1),
                     {"none": (0.0, 0, 0.0, False), "noise": (0.1, 0, 0.0, False)},
                     seeds=(0, 1), hidden=(8,), num_epoch=2)
    for result in record.values():
        runs = result["runs"]
        assert len(runs["test_accuracy"]) == 2
        np.testing.assert_allclose(runs["gap"], np.subtract(runs["train_accuracy"],
                                                            runs["test_accuracy"]))
        assert result["test_accuracy"]["mean"] == pytest.approx(np.mean(runs["test_accuracy"]))
    assert record["noise"]["noise"] == 0.1


def test_the_train_accuracy_is_on_the_rows_trained_on(monkeypatch):
    # A network that is right on the validation rows only: the training accuracy, on the
    # other rows, is then 0.
    x, labels = blobs(40, 0)

    def fake_train(x, labels, hidden, **kwargs):
        return "net", {}

    def fake_accuracy(network, rows, row_labels):
        return float(len(rows) == 4)           # the 4 validation rows of 40
    monkeypatch.setattr(augmentation, "train_mlp", fake_train)
    monkeypatch.setattr(augmentation, "accuracy_of", fake_accuracy)
    record = compare(x, labels, x[:4], labels[:4], (4, 4, 1),
                     {"none": (0.0, 0, 0.0, False)}, seeds=(0,))
    assert record["none"]["runs"]["train_accuracy"] == [0.0]
    assert record["none"]["runs"]["test_accuracy"] == [1.0]


# ------------------------------------------------------- imagelab study augmentation

@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """fashion-mnist/ with 40 training and 10 test images."""
    return fashion_mnist_folder(tmp_path / "data", monkeypatch, (40, 10))


def test_the_command_writes_its_figures_and_numbers(data_dir, tmp_path, capsys):
    results = tmp_path / "results"
    command.main(["--data-dir", data_dir, "--results-dir", str(results), "--no-download",
                  "--seeds", "1", "--epochs", "1", "--train-size", "30"])
    for name in ("study_augmentation_fashion-mnist.png",
                 "study_augmentation_fashion-mnist_examples.png"):
        assert os.path.getsize(results / name) > 1000
    with open(results / "study_augmentation_fashion-mnist.json") as f:
        record = json.load(f)
    assert record["train_size"] == 30 and record["model"] == "784-256-256-10"
    assert list(record["configurations"])[0] == "none" and len(record["configurations"]) == 13
    assert "trained 13/13" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--seeds", "0"], "argument --seeds: must be an integer >= 1, got 0 (run with --help for "
                       "usage)"),
    (["--train-size", "5"], "argument --train-size: must be at least 10 (a tenth is held out "
                            "for validation), got 5"),
    (["--train-size", "60001"], "argument --train-size: must be at most 60000, the size of "
                                "the training set, got 60001"),
])
def test_bad_flags_end_in_one_line_before_the_data_is_read(flags, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        command.main(["--data-dir", str(tmp_path), "--results-dir", str(tmp_path / "r"),
                      "--no-download", *flags])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err == f"imagelab study augmentation: error: {message}\n"
    assert not (tmp_path / "r").exists()


def test_a_train_size_above_a_fractional_split_is_refused_once_read(data_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        command.main(["--data-dir", data_dir, "--results-dir", str(tmp_path / "r"),
                      "--no-download", "--split", "0.5", "--train-size", "30"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == ("imagelab study augmentation: error: argument "
                                       "--train-size: must be at most 25, the size of the "
                                       "training set, got 30\n")
