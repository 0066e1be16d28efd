"""Tests of imagelab.nn.architectures and of Network.summary: the architectures build for each
dataset's images, every layer's input size is inferred, an entry's options reach its
layer, every registered layer is built from its entry and described back, and a spec that
does not fit is refused by name."""
import json

import numpy as np
import pytest

from imagelab.nn.batchnorm import BatchNorm
from imagelab.nn.architectures import (ARCHITECTURES, LAYERS, LayerKind, airbench, build, conv4,
                                      describe, lenet)
from imagelab.nn.conv import Conv2d, GlobalMaxPool
from imagelab.nn.layers import GELU, Dense, Layer, Scale, Sigmoid


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
    fused = ["bn", {"relu": True}]                  # a batch norm, then its ReLU
    assert sum(entry == fused for entry in with_bn) == 5 and ["relu"] not in with_bn
    assert sum(entry == ["relu"] for entry in without) == 5
    assert not any(entry[0] == "bn" for entry in without)
    assert with_bn[with_bn.index(["dense", 512]) + 1] == fused
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
    ([["relu"], ["softmax"]], r"^unknown layer 'softmax' in the architecture entry 1 "
                              r"\['softmax'\], expected one of conv, pool, gmaxpool, bn, relu, "
                              r"gelu, scale, flatten, dense, dropout$"),
    ([["softmax", {"a": 1}]], r"unknown layer 'softmax' in the architecture entry 0"),
    ([["conv", 4, 3, 1, 1, {"bais": False}]], r"^layer 'conv' in the architecture entry 0 "
                                              r"\['conv', 4, 3, 1, 1, \{'bais': False\}\] "
                                              r"takes no option 'bais' \(its options: bias, "
                                              r"init\)$"),
    ([["bn", {"gamma": False}]], r"^layer 'bn' in the architecture entry 0 \['bn', "
                                 r"\{'gamma': False\}\] takes no option 'gamma' \(its "
                                 r"options: momentum, eps, scale, relu\)$"),
    ([["gelu", {"approximate": "tanh"}]], r"^layer 'gelu' in the architecture entry 0 .* takes "
                                          r"no option 'approximate' \(its options: none\)$"),
    ([["relu", 2]], r"^layer 'relu' in the architecture entry 0 \['relu', 2\] does not take "
                    r"these arguments \(.*\)$"),
    ([["scale"]], r"^layer 'scale' in the architecture entry 0 \['scale'\] does not take "
                  r"these arguments"),
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


# One entry of each registered layer, every option away from its default, and the input
# shape it is built for.
EXAMPLES = {
    "conv": (["conv", 4, 3, 1, 1, {"bias": False, "init": "identity"}], (6, 6, 2)),
    "pool": (["pool", 3, 2], (7, 7, 2)),
    "gmaxpool": (["gmaxpool"], (6, 6, 2)),
    "bn": (["bn", {"momentum": 0.4, "eps": 1e-12, "scale": False}], (6, 6, 2)),
    "relu": (["relu"], (6, 6, 2)),
    "gelu": (["gelu"], (5,)),
    "scale": (["scale", 0.5], (5,)),
    "flatten": (["flatten"], (6, 6, 2)),
    "dense": (["dense", 3, {"bias": False, "init": "uniform"}], (5,)),
    "dropout": (["dropout", 0.25], (5,)),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_every_registered_layer_is_built_from_its_entry_and_described_back(name):
    entry, shape = EXAMPLES[name]        # a KeyError: give the new layer an example above
    network = build([entry], shape, seed=0)
    assert type(network.layers[0]) is LAYERS[name].layer
    assert describe(network) == [entry]
    again = build(json.loads(json.dumps(describe(network))), shape, seed=0)   # as saved
    for a, b in zip(network.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("spec", [lenet(10), conv4(10), conv4(10, batch_norm=False, dropout=0.5),
                                  airbench(10), airbench(10, identity_init=False)])
def test_the_architectures_are_described_back_as_written(spec):
    assert describe(build(spec, (32, 32, 3), seed=0)) == spec


def test_options_at_their_default_are_left_out_of_the_description():
    network = build([["conv", 4, (3, 1), 1, 0, {"bias": True, "init": "he"}], ["pool", 2],
                     ["bn", {"scale": True}], ["flatten"], ["dense", 3, {"init": "he"}]],
                    (6, 6, 2), seed=0)
    assert describe(network) == [["conv", 4, [3, 1], 1, 0], ["pool", 2], ["bn"], ["flatten"],
                                 ["dense", 3]]


def test_a_layer_without_a_name_is_not_described():
    network = build([["relu"]], (3,))
    network.layers.append(Sigmoid())
    with pytest.raises(ValueError, match=r"^layer Sigmoid\(\) has no name in LAYERS"):
        describe(network)


def test_a_new_layer_is_one_registry_entry(monkeypatch):
    class Square(Layer):
        def forward(self, x, training=False):
            return x * x

    monkeypatch.setitem(LAYERS, "square", LayerKind(Square, lambda shape, rng: Square(),
                                                    lambda layer: ([], {})))
    network = build([["square"]], (2,))
    np.testing.assert_array_equal(network.forward(np.array([[1.0, -3.0]])), [[1.0, 9.0]])
    assert describe(network) == [["square"]]
