"""Optimizers: update parameters from their gradients; and learning-rate schedules.

An optimizer is built on the list of parameters it updates: any objects with an array
``value``, updated in place, and its gradient ``grad`` (``imagelab.nn.layers.Parameter``;
``imagelab.autograd.optim`` hands it Tensors in that guise). It keeps a state (a dict:
velocity, moment estimates, step count) beside each one, in the same order. ``step(learning_rate)``
applies the update rule, ``update(value, grad, state, ...)``, to each parameter that has
a gradient, so that one implementation of each rule serves every network.
"""
import math

import numpy as np

from imagelab.utils.checks import CheckError, check_float, check_int


class Optimizer:
    """What SGD and Adam share: the parameters and a state for each one.

    Parameters
    ----------
    parameters : iterable of objects with ``value`` (np.ndarray) and ``grad``
        ``grad`` is an array of ``value``'s shape, or None for a parameter that the
        loss did not use: ``step`` then leaves it (and its state) as it is.
    """

    def __init__(self, parameters):
        self.parameters = list(parameters)
        self.states = [self.initial_state(p.value) for p in self.parameters]

    def initial_state(self, value):
        """The state of a parameter before its first step: a dict (arrays, counts)."""
        raise NotImplementedError

    def with_gradients(self):
        """(value, grad, state) of each parameter that has a gradient, in order."""
        return [(p.value, p.grad, state) for p, state in zip(self.parameters, self.states)
                if p.grad is not None]


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, heavy-ball (default) or Nesterov's.

    g <- grad + weight_decay w (coupled L2, as PyTorch's SGD), then

    * heavy ball (``nesterov=False``): v <- momentum v - learning_rate g;  w <- w + v.
      ``momentum=0`` is the lab's step.
    * Nesterov (``nesterov=True``), PyTorch's formulation: b <- momentum b + g;
      w <- w - learning_rate (g + momentum b), b starting at 0 (so b = g after the
      first step, as PyTorch's buffer).

    The heavy ball keeps the learning rate inside the velocity (CS231n's convention;
    Sutskever et al., 2013), where PyTorch keeps it outside: b <- momentum b + g;
    w <- w - learning_rate b. With rates lr_1, ..., lr_k and gradients g_1, ..., g_k,
    the k-th step moves w by

        here:     -sum_j momentum^(k - j) lr_j g_j    (each g_j at the rate of its step)
        PyTorch:  -lr_k sum_j momentum^(k - j) g_j    (every g_j at the current rate)

    the same at a constant rate (v = -learning_rate b), different once the rate
    changes (a schedule). Nesterov's rule is PyTorch's at any rate.

    The weight decay applies to every parameter given, whatever its ``decay`` flag:
    give it here or to ``Network.loss_and_gradients``, not both. For parameter groups
    with their own settings (airbench's batch-norm biases: 64 times the learning rate,
    1/64 of the weight decay), build one SGD per group and step each with its own rate::

        biases = SGD(bn_biases, 0.85, nesterov=True, weight_decay=wd / 64)
        others = SGD(the_rest, 0.85, nesterov=True, weight_decay=wd)
        ...
        biases.step(64 * lr * triangle(step, total))
        others.step(lr * triangle(step, total))

    Parameters
    ----------
    parameters : see ``Optimizer``
    momentum : float in [0, 1)
    nesterov : bool
    weight_decay : float >= 0
    """

    def __init__(self, parameters, momentum=0.9, nesterov=False, weight_decay=0.0):
        self.momentum = check_float(momentum, "momentum", 0, 1, include_max=False)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise CheckError("nesterov", "True or False", nesterov)
        self.nesterov = bool(nesterov)
        self.weight_decay = check_float(weight_decay, "weight_decay", 0)
        super().__init__(parameters)

    def initial_state(self, value):
        """{"velocity": zeros}: v (heavy ball) or b (Nesterov)."""
        return {"velocity": np.zeros_like(value)}

    def step(self, learning_rate):
        """Update every parameter that has a gradient, in place."""
        for value, grad, state in self.with_gradients():
            self.update(value, grad, state, learning_rate)

    def update(self, value, grad, state, learning_rate):
        """The rule on one array: ``value`` and ``state["velocity"]`` updated in place.

        Parameters
        ----------
        value : np.ndarray
            w.
        grad : np.ndarray, shape and dtype of ``value``
        state : dict
            As ``initial_state`` made it, then as earlier steps left it.
        learning_rate : float
            A Python float keeps float32 arrays float32.
        """
        g = grad + self.weight_decay * value if self.weight_decay else grad
        v = state["velocity"]
        v *= self.momentum
        if self.nesterov:
            v += g
            value -= learning_rate * (g + self.momentum * v)
        else:
            v -= learning_rate * g
            value += v


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), with bias-corrected moment estimates.

    m <- b1 m + (1 - b1) g;  s <- b2 s + (1 - b2) g^2;
    w <- w - learning_rate (m / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps),

    t counting the steps of this parameter, in its state (as PyTorch's Adam): a
    parameter without a gradient skips a step and its count, so that one first used
    at the optimizer's k-th step starts from t = 1, not t = k.

    Parameters
    ----------
    parameters : see ``Optimizer``
    beta1, beta2 : float in [0, 1)
    eps : float > 0
    """

    def __init__(self, parameters, beta1=0.9, beta2=0.999, eps=1e-8):
        self.beta1 = check_float(beta1, "beta1", 0, 1, include_max=False)
        self.beta2 = check_float(beta2, "beta2", 0, 1, include_max=False)
        self.eps = check_float(eps, "eps", 0, include_min=False)
        super().__init__(parameters)

    def initial_state(self, value):
        """{"t": 0, the steps taken; "m", "s": zeros; "work": a scratch buffer}: the
        arrays are updated in place, no new array per step."""
        state = {name: np.zeros_like(value) for name in ("m", "s", "work")}
        state["t"] = 0
        return state

    def step(self, learning_rate):
        """Update every parameter that has a gradient, in place."""
        for value, grad, state in self.with_gradients():
            self.update(value, grad, state, learning_rate)

    def update(self, value, grad, state, learning_rate):
        """The rule on one array: ``state["t"]`` counts this step, then ``value``,
        ``state["m"]`` and ``state["s"]`` are updated in place (``SGD.update``
        describes the arguments).

        The bias corrections are folded into the step size and eps, Python floats (so
        float32 stays float32): (m / c1) / (sqrt(s / c2) + eps) = (sqrt(c2) / c1) m /
        (sqrt(s) + eps sqrt(c2)), c1 = 1 - b1^t, c2 = 1 - b2^t.
        """
        state["t"] += 1
        c1, c2 = 1 - self.beta1 ** state["t"], 1 - self.beta2 ** state["t"]
        step_size = learning_rate * math.sqrt(c2) / c1
        eps = self.eps * math.sqrt(c2)
        m, s, work = state["m"], state["s"], state["work"]
        m *= self.beta1
        m += (1 - self.beta1) * grad
        s *= self.beta2
        np.multiply(grad, grad, out=work)
        work *= 1 - self.beta2
        s += work
        np.sqrt(s, out=work)
        work += eps
        np.divide(m, work, out=work)
        work *= step_size
        value -= work


OPTIMIZERS = {"sgd": SGD, "adam": Adam}


def learning_rate_at(epoch, base, num_epoch, schedule="cosine"):
    """Learning rate of epoch ``epoch`` (0-based) out of ``num_epoch``.

    "constant": ``base``; "cosine": base (1 + cos(pi epoch / num_epoch)) / 2, from
    ``base`` at the first epoch down towards 0 at the last.
    """
    if schedule == "constant":
        return base
    if schedule == "cosine":
        return base * 0.5 * (1 + math.cos(math.pi * epoch / num_epoch))
    raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")


def triangle(step, total, start=0.2, peak=0.23, end=0.07):
    """Learning-rate multiplier of optimizer step ``step`` out of ``total``: warm-up, decay.

    airbench's ``triangle``: piecewise linear through (0, start), (int(peak total), 1)
    and (total, end), as ``np.interp(step, [0, int(peak total), total], [start, 1, end])``
    (so 1 at step 0 when int(peak total) = 0, and ``end`` at step ``total``).

    Parameters
    ----------
    step : int in [0, total]
        Optimizer steps already taken: the first step uses 0, as airbench's ``LambdaLR``.
    total : int >= 1
    start, end : float >= 0
        Multipliers at the first and the last step.
    peak : float in [0, 1]
        Where the multiplier reaches 1, as a fraction of ``total``.

    Returns
    -------
    float
        A Python float: multiplying a float32 array keeps it float32.
    """
    total = check_int(total, "total", 1)
    step = check_int(step, "step", 0, total)
    start, end = check_float(start, "start", 0), check_float(end, "end", 0)
    peak_step = int(check_float(peak, "peak", 0, 1) * total)
    if step < peak_step:
        return start + (1 - start) * step / peak_step
    if step == total:                   # also when peak_step = total
        return end
    return 1 + (end - 1) * (step - peak_step) / (total - peak_step)
