"""The handout's tasks on the Tensor: the toy binary MLP, and the comparison with the network."""
import numpy as np
import pytest

from conftest import blobs
from imagelab.autograd.nn import Linear, ReLU
from imagelab.autograd.loop import predict
from imagelab.handouts.framework_tasks import (AsTwoLogits, binary_mlp, compare_with_network,
                                               train_binary_toy)
from imagelab.viz.figures import plot_comparison
from imagelab.data.toy import moons
from imagelab.nn.functional import sigmoid, softmax


def test_binary_mlp_ends_in_one_logit():
    model = binary_mlp([2, 8, 4, 1], seed=0)
    assert [type(m) for m in model.modules] == [Linear, ReLU, Linear, ReLU, Linear]
    assert predict(model, np.zeros((5, 2), np.float32)).shape == (5, 1)
    with pytest.raises(ValueError, match=r"at least an input and an output size, got \[2\]"):
        binary_mlp([2])


def test_predict_restores_the_mode():
    model = binary_mlp([2, 3, 1], seed=0)
    predict(model, np.zeros((2, 2), np.float32))
    assert model.training
    model.eval()
    predict(model, np.zeros((2, 2), np.float32))
    assert not model.training


def test_the_toy_mlp_learns_the_moons():
    points, labels = moons(400, seed=0)
    _, history = train_binary_toy(points, labels, hidden=(16, 16), num_epoch=30, seed=0)
    assert history["val_accuracy"][-1] >= 0.95 and len(history["train_loss"]) == 30
    assert history["train_loss"][-1] < history["train_loss"][0] / 3


def test_two_logits_give_the_models_probability():
    model = binary_mlp([2, 3, 1], seed=0)
    x = np.random.default_rng(0).standard_normal((6, 2)).astype(np.float32)
    np.testing.assert_allclose(softmax(AsTwoLogits(model).predict_logits(x))[:, 1],
                               sigmoid(predict(model, x)[:, 0]), rtol=1e-6)


def test_in_float64_both_sides_take_the_same_steps():
    # Same weights, batches and Adam: only rounding separates them (float64: 1e-16 a step).
    rng = np.random.default_rng(0)
    data, labels = blobs(rng, 300, n_classes=4, d=6)
    result = compare_with_network(data[:240], labels[:240], data[240:], labels[240:], 4,
                                  hidden=(8,), num_epoch=3, batch_size=16,
                                  learning_rate=0.01, seed=0)
    assert result["max_weight_difference"] < 1e-12
    np.testing.assert_allclose(result["tensor_train_loss"], result["network_train_loss"],
                               rtol=1e-12)
    assert result["tensor_val_accuracy"] == result["network_val_accuracy"]
    assert result["tensor_test_accuracy"] == result["network_test_accuracy"] > 0.5
    assert (result["sizes"], result["n_train"], result["n_val"], result["n_test"]) == \
        ([6, 8, 4], 216, 24, 60)
    figure = plot_comparison(result, "title")
    assert len(figure.axes) == 2 and len(figure.axes[0].lines) == 2


def test_the_comparison_needs_one_seed_for_both_sides():
    data, labels = blobs(np.random.default_rng(0), 40)
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got None"):
        compare_with_network(data, labels, data, labels, 3, seed=None)
