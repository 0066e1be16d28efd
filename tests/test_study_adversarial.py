"""Tests of the adversarial study: each attack against an oracle (finite differences, the
closed form of a linear model, a slow loop, torch), adversarial training against a step
written out, and ``imagelab study adversarial`` end to end on tiny files."""
import gzip
import json
import os

import numpy as np
import pytest

from conftest import idx_bytes, is_png, set_mnist_sizes
from imagelab.data.registry import MNIST_FILES
from imagelab.analysis import adversarial
from imagelab.cli.studies import adversarial as command
from imagelab.nn.functional import softmax
from imagelab.nn.gradcheck import error_bound, numerical_gradient
from imagelab.nn.losses import softmax_cross_entropy
from imagelab.nn.network import mlp
from imagelab.nn.optim import Adam
from imagelab.utils.files import save_figure
from imagelab.viz.adversarial import plot_adversarial_grid, plot_attack_curves, plot_defence

EPS64 = np.finfo(np.float64).eps


def tiny_problem(n=7, d=5, classes=3, seed=0, dtype=np.float64):
    """A sigmoid MLP (smooth: no kink for finite differences) and inputs in [0, 1]."""
    rng = np.random.default_rng(seed)
    network = mlp([d, 6, classes], "sigmoid", seed=seed, dtype=dtype)
    return network, rng.random((n, d)).astype(dtype), rng.integers(0, classes, n)


def test_the_loss_gradient_is_each_images_own_by_finite_differences():
    network, x, labels = tiny_problem()
    # Batches of 3 of the 7 rows: the batch's 1/B must be undone for each row.
    gradient = adversarial.loss_gradient(network, x, labels, batch_size=3)

    def summed_loss():        # sum_n L_n(x_n): its gradient in x_n is dL_n/dx_n alone
        return len(x) * softmax_cross_entropy(network.forward(x), labels)[0]

    h = 1e-6
    numerical = numerical_gradient(summed_loss, x, h)
    # Rounding: the N losses, each after ~100 roundings of values below 10 (logits of
    # a 5-6-3 sigmoid net of Glorot weights); truncation: the third derivative of a
    # sigmoid net's cross-entropy in one pixel, below 10 for weights under 2.
    tolerance = error_bound(h, len(x) * 100 * EPS64 * 10, 10)
    np.testing.assert_allclose(gradient, numerical, rtol=0, atol=tolerance)


def linear_two_class(seed=1):
    """A linear model of two classes, float64: logits x W + b."""
    return mlp([6, 2], seed=seed, dtype=np.float64)


def test_fgsm_on_a_linear_model_is_its_closed_form():
    # For logits z = x W + b and two classes, dL(x, y)/dx = p_other (W[:, other] - W[:, y])
    # with p_other > 0: FGSM moves x by eps sign(W[:, other] - W[:, y]), and the attack
    # targeted at the other class takes the same step.
    network = linear_two_class()
    w = network.layers[0].w.value
    rng = np.random.default_rng(2)
    x, labels = rng.random((9, 6)), rng.integers(0, 2, 9)
    direction = np.sign(w[:, 1 - labels] - w[:, labels]).T
    expected = np.clip(x + 0.1 * direction, 0, 1)
    np.testing.assert_array_equal(adversarial.fgsm(network, x, labels, 0.1), expected)
    np.testing.assert_array_equal(adversarial.fgsm(network, x, labels, 0.1, target=1 - labels),
                                  expected)


def test_the_projection_is_the_nearest_point_of_the_ball_and_the_box():
    rng = np.random.default_rng(3)
    x = rng.random((4, 5))
    x[0, :2] = (0.0, 1.0)                               # on the edges of [0, 1]
    x_adv = x + rng.normal(0, 0.3, x.shape)
    projected = adversarial.project(x_adv, x, 0.1)
    for index in np.ndindex(x.shape):                   # entry by entry, as a slow loop
        low, high = max(x[index] - 0.1, 0.0), min(x[index] + 0.1, 1.0)
        assert projected[index] == min(max(x_adv[index], low), high)
    assert np.all(np.abs(projected - x) <= 0.1) and projected.min() >= 0 and projected.max() <= 1


def test_one_iterated_step_of_epsilon_is_fgsm_and_every_step_stays_in_the_ball():
    network, x, labels = tiny_problem(dtype=np.float32)
    targets = (labels + 1) % 3
    for target in (None, targets):
        np.testing.assert_array_equal(
            adversarial.iterated_attack(network, x, labels, 0.2, steps=1, step_size=0.2,
                                        target=target),
            adversarial.fgsm(network, x, labels, 0.2, target=target))
    for random_start in (False, True):
        x_adv = adversarial.iterated_attack(network, x, labels, 0.05, steps=7,
                                            random_start=random_start, seed=0)
        assert x_adv.dtype == np.float32
        # Within the float32 bounds x -+ eps, whose rounding (half an ulp of 1, 2^-24)
        # may put them a hair beyond the exact ball.
        assert np.all(x_adv >= np.maximum(x - np.float32(0.05), 0))
        assert np.all(x_adv <= np.minimum(x + np.float32(0.05), 1))
        assert np.all(np.abs(x_adv.astype(np.float64) - x) <= 0.05 + 2.0 ** -24)


def test_the_iterated_attack_raises_the_loss_at_least_as_much_as_fgsm():
    # A ReLU net of doubled weights bends enough for FGSM's straight step to fall short.
    rng = np.random.default_rng(4)
    network = mlp([5, 32, 32, 3], "relu", seed=4, dtype=np.float64)
    network.set_weights([2 * w for w in network.get_weights()])
    x, labels = rng.random((50, 5)), rng.integers(0, 3, 50)

    def losses(x_adv):                                  # each image's own loss
        z = network.forward(x_adv)
        return np.array([softmax_cross_entropy(z[n:n + 1], labels[n:n + 1])[0]
                         for n in range(len(x))])

    once = losses(adversarial.fgsm(network, x, labels, 0.1))
    iterated = losses(adversarial.iterated_attack(network, x, labels, 0.1, steps=10))
    assert np.all(once > losses(x)) and iterated.mean() > once.mean()


def test_fgsm_matches_torch_on_the_same_weights():
    torch = pytest.importorskip("torch")
    network, x, labels = tiny_problem(n=6, seed=5)
    w1, b1, w2, b2 = (p.value for p in network.parameters())
    x_t = torch.tensor(x, requires_grad=True)
    z = torch.sigmoid(x_t @ torch.tensor(w1) + torch.tensor(b1)) @ torch.tensor(w2) \
        + torch.tensor(b2)
    torch.nn.functional.cross_entropy(z, torch.tensor(labels)).backward()
    expected = torch.clamp(x_t + 0.07 * x_t.grad.sign(), 0, 1).detach().numpy()
    np.testing.assert_array_equal(adversarial.fgsm(network, x, labels, 0.07), expected)


def test_random_targets_are_other_classes_each_equally_often():
    labels = np.repeat(np.arange(4), 3000)
    targets = adversarial.random_targets(labels, 4, seed=0)
    assert not np.any(targets == labels)
    counts = np.bincount(targets[labels == 2], minlength=4)      # 3,000 draws over 3 classes
    # Each count is binomial(3000, 1/3): sd 25.8; 5 sd apart fails once in 10^6 runs.
    assert counts[2] == 0 and np.all(np.abs(counts[[0, 1, 3]] - 1000) < 5 * 25.8)


def test_attack_curves_match_a_slow_loop_over_the_images():
    network, x, labels = tiny_problem(n=30, seed=6)
    labels = network.forward(x).argmax(axis=1)
    labels[:5] = (labels[:5] + 1) % 3                   # 5 images the model gets wrong
    targets = (labels + 2) % 3
    curves = adversarial.attack_curves(adversarial.fgsm, network, x, labels, [0.0, 0.2, 0.5],
                                       targets)
    assert curves["images"] == 25
    for k, eps in enumerate([0.0, 0.2, 0.5]):
        success, original, target = [], [], []
        for n in range(5, 30):                          # one image at a time
            x_adv = adversarial.fgsm(network, x[n:n + 1], labels[n:n + 1], eps,
                                     target=targets[n:n + 1])
            p = softmax(network.forward(x_adv))[0]
            success.append(p.argmax() == targets[n])
            original.append(p[labels[n]])
            target.append(p[targets[n]])
        assert curves["success_rate"][k] == pytest.approx(np.mean(success), abs=1e-12)
        assert curves["original_confidence"][k] == pytest.approx(np.mean(original), abs=1e-12)
        assert curves["target_confidence"][k] == pytest.approx(np.mean(target), abs=1e-12)
    assert curves["success_rate"][0] == 0


def test_transfer_counts_only_images_every_model_gets_right():
    labels = np.array([0, 1, 2, 0])
    originals = np.arange(4.0)[:, None]                 # each image is its index

    def first(x):                                       # right on every unmoved image
        return np.where(x[:, 0] < 4, labels[np.minimum(x[:, 0], 3).astype(int)], 5)

    def second(x):                                      # wrong on image 3 unmoved
        return np.where(x[:, 0] < 3, labels[np.minimum(x[:, 0], 2).astype(int)], 1)

    crafted = {"a": originals + np.array([[0.0], [9], [0], [0]]), "b": originals + 9}
    result = adversarial.transfer_rates({"a": first, "b": second}, originals, crafted, labels)
    # Images 0, 1, 2 count; a's moves image 1 only, b's every image (second then says 1).
    assert result["images"] == 3
    assert result["rates"] == {"a": {"a": 1 / 3, "b": 0.0}, "b": {"a": 1.0, "b": 2 / 3}}


def test_adversarial_training_steps_on_the_fgsm_images_of_the_current_weights():
    network = linear_two_class(seed=7)
    copy = linear_two_class(seed=7)
    rng = np.random.default_rng(8)
    x, labels = rng.random((16, 6)), rng.integers(0, 2, 16)
    # One epoch, one batch of every image, all replaced, plain FGSM: a single Adam step
    # on the FGSM images of the initial weights (the batch's order does not change the
    # mean loss beyond rounding).
    adversarial.train_adversarial(network, x, labels, 0.1, num_epoch=1, share=1.0,
                                  random_start=False, batch_size=16, learning_rate=0.01,
                                  seed=0)
    x_adv = adversarial.fgsm(copy, x, labels, 0.1)
    copy.loss_and_gradients(x_adv, labels)
    Adam(copy.parameters()).step(0.01)
    for trained, expected in zip(network.get_weights(), copy.get_weights()):
        np.testing.assert_allclose(trained, expected, rtol=1e-12, atol=1e-15)


def test_adversarial_training_makes_a_linear_model_lean_on_the_robust_feature():
    # Feature 0 tells the classes apart by 0.6, beyond any move of eps = 0.1; the 49
    # others by 0.1 each, which FGSM erases. Trained on clean images, a linear model
    # spreads its weights over all 50, and FGSM's eps |w|_1 sweeps it away; trained on
    # FGSM images, it leans on feature 0 and keeps its accuracy under attack.
    rng = np.random.default_rng(9)
    labels = rng.integers(0, 2, 600)
    x = 0.45 + 0.1 * labels[:, None] + rng.normal(0, 0.1, (600, 50))
    x[:, 0] = 0.2 + 0.6 * labels + rng.normal(0, 0.1, 600)
    x = np.clip(x, 0, 1)
    accuracies = []
    for share in (0.0, 1.0):
        network = mlp([50, 2], seed=10, dtype=np.float64)
        adversarial.train_adversarial(network, x, labels, 0.1, num_epoch=20, share=share,
                                      learning_rate=0.05, batch_size=50, seed=0)
        attacked = adversarial.fgsm(network, x, labels, 0.1)
        accuracies.append(np.mean(network.forward(attacked).argmax(axis=1) == labels))
    assert accuracies[0] < 0.75 and accuracies[1] > 0.9      # measured: 0.58 and 0.97


def test_the_figures_draw_every_curve_image_and_bar(tmp_path):
    curve = {"epsilon": [0.0, 0.1], "images": 5, "success_rate": [0.0, 0.5],
             "original_confidence": [0.9, 0.4]}
    targeted = {**curve, "target_confidence": [0.05, 0.3]}
    curves = {"MLP": {"fgsm": curve, "iterated_targeted": targeted}}
    figure = plot_attack_curves(curves, "t")
    assert [len(ax.get_lines()) for ax in figure.axes] == [2, 3]
    images = np.random.default_rng(0).random((3, 4, 4, 1))
    figure = plot_adversarial_grid(images, np.clip(images + 0.1, 0, 1), np.array([0, 1, 2]),
                                   np.array([0, 2, 2]), ["a", "b", "c"], 0.1, "t")
    assert len(figure.axes) == 9
    assert [ax.get_title() for ax in figure.axes] == ["a", "b", "c", "", "", "", "a", "c", "c"]
    figure = plot_defence({"standard": {"clean": [0.9, 0.8], "attacked": [0.1, 0.2]},
                           "adversarial": {"clean": [0.8, 0.8], "attacked": [0.5, 0.6]}}, "t")
    assert len(figure.axes[0].patches) == 4
    assert is_png(save_figure(str(tmp_path), "d", figure))


# ------------------------------------------------------------ imagelab study adversarial

def write_learnable_mnist(folder, counts=(40, 10)):
    """Tiny Fashion-MNIST files a model can learn: class c is a bright 7 x 7 square at
    the c-th place of a 4 x 4 grid, on faint noise; the test images reuse the training
    ones (any model right on some)."""
    rng = np.random.default_rng(0)
    labels = np.arange(counts[0]) % 10
    images = rng.integers(0, 40, (counts[0], 28, 28), dtype=np.uint8)
    for n, c in enumerate(labels):
        images[n, 7 * (c // 4):7 * (c // 4) + 7, 7 * (c % 4):7 * (c % 4) + 7] = 230
    arrays = [images, labels.astype(np.uint8), images[:counts[1]],
              labels[:counts[1]].astype(np.uint8)]
    os.makedirs(folder)
    for name, array in zip(MNIST_FILES, arrays):
        with open(os.path.join(folder, name), "wb") as f:
            f.write(gzip.compress(idx_bytes(array), mtime=0))


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """Tiny learnable Fashion-MNIST: 40 training and 10 test images of 28 x 28."""
    set_mnist_sizes(monkeypatch, (40, 10))
    write_learnable_mnist(tmp_path / "data" / "fashion-mnist")
    return str(tmp_path / "data")


def run(data_dir, results_dir, *flags):
    command.main(["--data-dir", data_dir, "--results-dir", str(results_dir), "--no-download",
                  *flags])


def test_the_study_writes_its_figures_and_every_number(data_dir, tmp_path):
    run(data_dir, tmp_path / "out", "--seeds", "2", "--steps", "2", "--cnn-images", "6",
        "--mlp-epochs", "5", "--cnn-epochs", "1")
    name = tmp_path / "out" / "study_adversarial_fashion-mnist"
    for suffix in ("", "_images", "_defence"):
        assert is_png(f"{name}{suffix}.png")
    with open(f"{name}.json") as f:
        record = json.load(f)
    assert record["command"].startswith("imagelab study adversarial --data-dir")
    assert record["seconds"] > 0 and record["cnn_images"] == 6
    assert set(record["curves"]) == {"MLP", "CNN"}
    for attacks in record["curves"].values():
        assert set(attacks) == {"fgsm", "iterated", "fgsm_targeted", "iterated_targeted"}
        for curve in attacks.values():
            assert curve["images"] > 0
            assert len(curve["success_rate"]) == len(command.EPSILONS)
    assert set(record["transfer"]) == {"fgsm", "iterated"}
    assert len(record["defence"]["adversarial"]["clean"]["values"]) == 2
    assert all(set(f) == {"measured", "bound", "holds"} for f in record["floors"].values())


@pytest.mark.parametrize("flags, message", [
    (["--seeds", "0"], "argument --seeds: must be an integer >= 1, got 0"),
    (["--epsilon", "1.5"], "argument --epsilon: must be a finite number in (0, 1), got 1.5"),
    (["--share", "0"], "argument --share: must be a finite number in (0, 1), got 0"),
    (["--cnn-images", "11"], "argument --cnn-images: must be at most the 10 test images, "
                             "got 11"),
])
def test_a_bad_flag_ends_in_one_line(data_dir, tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as stop:
        run(data_dir, tmp_path / "out", *flags)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not os.path.exists(tmp_path / "out" / "study_adversarial_fashion-mnist.json")
