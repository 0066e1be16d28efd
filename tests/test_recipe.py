"""Tests of imagelab.recipes.airbench: the conversion of airbench's hyperparameters against
PyTorch's update written out, the parameter groups, gradients added over micro-batches
against the whole batch's, and short trainings on tiny images."""
import dataclasses
import math
from functools import partial

import numpy as np
import pytest

from imagelab.nn.batchnorm import BatchNorm
from imagelab.nn.network import mlp
from imagelab.nn.optim import SGD
from imagelab.recipes.airbench import (ABLATIONS, GradientSum, Recipe, build_network, first_trained_layer,
                             parameter_groups, recipe_architecture, sgd_settings,
                             tta_accuracies, train_recipe)
from imagelab.nn.whitening import patch_whitening
from imagelab.training.checkpoint import Checkpoint

TINY = Recipe(widths=(4, 8, 8), batch_size=8, micro_batch=3)


def test_airbench_units_give_a_rate_of_1_5_and_an_l2_factor_of_wd_over_lr():
    rate, decay = sgd_settings(Recipe())
    # 11.5 * 1024 / (1024 (1 + 1 / 0.15)) = 11.5 / (23 / 3) = 1.5
    assert rate == pytest.approx(1.5, rel=1e-12)
    assert decay == pytest.approx(0.0153 / 11.5, rel=1e-12)


def test_our_step_on_the_mean_loss_is_pytorchs_step_on_the_summed_loss():
    """PyTorch (airbench): loss summed over B images, SGD(lr=11.5 / s, weight_decay =
    (0.0153 B / s) / lr, nesterov) with s = 1024 (1 + 1 / (1 - m)); its update written
    out: g' = g_sum + wd w; b = m b + g'; w -= lr (g' + m b)."""
    recipe = dataclasses.replace(Recipe(), batch_size=512)
    m, batch = recipe.momentum, recipe.batch_size
    s = 1024 * (1 + 1 / (1 - m))
    torch_lr = recipe.learning_rate / s
    torch_wd = recipe.weight_decay * batch / s / torch_lr
    rng = np.random.default_rng(0)
    w_torch = rng.normal(size=5)
    buf = np.zeros(5)
    ours = mlp([5, 1], seed=0, dtype=np.float64).parameters()[0]   # any Parameter will do
    ours.value = w_torch.reshape(5, 1).copy()
    ours.grad = np.zeros((5, 1))
    rate, decay = sgd_settings(recipe)
    sgd = SGD([ours], momentum=m, nesterov=True, weight_decay=decay)
    for step in range(4):
        g_mean = rng.normal(size=5)
        factor = [0.2, 0.7, 1.0, 0.5][step]                   # a schedule
        g = batch * g_mean + torch_wd * w_torch
        buf = m * buf + g
        w_torch = w_torch - torch_lr * factor * (g + m * buf)
        ours.grad[:, 0] = g_mean
        sgd.step(rate * factor)
        np.testing.assert_allclose(ours.value[:, 0], w_torch, rtol=1e-12, atol=1e-14)


def tiny_network(recipe=TINY, seed=0):
    images = np.random.default_rng(seed).normal(size=(20, 12, 12, 3)).astype(np.float32)
    return build_network(recipe, (12, 12, 3), 10, images, seed)


def test_groups_give_batch_norm_biases_their_rate_and_freeze_the_whitening_weights():
    _, network = tiny_network()
    groups = parameter_groups(network, TINY, whitened=True)
    _, decay = sgd_settings(TINY)
    (norm, norm_factor, norm_last), (rest, rest_factor, _), (bias, _, bias_last) = groups
    betas = [p for layer in network.layers if isinstance(layer, BatchNorm)
             for p in layer.parameters()]
    assert [id(p) for p in norm.parameters] == [id(p) for p in betas]
    assert norm_factor == 64 and norm.weight_decay == pytest.approx(decay / 64)
    assert rest_factor == 1 and rest.weight_decay == pytest.approx(decay)
    assert norm_last == math.inf and bias_last == 3
    assert [id(p) for p in bias.parameters] == [id(network.layers[0].b)]
    trained = [id(p) for sgd, _, _ in groups for p in sgd.parameters]
    everything = [id(p) for p in network.parameters()]
    assert sorted(trained) == sorted(set(everything) - {id(network.layers[0].w)})
    # Without whitening, the first layer is trained like the rest.
    groups = parameter_groups(network, TINY, whitened=False)
    assert len(groups) == 2
    assert sorted(id(p) for sgd, _, _ in groups for p in sgd.parameters) == sorted(everything)


def test_the_whitening_layer_is_set_and_batch_norm_moves_once_per_micro_batch():
    recipe = dataclasses.replace(TINY, batch_size=8, micro_batch=2)   # 4 micro-batches
    _, network = tiny_network(recipe)
    norms = [layer for layer in network.layers if isinstance(layer, BatchNorm)]
    assert len(norms) == 6
    # Four updates giving the new batch the weight r keep (1 - r)^4 of the old value:
    # airbench's 0.6 per step (its BatchNorm hands PyTorch momentum=1 - 0.6).
    assert all((1 - n.momentum) ** 4 == pytest.approx(0.6) for n in norms)
    _, plain = tiny_network(dataclasses.replace(recipe, whitening=False))
    assert not np.allclose(network.layers[0].w.value, plain.layers[0].w.value)


def test_gradients_added_over_micro_batches_are_the_whole_batch_gradient():
    rng = np.random.default_rng(1)
    x, labels = rng.normal(size=(10, 4)), rng.integers(0, 3, 10)
    network = mlp([4, 6, 3], "relu", seed=2, dtype=np.float64)
    network.loss_and_gradients(x, labels)
    whole = [p.grad.copy() for p in network.parameters()]
    total = GradientSum(network.parameters())
    for micro in np.array_split(np.arange(10), 3):                    # 4, 3 and 3 rows
        network.loss_and_gradients(x[micro], labels[micro])
        total.add(len(micro) / 10)
    total.release()
    for p, expected in zip(network.parameters(), whole):
        np.testing.assert_allclose(p.grad, expected, rtol=1e-12, atol=1e-15)
    assert all(np.all(s == 0) for s in total.sums)                    # ready for the next


def test_first_trained_layer():
    network = mlp([3, 4, 2], "relu", seed=0)
    params = network.parameters()
    assert first_trained_layer(network, params) == 0
    assert first_trained_layer(network, params[2:]) == 2


def tiny_data(n=40, seed=0):
    """Tiny uint8 rows (n, 12 * 12 * 3) of two classes: dark images (0) and bright ones (1)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = rng.integers(0, 120, size=(n, 12, 12, 3)) + 130 * labels[:, None, None, None]
    return images.astype(np.uint8).reshape(n, -1), labels


def test_a_short_training_records_each_epoch_and_is_repeatable():
    rows, labels = tiny_data()
    recipe = dataclasses.replace(TINY, epochs=1.5, whiten_bias_epochs=1)
    runs = [train_recipe(rows, labels, (12, 12, 3), 2, recipe, seed=3,
                         test=(rows[:10], labels[:10])) for _ in range(2)]
    network, spec, pipeline, history = runs[0]
    assert len(history["seconds"]) == 2 and len(history["test_accuracy"]) == 2
    assert all(np.isfinite(v) for key in history for v in history[key])
    for a, b in zip(network.get_weights(), runs[1][0].get_weights()):
        np.testing.assert_array_equal(a, b)
    accuracies, logits = tta_accuracies(network, pipeline, rows.reshape(-1, 12, 12, 3), labels)
    assert len(accuracies) == 3 and logits.shape == (40, 2)
    assert spec[0][0] == "conv"


def test_the_whitening_weights_never_move_and_its_bias_stops_after_its_epochs():
    rows, labels = tiny_data()
    # Without the lookahead, whose averages of a constant move it by rounding.
    recipe = dataclasses.replace(TINY, epochs=1, whiten_bias_epochs=1, lookahead=False)
    network, _, pipeline, _ = train_recipe(rows, labels, (12, 12, 3), 2, recipe, seed=0)
    images = pipeline.normalize(rows.reshape(-1, 12, 12, 3)[:5000])
    _, fresh = build_network(recipe, (12, 12, 3), 2, images, 0)
    np.testing.assert_array_equal(network.layers[0].w.value, fresh.layers[0].w.value)
    assert not np.array_equal(network.layers[0].b.value, fresh.layers[0].b.value)
    # A second epoch with the bias frozen from epoch 0: it stays at its start.
    frozen = dataclasses.replace(recipe, whiten_bias_epochs=0)
    network, _, _, _ = train_recipe(rows, labels, (12, 12, 3), 2, frozen, seed=0)
    np.testing.assert_array_equal(network.layers[0].b.value, fresh.layers[0].b.value)


@pytest.mark.parametrize("row", sorted(ABLATIONS))
def test_every_ablation_row_trains(row):
    rows, labels = tiny_data(n=16)
    recipe = dataclasses.replace(TINY, epochs=1, **ABLATIONS[row])
    _, _, _, history = train_recipe(rows, labels, (12, 12, 3), 2, recipe, seed=0)
    assert np.isfinite(history["train_loss"][0])


@pytest.mark.parametrize("kwargs, message", [
    ({"flip": "sometimes"}, "flip must be one of alternating, random, none, got 'sometimes'"),
    ({"micro_batch": 0}, "micro_batch must be an integer >= 1, got 0"),
    ({"epochs": 0}, "epochs must be a finite number > 0, got 0"),
    ({"label_smoothing": 1}, r"label_smoothing must be a finite number in \[0, 1\), got 1"),
    ({"widths": (4, 0, 8)}, r"widths\[1\] must be an integer >= 1, got 0"),
])
def test_a_bad_recipe_is_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Recipe(**kwargs)


def test_the_recipe_trains_on_grey_images_whitening_their_patches():
    """One channel: the whitening convolution has 2 x 2 x 2 x 1 = 8 outputs (24 for colour
    images), the whitening of the grey images' 2 x 2 patches."""
    rng = np.random.default_rng(5)
    rows = rng.integers(0, 256, size=(24, 12 * 12), dtype=np.uint8)
    labels = np.arange(24) % 2
    recipe = dataclasses.replace(TINY, epochs=1, lookahead=False)
    network, spec, pipeline, history = train_recipe(rows, labels, (12, 12, 1), 2, recipe)
    assert spec[0][:2] == ["conv", 8] and network.layers[0].w.value.shape == (2, 2, 1, 8)
    images = pipeline.normalize(rows.reshape(-1, 12, 12, 1))
    np.testing.assert_array_equal(network.layers[0].w.value, patch_whitening(images, 2))
    assert np.isfinite(history["train_loss"][0])
    accuracies, logits = tta_accuracies(network, pipeline, rows.reshape(-1, 12, 12, 1), labels)
    assert len(accuracies) == 3 and logits.shape == (24, 2)
    assert recipe_architecture(TINY, (32, 32, 3), 10, 0.4)[0][:2] == ["conv", 24]


class Stop(Exception):
    """Raised once the first epoch's checkpoint is written."""


def stopping_checkpoint(path, epochs):
    """A ``train_recipe`` checkpoint maker whose checkpoint stops the run after ``epochs``."""
    def make(*state):
        checkpoint = Checkpoint(path, {"--epochs": 2.5}, *state)
        save = checkpoint.save

        def save_then_stop(progress, arrays):
            save(progress, arrays)
            if len(progress["history"]["train_loss"]) == epochs:
                raise Stop
        checkpoint.save = save_then_stop
        return checkpoint
    return make


@pytest.mark.parametrize("epochs", [1, 2])
def test_a_resumed_training_ends_bit_for_bit_as_an_uninterrupted_one(tmp_path, epochs):
    """Lookahead, alternating flips, the whitening bias frozen after the first epoch and
    a last half epoch: the resumed run ends on the same weights and history."""
    rows, labels = tiny_data(n=24)
    recipe = dataclasses.replace(TINY, epochs=2.5, whiten_bias_epochs=1)
    path = str(tmp_path / "recipe.checkpoint.npz")
    run = partial(train_recipe, rows, labels, (12, 12, 3), 2, recipe, seed=3,
                  test=(rows[:10], labels[:10]))
    network, _, _, expected = run()
    with pytest.raises(Stop):
        run(checkpoint=stopping_checkpoint(path, epochs))
    resumed, _, _, history = run(checkpoint=partial(Checkpoint, path, {"--epochs": 2.5}),
                                 resume=True)
    del history["seconds"], expected["seconds"]
    assert history == expected
    for a, b in zip(network.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
