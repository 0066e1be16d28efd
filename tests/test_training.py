"""Tests of imagelab.training.loop: mini-batches, the validation split, the training loop
(float32, epoch means, early stopping, augmentation), one pass over given batches, and the
arguments it refuses."""
import re

import numpy as np
import pytest

from conftest import blobs
from imagelab.nn import network as model
from imagelab.training import loop as training
from imagelab.nn.optim import SGD, Adam
from imagelab.nn.losses import LOSSES
from imagelab.training.loop import (evaluate, iterate_minibatches, split_validation, train,
                                    train_on_batches)


@pytest.mark.parametrize("n, batch_size", [(10, 3), (12, 4), (5, 128)])
def test_minibatches_cover_every_row_once_per_epoch(n, batch_size):
    rng = np.random.default_rng(9)
    epochs = [list(iterate_minibatches(n, batch_size, rng)) for _ in range(3)]
    for batches in epochs:
        np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(n))
        assert all(len(b) == batch_size for b in batches[:-1])
        assert 1 <= len(batches[-1]) <= batch_size
    if n > 5:                                        # reshuffled every epoch
        orders = [tuple(np.concatenate(b)) for b in epochs]
        assert len(set(orders)) == 3


def test_split_validation_is_a_partition():
    train_index, val_index = split_validation(np.zeros((50, 2)), np.zeros(50, int), 0.2, seed=0)
    assert len(val_index) == 10
    np.testing.assert_array_equal(np.sort(np.concatenate([train_index, val_index])),
                                  np.arange(50))
    with pytest.raises(ValueError, match="validation"):
        split_validation(np.zeros((3, 2)), np.zeros(3, int), 0.01)


@pytest.mark.parametrize("fraction_val, seed, message", [
    (float("nan"), 0, r"fraction_val must be a finite number in \(0, 1\), got nan"),
    (1.0, 0, r"fraction_val must be a finite number in \(0, 1\), got 1.0"),
    ("0.1", 0, r"fraction_val must be a finite number in \(0, 1\), got '0.1'"),
    (0.2, -1, r"seed must be None, an integer >= 0 or a numpy.random.Generator, got -1"),
])
def test_split_validation_refuses_a_bad_fraction_or_seed(fraction_val, seed, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        split_validation(np.zeros((50, 2)), np.zeros(50, int), fraction_val, seed=seed)


def test_train_learns_an_easy_problem_in_float32():
    rng = np.random.default_rng(11)
    x, y = blobs(rng, 600, d=6, spread=0.6, dtype=np.float32)
    net = model.mlp([6, 32, 3], "relu", seed=0)
    history = train(net, x[:500], y[:500], x[500:], y[500:], num_epoch=15, batch_size=32,
                    learning_rate=1e-2, weight_decay=1e-4, seed=0)
    assert max(history["val_accuracy"]) > 0.9
    assert evaluate(net, x[500:], y[500:])[1] == max(history["val_accuracy"])
    assert all(p.value.dtype == np.float32 for p in net.parameters())
    assert set(history) >= {"train_loss", "train_accuracy", "val_loss", "val_accuracy",
                            "learning_rate", "seconds", "best_epoch"}
    assert all(len(history[k]) == 15 for k in ("train_loss", "val_accuracy", "seconds"))


class Frozen(SGD):
    """An optimizer that leaves the weights as they are (a learning rate must be > 0)."""

    def step(self, learning_rate):
        pass


def test_training_loss_and_accuracy_are_the_epoch_means_without_the_penalty():
    rng = np.random.default_rng(18)
    x, y = blobs(rng, 100, d=6, spread=0.6)
    net = model.mlp([6, 5, 3], "relu", seed=0, dtype=np.float64)
    # An optimizer that never steps: the weights never move, so the running means over
    # the batches must equal the loss and accuracy of the whole training set.
    history = train(net, x, y, x, y, num_epoch=1, batch_size=7,
                    optimizer=Frozen(net.parameters()), schedule="constant",
                    weight_decay=10.0, seed=0)
    loss, accuracy = evaluate(net, x, y)
    assert history["train_loss"][0] == pytest.approx(loss)
    assert history["train_accuracy"][0] == pytest.approx(accuracy)


class Sabotage(SGD):
    """SGD that wrecks the weights from step ``after`` on, so later epochs get worse."""

    def __init__(self, parameters, after):
        super().__init__(parameters, momentum=0.9)
        self.steps, self.after = 0, after
        self.rng = np.random.default_rng(0)

    def step(self, learning_rate):
        self.steps += 1
        if self.steps <= self.after:
            return super().step(learning_rate)
        for p in self.parameters:
            p.value[...] = self.rng.normal(size=p.value.shape) * 10


def test_early_stopping_restores_the_best_weights():
    rng = np.random.default_rng(12)
    x, y = blobs(rng, 400, d=6, spread=0.6)
    net = model.mlp([6, 16, 3], "relu", seed=0, dtype=np.float64)
    # 300 rows in batches of 50: 6 steps an epoch, so epochs 1-4 learn and 5+ are wrecked.
    history = train(net, x[:300], y[:300], x[300:], y[300:], num_epoch=20, batch_size=50,
                    optimizer=Sabotage(net.parameters(), after=24), learning_rate=0.05,
                    patience=3, seed=0)
    assert history["best_epoch"] <= 4
    assert len(history["val_accuracy"]) == history["best_epoch"] + 3     # patience
    assert history["val_accuracy"][-1] < max(history["val_accuracy"])
    val_loss, val_accuracy = evaluate(net, x[300:], y[300:])
    assert val_accuracy == max(history["val_accuracy"])
    assert val_loss == pytest.approx(history["val_loss"][history["best_epoch"] - 1])


def test_train_draws_each_row_from_data_or_its_flipped_view():
    rng = np.random.default_rng(13)
    x, y = blobs(rng, 64, d=6, spread=0.6)
    flipped = -x                                      # any other view of each row
    net = model.mlp([6, 4, 3], seed=0, dtype=np.float64)
    seen = []
    original = net.loss_and_gradients

    def spy(batch, labels, *args):
        seen.append(batch.copy())
        return original(batch, labels, *args)

    net.loss_and_gradients = spy
    train(net, x, y, x, y, num_epoch=1, batch_size=16, data_flipped=flipped, seed=0)
    rows = np.concatenate(seen)
    assert len(rows) == 64
    from_data = (rows[:, None, :] == x[None]).all(axis=2).any(axis=1)
    from_flip = (rows[:, None, :] == flipped[None]).all(axis=2).any(axis=1)
    assert np.all(from_data | from_flip) and from_data.any() and from_flip.any()
    with pytest.raises(ValueError, match="data_flipped"):
        train(net, x, y, x, y, num_epoch=1, data_flipped=x[:3])


def test_train_uses_adam_by_default_and_knows_nothing_of_the_dataset(monkeypatch):
    built = []

    class Recording(Adam):
        def __init__(self, parameters, *args, **kwargs):
            parameters = list(parameters)
            built.append(parameters)
            super().__init__(parameters, *args, **kwargs)

    monkeypatch.setattr(training, "Adam", Recording)
    # Any rows and labels will do, of any width: no image, no CIFAR-10.
    rng = np.random.default_rng(14)
    x, y = blobs(rng, 90, n_classes=4, d=3, spread=0.3)
    net = model.mlp([3, 16, 4], "relu", seed=0, dtype=np.float64)
    history = train(net, x[:60], y[:60], x[60:], y[60:], num_epoch=30, batch_size=10,
                    learning_rate=3e-2, seed=0)
    assert len(built) == 1 and built[0] == net.parameters()
    assert history["val_accuracy"][-1] > history["val_accuracy"][0]
    assert max(history["val_accuracy"]) > 0.9


def test_train_rejects_bad_batch_size():
    x, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="batch_size"):
        train(model.mlp([2, 2]), x, y, x, y, num_epoch=1, batch_size=0)


@pytest.mark.parametrize("change, message", [
    ({"learning_rate": float("nan")}, "learning_rate must be a finite number > 0, got nan"),
    ({"learning_rate": 0}, "learning_rate must be a finite number > 0, got 0"),
    ({"learning_rate": -1e-3}, "learning_rate must be a finite number > 0, got -0.001"),
    ({"learning_rate": float("inf")}, "learning_rate must be a finite number > 0, got inf"),
    ({"num_epoch": -5}, "num_epoch must be an integer >= 1, got -5"),
    ({"num_epoch": 0}, "num_epoch must be an integer >= 1, got 0"),
    ({"num_epoch": 2.5}, "num_epoch must be an integer >= 1, got 2.5"),
    ({"num_epoch": True}, "num_epoch must be an integer >= 1, got True"),
    ({"batch_size": 2.5}, "batch_size must be an integer >= 1, got 2.5"),
    ({"batch_size": True}, "batch_size must be an integer >= 1, got True"),
    ({"patience": 0}, "patience must be an integer >= 1, got 0"),
    ({"patience": 1.5}, "patience must be an integer >= 1, got 1.5"),
    ({"weight_decay": float("nan")}, "weight_decay must be a finite number >= 0, got nan"),
    ({"weight_decay": -0.1}, "weight_decay must be a finite number >= 0, got -0.1"),
    ({"loss": "hinge"}, "loss must be one of \\['cross_entropy', 'mse', 'se'\\], got 'hinge'"),
    ({"seed": -1}, "seed must be None, an integer >= 0 or a numpy.random.Generator, got -1"),
    ({"seed": 0.5}, "seed must be None, an integer >= 0 or a numpy.random.Generator, got 0.5"),
])
def test_train_refuses_bad_arguments_and_leaves_the_network_untouched(change, message):
    x, y = blobs(np.random.default_rng(19), 12, d=6, spread=0.6)
    net = model.mlp([6, 4, 3], seed=0)
    before = net.get_weights()
    arguments = {"num_epoch": 2, "batch_size": 4, "learning_rate": 0.1, "seed": 0, **change}
    with pytest.raises(ValueError, match=f"^{message}$"):
        train(net, x, y, x, y, **arguments)
    for w, w_before in zip(net.get_weights(), before):
        np.testing.assert_array_equal(w, w_before)


class Still:
    """An optimizer that never moves the weights, and counts its steps and their rates."""

    def __init__(self):
        self.rates = []

    def step(self, learning_rate):
        self.rates.append(learning_rate)


def test_train_on_batches_returns_the_row_weighted_mean_loss():
    x, y = blobs(np.random.default_rng(0), 7, d=3, dtype=np.float32)
    network, optimizer = model.mlp([3, 4, 3], "relu", seed=0), Still()
    batches = [(x[:5], y[:5]), (x[5:], y[5:])]
    losses = [LOSSES["cross_entropy"](network.predict_logits(b), c)[0] for b, c in batches]
    mean = train_on_batches(network, optimizer, batches, 0.5)
    assert mean == pytest.approx((5 * losses[0] + 2 * losses[1]) / 7, rel=1e-6)
    assert optimizer.rates == [0.5, 0.5]


def test_train_on_batches_steps_after_each_batch():
    x, y = blobs(np.random.default_rng(1), 6, d=3, dtype=np.float32)
    network = model.mlp([3, 3], "relu", seed=0)
    before = network.get_weights()
    network.loss_and_gradients(x, y)
    gradients = [p.grad.copy() for p in network.parameters()]
    network.set_weights(before)
    train_on_batches(network, SGD(network.parameters(), momentum=0), [(x, y)], 0.1)
    for after, w, g in zip(network.get_weights(), before, gradients, strict=True):
        np.testing.assert_allclose(after, w - 0.1 * g, rtol=1e-6, atol=1e-7)



def test_a_training_at_chance_after_its_first_epoch_is_warned_of(capsys):
    """Inputs that say nothing of the labels: every prediction is one class, at best the
    most frequent one's accuracy; separable inputs: no warning."""
    rng = np.random.default_rng(3)
    x, y = blobs(rng, 200, d=4, spread=0.3, dtype=np.float32)
    outputs = []
    for data in (np.zeros_like(x), x):
        train(model.mlp([4, 16, 3], "relu", seed=0), data[:150], y[:150], data[150:],
              y[150:], num_epoch=1, batch_size=16, learning_rate=1e-2, seed=0, verbose=True)
        outputs.append(capsys.readouterr().out)
    chance = np.bincount(y[150:]).max() / 50
    assert re.search(rf"min left\nwarning: validation accuracy 0\.\d{{4}} after the first epoch, no "
                     rf"better than always answering the most frequent class \({chance:.4f}\): "
                     rf"try a smaller learning rate than 0\.01\n$", outputs[0]), outputs[0]
    assert "warning" not in outputs[1]
