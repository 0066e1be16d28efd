"""Tests of imagelab.nn.architectures and of Network.summary: the architectures build for each
dataset's images, every layer's input size is inferred, an entry's options reach its
layer, and a spec that does not fit is refused by name."""
import json

import numpy as np
import pytest

from imagelab.nn.batchnorm import BatchNorm
from imagelab.nn.architectures import ARCHITECTURES, airbench, build, conv4, lenet
from imagelab.nn.conv import Conv2d, GlobalMaxPool
from imagelab.nn.layers import GELU, Dense, Scale


@pytest.mark.parametrize("shape, flat", [((32, 32, 3), 16 * 5 * 5), ((28, 28, 1), 16 * 4 * 4)])
def test_lenet_infers_each_layers_input(shape, flat):
    network = build(lenet(10), shape, seed=0)
    dense = [layer for layer in network.layers if isinstance(layer, Dense)]
    assert dense[0].w.value.shape == (flat, 120)
    assert network.layers[0].w.value.shape == (5, 5, shape[2], 6)
    out = network.forward(np.zeros((2, *shape), np.float32))
    assert out.shape == (2, 10) and out.dtype == np.float32


def test_conv4_with_and_without_batch_norm():
    with_bn, without = conv4(10), conv4(10, batch_norm=False)
    assert sum(entry == ["bn"] for entry in with_bn) == 5 and ["bn"] not in without
    assert with_bn[with_bn.index(["dense", 512]) + 1] == ["bn"]
    assert json.loads(json.dumps(with_bn)) == with_bn          # plain data, saved as JSON
    network = build(with_bn, (32, 32, 3), seed=0)
    assert network.output_shapes((32, 32, 3))[-1] == (10,)


def test_an_entrys_options_reach_its_layer():
    network = build([["conv", 4, 3, 1, 1, {"bias": False, "init": "uniform"}],
                     ["bn", {"momentum": 0.6, "eps": 1e-12, "scale": False}], ["gelu"],
                     ["gmaxpool"], ["dense", 3, {"bias": False}], ["scale", 0.5]],
                    (6, 6, 2), seed=0)
    conv, bn, _, _, dense, scale = network.layers
    assert conv.b is None and np.abs(conv.w.value).max() <= 1 / np.sqrt(18)
    assert (bn.gamma, bn.momentum, bn.eps) == (None, 0.6, 1e-12)
    assert dense.b is None and scale.factor == 0.5
    assert network.output_shapes((6, 6, 2))[-1] == (3,)
    assert "Dense(4, 3, bias=False)" in network.summary((6, 6, 2))


def test_airbench_shapes_and_parameter_count():
    spec = airbench(10)
    assert json.loads(json.dumps(spec)) == spec
    network = build(spec, (32, 32, 3), seed=0)
    shapes = network.output_shapes((32, 32, 3))
    assert shapes[0] == (31, 31, 24)                     # 2 x 2 whitening, no padding
    assert [shape for layer, shape in zip(network.layers, shapes)
            if isinstance(layer, BatchNorm)] == [(15, 15, 64), (15, 15, 64), (7, 7, 256),
                                                 (7, 7, 256), (3, 3, 256), (3, 3, 256)]
    assert shapes[-3:] == [(256,), (10,), (10,)]
    whiten = 2 * 2 * 3 * 24 + 24
    convs = 3 * 3 * (24 * 64 + 64 * 64 + 64 * 256 + 256 * 256 + 256 * 256 + 256 * 256)
    betas = 2 * (64 + 256 + 256)
    assert sum(p.value.size for p in network.parameters()) == whiten + convs + betas + 256 * 10
    assert network.summary((32, 32, 3)).splitlines()[-1] == "1,971,640 parameters"
    # train_cnn's --arch takes ARCHITECTURES' keys, and builds conv4 for any but lenet.
    assert "airbench" not in ARCHITECTURES


def test_airbench_layers_take_their_options():
    network = build(airbench(10), (32, 32, 3), seed=0)
    convs = [layer for layer in network.layers if isinstance(layer, Conv2d)]
    assert convs[0].b is not None and all(conv.b is None for conv in convs[1:])
    first = convs[1].w.value                             # 24 -> 64, identity on 24 channels
    assert first[1, 1, np.arange(24), np.arange(24)].tolist() == [1] * 24
    assert np.count_nonzero(first[..., :24]) == 24
    assert all(layer.gamma is None and layer.eps == 1e-12 and layer.momentum == 0.4
               for layer in network.layers if isinstance(layer, BatchNorm))
    dense, scale = network.layers[-2:]
    assert isinstance(dense, Dense) and dense.b is None and np.abs(dense.w.value).max() <= 1 / 16
    assert isinstance(scale, Scale) and scale.factor == 1 / 9
    assert isinstance(network.layers[-3], GlobalMaxPool) and isinstance(network.layers[1], GELU)
    plain = build(airbench(10, identity_init=False), (32, 32, 3), seed=0)
    assert all(np.count_nonzero(layer.w.value) == layer.w.value.size
               for layer in plain.layers if isinstance(layer, Conv2d))


def test_a_small_airbench_trains_a_step():
    network = build(airbench(3, widths=(4, 8, 8), whiten_width=6), (32, 32, 3), seed=0)
    x = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype(np.float32)
    loss, logits = network.loss_and_gradients(x, np.array([0, 1, 2, 0]))
    assert np.isfinite(loss) and logits.shape == (4, 3) and logits.dtype == np.float32
    assert all(np.isfinite(p.grad).all() and p.grad.shape == p.value.shape
               for p in network.parameters())


def test_summary_lists_layers_shapes_and_parameter_counts():
    network = build([["conv", 4, 3, 1, 1], ["relu"], ["pool", 2], ["flatten"], ["dense", 3]],
                    (6, 6, 2), seed=0)
    text = network.summary((6, 6, 2))
    lines = text.splitlines()
    assert lines[0].split() == ["layer", "output", "shape", "parameters"]
    assert "Conv2d(2, 4, kernel_size=(3, 3), stride=1, padding=1)  (6, 6, 4)" in text
    assert any(line.startswith("Conv2d") and line.endswith(" 76") for line in lines)  # 3*3*2*4+4
    assert any(line.startswith("Dense(36, 3)") and line.endswith(" 111") for line in lines)
    assert lines[-1] == "187 parameters"


def test_same_seed_same_weights():
    first, second = build(lenet(10), (32, 32, 3), seed=4), build(lenet(10), (32, 32, 3), seed=4)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_he_initialisation_scale():
    layer = build([["conv", 64, 3, 1, 1]], (8, 8, 32), seed=0).layers[0]
    assert isinstance(layer, Conv2d)
    assert abs(layer.w.value.std() - np.sqrt(2 / (3 * 3 * 32))) < 0.01


@pytest.mark.parametrize("spec, message", [
    ([["dense", 10]], r"a dense layer needs flat inputs, got shape \(8, 8, 3\): put a 'flatten' "
                      r"before it"),
    ([["conv", 4, 9, 1, 0]], r"a 9-wide window does not fit in an input height of 8"),
    ([["pool", 2], ["pool", 2], ["pool", 2], ["pool", 2]], r"a 2-wide window does not fit in "
                                                            r"an input height of 1"),
    ([["softmax"]], r"unknown layer 'softmax' in the architecture"),
    ([["softmax", {"a": 1}]], r"unknown layer 'softmax' in the architecture"),
    ([["conv", 4, 3, 1, 1, {"bais": False}]], r"^layer 'conv' in the architecture takes no "
                                              r"option 'bais' \(its options: bias, init\)$"),
    ([["bn", {"gamma": False}]], r"^layer 'bn' in the architecture takes no option 'gamma' "
                                 r"\(its options: momentum, eps, scale\)$"),
    ([["gelu", {"approximate": "tanh"}]], r"^layer 'gelu' in the architecture takes no option "
                                          r"'approximate' \(its options: none\)$"),
    ([["conv", 4, 2, 1, 0, {"init": "identity"}]], r"^init='identity' needs odd kernel sizes"),
    ([["bn", {"scale": "false"}]], r"^scale must be True or False, got 'false'$"),
    ([["flatten"], ["gmaxpool"]], r"GlobalMaxPool\(\) expects images of shape \(H, W, C\), got "
                                  r"input shape \(192,\)"),
])
def test_a_spec_that_does_not_fit_is_refused_by_name(spec, message):
    with pytest.raises(ValueError, match=message):
        build(spec, (8, 8, 3))


def test_flops_count_each_product_twice_per_multiply_add():
    # LeNet on 32 x 32 x 3: conv 6 (5x5) on 28 x 28, conv 16 on 10 x 10, dense 400-120-84-10.
    network = build(lenet(10), (32, 32, 3), seed=0)
    macs = (28 * 28 * 5 * 5 * 3 * 6 + 10 * 10 * 5 * 5 * 6 * 16
            + 400 * 120 + 120 * 84 + 84 * 10)
    assert network.flops((32, 32, 3)) == 2 * macs
    # airbench94: about 0.24 GFLOP a forward pass (about 0.71 for a training step).
    assert 0.23e9 < build(airbench(10), (32, 32, 3), seed=0).flops((32, 32, 3)) < 0.25e9
