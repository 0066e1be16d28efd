"""Tests of imagelab.nn.averaging: the lookahead average at its two extremes, on a case
computed by hand (batch norm's running statistics included), and its decay schedule."""
import numpy as np
import pytest

from imagelab.nn import network as model
from imagelab.nn.averaging import Lookahead, lookahead_decay
from imagelab.nn.batchnorm import BatchNorm
from imagelab.nn.layers import Dense
from imagelab.nn.network import Network


def network_with_buffers():
    """Dense(2, 3) then BatchNorm(3): two parameters, then two parameters and two buffers."""
    return Network([Dense(2, 3, rng=0), BatchNorm(3)])


def set_all(network, value):
    """Every parameter and buffer of ``network`` filled with ``value``."""
    network.set_weights([np.full_like(w, value) for w in network.get_weights()])


def test_decay_0_makes_the_average_the_network_and_1_brings_the_network_back():
    rng = np.random.default_rng(0)
    net = network_with_buffers()
    start = net.get_weights()
    lookahead = Lookahead(net)
    moved = [w + rng.normal(size=w.shape).astype(np.float32) for w in start]
    net.set_weights(moved)
    lookahead.update(net, 1.0)                     # back to the average, which stays
    for w, a, s in zip(net.get_weights(), lookahead.average, start):
        np.testing.assert_array_equal(w, s)
        np.testing.assert_array_equal(a, s)
    net.set_weights(moved)
    lookahead.update(net, 0.0)                     # the average follows the network
    for w, a, m in zip(net.get_weights(), lookahead.average, moved):
        np.testing.assert_array_equal(w, m)
        np.testing.assert_array_equal(a, m)


def test_two_updates_by_hand_buffers_included():
    net = network_with_buffers()
    assert len(net.get_weights()) == 6 and len(net.buffers()) == 2
    set_all(net, 0.0)
    lookahead = Lookahead(net)
    set_all(net, 4.0)
    lookahead.update(net, 0.5)                     # 0.5 * 0 + 0.5 * 4 = 2
    for w in net.get_weights():
        np.testing.assert_array_equal(w, np.full_like(w, 2.0))
    set_all(net, 8.0)
    lookahead.update(net, 0.25)                    # 0.25 * 2 + 0.75 * 8 = 6.5
    for w, a in zip(net.get_weights(), lookahead.average):
        np.testing.assert_array_equal(w, np.full_like(w, 6.5))
        np.testing.assert_array_equal(a, np.full_like(a, 6.5))
        assert w.dtype == a.dtype == np.float32
    # batch norm uses the averaged running statistics
    np.testing.assert_array_equal(net.layers[1].running_var, np.full(3, 6.5, np.float32))


def test_the_average_is_a_copy():
    net = network_with_buffers()
    start = net.get_weights()
    lookahead = Lookahead(net)
    set_all(net, 3.0)
    for a, s in zip(lookahead.average, start):
        np.testing.assert_array_equal(a, s)


def test_lookahead_decay_is_airbenchs():
    assert lookahead_decay(0, 10) == 0
    assert lookahead_decay(10, 10) == 0.95 ** 5
    assert lookahead_decay(5, 10) == pytest.approx(0.95 ** 5 / 8)
    assert type(lookahead_decay(3, 10)) is float   # not np.float64, which upcasts float32


@pytest.mark.parametrize("call, message", [
    (lambda: lookahead_decay(11, 10), r"step must be an integer in \[0, 10\], got 11"),
    (lambda: lookahead_decay(0, 0), r"total must be an integer >= 1, got 0"),
    (lambda: Lookahead(network_with_buffers()).update(network_with_buffers(), 1.5),
     r"decay must be a finite number in \[0, 1\], got 1.5"),
    (lambda: Lookahead(network_with_buffers()).update(model.mlp([2, 3]), 0.5),
     r"network must have the weight shapes \[\(2, 3\), \(1, 3\), \(3,\), \(3,\), \(3,\), "
     r"\(3,\)\] of the averaged network, got \[\(2, 3\), \(1, 3\)\]"),
])
def test_averaging_refuses_bad_arguments(call, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        call()
