"""The edges study: the per-pixel sigmoid losses against finite differences, direct
formulas and PyTorch; the Sobel magnitude against scikit-image; the mask scores against
scikit-learn; the threshold search against a slow loop; the command end to end on tiny
MNIST-family files, and its refusals in one line."""
import json
import sys

import numpy as np
import pytest

from conftest import is_png, make_mnist_folder
from imagelab.analysis.edges import (best_threshold, canny_masks, edge_probabilities,
                                     example_rows, mask_scores, sobel_magnitude,
                                     threshold_counts, train_edge_mlp)
from imagelab.cli.studies.edges import main
from imagelab.nn.gradcheck import error_bound, numerical_gradient
from imagelab.nn.losses import sigmoid_binary_cross_entropy, sigmoid_mse, sigmoid_squared_error

EPS64 = np.finfo(np.float64).eps
LOSSES = [sigmoid_binary_cross_entropy, sigmoid_squared_error]


def logits_and_targets(n=5, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * 3, rng.integers(0, 2, size=(n, d))


# ---------------------------------------------------------------- the losses

@pytest.mark.parametrize("loss_fn", LOSSES)
def test_the_pixel_losses_gradients_match_finite_differences(loss_fn):
    z, t = logits_and_targets()
    h = 1e-6                                      # numerical_gradient's step
    value, dz = loss_fn(z, t)
    numerical = numerical_gradient(lambda: loss_fn(z, t)[0], z)
    # Rounding: each of the N D terms (an exp, a log1p or a sigmoid, a few products) is
    # within some 10 eps of its size, at most |z| + log 2, and their mean adds N D eps of
    # it. Truncation: the third derivative of a term in its z is s'' (cross-entropy) or
    # 2 (3 s' s'' + (s - t) s''') (squared error), below 1 in size (|s'| <= 1/4,
    # |s''| < 0.1, |s'''| <= 1/8), and the mean divides it by N D.
    rounding = (z.size + 10) * EPS64 * (np.abs(z).max() + np.log(2))
    tolerance = error_bound(h, rounding, 1 / z.size)
    np.testing.assert_allclose(dz, numerical, rtol=0, atol=tolerance)


def test_the_cross_entropy_is_the_direct_formula_where_that_is_exact_enough():
    z, t = logits_and_targets(seed=1)
    s = 1 / (1 + np.exp(-z))
    expected = np.mean(-t * np.log(s) - (1 - t) * np.log(1 - s))
    loss, dz = sigmoid_binary_cross_entropy(z, t)
    # |z| <= 12 here: 1 - s >= 6e-6 loses at most 1e-10 relative to cancellation.
    assert loss == pytest.approx(expected, rel=1e-9)
    np.testing.assert_allclose(dz, (s - t) / z.size, rtol=1e-12)


def test_the_squared_error_on_one_hot_targets_is_the_labs_sigmoid_mse():
    z, _ = logits_and_targets(seed=2)
    labels = np.array([0, 5, 3, 3, 1])
    value, dz = sigmoid_squared_error(z, np.eye(6)[labels])
    expected_value, expected_dz = sigmoid_mse(z, labels)
    assert value == pytest.approx(expected_value, rel=1e-14)
    np.testing.assert_allclose(dz, expected_dz, rtol=1e-14)


def test_the_losses_stay_finite_keep_float32_and_check_shapes():
    z = np.array([[1000.0, -1000.0, 0.0]], np.float32)
    t = np.array([[0, 1, 1]], bool)
    loss, dz = sigmoid_binary_cross_entropy(z, t)
    assert loss == pytest.approx((1000 + 1000 + np.log(2)) / 3)
    assert dz.dtype == np.float32 and np.all(np.isfinite(dz))
    loss, dz = sigmoid_squared_error(z, t)
    assert loss == pytest.approx((1 + 1 + 0.25) / 3) and dz.dtype == np.float32
    for loss_fn in LOSSES:
        with pytest.raises(ValueError, match=r"targets must have the shape of z \(1, 3\), "
                                             r"got \(3,\)"):
            loss_fn(z, t[0])


@pytest.mark.parametrize("scale", [3.0, 40.0])
def test_the_cross_entropy_and_its_gradient_are_torchs(scale):
    torch = pytest.importorskip("torch")
    z, t = logits_and_targets(seed=3)
    z = z * scale / 3
    loss, dz = sigmoid_binary_cross_entropy(z, t)
    z_torch = torch.tensor(z, requires_grad=True)
    expected = torch.nn.BCEWithLogitsLoss()(z_torch, torch.tensor(t, dtype=torch.float64))
    expected.backward()
    # Both compute the same terms, up to a few roundings each: relative 1e-13 is wide.
    assert loss == pytest.approx(expected.item(), rel=1e-13)
    np.testing.assert_allclose(dz, z_torch.grad.numpy(), rtol=1e-12, atol=1e-18)


# ---------------------------------------------------------------- masks and scores

def test_the_sobel_magnitude_is_scikit_images():
    filters = pytest.importorskip("skimage.filters")
    images = np.random.default_rng(4).random((3, 7, 9))
    expected = np.stack([filters.sobel(image) for image in images])
    # Values at most 1, a dozen roundings each: 1e-14 is far above them.
    np.testing.assert_allclose(sobel_magnitude(images), expected, rtol=0, atol=1e-14)


def test_canny_masks_are_scikit_images_masks_as_uint8():
    feature = pytest.importorskip("skimage.feature")
    images = np.random.default_rng(5).random((3, 12, 12))
    done = []
    masks = canny_masks(images, 1.5, done.append)
    assert masks.dtype == np.uint8 and done == [3]
    for image, mask in zip(images, masks):
        np.testing.assert_array_equal(mask, feature.canny(image, sigma=1.5))


def test_mask_scores_are_scikit_learns_micro_scores():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(6)
    truth, predicted = rng.random((4, 5, 5)) < 0.3, rng.random((4, 5, 5)) < 0.4
    scores = mask_scores(truth, predicted)
    t, p = truth.ravel(), predicted.ravel()
    assert scores["precision"] == pytest.approx(metrics.precision_score(t, p), rel=1e-12)
    assert scores["recall"] == pytest.approx(metrics.recall_score(t, p), rel=1e-12)
    assert scores["f1"] == pytest.approx(metrics.f1_score(t, p), rel=1e-12)
    assert scores["iou"] == pytest.approx(metrics.jaccard_score(t, p), rel=1e-12)
    assert scores["pixel_accuracy"] == pytest.approx(metrics.accuracy_score(t, p), rel=1e-12)
    assert scores["edge_fraction"] == pytest.approx(t.mean(), rel=1e-12)


def test_an_all_background_mask_scores_zero_as_zero_division_says():
    truth = np.array([[0, 1, 1, 0]])
    scores = mask_scores(truth, np.zeros_like(truth))
    assert (scores["precision"], scores["recall"], scores["f1"], scores["iou"]) == (0, 0, 0, 0)
    assert scores["pixel_accuracy"] == 0.5
    with pytest.raises(ValueError, match="masks_pred must have the shape"):
        mask_scores(truth, truth[0])


def slow_counts(scores, masks, threshold):
    """TN, FP, FN, TP of ``scores >= threshold`` against ``masks``, pixel by pixel."""
    counts = [[0, 0], [0, 0]]
    for score, truth in zip(scores.ravel(), masks.ravel()):
        counts[int(truth)][int(score >= threshold)] += 1
    return counts


def test_the_threshold_counts_and_choice_match_a_slow_loop(monkeypatch):
    rng = np.random.default_rng(7)
    # Scores on a grid of quarters hit the thresholds exactly: ">=" must count them in.
    scores = rng.integers(0, 5, size=(7, 3, 3)) / 4
    masks = (scores + rng.normal(0, 0.3, scores.shape) > 0.6).astype(np.uint8)
    thresholds = np.array([0.1, 0.25, 0.5, 0.75, 0.9])
    monkeypatch.setattr("imagelab.analysis.edges.CHUNK", 3)   # several chunks
    counts = threshold_counts(scores, masks, thresholds)
    for k, threshold in enumerate(thresholds):
        assert counts[k].tolist() == slow_counts(scores, masks, threshold)
    best, f1 = best_threshold(scores, masks, thresholds)
    expected = [mask_scores(masks, scores >= threshold)["f1"] for threshold in thresholds]
    np.testing.assert_allclose(f1, expected, rtol=1e-12)
    assert best == thresholds[int(np.argmax(expected))]
    with pytest.raises(ValueError, match="increasing"):
        threshold_counts(scores, masks, [0.5, 0.5])


def test_an_edge_mlp_learns_a_pixelwise_rule_with_either_loss():
    rng = np.random.default_rng(8)
    x = rng.random((400, 4)).astype(np.float32)
    masks = (x > 0.5).astype(np.uint8)            # each output: its own pixel above 0.5
    for loss in ("bce", "se"):
        network, losses = train_edge_mlp(x, masks, loss, (32,), num_epoch=20,
                                         learning_rate=2e-2, batch_size=16, seed=0)
        assert losses[-1] < 0.5 * losses[0]
        # Only the rows within a few hundredths of 0.5 can stay wrong.
        assert mask_scores(masks, edge_probabilities(network, x) >= 0.5)["f1"] > 0.95


def test_example_rows_are_the_first_image_of_each_class():
    assert example_rows(np.array([2, 0, 2, 1, 0]), 2).tolist() == [1, 3]
    assert example_rows(np.array([2, 0, 2, 1, 0]), 9).tolist() == [1, 3, 0]


# ---------------------------------------------------------------- the command

PROG = "imagelab study edges"


@pytest.fixture
def data_dir(tmp_path, tiny_mnist):
    """Tiny Fashion-MNIST files (12 training, 8 test images of random pixels, 2 classes)."""
    make_mnist_folder(tmp_path / "data" / "fashion-mnist", labels_max=1)
    return str(tmp_path / "data")


def test_the_command_writes_its_figures_and_every_number(data_dir, tmp_path, capsys):
    results = tmp_path / "results"
    main(["--data-dir", data_dir, "--results-dir", str(results), "--no-download", "--seeds",
          "2", "--epochs", "2", "--hidden", "8", "--batch-size", "4", "--examples", "2"])
    out = capsys.readouterr()
    assert "Canny masks: 20/20 images" in out.err and "trained 4/4" in out.err
    record = json.loads((results / "study_edges_fashion-mnist.json").read_text())
    assert is_png(results / "study_edges_fashion-mnist.png")
    assert is_png(results / "study_edges_fashion-mnist_scores.png")
    assert record["command"].startswith(f"{PROG} --data-dir")
    assert record["seeds"] == [0, 1] and record["seconds"] > 0
    assert (record["train_images"], record["test_images"]) == (12, 8)
    assert list(record["summary"]) == ["all_background", "gradient_magnitude", "bce_at_0.5",
                                       "bce_at_threshold", "se_at_0.5", "se_at_threshold"]
    bce = record["losses"]["bce"]
    assert [run["seed"] for run in bce["runs"]] == [0, 1]
    f1 = [run["at_threshold"]["f1"] for run in bce["runs"]]
    assert bce["spread"]["at_threshold"]["f1"] == pytest.approx(
        {"mean": np.mean(f1), "std": np.std(f1), "min": min(f1), "max": max(f1)})
    assert record["baselines"]["all_background"]["f1"] == 0


USAGE = " (run with --help for usage)"


@pytest.mark.parametrize("flags, message", [
    (["--seeds", "0"], "argument --seeds: must be an integer >= 1, got 0" + USAGE),
    (["--sigma", "-1"], "argument --sigma: must be a finite number > 0, got -1" + USAGE),
    (["--hidden", "8", "0"], "argument --hidden: must be an integer >= 1, got 0" + USAGE),
    (["--epochs", "two"], "argument --epochs: invalid positive_int value: 'two'" + USAGE),
    # Known once the test labels are read:
    (["--examples", "3"], "argument --examples: must be at most 2, the number of classes "
                          "in the test set, got 3"),
])
def test_a_bad_flag_ends_in_one_line(data_dir, tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as stop:
        main(["--data-dir", data_dir, "--results-dir", str(tmp_path / "r"), "--no-download",
              *flags])
    assert stop.value.code == 2
    assert capsys.readouterr().err == f"{PROG}: error: {message}\n"


def test_without_scikit_image_it_names_the_extra_before_reading_data(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage.feature", None)     # import now fails
    with pytest.raises(SystemExit) as stop:
        main(["--data-dir", str(tmp_path), "--results-dir", str(tmp_path / "r"),
              "--no-download"])
    assert str(stop.value.code).startswith("error: the edges study needs scikit-image")
    assert "'.[descriptors]'" in str(stop.value.code) and "\n" not in str(stop.value.code)
