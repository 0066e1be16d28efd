"""Tests of the transfer study: the reconstruction loss against finite differences and
torch, the stratified subsets against counting, the encoder's copy against the formula,
a frozen encoder against a head trained alone on fixed codes, and the command end to end
on tiny fake data, with its refusals."""
import json
import os

import numpy as np
import pytest

from conftest import is_png, make_mnist_folder, set_mnist_sizes
from imagelab.analysis.transfer import (ENCODER_LAYERS, METHODS, autoencoder, classifier,
                                        copy_encoder, epochs_for, labelled_subset,
                                        reconstruction_loss, run_study, train_classifier)
from imagelab.cli.studies import transfer as command
from imagelab.nn.gradcheck import check_gradient, error_bound
from imagelab.nn.losses import softmax_cross_entropy
from imagelab.nn.network import Network
from imagelab.training.loop import train_to_targets
from imagelab.utils.files import save_figure
from imagelab.viz.transfer import plot_reconstructions, plot_transfer_curves


def pixels_and_logits(n=5, d=7, seed=0):
    """Images x in [0, 1] and logits z of moderate size, float64."""
    rng = np.random.default_rng(seed)
    return rng.random((n, d)), rng.normal(0, 2, (n, d))


def test_the_reconstruction_loss_is_the_squared_error_per_image_summed_by_a_loop():
    x, z = pixels_and_logits()
    total = 0.0
    for n in range(len(x)):
        for i in range(x.shape[1]):
            total += (1 / (1 + np.exp(-z[n, i])) - x[n, i]) ** 2
    assert reconstruction_loss(z, x)[0] == pytest.approx(total / len(x), rel=1e-12)


def test_the_reconstruction_loss_gradient_matches_finite_differences():
    x, z = pixels_and_logits()
    _, dz = reconstruction_loss(z, x)
    # C = (1/N) sum (s(z) - x)^2, s the sigmoid. Along one z_ni the third derivative is
    # 2 (3 s' s'' + (s - x) s''') / N, with |s'| <= 1/4, |s''| < 1/10, |s'''| <= 1/8 and
    # |s - x| <= 1: below 0.4 / N < 1. Each value of C, a sum of 35 terms below 1 (about
    # 35 roundings of 1.1e-16 each), is within r = 1e-13 of the exact one.
    step = 1e-6
    check_gradient(lambda: reconstruction_loss(z, x)[0], z, dz, step=step,
                   atol=error_bound(step, 1e-13, 1.0), rtol=1e-7, name="z")


def test_the_reconstruction_loss_matches_torch():
    torch = pytest.importorskip("torch")
    x, z = pixels_and_logits(seed=1)
    z_t = torch.tensor(z, requires_grad=True)
    loss = ((torch.sigmoid(z_t) - torch.tensor(x)) ** 2).sum(dim=1).mean()
    loss.backward()
    value, dz = reconstruction_loss(z, x)
    # float64 on both sides, the same formula summed in another order: a few eps.
    assert value == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(dz, z_t.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_the_reconstruction_loss_refuses_other_shapes():
    with pytest.raises(ValueError, match="shape"):
        reconstruction_loss(np.zeros((2, 3)), np.zeros((2, 4)))


def test_a_labelled_subset_takes_each_class_in_its_share():
    labels = np.random.default_rng(3).integers(0, 4, 503)
    labels[labels == 3] = 2          # class 3 absent
    labels[:2] = 3                   # ... but for two rows: it still gets one
    for fraction in (0.01, 0.1, 0.5, 1.0):
        rows = labelled_subset(labels, fraction, seed=0)
        assert len(np.unique(rows)) == len(rows) and np.all(np.diff(rows) > 0)
        for c in range(4):
            count = sum(1 for label in labels if label == c)
            chosen = sum(1 for row in rows if labels[row] == c)
            assert chosen == max(1, round(fraction * count))
    np.testing.assert_array_equal(labelled_subset(labels, 1.0), np.arange(len(labels)))
    np.testing.assert_array_equal(labelled_subset(labels, 0.1, 5), labelled_subset(labels, 0.1, 5))
    assert not np.array_equal(labelled_subset(labels, 0.1, 5), labelled_subset(labels, 0.1, 6))


def test_every_fraction_sees_as_many_images():
    for n in (600, 6000, 60000):
        epochs = epochs_for(n, 60000, 2)
        assert epochs * n == 120000
        assert epochs * -(-n // 100) == 1200          # steps of 100 images
    assert epochs_for(70000, 60000, 1) == 1


def relu(v):
    return np.maximum(v, 0)


def test_the_copied_encoder_gives_the_auto_encoders_code():
    x = np.random.default_rng(4).random((6, 10)).astype(np.float32)
    source = autoencoder(10, 8, 3, seed=1)
    target = classifier(10, 8, 3, 5, seed=2)
    copy_encoder(source, target)
    w1, b1, w2, b2 = (p.value.astype(np.float64) for layer in source.layers[:ENCODER_LAYERS]
                      for p in layer.parameters())
    code = relu(x @ w1 + b1) @ w2 + b2       # the encoder, written out
    features = x
    for layer in target.layers[:ENCODER_LAYERS]:
        features = layer.forward(features)
    # float32 sums of 10 and 8 products of numbers below ~3: a relative 1e-5 covers them.
    np.testing.assert_allclose(features, code, rtol=1e-5, atol=1e-5)
    assert target.forward(x).shape == (6, 5) and source.forward(x).shape == (6, 10)
    with pytest.raises(ValueError, match="layer 2"):
        copy_encoder(source, classifier(10, 8, 4, 5))


def toy_set(n=120, d=10, seed=0):
    """Rows in [0, 1] of three classes that differ in their first three features."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    x = 0.3 * rng.random((n, d))
    x[np.arange(n), labels] += 0.7
    return x.astype(np.float32), labels


def test_a_frozen_encoder_is_a_head_trained_alone_on_fixed_codes():
    x, labels = toy_set()
    encoder = autoencoder(10, 8, 4, seed=3)
    frozen = train_classifier(x, labels, "frozen", encoder, 4, 3, hidden=8, num_epoch=3,
                              batch_size=16, learning_rate=1e-2, seed=5)
    for i in range(ENCODER_LAYERS):
        for p, q in zip(frozen.layers[i].parameters(), encoder.layers[i].parameters()):
            np.testing.assert_array_equal(p.value, q.value)
    # The oracle: the codes computed once, a lone head from the same seed's weights
    # trained on them with the same batches.
    codes = Network(encoder.layers[:ENCODER_LAYERS]).forward(x)
    head = Network([classifier(10, 8, 4, 3, seed=5).layers[-1]])
    train_to_targets(head, codes, labels, softmax_cross_entropy, num_epoch=3, batch_size=16,
                     learning_rate=1e-2, seed=5)
    # The same operations, but the codes of a batch of 16 and of all 120 rows may round
    # apart (BLAS blocks by size): a relative 1e-6 in a float32 gradient moves Adam's step
    # (at most the rate, 1e-2) by about 1e-2 * 1e-6, so 24 steps by well under 1e-6.
    np.testing.assert_allclose(frozen.layers[-1].w.value, head.layers[0].w.value,
                               rtol=0, atol=1e-6)


def test_fine_tuning_moves_the_encoder_and_every_method_starts_from_one_head():
    x, labels = toy_set()
    encoder = autoencoder(10, 8, 4, seed=3)
    tuned = train_classifier(x, labels, "fine-tuned", encoder, 4, 3, hidden=8, num_epoch=2,
                             batch_size=16, seed=5)
    assert not np.array_equal(tuned.layers[0].w.value, encoder.layers[0].w.value)
    heads = [classifier(10, 8, 4, 3, seed=5).layers[-1].w.value for _ in range(2)]
    np.testing.assert_array_equal(*heads)
    with pytest.raises(ValueError, match="method"):
        train_classifier(x, labels, "linear", encoder, 4, 3, num_epoch=1)


def test_run_study_fills_every_cell_and_pairs_the_seeds():
    x, labels = toy_set()
    record, shown = run_study(x, labels, x[:30], labels[:30], 3, bottlenecks=(2, 4),
                              fractions=(0.2, 1.0), seeds=(0, 1), hidden=8, ae_epochs=1,
                              budget=1, batch_size=8, shown=3)
    assert record["labelled"] == {"0.2": 24, "1.0": 120}
    assert record["steps"] == {"0.2": 15, "1.0": 15}
    for b in ("2", "4"):
        for f in ("0.2", "1.0"):
            cell = record["accuracy"][b][f]
            assert set(cell) == set(METHODS)
            for m in METHODS[1:]:
                difference = record["difference"][b][f][f"{m} - scratch"]["values"]
                np.testing.assert_allclose(difference, np.subtract(cell[m]["values"],
                                                                   cell["scratch"]["values"]))
    assert set(shown) == {2, 4} and shown[2].shape == (3, 10)
    assert np.all((shown[2] >= 0) & (shown[2] <= 1))


def test_the_figures_draw_a_panel_per_bottleneck_and_a_row_per_auto_encoder(tmp_path):
    accuracies = np.random.default_rng(0).random((2, 3, 3, 2))
    figure = plot_transfer_curves([0.01, 0.1, 1.0], [16, 32], METHODS, accuracies, "t")
    assert len(figure.axes) == 2
    assert all(len(ax.containers) == 3 for ax in figure.axes)
    assert is_png(save_figure(str(tmp_path), "curves", figure))
    images = np.random.default_rng(1).random((4, 28, 28, 1))
    figure = plot_reconstructions(images, {"bottleneck 2": images, "bottleneck 4": images}, "t")
    assert len(figure.axes) == 12


# ---------------------------------------------------------------- imagelab study transfer

def test_the_command_writes_its_figures_and_numbers(tmp_path, monkeypatch, capsys):
    make_mnist_folder(tmp_path / "data" / "fashion-mnist", counts=(60, 20))
    set_mnist_sizes(monkeypatch, (60, 20))
    results = tmp_path / "results"
    command.main(["--data-dir", str(tmp_path / "data"), "--results-dir", str(results),
                  "--no-download", "--bottlenecks", "3", "5", "--fractions", "0.5", "1",
                  "--seeds", "2", "--hidden", "6", "--ae-epochs", "1", "--budget", "1",
                  "--batch-size", "10"])
    name = "study_transfer_fashion-mnist"
    assert is_png(results / f"{name}.png") and is_png(results / f"{name}_reconstructions.png")
    record = json.loads((results / f"{name}.json").read_text())
    assert record["command"].startswith("imagelab study transfer --data-dir")
    assert record["seconds"] > 0 and record["seeds"] == [0, 1]
    assert len(record["accuracy"]["5"]["0.5"]["frozen"]["values"]) == 2
    assert "fine-tuned" in capsys.readouterr().out


@pytest.mark.parametrize("flags, expected", [
    (["--fractions", "0"], "argument --fractions: must be a number in (0, 1], got 0"),
    (["--fractions", "1.5"], "argument --fractions: must be a number in (0, 1], got 1.5"),
    (["--fractions", "nan"], "argument --fractions: must be a number in (0, 1], got nan"),
    (["--fractions", "half"], "argument --fractions: invalid label_fraction value: 'half'"),
    (["--bottlenecks", "0"], "argument --bottlenecks: must be an integer >= 1, got 0"),
    (["--seeds", "0"], "argument --seeds: must be an integer >= 1, got 0"),
    (["--learning-rate", "-1"], "argument --learning-rate: must be a finite number > 0"),
    (["--bottlenecks", "16", "16"], "argument --bottlenecks: each value once, got 16 16"),
    (["--fractions", "0.1", "0.1"], "argument --fractions: each value once, got 0.1 0.1"),
    (["--hidden", "100000000"], "argument --hidden/--bottlenecks/--batch-size: architecture "
                                "entry 1 ['dense', 100000000]: d_out must be an integer in "
                                "[1, 65536], got 100000000"),
    (["--batch-size", "100000000"], "argument --hidden/--bottlenecks/--batch-size: the "
                                    "training needs at least"),
])
def test_a_bad_flag_ends_in_one_line_before_any_data_is_read(tmp_path, capsys, flags,
                                                             expected):
    with pytest.raises(SystemExit) as stop:
        command.main(["--data-dir", str(tmp_path), "--results-dir", str(tmp_path / "r"),
                      "--no-download", *flags])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("imagelab study transfer: error: ")
    assert expected in err
    assert not os.path.exists(tmp_path / "r")


def test_a_diverging_training_ends_in_one_line_on_the_rate(tmp_path, monkeypatch, capsys):
    make_mnist_folder(tmp_path / "data" / "fashion-mnist", counts=(60, 20))
    set_mnist_sizes(monkeypatch, (60, 20))
    with pytest.raises(SystemExit) as stop:
        command.main(["--data-dir", str(tmp_path / "data"), "--results-dir",
                      str(tmp_path / "r"), "--no-download", "--bottlenecks", "3",
                      "--fractions", "1", "--seeds", "1", "--hidden", "6", "--ae-epochs", "3",
                      "--batch-size", "10", "--learning-rate", "1e30"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --learning-rate: the training diverged" in err
    assert not os.path.exists(tmp_path / "r" / "study_transfer_fashion-mnist.json")
