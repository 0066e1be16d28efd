"""Weight averaging during training: airbench's lookahead (its ``LookaheadState``).

An exponential moving average of the network's weights is kept; at each update the
network is pulled back onto that average. airbench updates it every 5 optimizer steps
with a decay growing as the cube of the training's progress (``lookahead_decay``), so
that early training runs almost free and late training is smoothed, and copies the
average into the network at the very end (decay 1)::

    lookahead = Lookahead(network)
    for step in range(1, total + 1):
        ...                                        # one optimizer step
        if step % 5 == 0:
            lookahead.update(network, lookahead_decay(step, total))
    lookahead.update(network, 1.0)                 # the network gets the average
"""
from imagelab.utils.checks import check_float, check_int


def lookahead_decay(step, total):
    """airbench's decay at optimizer step ``step`` of ``total``: 0.95^5 (step / total)^3.

    Parameters
    ----------
    step : int in [0, total]
    total : int >= 1

    Returns
    -------
    float in [0, 0.95^5]
        A Python float: multiplying a float32 array keeps it float32.
    """
    total = check_int(total, "total", 1)
    step = check_int(step, "step", 0, total)
    return 0.95 ** 5 * (step / total) ** 3


class Lookahead:
    """An exponential moving average of a network's weights, into which it is pulled back.

    Parameters
    ----------
    network : imagelab.nn.network.Network
        Its parameters and buffers (batch norm's running statistics: airbench averages
        its whole ``state_dict``) start the average.

    Attributes
    ----------
    average : list of np.ndarray
        As ``network.get_weights()`` returns them, dtypes kept.
    """

    def __init__(self, network):
        self.average = network.get_weights()

    def update(self, network, decay):
        """average <- decay average + (1 - decay) w, then w <- average (``set_weights``).

        ``decay`` is a float in [0, 1]: 0 makes the average the network's weights, 1
        puts the network back onto the average. ``network`` must hold arrays of the
        shapes the average was built on.
        """
        decay = check_float(decay, "decay", 0, 1)
        weights = network.get_weights()
        expected, shapes = [a.shape for a in self.average], [w.shape for w in weights]
        if shapes != expected:
            raise ValueError(f"network must have the weight shapes {expected} of the averaged "
                             f"network, got {shapes}")
        for average, w in zip(self.average, weights):
            average *= decay
            average += (1 - decay) * w
        network.set_weights(self.average)
