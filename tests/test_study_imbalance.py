"""Tests of the class-imbalance study: the weighted cross-entropy and the focal loss
against finite differences and PyTorch, the subsampling and oversampling against
counting, the class weights and scores against scikit-learn, and the command on tiny
fake data, whose bad flags end in one line."""
import functools
import json
import os

import numpy as np
import pytest

from conftest import is_png, make_mnist_folder, run_command, set_mnist_sizes, snapshot
from imagelab.analysis.imbalance import (MINORITY, NUM_CLASSES, RARE_CLASSES, SCENARIOS,
                                         balanced_class_weights, class_report,
                                         imbalanced_indices, minority_scores, oversample,
                                         remedy_training_set, subsample_classes,
                                         summarise_runs, train_fixed_epochs)
from imagelab.nn.gradcheck import error_bound, numerical_gradient
from imagelab.nn.losses import focal_loss, softmax_cross_entropy, weighted_cross_entropy
from imagelab.nn.network import mlp
from imagelab.training.loop import train

EPS64 = np.finfo(np.float64).eps


def logits_and_labels(n=9, c=5, seed=0, scale=2.0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, c)) * scale, rng.integers(0, c, size=n)


# ---------------------------------------------------------------- the losses

def loss_rounding(z):
    """A bound on the rounding error of a loss value on z, in float64.

    Each log p has an error of at most (C + 4) eps m, m = max |z| + log C bounding
    |log p|; the focal factor (1 - p_t)^gamma <= 1 and the weights, a few roundings more
    (10 in all); a weighted mean of N rows adds N C eps m.
    """
    n, c = z.shape
    return (n * c + c + 10) * EPS64 * (np.abs(z).max() + np.log(c))


def third_derivative(z, weights):
    """M: a bound on |d^3 L / dz_ij^3| for the focal loss (gamma in {0, 1, 2}) or the
    weighted cross-entropy.

    One logit reaches one row, whose loss a q^gamma (-log p_t) / W has, by Leibniz's
    rule, a third derivative of at most sum_k C(3, k) |(q^gamma)^(k)| |l^(3-k)|: the
    derivatives of l = log p_t of order 1 to 3 are derivatives of softmax entries
    (bounded by 1), those of q^gamma are sums of at most 8 products of such entries, and
    |l| <= m. Hence 8 * 8 * (1 + m) a / W.
    """
    c = z.shape[1]
    m = np.abs(z).max() + np.log(c)
    return 64 * (1 + m) * np.max(weights) / np.min(weights) / len(z)


@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_the_focal_loss_gradient_matches_finite_differences(gamma, weighted):
    z, labels = logits_and_labels(seed=int(gamma) + 3 * weighted)
    weights = np.linspace(0.5, 3.0, z.shape[1]) if weighted else np.ones(z.shape[1])
    loss = functools.partial(focal_loss, gamma=gamma, weights=weights if weighted else None)
    numerical = numerical_gradient(lambda: loss(z, labels)[0], z)
    h = 1e-6                                   # numerical_gradient's step
    tolerance = error_bound(h, loss_rounding(z), third_derivative(z, weights))
    np.testing.assert_allclose(loss(z, labels)[1], numerical, rtol=0, atol=tolerance)


def test_the_weighted_cross_entropy_gradient_matches_finite_differences():
    z, labels = logits_and_labels(seed=7)
    weights = np.array([0.2, 1.0, 5.0, 2.0, 0.7])
    numerical = numerical_gradient(lambda: weighted_cross_entropy(z, labels, weights)[0], z)
    tolerance = error_bound(1e-6, loss_rounding(z), third_derivative(z, weights))
    np.testing.assert_allclose(weighted_cross_entropy(z, labels, weights)[1], numerical,
                               rtol=0, atol=tolerance)


def test_uniform_weights_and_gamma_0_give_the_cross_entropy():
    z, labels = logits_and_labels(seed=8)
    loss, dz = softmax_cross_entropy(z, labels)
    # The same sums in another order: a few roundings of the loss, of p and of 1 / N.
    for value, gradient in (weighted_cross_entropy(z, labels, np.full(5, 3.7)),
                            focal_loss(z, labels, gamma=0.0),
                            focal_loss(z, labels, gamma=0.0, weights=np.full(5, 0.2))):
        assert value == pytest.approx(loss, rel=0, abs=loss_rounding(z))
        np.testing.assert_allclose(gradient, dz, rtol=0, atol=loss_rounding(z))


def test_the_focal_loss_forgets_well_classified_rows_and_stays_finite():
    # A row classified with p_t = 1 in float64 (q = 0) weighs nothing, and the gamma < 1
    # form of the gradient, free of q^(gamma - 1), stays finite there.
    z = np.array([[60.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    for gamma in (0.5, 2.0):
        value, dz = focal_loss(z, np.array([0, 1]), gamma=gamma)
        assert np.all(np.isfinite(dz)) and np.all(dz[0] == 0)
        assert value == pytest.approx((2 / 3) ** gamma * np.log(3) / 2, rel=1e-12)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_the_losses_are_pytorchs(gamma):
    torch = pytest.importorskip("torch")
    z, labels = logits_and_labels(n=12, c=6, seed=10, scale=3.0)
    weights = np.array([0.3, 1.0, 2.5, 4.0, 0.8, 1.2])
    zt, yt, wt = torch.tensor(z, requires_grad=True), torch.tensor(labels), torch.tensor(weights)
    # The focal loss written out in torch: alpha_y (1 - p_t)^gamma (-log p_t), weighted mean.
    log_pt = torch.log_softmax(zt, dim=1)[torch.arange(len(labels)), yt]
    row_weights = wt[yt]
    focal = torch.sum(row_weights * (1 - torch.exp(log_pt)) ** gamma * -log_pt) / row_weights.sum()
    focal.backward()
    value, dz = focal_loss(z, labels, gamma=gamma, weights=weights)
    assert value == pytest.approx(focal.item(), rel=0, abs=2 * loss_rounding(z))
    # dz = a g (p - Y) / W, g = q^gamma (1 + gamma p_t s) <= 1 + gamma (m + 1), since
    # s = -log(p_t) / (1 - p_t) <= m + 1 for p_t >= e^-m: each side rounds it within a
    # few dozen eps of that size; torch's q = 1 - exp(log p_t) errs by eps absolutely,
    # i.e. eps / q relatively, which q^gamma multiplies by gamma.
    m = np.abs(z).max() + np.log(6)
    q = 1 - np.exp(log_pt.detach().numpy())
    size = (1 + gamma * (m + 1)) * weights.max() / weights[labels].sum()
    np.testing.assert_allclose(dz, zt.grad.numpy(), rtol=0,
                               atol=64 * EPS64 * size * (1 + gamma / q.min()))
    zt.grad = None
    weighted = torch.nn.functional.cross_entropy(zt, yt, weight=wt)
    weighted.backward()
    value, dz = weighted_cross_entropy(z, labels, weights)
    assert value == pytest.approx(weighted.item(), rel=0, abs=2 * loss_rounding(z))
    np.testing.assert_allclose(dz, zt.grad.numpy(), rtol=0, atol=2 * loss_rounding(z))


def test_the_losses_refuse_bad_weights_and_gamma_and_keep_float32():
    z, labels = logits_and_labels(c=3)
    for weights in ([1.0, 2.0], [1.0, 0.0, 1.0], [1.0, np.nan, 1.0]):
        with pytest.raises(ValueError, match="^weights must be 3 finite numbers > 0"):
            weighted_cross_entropy(z, labels, weights)
    with pytest.raises(ValueError, match="^gamma must be"):
        focal_loss(z, labels, gamma=-1.0)
    _, dz = focal_loss(z.astype(np.float32), labels, weights=[1.0, 2.0, 3.0])
    assert dz.dtype == np.float32


def test_the_losses_serve_as_the_loss_of_the_training_loops():
    rng = np.random.default_rng(11)
    labels = np.repeat([0, 1, 2], [60, 20, 4])
    x = (rng.normal(size=(len(labels), 6)) + 2.0 * np.eye(3, 6)[labels]).astype(np.float32)
    weights = balanced_class_weights(labels, 3)
    for loss in (functools.partial(weighted_cross_entropy, weights=weights),
                 functools.partial(focal_loss, gamma=2.0, weights=weights)):
        network, losses = train_fixed_epochs(x, labels, loss, (8,), num_epoch=30,
                                             learning_rate=1e-2, seed=0)
        assert losses[-1] < 0.5 * losses[0]
        assert network.predict_logits(x).shape == (len(labels), 3)


def test_train_takes_a_focal_loss_and_reports_it():
    rng = np.random.default_rng(15)
    labels = np.repeat([0, 1, 2], [60, 20, 4])
    x = (rng.normal(size=(len(labels), 6)) + 2.0 * np.eye(3, 6)[labels]).astype(np.float32)
    loss = functools.partial(focal_loss, gamma=2.0, weights=balanced_class_weights(labels, 3))
    network = mlp([6, 8, 3], "relu", seed=0)
    history = train(network, x, labels, x[:30], labels[:30], num_epoch=1, loss=loss, seed=0)
    # One epoch: the network holds its weights, whose validation loss is the focal loss.
    assert history["val_loss"][0] == loss(network.predict_logits(x[:30]), labels[:30])[0]
    assert history["val_accuracy"][0] == np.mean(
        network.predict_logits(x[:30]).argmax(axis=1) == labels[:30])


# ---------------------------------------------------------------- the imbalance and the remedies

def test_subsampling_keeps_the_fraction_of_each_class_counted_one_by_one():
    labels = np.random.default_rng(12).integers(0, 4, 400)
    fractions = [1.0, 0.5, 0.1, 0.01]
    index = subsample_classes(labels, fractions, seed=3)
    assert len(set(index.tolist())) == len(index)
    for c, fraction in enumerate(fractions):
        n_c = sum(1 for label in labels if label == c)
        kept = sum(1 for i in index if labels[i] == c)
        assert kept == max(1, round(fraction * n_c))
    assert not np.array_equal(index, subsample_classes(labels, fractions, seed=4))
    np.testing.assert_array_equal(index, subsample_classes(labels, fractions, seed=3))


def test_the_scenarios_make_the_classes_they_say():
    labels = np.repeat(np.arange(NUM_CLASSES), 1000)
    counts = {name: np.bincount(labels[imbalanced_indices(labels, name, 0)]).tolist()
              for name in SCENARIOS}
    assert counts["dominant"] == [1000] + [100] * 9
    for name, rare in (("rare-10", 100), ("rare-100", 10)):
        assert counts[name] == [rare if c in RARE_CLASSES else 1000 for c in range(10)]
        assert list(MINORITY[name]) == list(RARE_CLASSES)
    assert counts["balanced"] == [1000] * 10
    with pytest.raises(ValueError, match="^scenario must be one of"):
        imbalanced_indices(labels, "rare-1000", 0)


def test_oversampling_balances_the_classes_and_keeps_every_row():
    labels = np.repeat([0, 1, 2], [50, 7, 3])
    index = oversample(labels, seed=0)
    assert np.bincount(labels[index]).tolist() == [50, 50, 50]
    times = np.bincount(index, minlength=len(labels))
    for c in range(3):
        # Each row of class c comes floor(50 / n_c) or one more times.
        rows = times[labels == c]
        assert rows.min() == 50 // len(rows) and rows.max() <= 50 // len(rows) + 1


def test_balanced_weights_are_scikit_learns():
    utils = pytest.importorskip("sklearn.utils")
    labels = np.repeat([0, 1, 2, 3], [40, 10, 5, 1])
    expected = utils.compute_class_weight("balanced", classes=np.arange(4), y=labels)
    np.testing.assert_allclose(balanced_class_weights(labels, 4), expected, rtol=1e-15)
    with pytest.raises(ValueError, match="classes \\[4\\] have none"):
        balanced_class_weights(labels, 5)


def test_each_remedy_gives_its_rows_and_loss():
    labels = np.repeat(np.arange(NUM_CLASSES), [20] + [2] * 9)
    z, _ = logits_and_labels(n=len(labels), c=NUM_CLASSES, seed=13)
    for remedy in ("none", "class-weights", "focal", "focal-weights"):
        index, loss = remedy_training_set(labels, remedy, 0)
        np.testing.assert_array_equal(index, np.arange(len(labels)))
        assert np.isfinite(loss(z, labels)[0])
    index, loss = remedy_training_set(labels, "oversampling", 0)
    assert np.bincount(labels[index]).tolist() == [20] * 10 and loss is softmax_cross_entropy
    # Balanced weights: the weighted mean gives each class the same total weight.
    _, loss = remedy_training_set(labels, "class-weights", 0)
    weights = loss.keywords["weights"]
    np.testing.assert_allclose(np.bincount(labels) * weights, len(labels) / NUM_CLASSES)
    with pytest.raises(ValueError, match="^remedy must be one of"):
        remedy_training_set(labels, "smote", 0)


def test_the_class_report_is_scikit_learns():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(14)
    labels_true, labels_pred = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    labels_pred[labels_pred == 3] = 1              # class 3 never predicted: precision 0
    report = class_report(labels_true, labels_pred, 4)
    assert report["balanced_accuracy"] == pytest.approx(
        metrics.balanced_accuracy_score(labels_true, labels_pred), rel=1e-12)
    assert report["macro_f1"] == pytest.approx(
        metrics.f1_score(labels_true, labels_pred, average="macro", zero_division=0), rel=1e-12)
    np.testing.assert_allclose(report["precision"], metrics.precision_score(
        labels_true, labels_pred, average=None, zero_division=0), rtol=1e-12)
    np.testing.assert_array_equal(report["confusion"],
                                  metrics.confusion_matrix(labels_true, labels_pred))
    scores = minority_scores(report, [1, 3])
    assert scores["minority_recall"] == pytest.approx(np.mean(np.array(report["recall"])[[1, 3]]))


def test_the_summary_gives_mean_and_spread_over_seeds():
    runs = [{"balanced_accuracy": a, "macro_f1": a, "minority_recall": a, "minority_f1": a,
             "precision": [a, 1.0], "recall": [a, 0.0], "f1": [a, 0.5]} for a in (0.2, 0.6)]
    summary = summarise_runs(runs)
    assert summary["recall"] == pytest.approx([0.4, 0.0])
    assert summary["recall_min"] == [0.2, 0.0] and summary["recall_max"] == [0.6, 0.0]
    assert summary["balanced_accuracy"]["min"] == 0.2


# ---------------------------------------------------------------- imagelab study imbalance

@pytest.fixture
def tiny_fashion(tmp_path, monkeypatch):
    """(data_dir, results_dir): a fake Fashion-MNIST of 300 training and 40 test images."""
    set_mnist_sizes(monkeypatch, (300, 40))
    make_mnist_folder(str(tmp_path / "data" / "fashion-mnist"), counts=(300, 40))
    return str(tmp_path / "data"), str(tmp_path / "results")


def run_study_command(data_dir, results_dir, *flags):
    """``imagelab study imbalance`` on the given folders, downloads off, in this process."""
    return run_command("study", "imbalance", "--data-dir", data_dir, "--results-dir",
                       results_dir, "--no-download", *flags)


def test_the_command_writes_its_figures_and_numbers(tiny_fashion):
    data_dir, results_dir = tiny_fashion
    result = run_study_command(data_dir, results_dir, "--epochs", "1", "--seeds", "2",
                               "--scenarios", "rare-100", "--remedies", "none", "focal")
    assert result.returncode == 0, result.stderr
    name = os.path.join(results_dir, "study_imbalance_fashion-mnist")
    for suffix in ("", "_recall", "_confusion"):
        assert is_png(name + suffix + ".png")
    with open(name + ".json") as f:
        record = json.load(f)
    assert record["command"].startswith("imagelab study imbalance")
    assert sorted(record["results"]) == ["balanced", "rare-100"]
    focal = record["results"]["rare-100"]["remedies"]["focal"]
    assert [run["seed"] for run in focal["runs"]] == [0, 1]
    assert sum(map(sum, focal["runs"][0]["confusion"])) == 40
    assert record["results"]["rare-100"]["train_counts"][RARE_CLASSES[0]] == 1
    assert "training 1/6" in result.stderr


@pytest.mark.parametrize("flags, message", [
    (["--seeds", "0"], "argument --seeds: must be an integer >= 1, got 0"),
    (["--epochs", "x"], "argument --epochs: invalid positive_int value: 'x'"),
    (["--gamma", "-1"], "argument --gamma: must be a finite number >= 0, got -1"),
    (["--remedies", "smote"], "argument --remedies: invalid choice: 'smote'"),
    (["--scenarios", "balanced"], "argument --scenarios: invalid choice: 'balanced'"),
])
def test_a_bad_flag_is_one_line_before_any_data_is_read(tiny_fashion, flags, message):
    data_dir, results_dir = tiny_fashion
    before = snapshot(data_dir)
    result = run_study_command(data_dir, results_dir, *flags)
    assert result.returncode == 2
    assert result.stderr.startswith(f"imagelab study imbalance: error: {message}")
    assert result.stderr.count("\n") == 1
    assert snapshot(data_dir) == before and not os.path.exists(results_dir)
