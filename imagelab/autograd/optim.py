"""Optimizers acting on Tensor parameters (``imagelab.autograd.tensor``): SGD and Adam.

Built on the parameters they update, with the learning rate, after PyTorch's: after
``loss.backward()``, ``step()`` updates each parameter's ``data`` in place from its
``grad`` (a parameter whose ``grad`` is None, unused by the loss, is left as it is),
and ``zero_grad()`` forgets the gradients before the next batch. The state (velocity,
moments) is kept beside each parameter, in the same order. The updates are those of
``imagelab.nn.optim``, the layer-by-layer network's.
"""
import math

import numpy as np

from imagelab.autograd.tensor import Tensor
from imagelab.utils.checks import check_float
from imagelab.nn.optim import adam_update


class Optimizer:
    """What SGD and Adam share: the checked parameters, the learning rate, ``zero_grad``.

    Parameters
    ----------
    parameters : iterable of Tensor
        Each requiring a gradient, at least one (e.g. ``model.parameters()``).
    learning_rate : float > 0
        May be changed between steps (a schedule).
    """

    def __init__(self, parameters, learning_rate):
        self.parameters = list(parameters)
        if not self.parameters:
            raise ValueError("parameters must hold at least one Tensor, got none")
        for i, p in enumerate(self.parameters):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise ValueError(f"parameters must be Tensors requiring a gradient, got "
                                 f"{p!r} at position {i}")
        self.learning_rate = check_float(learning_rate, "learning_rate", 0,
                                         include_min=False)

    def zero_grad(self):
        """Forget every parameter's gradient (set it to None)."""
        for p in self.parameters:
            p.grad = None


class SGD(Optimizer):
    """Stochastic gradient descent with (heavy-ball) momentum and weight decay.

    g <- grad + weight_decay w;  v <- momentum v - learning_rate g;  w <- w + v.
    The weight decay is the gradient of the L2 penalty (weight_decay / 2) ||w||^2,
    applied to every parameter given.

    Parameters
    ----------
    parameters, learning_rate : see ``Optimizer``
    momentum : float in [0, 1)
    weight_decay : float >= 0
    """

    def __init__(self, parameters, learning_rate, momentum=0.0, weight_decay=0.0):
        super().__init__(parameters, learning_rate)
        self.momentum = check_float(momentum, "momentum", 0, 1, include_max=False)
        self.weight_decay = check_float(weight_decay, "weight_decay", 0)
        self.velocities = [np.zeros_like(p.data) for p in self.parameters]

    def step(self):
        """Update every parameter that has a gradient, in place."""
        for p, v in zip(self.parameters, self.velocities):
            if p.grad is None:
                continue
            g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            v *= self.momentum
            v -= self.learning_rate * g
            p.data += v


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), with bias-corrected moment estimates.

    m <- b1 m + (1 - b1) g;  s <- b2 s + (1 - b2) g^2;
    w <- w - learning_rate (m / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps).

    Parameters
    ----------
    parameters, learning_rate : see ``Optimizer``
    beta1, beta2 : float in [0, 1)
    eps : float > 0
    """

    def __init__(self, parameters, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(parameters, learning_rate)
        self.beta1 = check_float(beta1, "beta1", 0, 1, include_max=False)
        self.beta2 = check_float(beta2, "beta2", 0, 1, include_max=False)
        self.eps = check_float(eps, "eps", 0, include_min=False)
        self.t = 0
        # m, s and a work buffer for each parameter, updated in place: no new array per step.
        self.moments = [[np.zeros_like(p.data) for _ in range(3)] for p in self.parameters]

    def step(self):
        """Update every parameter that has a gradient, in place."""
        self.t += 1
        # Bias corrections folded into the step size, as imagelab.nn.optim.Adam does:
        # (m / c1) / (sqrt(s / c2) + eps) = (sqrt(c2) / c1) m / (sqrt(s) + eps sqrt(c2)).
        c1, c2 = 1 - self.beta1 ** self.t, 1 - self.beta2 ** self.t
        step_size = self.learning_rate * math.sqrt(c2) / c1
        eps = self.eps * math.sqrt(c2)
        for p, (m, s, work) in zip(self.parameters, self.moments):
            if p.grad is not None:
                adam_update(p.data, p.grad, m, s, work, self.beta1, self.beta2, step_size, eps)
