"""Tests of mlp.py: gradients against finite differences, numerics, shapes and dtypes."""
import json
import os
import warnings

import numpy as np
import pytest

import imagelab.classic.mlp
from imagelab.cli import mlp as mlp_cli
from conftest import blobs, make_cifar_folder
from imagelab.cli.arguments import ArgumentParser
from imagelab.classic.mlp import init_weights, learn_once_cross_entropy, learn_once_mse, run_mlp_training, test_mlp, train_mlp
from imagelab.nn.functional import log_softmax, one_hot, sigmoid, softmax
from imagelab.nn.gradcheck import numerical_gradient
from imagelab.data.cifar import BATCH_FOLDER

DATA_DIR = os.path.join(os.path.dirname(__file__), os.pardir, "data", "cifar-10-batches-py")


def network(rng, d_in=4, d_h=3, d_out=2):
    """Random float64 weights as in the lab's snippet, with non-zero biases."""
    return (2 * rng.random((d_in, d_h)) - 1, rng.normal(size=(1, d_h)),
            2 * rng.random((d_h, d_out)) - 1, rng.normal(size=(1, d_out)))


def mse_loss(w1, b1, w2, b2, data, targets):
    """The lab's snippet, written out again independently of mlp.py."""
    a1 = 1 / (1 + np.exp(-(data @ w1 + b1)))
    a2 = 1 / (1 + np.exp(-(a1 @ w2 + b2)))
    return np.mean(np.square(a2 - targets))


def cross_entropy_loss(w1, b1, w2, b2, data, labels):
    """-mean log softmax at the true class, with a naive softmax (fine for small values)."""
    a1 = 1 / (1 + np.exp(-(data @ w1 + b1)))
    e = np.exp(a1 @ w2 + b2)
    a2 = e / e.sum(axis=1, keepdims=True)
    return -np.mean(np.log(a2[np.arange(len(labels)), labels]))


def check_step(learn_once, loss, target, rng):
    """One step must move each weight by -learning_rate * (its finite-difference gradient)."""
    weights = network(rng)
    data = rng.normal(size=(6, 4))
    copies = [w.copy() for w in weights]
    learning_rate = 0.1
    *updated, returned_loss = learn_once(*weights, data, target, learning_rate)
    for w, w_copy in zip(weights, copies):
        np.testing.assert_array_equal(w, w_copy)              # inputs left unchanged
    assert returned_loss == pytest.approx(loss(*weights, data, target), rel=1e-12)
    expected = [numerical_gradient(lambda: loss(*weights, data, target), w) for w in weights]
    for name, w, new, g in zip(("w1", "b1", "w2", "b2"), weights, updated, expected):
        assert new.shape == w.shape, name
        np.testing.assert_allclose((w - new) / learning_rate, g, rtol=1e-6, atol=1e-9,
                                   err_msg=name)


def test_learn_once_mse_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    check_step(learn_once_mse, mse_loss, rng.random((6, 2)), rng)


def test_learn_once_cross_entropy_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    check_step(learn_once_cross_entropy, cross_entropy_loss, np.array([0, 1, 1, 0, 1, 1]), rng)


def test_learn_once_cross_entropy_one_hot_width_comes_from_the_network():
    # A batch showing only classes 0 and 1 of a 5-class network must still train.
    rng = np.random.default_rng(2)
    weights = network(rng, d_out=5)
    *updated, loss = learn_once_cross_entropy(*weights, rng.normal(size=(4, 4)),
                                              np.array([0, 1, 1, 0]), 0.1)
    assert updated[2].shape == (3, 5) and np.isfinite(loss)


def test_the_labs_snippet_runs_through_learn_once_mse():
    rng = np.random.default_rng(3)
    w1, b1 = 2 * rng.random((3, 3)) - 1, np.zeros((1, 3))
    w2, b2 = 2 * rng.random((3, 2)) - 1, np.zeros((1, 2))
    data, targets = rng.random((30, 3)), rng.random((30, 2))
    losses = []
    for _ in range(200):
        w1, b1, w2, b2, loss = learn_once_mse(w1, b1, w2, b2, data, targets, 0.5)
        losses.append(loss)
    assert losses[-1] < losses[0]


# ---- numerics and dtypes ---------------------------------------------------------------

def test_sigmoid_and_softmax_never_overflow_or_warn():
    z = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = sigmoid(z)
        p = softmax(z)
        logp = log_softmax(z)
    np.testing.assert_allclose(s, [[0, 1.9287499e-22, 0.5, 1, 1]], rtol=1e-6)
    assert s.dtype == np.float32
    assert np.isfinite(logp).all() and p.sum() == pytest.approx(1)
    np.testing.assert_allclose(sigmoid(np.float64(-30)), 1 / (1 + np.exp(30)), rtol=1e-12)


def test_sigmoid_and_softmax_accept_plain_lists():
    z = [[-1.0, 0.0, 2.0], [3.0, 3.0, 3.0]]
    np.testing.assert_array_equal(sigmoid(z), sigmoid(np.array(z)))
    np.testing.assert_array_equal(softmax(z), softmax(np.array(z)))
    np.testing.assert_array_equal(log_softmax(z), log_softmax(np.array(z)))
    assert sigmoid(0) == 0.5


def test_softmax_matches_its_definition():
    z = np.random.default_rng(4).normal(size=(5, 7))
    np.testing.assert_allclose(softmax(z), np.exp(z) / np.exp(z).sum(axis=1, keepdims=True))


def test_cross_entropy_loss_stays_finite_with_huge_logits():
    rng = np.random.default_rng(5)
    w1, b1, w2, b2 = network(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        *_, loss = learn_once_cross_entropy(w1, b1, 1e6 * w2, b2, rng.normal(size=(6, 4)),
                                            np.array([0, 1, 0, 1, 0, 1]), 0.1)
    assert np.isfinite(loss) and loss > 1000


def test_float32_data_trains_in_float32():
    rng = np.random.default_rng(6)
    data = rng.normal(size=(20, 4)).astype(np.float32)
    weights = network(rng)                                  # float64, as in the lab's snippet
    labels = rng.integers(0, 2, size=20)
    *updated, loss = learn_once_cross_entropy(*weights, data, labels, 0.1)
    assert all(w.dtype == np.float32 for w in updated) and isinstance(loss, float)
    *trained, accuracies = train_mlp(*weights, data, labels, 0.1, 3)
    assert all(w.dtype == np.float32 for w in trained)
    *updated, loss = learn_once_mse(*weights, data, rng.random((20, 2)), 0.1)
    assert all(w.dtype == np.float32 for w in updated)


# ---- one_hot ---------------------------------------------------------------------------

def test_one_hot_the_labs_example():
    np.testing.assert_array_equal(one_hot(np.array([1, 2, 0])),
                                  [[0, 1, 0], [0, 0, 1], [1, 0, 0]])


def test_one_hot_0d_1d_2d():
    np.testing.assert_array_equal(one_hot(2, num_classes=4), [0, 0, 1, 0])
    labels = np.array([[0, 3], [1, 1], [2, 0]])
    encoded = one_hot(labels)
    assert encoded.shape == (3, 2, 4) and encoded.dtype == np.int64
    np.testing.assert_array_equal(encoded.argmax(axis=-1), labels)
    np.testing.assert_array_equal(encoded.sum(axis=-1), 1)
    assert one_hot([0, 0], num_classes=10).shape == (2, 10)


@pytest.mark.parametrize("labels, num_classes, message", [
    ([0, 3], 3, "0..2"), ([-1, 0], None, "0.."), ([0.5, 1.0], None, "integers")])
def test_one_hot_rejects_bad_labels(labels, num_classes, message):
    with pytest.raises(ValueError, match=message):
        one_hot(np.array(labels), num_classes=num_classes)


@pytest.mark.parametrize("num_classes", [2.5, 3.0, 0, -1, True, "3"])
def test_one_hot_rejects_a_num_classes_that_is_not_a_positive_integer(num_classes):
    with pytest.raises(ValueError, match=r"^num_classes must be an integer >= 1, got "):
        one_hot([0, 1], num_classes=num_classes)


# ---- training and testing --------------------------------------------------------------

def separable(rng, n=300, d_in=5, n_classes=3):
    """Well separated Gaussian clusters: a working network classifies them almost perfectly."""
    return blobs(rng, n, n_classes, d_in, spread=1.0, scale=4.0, dtype=np.float32)


def test_train_mlp_learns_a_separable_problem_and_reports_each_epoch():
    rng = np.random.default_rng(7)
    data, labels = separable(rng)
    weights = init_weights(5, 16, 3, seed=0)
    w1, b1, w2, b2, accuracies = train_mlp(*weights, data, labels, 1.0, 60)
    assert len(accuracies) == 60 and all(isinstance(a, float) for a in accuracies)
    assert accuracies[-1] > 0.95 and accuracies[-1] > accuracies[0]
    # Each value is the accuracy after that epoch's step: the last is the returned network's.
    assert accuracies[-1] == test_mlp(w1, b1, w2, b2, data, labels)
    *_, after_one = train_mlp(*weights, data, labels, 1.0, 1)
    w1, b1, w2, b2, _ = learn_once_cross_entropy(*weights, data, labels, 1.0)
    assert after_one == [test_mlp(w1, b1, w2, b2, data, labels)]


def test_test_mlp_is_the_fraction_of_argmax_hits():
    rng = np.random.default_rng(8)
    w1, b1, w2, b2 = network(rng, d_out=3)
    data = rng.normal(size=(50, 4))
    labels = rng.integers(0, 3, size=50)
    a1 = 1 / (1 + np.exp(-(data @ w1 + b1)))
    expected = np.mean(np.argmax(a1 @ w2 + b2, axis=1) == labels)
    assert test_mlp(w1, b1, w2, b2, data, labels) == expected


def test_run_mlp_training_returns_the_labs_values():
    rng = np.random.default_rng(9)
    data, labels = separable(rng, n=400)
    train_accuracies, test_accuracy = run_mlp_training(
        data[:300], labels[:300], data[300:], labels[300:], d_h=16, learning_rate=1.0,
        num_epoch=50, seed=0)
    assert len(train_accuracies) == 50 and isinstance(test_accuracy, float)
    assert test_accuracy > 0.95


@pytest.mark.parametrize("change, message", [
    (lambda w: (w[0][:-1], *w[1:]), "w1 has shape"),
    (lambda w: (w[0], w[1], w[2], np.zeros((2, 2))), "b2 has shape"),
])
def test_wrong_weight_shapes_are_named(change, message):
    rng = np.random.default_rng(10)
    weights = change(network(rng))
    with pytest.raises(ValueError, match=message):
        test_mlp(*weights, rng.normal(size=(5, 4)), np.zeros(5, dtype=int))


def test_labels_beyond_the_output_layer_are_rejected():
    rng = np.random.default_rng(11)
    with pytest.raises(ValueError, match="2 outputs"):
        train_mlp(*network(rng), rng.normal(size=(5, 4)), np.array([0, 1, 2, 0, 1]), 0.1, 1)


# ---- what the functions refuse ----------------------------------------------------------

def learn_once_args(learn_once, rng, n=5):
    """Valid arguments of ``learn_once``: a 4-3-2 network, data and targets or labels."""
    labels = np.arange(n) % 2
    second = one_hot(labels, 2) if learn_once is learn_once_mse else labels
    return [*network(rng), rng.normal(size=(n, 4)), second, 0.1]


def with_nan_data(args):
    args[4] = args[4].copy()
    args[4][2, 1] = np.nan
    return args


@pytest.mark.parametrize("learn_once", [learn_once_mse, learn_once_cross_entropy])
@pytest.mark.parametrize("change, message", [
    (with_nan_data, r"data must hold finite values, got nan at index \(2, 1\)"),
    (lambda a: [*a[:4], a[4][:, :3], *a[5:]], r"w1 has shape \(4, 3\), expected \(3, 3\)"),
    (lambda a: [a[0], a[1][0], *a[2:]], r"b1 must be a 2-D array, got shape \(3,\)"),
    (lambda a: [a[0], a[1].T, *a[2:]], r"b1 has shape \(3, 1\), expected \(1, 3\)"),
    (lambda a: [*a[:3], np.zeros((2, 2)), *a[4:]], r"b2 has shape \(2, 2\), expected \(1, 2\)"),
    (lambda a: [*a[:2], np.zeros((3, 3)), *a[3:]], r"b2 has shape \(1, 2\), expected \(1, 3\)"),
    (lambda a: [*a[:2], np.full((3, 2), np.nan), *a[3:]], "w2 must hold finite values"),
    (lambda a: [np.float64(1.0), *a[1:]], r"w1 must be a 2-D array, got shape \(\)"),
])
def test_learn_once_mse_validates_like_learn_once_cross_entropy(learn_once, change, message):
    args = change(learn_once_args(learn_once, np.random.default_rng(20)))
    with pytest.raises(ValueError, match=message):
        learn_once(*args)


@pytest.mark.parametrize("targets, message", [
    (np.zeros((1, 2)), r"targets must have shape \(5, 2\) .*got shape \(1, 2\)"),
    (np.zeros((5, 3)), r"targets must have shape \(5, 2\) .*got shape \(5, 3\)"),
    (np.zeros(5), r"targets must be a non-empty 2-D array"),
    (np.full((5, 2), np.nan), "targets must hold finite values, got nan"),
])
def test_learn_once_mse_refuses_targets_of_the_wrong_shape_or_not_finite(targets, message):
    args = learn_once_args(learn_once_mse, np.random.default_rng(21))
    with pytest.raises(ValueError, match=message):
        learn_once_mse(*args[:5], targets, 0.1)


BAD_RATES = [float("nan"), float("inf"), 0, -1, True, "0.1", None]


@pytest.mark.parametrize("learning_rate", BAD_RATES)
@pytest.mark.parametrize("learn_once", [learn_once_mse, learn_once_cross_entropy])
def test_learn_once_refuses_a_learning_rate_that_is_not_finite_and_positive(learn_once,
                                                                             learning_rate):
    args = learn_once_args(learn_once, np.random.default_rng(22))
    with pytest.raises(ValueError, match=r"^learning_rate must be a finite number > 0, got "):
        learn_once(*args[:6], learning_rate)


def train_mlp_args(rng):
    data, labels = separable(rng, n=20, d_in=4, n_classes=2)
    return [*init_weights(4, 3, 2, seed=0), data, labels]


@pytest.mark.parametrize("learning_rate", BAD_RATES)
def test_train_mlp_refuses_a_bad_learning_rate(learning_rate):
    with pytest.raises(ValueError, match=r"^learning_rate must be a finite number > 0, got "):
        train_mlp(*train_mlp_args(np.random.default_rng(23)), learning_rate, 2)


@pytest.mark.parametrize("num_epoch", [-5, 0, 2.5, 2.0, True, None, "3"])
def test_train_mlp_refuses_a_num_epoch_that_is_not_a_positive_integer(num_epoch):
    with pytest.raises(ValueError, match=r"^num_epoch must be an integer >= 1, got "):
        train_mlp(*train_mlp_args(np.random.default_rng(24)), 0.1, num_epoch)


@pytest.fixture
def no_standardize(monkeypatch):
    """Make run_mlp_training fail loudly if it gets as far as standardising the data."""
    def standardize(*args):
        raise AssertionError("the arguments should have been refused before any work")
    monkeypatch.setattr(imagelab.classic.mlp, "standardize", standardize)


@pytest.mark.parametrize("change, message", [
    ({"learning_rate": float("nan")}, r"^learning_rate must be a finite number > 0, got nan$"),
    ({"learning_rate": -1}, r"^learning_rate must be a finite number > 0, got -1$"),
    ({"num_epoch": -5}, r"^num_epoch must be an integer >= 1, got -5$"),
    ({"num_epoch": True}, r"^num_epoch must be an integer >= 1, got True$"),
    ({"d_h": 0}, r"^d_h must be an integer >= 1, got 0$"),
    ({"d_h": 2.5}, r"^d_h must be an integer >= 1, got 2.5$"),
    ({"seed": -1}, r"^seed must be None, an integer >= 0 or a numpy.random.Generator, got -1$"),
    ({"seed": 0.5}, r"^seed must be None, an integer >= 0 or a numpy.random.Generator, got 0.5$"),
    ({"num_classes": 2.5}, r"^num_classes must be an integer >= 1, got 2.5$"),
    ({"num_classes": 0}, r"^num_classes must be an integer >= 1, got 0$"),
])
def test_run_mlp_training_refuses_bad_arguments_before_any_work(no_standardize, change, message):
    data, labels = separable(np.random.default_rng(25), n=30, n_classes=2)
    arguments = {"data_train": data[:20], "labels_train": labels[:20], "data_test": data[20:],
                 "labels_test": labels[20:], "d_h": 4, "learning_rate": 0.1, "num_epoch": 2,
                 "seed": 0, **change}
    with pytest.raises(ValueError, match=message):
        run_mlp_training(**arguments)


@pytest.mark.parametrize("sizes, message", [
    ((4, 0, 2), "d_h must be an integer >= 1, got 0"),
    ((4, 3, 2.5), "d_out must be an integer >= 1, got 2.5"),
    ((True, 3, 2), "d_in must be an integer >= 1, got True"),
])
def test_init_weights_refuses_sizes_that_are_not_positive_integers(sizes, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        init_weights(*sizes)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_init_weights_refuses_a_bad_seed_by_name(seed):
    with pytest.raises(ValueError, match=r"^seed must be None, an integer >= 0"):
        init_weights(4, 3, 2, seed=seed)


def test_init_weights_glorot_shapes_dtype_and_range():
    w1, b1, w2, b2 = init_weights(3072, 64, 10, seed=0)
    assert (w1.shape, b1.shape, w2.shape, b2.shape) == ((3072, 64), (1, 64), (64, 10), (1, 10))
    assert all(w.dtype == np.float32 for w in (w1, b1, w2, b2))
    limit = np.sqrt(6 / (3072 + 64))
    assert np.abs(w1).max() <= limit and np.abs(w1).max() > 0.99 * limit
    assert not b1.any() and not b2.any()


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(DATA_DIR), reason="real CIFAR-10 not in data/")
def test_mlp_on_real_cifar_learns():
    from read_cifar import read_cifar_batch
    data, labels = read_cifar_batch(os.path.join(DATA_DIR, "data_batch_1"))
    train_accuracies, test_accuracy = run_mlp_training(
        data[:8000], labels[:8000], data[8000:], labels[8000:], 64, 0.1, 20, seed=0)
    assert train_accuracies[-1] > train_accuracies[0] and 0.2 < test_accuracy < 0.5


# ---- the command line: the lab and nothing else -------------------------------------------

@pytest.fixture
def small_cifar(tmp_path):
    folder = tmp_path / "data"
    make_cifar_folder(str(folder / BATCH_FOLDER), sizes=(40, 40, 40, 40, 40, 40))
    return folder


def test_mlp_main_runs_the_lab_network_and_not_the_trainer(small_cifar, tmp_path, monkeypatch):
    import imagelab.cli.train_mlp

    def fail(*args, **kwargs):
        raise AssertionError("imagelab.cli.train_mlp.run called by python mlp.py")

    monkeypatch.setattr(imagelab.cli.train_mlp, "run", fail)
    results = tmp_path / "results"
    mlp_cli.main(["--data-dir", str(small_cifar), "--results-dir", str(results), "--no-download",
              "--num-epoch", "3"])
    record = json.loads((results / "mlp.json").read_text())
    assert len(record["train_accuracy"]) == 3 and record["d_h"] == 64
    assert sorted(p.name for p in results.iterdir()) == ["mlp.json", "mlp.png"]


@pytest.mark.parametrize("flags", [["--hidden", "8"], ["--optimizer", "adam"],
                                   ["--features", "color"]])
def test_mlp_main_refuses_the_trainers_and_the_studies_flags(small_cifar, flags):
    with pytest.raises(SystemExit):
        mlp_cli.main(["--data-dir", str(small_cifar), "--no-download", *flags])


def test_train_and_save_takes_plain_arguments(small_cifar, tmp_path):
    results = str(tmp_path / "results")
    record = mlp_cli.train_and_save(str(small_cifar), results, 0.75, 1, d_h=8, learning_rate=0.1,
                                num_epoch=2, download=False)
    assert record == json.loads((tmp_path / "results" / "mlp.json").read_text())
    assert (record["n_train"], record["n_test"], record["seed"], record["split"]) == (180, 60, 1,
                                                                                      0.75)
    assert (record["d_h"], record["num_epoch"], record["features"]) == (8, 2, "raw")
    # A feature function applied before the split: its spec names the files.
    record = mlp_cli.train_and_save(str(small_cifar), results, 0.75, 1, d_h=8, learning_rate=0.1,
                                num_epoch=2, download=False, features=lambda rows: rows[:, :10],
                                spec="first10")
    assert record["features"] == "first10" and record["n_train"] == 180
    assert sorted(os.listdir(results)) == ["mlp.json", "mlp.png", "mlp_first10.json",
                                           "mlp_first10.png"]


def test_add_lab_arguments_gives_the_labs_defaults():
    parser = ArgumentParser(prog="mlp.py")
    mlp_cli.add_lab_arguments(parser)
    args = parser.parse_args([])
    assert (args.d_h, args.learning_rate, args.num_epoch) == (64, 0.1, 100)
    assert (args.split, args.seed, args.no_download) == (0.9, 0, False)
