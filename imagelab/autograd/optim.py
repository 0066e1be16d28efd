"""Optimizers acting on Tensor parameters (``imagelab.autograd.tensor``): SGD and Adam.

Built on the parameters they update, with the learning rate, after PyTorch's: after
``loss.backward()``, ``step()`` updates each parameter's ``data`` in place from its
``grad`` (a parameter whose ``grad`` is None, unused by the loss, is left as it is),
and ``zero_grad()`` forgets the gradients before the next batch.

They are adapters: the update rules, and the state kept beside each parameter, are
those of ``imagelab.nn.optim``, the layer-by-layer network's, which sees each Tensor as
a parameter whose ``value`` is its ``data``.
"""
from imagelab.autograd.tensor import Tensor
from imagelab.nn import optim
from imagelab.utils.checks import check_float


class TensorParameter:
    """A Tensor in the guise of ``imagelab.nn.layers.Parameter``, for ``imagelab.nn.optim``:
    ``value`` is its ``data`` (updated in place), ``grad`` its gradient or None."""

    def __init__(self, tensor):
        self.tensor = tensor

    @property
    def value(self):
        return self.tensor.data

    @property
    def grad(self):
        return self.tensor.grad


class Optimizer:
    """What SGD and Adam share: the checked parameters, the learning rate, ``step`` and
    ``zero_grad``.

    Parameters
    ----------
    parameters : iterable of Tensor
        Each requiring a gradient, at least one (e.g. ``model.parameters()``).
    learning_rate : float > 0
        May be changed between steps (a schedule).
    rule : class of ``imagelab.nn.optim``
        Built on the parameters (as ``TensorParameter``) and ``settings``.
    **settings
        The rule's keyword arguments.
    """

    def __init__(self, parameters, learning_rate, rule, **settings):
        self.parameters = list(parameters)
        if not self.parameters:
            raise ValueError("parameters must hold at least one Tensor, got none")
        for i, p in enumerate(self.parameters):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise ValueError(f"parameters must be Tensors requiring a gradient, got "
                                 f"{p!r} at position {i}")
        self.learning_rate = check_float(learning_rate, "learning_rate", 0,
                                         include_min=False)
        self.rule = rule([TensorParameter(p) for p in self.parameters], **settings)

    def step(self):
        """Update every parameter that has a gradient, in place."""
        self.rule.step(self.learning_rate)

    def zero_grad(self):
        """Forget every parameter's gradient (set it to None)."""
        for p in self.parameters:
            p.grad = None


class SGD(Optimizer):
    """Stochastic gradient descent with momentum (heavy ball or Nesterov's) and weight
    decay: ``imagelab.nn.optim.SGD``'s rules.

    Heavy ball: g <- grad + weight_decay w;  v <- momentum v - learning_rate g;
    w <- w + v. The weight decay is the gradient of the L2 penalty
    (weight_decay / 2) ||w||^2, applied to every parameter given.

    The learning rate is inside the velocity, where ``torch.optim.SGD`` keeps
    b <- momentum b + g and steps by -learning_rate b: the same steps at a constant
    rate, not once it changes (``imagelab.nn.optim.SGD`` writes out both).

    Parameters
    ----------
    parameters, learning_rate : see ``Optimizer``
    momentum : float in [0, 1)
    nesterov : bool
    weight_decay : float >= 0
    """

    def __init__(self, parameters, learning_rate, momentum=0.0, nesterov=False,
                 weight_decay=0.0):
        super().__init__(parameters, learning_rate, optim.SGD, momentum=momentum,
                         nesterov=nesterov, weight_decay=weight_decay)


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), with bias-corrected moment estimates:
    ``imagelab.nn.optim.Adam``'s rule.

    m <- b1 m + (1 - b1) g;  s <- b2 s + (1 - b2) g^2;
    w <- w - learning_rate (m / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps),

    t counting the steps at which this parameter had a gradient (as PyTorch's).

    Parameters
    ----------
    parameters, learning_rate : see ``Optimizer``
    beta1, beta2 : float in [0, 1)
    eps : float > 0
    """

    def __init__(self, parameters, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(parameters, learning_rate, optim.Adam, beta1=beta1, beta2=beta2,
                         eps=eps)
