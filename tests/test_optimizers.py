"""Tests of imagelab.nn.optim: SGD (heavy ball, Nesterov, weight decay) and Adam against
the textbook or PyTorch rules written as loops, their state per parameter, and the
learning-rate schedules."""
import numpy as np
import pytest

from conftest import ADAM_SETTINGS, LEARNING_RATES, SGD_SETTINGS, adam_loop, sgd_loop
from imagelab.nn import network as model
from imagelab.nn.optim import OPTIMIZERS, SGD, Adam, learning_rate_at, triangle


def one_parameter_network(rng):
    net = model.mlp([3, 2], seed=0, dtype=np.float64)
    gradients = [rng.normal(size=(3, 2)) for _ in range(4)]
    return net, gradients


@pytest.mark.parametrize("settings", SGD_SETTINGS, ids=str)
def test_sgd_matches_the_loop_to_the_bit(settings):
    rng = np.random.default_rng(11)
    net, gradients = one_parameter_network(rng)
    layer = net.layers[0]
    start, bias = layer.w.value.copy(), layer.b.value.copy()
    sgd = SGD(net.parameters(), **settings)
    for step, (g, learning_rate) in enumerate(zip(gradients, LEARNING_RATES), start=1):
        layer.w.grad, layer.b.grad = g, np.zeros((1, 2))
        sgd.step(learning_rate)
        expected = sgd_loop(start, gradients[:step], LEARNING_RATES[:step], **settings)
        # The same float64 operations in the same order, so equal to the bit (Nesterov's
        # b = m b + g from b = 0 gives PyTorch's b = g at the first step: m 0 + g = g).
        np.testing.assert_array_equal(layer.w.value, expected)
    np.testing.assert_array_equal(layer.b.value, bias)     # zero bias and zero gradient stay


def test_sgd_default_is_the_former_heavy_ball_step_to_the_bit():
    # float32, as in training: the update written as it was before nesterov and
    # weight_decay existed, the same operations in the same order.
    rng = np.random.default_rng(10)
    net = model.mlp([3, 2], seed=0)
    w, velocity = net.layers[0].w.value.copy(), np.zeros((3, 2), np.float32)
    sgd = SGD(net.parameters())
    for learning_rate in (0.1, 0.05, 0.02):
        g = rng.normal(size=(3, 2)).astype(np.float32)
        net.layers[0].w.grad, net.layers[0].b.grad = g, np.zeros((1, 2), np.float32)
        sgd.step(learning_rate)
        velocity *= 0.9
        velocity -= learning_rate * g
        w += velocity
        np.testing.assert_array_equal(net.layers[0].w.value, w)


@pytest.mark.parametrize("settings", ADAM_SETTINGS, ids=str)
def test_adam_matches_the_loop(settings):
    rng = np.random.default_rng(8)
    net, gradients = one_parameter_network(rng)
    layer = net.layers[0]
    start = layer.w.value.copy()
    adam = Adam(net.parameters(), **settings)
    for step, (g, learning_rate) in enumerate(zip(gradients, LEARNING_RATES), start=1):
        layer.w.grad, layer.b.grad = g, np.zeros((1, 2))
        adam.step(learning_rate)
        expected = adam_loop(start, gradients[:step], LEARNING_RATES[:step], **settings)
        np.testing.assert_allclose(layer.w.value, expected)


def test_adam_counts_the_steps_of_each_parameter():
    # A parameter first used at the optimizer's second step starts from t = 1, as in
    # PyTorch's Adam: its step is the first step's, learning_rate g / (|g| + eps).
    rng = np.random.default_rng(13)
    net, gradients = one_parameter_network(rng)
    layer = net.layers[0]
    start, bias = layer.w.value.copy(), layer.b.value.copy()
    adam = Adam(net.parameters(), beta1=0.8, beta2=0.9, eps=1e-3)
    layer.w.grad, layer.b.grad = None, np.ones((1, 2))  # step 1: b alone
    adam.step(0.1)
    np.testing.assert_array_equal(layer.w.value, start)
    layer.w.grad = gradients[0]                          # step 2: w first, at t = 1
    adam.step(0.1)
    g = gradients[0]
    expected = start - 0.1 * g / (np.abs(g) + 1e-3)
    np.testing.assert_allclose(layer.w.value, expected, rtol=1e-12)
    # b at t = 2 from zero moments: m = (1 - b1) (b1 + 1), s = (1 - b2) (b2 + 1) for a
    # gradient of ones, so m_hat = s_hat = 1, and it moves by learning_rate / (1 + eps)
    # at each step.
    np.testing.assert_allclose(layer.b.value, bias - 2 * 0.1 / (1 + 1e-3), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_each_optimizer_keeps_its_own_state(name):
    # Two optimizers on two networks with the same weights and gradients stay in step:
    # no state is shared between instances (nor kept at class level).
    rng = np.random.default_rng(9)
    nets = [model.mlp([3, 4, 2], seed=0, dtype=np.float64) for _ in range(2)]
    optimizers = [OPTIMIZERS[name](net.parameters()) for net in nets]
    for step in range(3):
        gradients = [rng.normal(size=p.value.shape) for p in nets[0].parameters()]
        for i, (net, optimizer) in enumerate(zip(nets, optimizers)):
            for p, g in zip(net.parameters(), gradients):
                p.grad = g.copy()
            optimizer.step(0.1)
            if step == 0 and i == 0:                 # a third optimizer, built late
                OPTIMIZERS[name](model.mlp([3, 4, 2], seed=1).parameters())
        for a, b in zip(nets[0].get_weights(), nets[1].get_weights()):
            np.testing.assert_array_equal(a, b)


def test_optimizers_keep_float32_and_reject_bad_settings():
    net = model.mlp([4, 3, 2], "relu", seed=0)
    x, labels = np.ones((2, 4), np.float32), np.array([0, 1])
    for optimizer in (SGD(net.parameters()), Adam(net.parameters()),
                      SGD(net.parameters(), nesterov=True, weight_decay=5e-4)):
        net.loss_and_gradients(x, labels, weight_decay=1e-3)
        optimizer.step(1e-2)
        assert all(p.value.dtype == np.float32 for p in net.parameters())
    with pytest.raises(ValueError, match="momentum"):
        SGD(net.parameters(), momentum=1.0)
    with pytest.raises(ValueError, match="beta"):
        Adam(net.parameters(), beta1=1.0)


def test_learning_rate_schedules():
    assert learning_rate_at(3, 0.1, 10, "constant") == 0.1
    assert learning_rate_at(0, 0.1, 10) == pytest.approx(0.1)
    assert learning_rate_at(5, 0.1, 10) == pytest.approx(0.05)
    rates = [learning_rate_at(e, 0.1, 10) for e in range(10)]
    assert all(a > b > 0 for a, b in zip(rates, rates[1:]))
    with pytest.raises(ValueError, match="schedule"):
        learning_rate_at(0, 0.1, 10, "step")


def test_triangle_at_its_corners_and_midpoints():
    # total 200: the peak at int(0.23 * 200) = 46, the midpoints at steps 23 and 123.
    assert triangle(0, 200) == 0.2
    assert triangle(46, 200) == 1
    assert triangle(200, 200) == 0.07
    assert triangle(23, 200) == pytest.approx((0.2 + 1) / 2)
    assert triangle(123, 200) == pytest.approx((1 + 0.07) / 2)
    assert triangle(3, 10, start=0.5, peak=0.6, end=0.0) == pytest.approx(0.75)
    assert type(triangle(7, 200)) is float        # not np.float64, which upcasts float32


@pytest.mark.parametrize("total", [1, 2, 5, 7, 100, 977])
@pytest.mark.parametrize("start, peak, end", [(0.2, 0.23, 0.07), (0.0, 0.5, 0.0),
                                              (1.5, 0.0, 0.3), (0.1, 1.0, 2.0)])
def test_triangle_is_airbenchs_interpolation(total, start, peak, end):
    steps = np.arange(total + 1)
    expected = np.interp(steps, [0, int(peak * total), total], [start, 1, end])
    got = [triangle(int(step), total, start, peak, end) for step in steps]
    # Both evaluate a + (b - a) t, t in [0, 1], in at most 4 rounded float64 operations
    # on values of magnitude at most max(1, start, end).
    np.testing.assert_allclose(got, expected, rtol=0,
                               atol=8 * np.finfo(float).eps * max(1, start, end))


@pytest.mark.parametrize("make, message", [
    (lambda: SGD([], momentum=float("nan")),
     r"momentum must be a finite number in \[0, 1\), got nan"),
    (lambda: SGD([], momentum=-0.1), r"momentum must be a finite number in \[0, 1\), got -0.1"),
    (lambda: Adam([], beta2=1.0), r"beta2 must be a finite number in \[0, 1\), got 1.0"),
    (lambda: Adam([], beta1=float("nan")), r"beta1 must be a finite number in \[0, 1\), got nan"),
    (lambda: Adam([], eps=0), r"eps must be a finite number > 0, got 0"),
    (lambda: SGD([], weight_decay=-1), r"weight_decay must be a finite number >= 0, got -1"),
    (lambda: SGD([], nesterov="yes"), r"nesterov must be True or False, got 'yes'"),
    (lambda: triangle(11, 10), r"step must be an integer in \[0, 10\], got 11"),
    (lambda: triangle(0, 0), r"total must be an integer >= 1, got 0"),
    (lambda: triangle(1.0, 10), r"step must be an integer in \[0, 10\], got 1.0"),
    (lambda: triangle(0, 10, peak=1.5), r"peak must be a finite number in \[0, 1\], got 1.5"),
    (lambda: triangle(0, 10, start=-0.1), r"start must be a finite number >= 0, got -0.1"),
    (lambda: triangle(0, 10, end=float("nan")), r"end must be a finite number >= 0, got nan"),
])
def test_optimizers_refuse_bad_settings_by_name(make, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        make()
