"""Tests of network.py: every gradient against finite differences, optimizers against
loops, mini-batches, early stopping, the lab's network as the one-layer case, the CLI."""
import json
import os

import numpy as np
import pytest

import mlp
from conftest import make_cifar_folder
from network import (SGD, Adam, Dense, Dropout, Network, ReLU, Sigmoid, evaluate, fit_pca_whitening,
                     hflip_rows, iterate_minibatches, learning_rate_at, sigmoid_mse,
                     softmax_cross_entropy, split_validation, train, transform)
from read_cifar import BATCH_FOLDER


def numerical_gradient(f, x, eps=1e-6):
    """Central differences of the scalar f() with respect to every entry of x (in place)."""
    g = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + eps
        plus = f()
        x[index] = saved - eps
        minus = f()
        x[index] = saved
        g[index] = (plus - minus) / (2 * eps)
    return g


def blobs(rng, n, n_classes=3, d=6, spread=0.6):
    """Gaussian clusters around random centres: an easy classification problem."""
    centres = rng.normal(size=(n_classes, d)) * 2
    labels = rng.integers(0, n_classes, size=n)
    return centres[labels] + spread * rng.normal(size=(n, d)), labels


# ------------------------------------------------------------------ layers and losses

def test_dense_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    layer = Dense(4, 3, "he", rng, dtype=np.float64)
    layer.params["b"][...] = rng.normal(size=(1, 3))
    x, r = rng.normal(size=(5, 4)), rng.normal(size=(5, 3))

    def loss():                         # C = sum(Z * R), so dC/dZ = R
        return np.sum(layer.forward(x) * r)

    layer.forward(x)
    dx = layer.backward(r)
    for key in ("w", "b"):
        np.testing.assert_allclose(layer.grads[key],
                                   numerical_gradient(loss, layer.params[key]), atol=1e-8)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), atol=1e-8)
    assert layer.backward(r, need_dx=False) is None


@pytest.mark.parametrize("activation", [Sigmoid, ReLU])
def test_activation_gradients_match_finite_differences(activation):
    rng = np.random.default_rng(1)
    z = rng.normal(size=(6, 5))
    z[np.abs(z) < 1e-3] = 0.5           # keep ReLU away from its kink at 0
    r = rng.normal(size=z.shape)
    layer = activation()

    def loss():
        return np.sum(layer.forward(z) * r)

    layer.forward(z)
    np.testing.assert_allclose(layer.backward(r), numerical_gradient(loss, z), atol=1e-8)


def test_dropout_gradient_matches_finite_differences():
    rng = np.random.default_rng(15)
    x, r = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    layer = Dropout(0.4)

    def loss():                         # the same mask at every call: reseed first
        layer.rng = np.random.default_rng(0)
        return np.sum(layer.forward(x, training=True) * r)

    loss()
    np.testing.assert_allclose(layer.backward(r), numerical_gradient(loss, x), atol=1e-8)


def test_dropout_drops_at_its_rate_and_keeps_the_mean():
    x = np.ones((400, 500), np.float32)
    layer = Dropout(0.3, rng=0)
    out = layer.forward(x, training=True)
    assert out.dtype == np.float32
    assert np.mean(out == 0) == pytest.approx(0.3, abs=0.01)
    np.testing.assert_allclose(out[out != 0], 1 / 0.7, rtol=1e-6)
    assert np.mean(out) == pytest.approx(1, abs=0.01)
    assert layer.forward(x) is x                     # off outside training
    with pytest.raises(ValueError, match="dropout"):
        Dropout(1.0)


def test_activations_values():
    z = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(ReLU().forward(z), [[0, 0, 3]])
    np.testing.assert_allclose(Sigmoid().forward(z), 1 / (1 + np.exp(-z)))


@pytest.mark.parametrize("loss_fn", [softmax_cross_entropy, sigmoid_mse])
def test_loss_gradients_match_finite_differences(loss_fn):
    rng = np.random.default_rng(2)
    z, labels = rng.normal(size=(7, 4)) * 3, rng.integers(0, 4, size=7)
    _, dz = loss_fn(z, labels)
    np.testing.assert_allclose(dz, numerical_gradient(lambda: loss_fn(z, labels)[0], z),
                               atol=1e-8)


def test_loss_values_against_direct_formulas():
    rng = np.random.default_rng(3)
    z, labels = rng.normal(size=(5, 3)), rng.integers(0, 3, size=5)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    expected = -np.mean([np.log(p[n, labels[n]]) for n in range(5)])
    assert softmax_cross_entropy(z, labels)[0] == pytest.approx(expected)
    a = 1 / (1 + np.exp(-z))
    y = np.eye(3)[labels]
    assert sigmoid_mse(z, labels)[0] == pytest.approx(np.mean((a - y) ** 2))


def test_cross_entropy_is_finite_for_huge_logits():
    z = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]], dtype=np.float32)
    loss, dz = softmax_cross_entropy(z, np.array([0, 0]))
    assert np.isfinite(loss) and loss == pytest.approx(1000.0)
    assert dz.dtype == np.float32 and np.all(np.isfinite(dz))


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_network_gradients_with_weight_decay_match_finite_differences(activation, loss):
    rng = np.random.default_rng(4)
    net = Network([5, 4, 3, 3], activation, seed=0, dtype=np.float64)
    for p, _, _ in net.parameters():
        p[...] = rng.normal(size=p.shape)   # non-zero biases too
    x, labels = rng.normal(size=(8, 5)), rng.integers(0, 3, size=8)
    decay = 0.3

    def total_loss():
        return net.loss_and_gradients(x, labels, loss, decay)[0]

    total_loss()
    analytic = [layer.grads[key].copy() for _, key, layer in net.parameters()]
    for (p, _, _), g in zip(net.parameters(), analytic):
        np.testing.assert_allclose(g, numerical_gradient(total_loss, p), atol=1e-7)


def test_weight_decay_adds_half_squared_norm_of_weights_only():
    rng = np.random.default_rng(5)
    net = Network([3, 4, 2], "relu", seed=1, dtype=np.float64)
    x, labels = rng.normal(size=(4, 3)), rng.integers(0, 2, size=4)
    plain = net.loss_and_gradients(x, labels)[0]
    squares = sum(np.sum(layer.params["w"] ** 2) for layer in net.layers
                  if isinstance(layer, Dense))
    assert net.loss_and_gradients(x, labels, weight_decay=0.1)[0] == pytest.approx(
        plain + 0.05 * squares)


def test_network_with_dropout_gradients_match_finite_differences():
    rng = np.random.default_rng(16)
    net = Network([5, 6, 4, 3], "relu", dropout=0.3, seed=0, dtype=np.float64)
    dropouts = [layer for layer in net.layers if isinstance(layer, Dropout)]
    assert len(dropouts) == 2 and isinstance(net.layers[-1], Dense)
    x, labels = rng.normal(size=(8, 5)), rng.integers(0, 3, size=8)

    def total_loss():
        for i, layer in enumerate(dropouts):         # the same masks at every call
            layer.rng = np.random.default_rng(i)
        return net.loss_and_gradients(x, labels, weight_decay=0.1)[0]

    total_loss()
    analytic = [layer.grads[key].copy() for _, key, layer in net.parameters()]
    for (p, _, _), g in zip(net.parameters(), analytic):
        np.testing.assert_allclose(g, numerical_gradient(total_loss, p), atol=1e-7)
    # At test time dropout is off: the logits are those of the same network without it.
    plain = Network([5, 6, 4, 3], "relu", seed=0, dtype=np.float64)
    plain.set_weights(net.get_weights())
    np.testing.assert_allclose(net.predict_logits(x), plain.forward(x))


def test_network_shapes_init_and_errors():
    net = Network([10, 7, 5, 3], "relu", seed=0)
    assert [type(layer) for layer in net.layers] == [Dense, ReLU, Dense, ReLU, Dense]
    assert all(p.dtype == np.float32 for p, _, _ in net.parameters())
    w = Network([2000, 500, 3], "relu", seed=0).layers[0].params["w"]
    assert np.std(w) == pytest.approx(np.sqrt(2 / 2000), rel=0.02)     # He
    w = Network([2000, 500, 3], "sigmoid", seed=0).layers[0].params["w"]
    assert np.abs(w).max() <= np.sqrt(6 / 2500)                         # Glorot
    with pytest.raises(ValueError, match="activation"):
        Network([3, 2], "tanh")
    with pytest.raises(ValueError, match="sizes"):
        Network([3])
    with pytest.raises(ValueError, match="init"):
        Dense(2, 2, init="zeros")


# ------------------------------------------------------- the lab's network as a special case

def test_lab_network_is_the_one_layer_case():
    rng = np.random.default_rng(6)
    w1, b1, w2, b2 = mlp.init_weights(6, 5, 3, seed=0, dtype=np.float64)
    b1, b2 = rng.normal(size=b1.shape), rng.normal(size=b2.shape)
    x, labels = rng.normal(size=(9, 6)), rng.integers(0, 3, size=9)
    net = Network.from_lab_weights(w1, b1, w2, b2)
    np.testing.assert_allclose(net.forward(x), mlp.forward(w1, b1, w2, b2, x)[1])
    # One full-batch step of SGD without momentum is the lab's gradient descent step.
    *expected, expected_loss = mlp.learn_once_cross_entropy(w1, b1, w2, b2, x, labels, 0.1)
    loss, _ = net.loss_and_gradients(x, labels)
    SGD(momentum=0).step(net, 0.1)
    assert loss == pytest.approx(expected_loss)
    for p, e in zip(net.get_weights(), expected):
        np.testing.assert_allclose(p, e)
    # Same for the lab's mean squared error.
    net = Network.from_lab_weights(w1, b1, w2, b2)
    targets = mlp.one_hot(labels, 3)
    *expected, expected_loss = mlp.learn_once_mse(w1, b1, w2, b2, x, targets, 0.1)
    loss, _ = net.loss_and_gradients(x, labels, loss="mse")
    SGD(momentum=0).step(net, 0.1)
    assert loss == pytest.approx(expected_loss)
    for p, e in zip(net.get_weights(), expected):
        np.testing.assert_allclose(p, e)


# ------------------------------------------------------------------------- optimizers

def one_parameter_network(rng):
    net = Network([3, 2], seed=0, dtype=np.float64)
    gradients = [rng.normal(size=(3, 2)) for _ in range(4)]
    return net, gradients


def test_sgd_momentum_matches_a_loop():
    rng = np.random.default_rng(7)
    net, gradients = one_parameter_network(rng)
    layer = net.layers[0]
    w = layer.params["w"].copy()
    velocity = np.zeros_like(w)
    sgd = SGD(momentum=0.8)
    for g in gradients:
        layer.grads = {"w": g, "b": np.zeros((1, 2))}
        sgd.step(net, 0.05)
        for index in np.ndindex(w.shape):          # the textbook rule, entry by entry
            velocity[index] = 0.8 * velocity[index] - 0.05 * g[index]
            w[index] += velocity[index]
        np.testing.assert_allclose(layer.params["w"], w)


def test_adam_matches_a_loop():
    rng = np.random.default_rng(8)
    net, gradients = one_parameter_network(rng)
    layer = net.layers[0]
    w = layer.params["w"].copy()
    m, s = np.zeros_like(w), np.zeros_like(w)
    adam = Adam(beta1=0.8, beta2=0.9, eps=1e-3)
    for t, g in enumerate(gradients, start=1):
        layer.grads = {"w": g, "b": np.zeros((1, 2))}
        adam.step(net, 0.01)
        for index in np.ndindex(w.shape):
            m[index] = 0.8 * m[index] + 0.2 * g[index]
            s[index] = 0.9 * s[index] + 0.1 * g[index] ** 2
            m_hat, s_hat = m[index] / (1 - 0.8 ** t), s[index] / (1 - 0.9 ** t)
            w[index] -= 0.01 * m_hat / (np.sqrt(s_hat) + 1e-3)
        np.testing.assert_allclose(layer.params["w"], w)


def test_optimizers_keep_float32_and_reject_bad_settings():
    net = Network([4, 3, 2], "relu", seed=0)
    x, labels = np.ones((2, 4), np.float32), np.array([0, 1])
    for optimizer in (SGD(), Adam()):
        net.loss_and_gradients(x, labels, weight_decay=1e-3)
        optimizer.step(net, 1e-2)
        assert all(p.dtype == np.float32 for p, _, _ in net.parameters())
    with pytest.raises(ValueError, match="momentum"):
        SGD(momentum=1.0)
    with pytest.raises(ValueError, match="beta"):
        Adam(beta1=1.0)


def test_learning_rate_schedules():
    assert learning_rate_at(3, 0.1, 10, "constant") == 0.1
    assert learning_rate_at(0, 0.1, 10) == pytest.approx(0.1)
    assert learning_rate_at(5, 0.1, 10) == pytest.approx(0.05)
    rates = [learning_rate_at(e, 0.1, 10) for e in range(10)]
    assert all(a > b > 0 for a, b in zip(rates, rates[1:]))
    with pytest.raises(ValueError, match="schedule"):
        learning_rate_at(0, 0.1, 10, "step")


# --------------------------------------------------------------------------- training

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


def test_split_validation_is_a_partition():
    train_index, val_index = split_validation(np.zeros((50, 2)), np.zeros(50, int), 0.2, seed=0)
    assert len(val_index) == 10
    np.testing.assert_array_equal(np.sort(np.concatenate([train_index, val_index])),
                                  np.arange(50))
    with pytest.raises(ValueError, match="validation"):
        split_validation(np.zeros((3, 2)), np.zeros(3, int), 0.01)


def test_train_learns_an_easy_problem_in_float32():
    rng = np.random.default_rng(11)
    x, y = blobs(rng, 600)
    x = x.astype(np.float32)
    net = Network([6, 32, 3], "relu", seed=0)
    history = train(net, x[:500], y[:500], x[500:], y[500:], num_epochs=15, batch_size=32,
                    learning_rate=1e-2, weight_decay=1e-4, seed=0)
    assert max(history["val_accuracy"]) > 0.9
    assert evaluate(net, x[500:], y[500:])[1] == max(history["val_accuracy"])
    assert all(p.dtype == np.float32 for p, _, _ in net.parameters())
    assert set(history) >= {"train_loss", "train_accuracy", "val_loss", "val_accuracy",
                            "learning_rate", "seconds", "best_epoch"}
    assert all(len(history[k]) == 15 for k in ("train_loss", "val_accuracy", "seconds"))


class Frozen(SGD):
    """An optimizer that leaves the weights as they are (a learning rate must be > 0)."""

    def step(self, network, learning_rate):
        pass


def test_training_loss_and_accuracy_are_the_epoch_means_without_the_penalty():
    rng = np.random.default_rng(18)
    x, y = blobs(rng, 100)
    net = Network([6, 5, 3], "relu", seed=0, dtype=np.float64)
    # An optimizer that never steps: the weights never move, so the running means over
    # the batches must equal the loss and accuracy of the whole training set.
    history = train(net, x, y, x, y, num_epochs=1, batch_size=7, optimizer=Frozen(),
                    schedule="constant", weight_decay=10.0, seed=0)
    loss, accuracy = evaluate(net, x, y)
    assert history["train_loss"][0] == pytest.approx(loss)
    assert history["train_accuracy"][0] == pytest.approx(accuracy)


class Sabotage(SGD):
    """SGD that wrecks the weights from step ``after`` on, so later epochs get worse."""

    def __init__(self, after):
        super().__init__(momentum=0.9)
        self.steps, self.after = 0, after
        self.rng = np.random.default_rng(0)

    def step(self, network, learning_rate):
        self.steps += 1
        if self.steps <= self.after:
            return super().step(network, learning_rate)
        for p, _, _ in network.parameters():
            p[...] = self.rng.normal(size=p.shape) * 10


def test_early_stopping_restores_the_best_weights():
    rng = np.random.default_rng(12)
    x, y = blobs(rng, 400)
    net = Network([6, 16, 3], "relu", seed=0, dtype=np.float64)
    # 300 rows in batches of 50: 6 steps an epoch, so epochs 1-4 learn and 5+ are wrecked.
    history = train(net, x[:300], y[:300], x[300:], y[300:], num_epochs=20, batch_size=50,
                    optimizer=Sabotage(after=24), learning_rate=0.05, patience=3, seed=0)
    assert history["best_epoch"] <= 4
    assert len(history["val_accuracy"]) == history["best_epoch"] + 3     # patience
    assert history["val_accuracy"][-1] < max(history["val_accuracy"])
    val_loss, val_accuracy = evaluate(net, x[300:], y[300:])
    assert val_accuracy == max(history["val_accuracy"])
    assert val_loss == pytest.approx(history["val_loss"][history["best_epoch"] - 1])


def test_train_draws_each_row_from_data_or_its_flipped_view():
    rng = np.random.default_rng(13)
    x, y = blobs(rng, 64)
    flipped = -x                                      # any other view of each row
    net = Network([6, 4, 3], seed=0, dtype=np.float64)
    seen = []
    original = net.loss_and_gradients

    def spy(batch, labels, *args):
        seen.append(batch.copy())
        return original(batch, labels, *args)

    net.loss_and_gradients = spy
    train(net, x, y, x, y, num_epochs=1, batch_size=16, data_flipped=flipped, seed=0)
    rows = np.concatenate(seen)
    assert len(rows) == 64
    from_data = (rows[:, None, :] == x[None]).all(axis=2).any(axis=1)
    from_flip = (rows[:, None, :] == flipped[None]).all(axis=2).any(axis=1)
    assert np.all(from_data | from_flip) and from_data.any() and from_flip.any()
    with pytest.raises(ValueError, match="data_flipped"):
        train(net, x, y, x, y, num_epochs=1, data_flipped=x[:3])


def test_train_rejects_bad_batch_size():
    x, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="batch_size"):
        train(Network([2, 2]), x, y, x, y, num_epochs=1, batch_size=0)


@pytest.mark.parametrize("change, message", [
    ({"learning_rate": float("nan")}, "learning_rate must be a finite number > 0, got nan"),
    ({"learning_rate": 0}, "learning_rate must be a finite number > 0, got 0"),
    ({"learning_rate": -1e-3}, "learning_rate must be a finite number > 0, got -0.001"),
    ({"learning_rate": float("inf")}, "learning_rate must be a finite number > 0, got inf"),
    ({"num_epochs": -5}, "num_epochs must be an integer >= 1, got -5"),
    ({"num_epochs": 0}, "num_epochs must be an integer >= 1, got 0"),
    ({"num_epochs": 2.5}, "num_epochs must be an integer >= 1, got 2.5"),
    ({"num_epochs": True}, "num_epochs must be an integer >= 1, got True"),
    ({"batch_size": 2.5}, "batch_size must be an integer >= 1, got 2.5"),
    ({"batch_size": True}, "batch_size must be an integer >= 1, got True"),
    ({"patience": 0}, "patience must be an integer >= 1, got 0"),
    ({"patience": 1.5}, "patience must be an integer >= 1, got 1.5"),
    ({"weight_decay": float("nan")}, "weight_decay must be a finite number >= 0, got nan"),
    ({"weight_decay": -0.1}, "weight_decay must be a finite number >= 0, got -0.1"),
    ({"loss": "hinge"}, "loss must be one of \\['cross_entropy', 'mse'\\], got 'hinge'"),
    ({"seed": -1}, "seed must be None, an integer >= 0 or a numpy.random.Generator, got -1"),
    ({"seed": 0.5}, "seed must be None, an integer >= 0 or a numpy.random.Generator, got 0.5"),
])
def test_train_refuses_bad_arguments_and_leaves_the_network_untouched(change, message):
    x, y = blobs(np.random.default_rng(19), 12)
    net = Network([6, 4, 3], seed=0)
    before = net.get_weights()
    arguments = {"num_epochs": 2, "batch_size": 4, "learning_rate": 0.1, "seed": 0, **change}
    with pytest.raises(ValueError, match=f"^{message}$"):
        train(net, x, y, x, y, **arguments)
    for w, w_before in zip(net.get_weights(), before):
        np.testing.assert_array_equal(w, w_before)


@pytest.mark.parametrize("weight_decay", [float("nan"), float("inf"), -1.0, "0.1"])
def test_loss_and_gradients_refuses_a_weight_decay_that_is_not_finite_and_nonnegative(
        weight_decay):
    with pytest.raises(ValueError, match=r"^weight_decay must be a finite number >= 0, got "):
        Network([2, 2], seed=0).loss_and_gradients(np.ones((1, 2)), np.array([1]),
                                                   weight_decay=weight_decay)


@pytest.mark.parametrize("make, message", [
    (lambda: SGD(momentum=float("nan")), r"momentum must be a finite number in \[0, 1\), got nan"),
    (lambda: SGD(momentum=-0.1), r"momentum must be a finite number in \[0, 1\), got -0.1"),
    (lambda: Adam(beta2=1.0), r"beta2 must be a finite number in \[0, 1\), got 1.0"),
    (lambda: Adam(beta1=float("nan")), r"beta1 must be a finite number in \[0, 1\), got nan"),
    (lambda: Adam(eps=0), r"eps must be a finite number > 0, got 0"),
    (lambda: Dropout(float("nan")), r"dropout rate must be a finite number in \[0, 1\), got nan"),
    (lambda: Dropout(-0.2), r"dropout rate must be a finite number in \[0, 1\), got -0.2"),
    (lambda: Dropout(0.5, rng=-1), r"rng must be None, an integer >= 0 or a numpy.random"),
    (lambda: Dense(2.5, 3), r"d_in must be an integer >= 1, got 2.5"),
    (lambda: Dense(2, 0), r"d_out must be an integer >= 1, got 0"),
    (lambda: Dense(2, 3, rng=1.5), r"rng must be None, an integer >= 0 or a numpy.random"),
    (lambda: Network([3, 2.5, 2]), r"sizes\[1\] must be an integer >= 1, got 2.5"),
    (lambda: Network([3, 0, 2]), r"sizes\[1\] must be an integer >= 1, got 0"),
    (lambda: Network([True, 2]), r"sizes\[0\] must be an integer >= 1, got True"),
    (lambda: Network([3, 2], seed=-1), r"seed must be None, an integer >= 0 or a numpy.random"),
    (lambda: Network([3, 4, 2], dropout=1.0), r"dropout rate must be a finite number in \[0, 1\)"),
    (lambda: Network([3, 4, 2], dropout=float("nan")), r"dropout rate must be a finite number"),
])
def test_layers_networks_and_optimizers_refuse_bad_settings_by_name(make, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        make()


@pytest.mark.parametrize("fraction_val, seed, message", [
    (float("nan"), 0, r"fraction_val must be a finite number in \(0, 1\), got nan"),
    (1.0, 0, r"fraction_val must be a finite number in \(0, 1\), got 1.0"),
    ("0.1", 0, r"fraction_val must be a finite number in \(0, 1\), got '0.1'"),
    (0.2, -1, r"seed must be None, an integer >= 0 or a numpy.random.Generator, got -1"),
])
def test_split_validation_refuses_a_bad_fraction_or_seed(fraction_val, seed, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        split_validation(np.zeros((50, 2)), np.zeros(50, int), fraction_val, seed=seed)


# ---------------------------------------------------------------------- preprocessing

def test_pca_whitening_whitens_and_keeps_the_top_components():
    rng = np.random.default_rng(14)
    x = rng.normal(size=(2000, 6)) @ rng.normal(size=(6, 6)) + 5
    mean, projection = fit_pca_whitening(x, 6, eps=0)
    z = transform(x, mean, projection)
    np.testing.assert_allclose(np.cov(z.T, bias=True), np.eye(6), atol=1e-3)
    # The first 3 components span the top 3 right singular vectors of the centred data.
    _, _, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    _, projection3 = fit_pca_whitening(x, 3, eps=0)
    directions = projection3 / np.linalg.norm(projection3, axis=0)
    np.testing.assert_allclose(np.abs(vt[:3] @ directions), np.eye(3), atol=1e-3)
    with pytest.raises(ValueError, match="num_components"):
        fit_pca_whitening(x, 7)


@pytest.mark.parametrize("num_components, eps, message", [
    (2.5, 0.01, r"num_components must be an integer in \[1, 6\], got 2.5"),
    (True, 0.01, r"num_components must be an integer in \[1, 6\], got True"),
    (3, -0.01, r"eps must be a finite number >= 0, got -0.01"),
    (3, float("nan"), r"eps must be a finite number >= 0, got nan"),
])
def test_pca_whitening_refuses_bad_settings(num_components, eps, message):
    x = np.random.default_rng(15).normal(size=(20, 6))
    with pytest.raises(ValueError, match=f"^{message}$"):
        fit_pca_whitening(x, num_components, eps=eps)


def test_pca_whitening_with_fewer_rows_than_features_agrees_with_the_covariance_route():
    rng = np.random.default_rng(17)
    x = rng.normal(size=(8, 5)) @ rng.normal(size=(5, 5))
    wide = np.hstack([x, np.zeros((8, 4))])          # 9 features, 8 rows: the SVD route
    _, tall = fit_pca_whitening(x, 4, eps=0)         # 5 features, 8 rows: eigh
    _, projection = fit_pca_whitening(wide, 4, eps=0)
    np.testing.assert_allclose(np.abs(projection[:5]), np.abs(tall), rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(projection[5:], 0, atol=1e-6)


# ------------------------------------------------------------------ the command line

@pytest.fixture
def small_cifar(tmp_path):
    folder = tmp_path / "data"
    make_cifar_folder(str(folder / BATCH_FOLDER), sizes=(40, 40, 40, 40, 40, 40))
    return folder


def test_mlp_main_trains_a_network_and_writes_figures(small_cifar, tmp_path):
    results = tmp_path / "results"
    argv = ["--data-dir", str(small_cifar), "--results-dir", str(results), "--no-download",
            "--optimizer", "adam", "--activation", "relu", "--hidden", "16", "8",
            "--num-epoch", "3", "--learning-rate", "1e-3", "--flip", "--pca", "20",
            "--dropout", "0.2", "--weight-decay", "1e-4",
            "--patience", "2", "--figures", "--name", "net"]
    mlp.main(argv)
    record = json.loads((results / "net.json").read_text())
    assert record["sizes"] == [20, 16, 8, 10]
    assert record["command"] == "python mlp.py " + " ".join(argv)
    assert 0 <= record["test_accuracy"] <= 1 and record["n_test"] == 24
    for suffix in ("", "_confusion", "_predictions", "_mistakes"):
        assert os.path.getsize(results / f"net{suffix}.png") > 1000


def test_mlp_main_on_descriptors_mirrors_and_draws_the_images(small_cifar, tmp_path):
    results = tmp_path / "results"
    mlp.main(["--data-dir", str(small_cifar), "--results-dir", str(results), "--no-download",
              "--features", "color", "--optimizer", "sgd", "--hidden", "8", "--num-epoch", "2",
              "--flip", "--figures", "--name", "net"])
    record = json.loads((results / "net_color.json").read_text())
    assert record["features"] == "color" and record["sizes"] == [64, 8, 10]
    for suffix in ("", "_confusion", "_predictions", "_mistakes"):
        assert os.path.getsize(results / f"net_color{suffix}.png") > 1000


def test_mlp_main_without_trainer_flags_runs_the_lab_network(small_cifar, tmp_path,
                                                              monkeypatch):
    import network

    def fail(*args, **kwargs):
        raise AssertionError("network.run called without --optimizer")

    monkeypatch.setattr(network, "run", fail)
    results = tmp_path / "results"
    mlp.main(["--data-dir", str(small_cifar), "--results-dir", str(results), "--no-download",
              "--num-epoch", "3"])
    record = json.loads((results / "mlp.json").read_text())
    assert len(record["train_accuracy"]) == 3 and record["d_h"] == 64
    assert sorted(p.name for p in results.iterdir()) == ["mlp.json", "mlp.png"]


def test_trainer_flags_need_an_optimizer(small_cifar, tmp_path):
    with pytest.raises(SystemExit):
        mlp.main(["--data-dir", str(small_cifar), "--no-download", "--hidden", "8"])
