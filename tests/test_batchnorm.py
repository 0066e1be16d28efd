"""Tests of imagelab.nn.batchnorm: the normalisation, the running statistics, the
gradients against finite differences, and what the layer refuses."""
import numpy as np
import pytest

from imagelab.nn.gradcheck import numerical_gradient
from imagelab.nn.batchnorm import BatchNorm
from imagelab.nn.layers import ReLU
from imagelab.utils import parallel


def layer_with_random_affine(channels, seed=0, **settings):
    layer = BatchNorm(channels, dtype=np.float64, **settings)
    rng = np.random.default_rng(seed)
    for parameter in layer.parameters():
        parameter.value[:] = rng.normal(size=channels)
    return layer


@pytest.mark.parametrize("settings", [{}, {"scale": False, "eps": 1e-12}, {"relu": True}])
@pytest.mark.parametrize("shape", [(6, 3), (3, 4, 2, 3)])
def test_gradients_match_finite_differences(shape, settings):
    rng = np.random.default_rng(1)
    x, r = rng.normal(size=shape), rng.normal(size=shape)
    layer = layer_with_random_affine(3, **settings)

    def loss():                                   # C = sum(y * R): dC/dy = R
        return np.sum(layer.forward(x, training=True) * r)

    layer.forward(x, training=True)
    dx = layer.backward(r)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), atol=1e-7)
    for parameter in layer.parameters():
        np.testing.assert_allclose(parameter.grad, numerical_gradient(loss, parameter.value),
                                   atol=1e-7)


@pytest.mark.parametrize("settings", [{}, {"scale": False}, {"relu": True}])
def test_evaluation_gradients_match_finite_differences(settings):
    # After an evaluation forward pass the statistics are the running ones: constants.
    rng = np.random.default_rng(3)
    x, r = rng.normal(size=(3, 4, 2, 3)), rng.normal(size=(3, 4, 2, 3))
    layer = layer_with_random_affine(3, **settings)
    layer.running_mean[:], layer.running_var[:] = rng.normal(size=3), rng.uniform(0.5, 2, 3)

    def loss():                                   # C = sum(y * R): dC/dy = R
        return np.sum(layer.forward(x) * r)

    layer.forward(x, training=True)              # an earlier training pass is forgotten
    layer.forward(x)
    dx = layer.backward(r)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), atol=1e-7)
    for parameter in layer.parameters():
        layer.forward(x)
        layer.backward(r, need_dx=False)
        np.testing.assert_allclose(parameter.grad, numerical_gradient(loss, parameter.value),
                                   atol=1e-7)


@pytest.mark.parametrize("training", [True, False])
def test_relu_gives_the_values_of_a_relu_layer_after_the_batch_norm(monkeypatch, training):
    """``relu=True`` does a ReLU's work inside the batch norm's passes: its output and
    gradients are those of BatchNorm then ReLU, in float32, over many chunks."""
    monkeypatch.setattr(parallel, "MIN_ELEMENTS_PER_THREAD", 1)
    monkeypatch.setattr(parallel, "CHUNK_BYTES", 256)           # 2 images a chunk
    rng = np.random.default_rng(5)
    x = rng.normal(1, 2, size=(9, 4, 2, 4)).astype(np.float32)
    g = rng.normal(size=x.shape).astype(np.float32)
    fused, plain, relu = BatchNorm(4, relu=True), BatchNorm(4), ReLU()
    for layer in (fused, plain):
        layer.gamma.value[:], layer.beta.value[:] = rng.normal(size=(2, 4))
    fused.beta.value[:] = plain.beta.value
    fused.gamma.value[:] = plain.gamma.value
    y = fused.forward(x, training)
    np.testing.assert_array_equal(y, relu.forward(plain.forward(x, training), training))
    assert (y == 0).any() and (y > 0).any() and repr(fused) == "BatchNorm(4, relu=True)"
    np.testing.assert_array_equal(fused.backward(g), plain.backward(relu.backward(g)))
    for a, b in zip(fused.parameters(), plain.parameters()):
        np.testing.assert_array_equal(a.grad, b.grad)


def test_training_output_has_each_channels_mean_beta_and_std_gamma():
    rng = np.random.default_rng(2)
    x = rng.normal(5, 3, size=(8, 5, 5, 4))
    layer = layer_with_random_affine(4)
    y = layer.forward(x, training=True).reshape(-1, 4)
    np.testing.assert_allclose(y.mean(axis=0), layer.beta.value, atol=1e-12)
    # std of gamma x_hat is |gamma| sqrt(var / (var + eps)).
    var = x.reshape(-1, 4).var(axis=0)
    expected = np.abs(layer.gamma.value) * np.sqrt(var / (var + 1e-5))
    np.testing.assert_allclose(y.std(axis=0), expected, rtol=1e-12)


def test_without_scale_gamma_is_one_and_not_a_parameter():
    rng = np.random.default_rng(4)
    x = rng.normal(2, 3, size=(4, 3, 3, 5))
    fixed = BatchNorm(5, dtype=np.float64, scale=False)
    ones = BatchNorm(5, dtype=np.float64)
    fixed.beta.value[:] = ones.beta.value[:] = rng.normal(size=5)
    assert fixed.parameters() == [fixed.beta] and fixed.gamma is None
    assert repr(fixed) == "BatchNorm(5, scale=False)"
    # gamma = 1 exactly, and products by 1 are exact: the same bits, in training,
    # evaluation and backward.
    for training in (True, False):
        np.testing.assert_array_equal(fixed.forward(x, training), ones.forward(x, training))
    r = rng.normal(size=x.shape)
    fixed.forward(x, training=True)
    ones.forward(x, training=True)
    np.testing.assert_array_equal(fixed.backward(r), ones.backward(r))
    np.testing.assert_array_equal(fixed.beta.grad, ones.beta.grad)


def test_tiny_eps_keeps_a_constant_channel_finite_in_float32():
    x = np.random.default_rng(5).normal(size=(8, 3)).astype(np.float32)
    x[:, 1] = 4                                    # var 0: x_hat = 0 * 1e6
    layer = BatchNorm(3, eps=1e-12, scale=False)
    y = layer.forward(x, training=True)
    assert np.isfinite(y).all() and not y[:, 1].any()
    assert np.isfinite(layer.backward(np.ones_like(y))).all()


def test_running_statistics_follow_their_formula_and_serve_evaluation():
    rng = np.random.default_rng(3)
    layer = BatchNorm(2, momentum=0.25, dtype=np.float64)
    batches = [rng.normal(i, 1 + i, size=(10, 2)) for i in range(3)]
    mean, var = np.zeros(2), np.ones(2)
    for batch in batches:
        layer.forward(batch, training=True)
        mean = 0.75 * mean + 0.25 * batch.mean(axis=0)
        var = 0.75 * var + 0.25 * batch.var(axis=0, ddof=1)
    np.testing.assert_allclose(layer.running_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, var, rtol=1e-12)
    x = rng.normal(size=(4, 2))
    np.testing.assert_allclose(layer.forward(x), (x - mean) / np.sqrt(var + 1e-5), rtol=1e-12)
    np.testing.assert_allclose(layer.running_mean, mean, rtol=1e-12)    # evaluation: unchanged


def test_keeps_float32_and_its_buffers_are_saved():
    layer = BatchNorm(3)
    x = np.ones((2, 4, 4, 3), np.float32) * np.arange(3, dtype=np.float32)
    y = layer.forward(x, training=True)
    assert y.dtype == np.float32 and layer.backward(y).dtype == np.float32
    assert layer.buffers() == [layer.running_mean, layer.running_var]


def test_refuses_other_channel_counts_and_bad_settings():
    with pytest.raises(ValueError, match=r"BatchNorm\(3\) expects 3 channels on the last axis, "
                                         r"got input shape \(4, 4, 2\)"):
        BatchNorm(3).forward(np.zeros((1, 4, 4, 2)))
    with pytest.raises(ValueError, match=r"momentum must be a finite number in \(0, 1\], got 0"):
        BatchNorm(3, momentum=0)
    with pytest.raises(ValueError, match=r"^eps must be a finite number > 0, got 0$"):
        BatchNorm(3, eps=0)
    with pytest.raises(ValueError, match=r"^scale must be True or False, got 'no'$"):
        BatchNorm(3, scale="no")
