"""Convolution, pooling and batch norm on the Tensor, and saving a module's Tensors.

``apply_layer`` runs a layer of ``imagelab.nn`` as one Tensor operation: its gradients
are checked against finite differences (float64), and a small CNN written with Tensor
modules is checked against the same CNN built layer by layer: the same weights give the
same logits and the same gradients.
"""
import zipfile

import numpy as np
import pytest

from imagelab.autograd import nn
from imagelab.autograd.functional import apply_layer
from imagelab.autograd.tensor import Tensor, gradcheck
from imagelab.nn import batchnorm, conv
from imagelab.nn.architectures import build

EPS = np.finfo(np.float64).eps


def normal(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def conv_layer(c_in, c_out, kernel, stride, padding, bias=True):
    return conv.Conv2d(c_in, c_out, kernel, stride, padding, rng=0, dtype=np.float64,
                       bias=bias)


# (name, layer, its parameters' values, input shape, training)
LAYER_CASES = [
    ("conv stride 1, as a convolution", conv_layer(3, 2, 3, 1, 1), 2, (2, 5, 5, 3), False),
    ("conv widening, by col2im", conv_layer(2, 3, 3, 1, 1), 2, (2, 5, 4, 2), False),
    ("conv stride 2 padding 2", conv_layer(2, 3, (3, 2), 2, 2), 2, (2, 5, 6, 2), False),
    ("conv without bias", conv_layer(2, 2, 1, 1, 0, bias=False), 1, (2, 3, 3, 2), False),
    ("max pool 2", conv.MaxPool2d(2), 0, (2, 4, 6, 3), False),
    ("max pool 3 stride 2 (overlapping)", conv.MaxPool2d(3, 2), 0, (2, 7, 5, 2), False),
    ("batch norm, training", batchnorm.BatchNorm(3, dtype=np.float64), 2, (4, 3, 2, 3), True),
    ("batch norm on rows", batchnorm.BatchNorm(3, dtype=np.float64), 2, (6, 3), True),
    ("batch norm, evaluation", batchnorm.BatchNorm(3, dtype=np.float64), 2, (4, 3, 2, 3), False),
    ("batch norm without gamma", batchnorm.BatchNorm(3, dtype=np.float64, scale=False), 1,
     (4, 2, 2, 3), True),
]


@pytest.mark.parametrize("name, layer, count, shape, training", LAYER_CASES,
                         ids=[case[0] for case in LAYER_CASES])
def test_each_layer_operation_against_finite_differences(name, layer, count, shape, training):
    if isinstance(layer, batchnorm.BatchNorm):      # running statistics other than 0 and 1
        layer.running_mean[...], layer.running_var[...] = normal(3), 1 + normal(3) ** 2
    values = [normal(*p.value.shape, seed=i + 1) for i, p in enumerate(layer.parameters())]
    assert len(values) == count
    # Random normal inputs hold no ties, which a pooling's derivative would not have.
    assert gradcheck(lambda x, *ps: apply_layer(layer, x, ps, training), normal(*shape),
                     *values)


def test_a_layer_applied_twice_before_backward_keeps_each_calls_state():
    # The convolution's window matrix of the first call must survive the second call.
    layer = conv_layer(2, 2, 3, 1, 1)
    assert gradcheck(lambda x, w, b: apply_layer(layer, x, [w, b])
                     * apply_layer(layer, x.exp(), [w, b]),
                     normal(2, 4, 4, 2), normal(3, 3, 2, 2, seed=1), normal(2, seed=2))


def test_an_input_requiring_no_gradient_gets_none_and_the_weights_theirs():
    layer = conv_layer(2, 3, 3, 1, 1)
    x, w, b = (Tensor(normal(2, 4, 4, 2)), Tensor(normal(3, 3, 2, 3), requires_grad=True),
               Tensor(np.zeros(3), requires_grad=True))
    apply_layer(layer, x, [w, b]).sum().backward()
    assert x.grad is None and w.grad.shape == (3, 3, 2, 3)
    np.testing.assert_allclose(b.grad, np.full(3, 2 * 4 * 4))    # one per output position


def test_a_second_backward_through_a_layer_is_refused():
    x = Tensor(normal(1, 4, 4, 1), requires_grad=True)
    y = apply_layer(conv.MaxPool2d(2), x).sum()
    y.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match=r"backward through MaxPool2d\(2, stride=2\) twice"):
        y.backward()


def test_parameters_of_the_wrong_count_or_shape_are_refused():
    layer = conv_layer(2, 3, 3, 1, 1)
    x = Tensor(normal(1, 4, 4, 2))
    with pytest.raises(ValueError, match="has 2 parameters, got 1"):
        apply_layer(layer, x, [Tensor(normal(3, 3, 2, 3))])
    with pytest.raises(ValueError, match=r"expects a parameter of shape \(3,\), got shape \(4,\)"):
        apply_layer(layer, x, [Tensor(normal(3, 3, 2, 3)), Tensor(normal(4))])


# ------------------------------------------------------------------ one CNN, two styles

SPEC = [["conv", 4, 3, 1, 1], ["bn"], ["relu"], ["pool", 2], ["flatten"], ["dense", 3]]
IMAGE_SHAPE = (6, 6, 2)


def tensor_cnn(rng, dtype=np.float32):
    """SPEC written with Tensor modules, its weights drawn in ``build``'s order."""
    return nn.Sequential(nn.Conv2d(2, 4, 3, 1, 1, rng=rng, dtype=dtype),
                         nn.BatchNorm(4, dtype=dtype), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(3 * 3 * 4, 3, "he", rng=rng, dtype=dtype))


def in_float64(network):
    """``network`` with its weights and running statistics made float64, in place."""
    for layer in network.layers:
        for p in layer.parameters():
            p.value = p.value.astype(np.float64)
        if isinstance(layer, batchnorm.BatchNorm):
            layer.running_mean = layer.running_mean.astype(np.float64)
            layer.running_var = layer.running_var.astype(np.float64)
    return network


def assert_ulps(ours, theirs, what):
    """|ours - theirs| <= 4 eps max|theirs|.

    Both sides run the same NumPy calls on equal arrays in the same order (the Tensor's
    convolution, pooling and batch norm are the layers' code, its matmul and ReLU the
    Dense and ReLU layers' formulas), so they agree to the bit unless an operand's memory
    layout makes a BLAS kernel or a reduction sum in another order: a few roundings of
    the largest entry, eps each.
    """
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, what
    assert np.abs(ours - theirs).max() <= 4 * EPS * np.abs(theirs).max(), what


def test_the_same_seed_draws_the_same_weights_in_both_styles():
    network = build(SPEC, IMAGE_SHAPE, seed=0)
    model = tensor_cnn(np.random.default_rng(0))
    weights = [p.value.reshape(-1) for p in network.parameters()]
    assert len(weights) == len(model.parameters())
    for ours, theirs in zip(model.parameters(), weights):
        np.testing.assert_array_equal(ours.data.reshape(-1), theirs)


@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
def test_the_same_cnn_gives_the_same_logits_and_gradients_in_both_styles(training):
    network = in_float64(build(SPEC, IMAGE_SHAPE, seed=0))
    network.layers[1].running_mean[...] = normal(4, seed=5)       # statistics not 0 and 1
    network.layers[1].running_var[...] = 1 + normal(4, seed=6) ** 2
    model = nn.from_network(network).train(training)
    images, upstream = normal(5, *IMAGE_SHAPE, seed=1), normal(5, 3, seed=2)

    logits = network.forward(images, training)
    x = Tensor(images, requires_grad=True)
    ours = model(x)
    assert_ulps(ours.data, logits, "logits")
    # The same gradient of the logits (a loss's) goes back through both.
    dx = network.backward(upstream, need_dx=True)
    ours.backward(upstream)
    assert_ulps(x.grad, dx, "input gradient")
    for number, (p, theirs) in enumerate(zip(model.parameters(), network.parameters())):
        assert_ulps(p.grad, theirs.grad.reshape(p.shape), f"parameter {number}")
    for name in ("running_mean", "running_var"):               # updated alike in training
        assert_ulps(getattr(model.modules[1], name).data,
                    getattr(network.layers[1], name), name)


def test_from_network_refuses_a_layer_without_a_twin():
    with pytest.raises(ValueError, match="got GlobalMaxPool"):
        nn.from_network(build([["gmaxpool"]], IMAGE_SHAPE))


# ------------------------------------------------------------------ saving and loading

def trained_model(seed):
    """A CNN whose Tensors (parameters and running statistics) are all drawn."""
    model = tensor_cnn(np.random.default_rng(seed))
    for i, tensor in enumerate(model.named_tensors().values()):
        tensor.data[...] = normal(*tensor.shape, seed=seed + i) ** 2
    return model


def test_a_module_comes_back_as_it_was_saved(tmp_path):
    path = tmp_path / "cnn.npz"
    model = trained_model(1)
    model.save(path)
    copy = tensor_cnn(np.random.default_rng(2))
    assert copy.load(path) is copy
    saved, loaded = model.named_tensors(), copy.named_tensors()
    assert list(saved) == ["modules.0.weight", "modules.0.bias", "modules.1.gamma",
                           "modules.1.beta", "modules.1.running_mean",
                           "modules.1.running_var", "modules.5.weight", "modules.5.bias"]
    for name, tensor in saved.items():
        np.testing.assert_array_equal(loaded[name].data, tensor.data)
        assert loaded[name].dtype == np.float32
    images = Tensor(normal(3, *IMAGE_SHAPE).astype(np.float32))
    np.testing.assert_array_equal(copy.eval()(images).data, model.eval()(images).data)
    # The layer computes with the loaded values: they were copied into its arrays.
    assert copy.modules[1].running_var.data is copy.modules[1].layer.running_var
    with np.load(path, allow_pickle=False) as archive:           # plain arrays only
        assert sorted(archive.files) == sorted(saved)


def rewrite(path, change):
    """Rewrite the .npz at ``path`` with ``change(dict of arrays)`` applied."""
    with np.load(path) as archive:
        arrays = dict(archive)
    change(arrays)
    np.savez(path, **arrays)


@pytest.mark.parametrize("change, message", [
    (lambda a: a.update({"modules.5.weight": np.zeros((36, 4), np.float32)}),
     r"'modules.5.weight' has shape \(36, 4\) and dtype float32, the module expects "
     r"\(36, 3\) and float32"),
    (lambda a: a.update({"modules.0.bias": np.zeros(4)}),
     r"'modules.0.bias' has shape \(4,\) and dtype float64, the module expects \(4,\) and "
     r"float32"),
    (lambda a: a.pop("modules.1.running_var"), r"has no 'modules.1.running_var' array"),
    (lambda a: a.update({"extra": np.zeros(2)}),
     r"holds arrays that are not part of the module: 'extra'"),
    (lambda a: a.update({"modules.5.bias": np.array([1, None, 2], dtype=object)}),
     r"holds something other than plain arrays: 'modules.5.bias' has dtype object"),
    (lambda a: a.update({"modules.5.bias": np.array([1, np.nan, 2], np.float32)}),
     r"'modules.5.bias' must hold finite values, got nan"),
])
def test_loading_refuses_a_file_that_does_not_fit_before_changing_anything(tmp_path, change,
                                                                            message):
    path = tmp_path / "cnn.npz"
    trained_model(1).save(path)
    rewrite(path, change)
    model = tensor_cnn(np.random.default_rng(2))
    before = {name: t.data.copy() for name, t in model.named_tensors().items()}
    with pytest.raises(ValueError, match=message) as error:
        model.load(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)
    for name, tensor in model.named_tensors().items():
        np.testing.assert_array_equal(tensor.data, before[name])


def test_loading_refuses_what_is_not_an_npz(tmp_path):
    path = tmp_path / "cnn.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"cnn.npz is not an .npz file"):
        nn.Linear(2, 2).load(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("weight.txt", "1 2 3")
    with pytest.raises(ValueError, match=r"'weight.txt' is not an .npy array"):
        nn.Linear(2, 2).load(path)
