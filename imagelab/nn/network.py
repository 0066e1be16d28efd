"""A network: a list of layers applied in order; ``mlp`` builds the multilayer perceptrons."""
import numpy as np

from imagelab.utils.checks import check_float, check_int, check_seed
from imagelab.nn.layers import ACTIVATIONS, Dense, Dropout
from imagelab.nn.losses import loss_function as resolve_loss


class Network:
    """A list of layers applied in order (a sequential network).

    Parameters
    ----------
    layers : list of layers (``imagelab.nn.layers``)
        The last one gives the logits. Any layer with ``forward``, ``backward`` and
        ``parameters`` fits: the training loop only talks to the network.
    """

    def __init__(self, layers):
        self.layers = list(layers)

    def parameters(self):
        """Every ``Parameter`` of every layer, in layer order."""
        return [p for layer in self.layers for p in layer.parameters()]

    def buffers(self):
        """Every untrained array a layer keeps (batch norm's running statistics)."""
        return [b for layer in self.layers for b in layer.buffers()]

    def output_shapes(self, input_shape):
        """Shape of each layer's output (no batch axis) for inputs of ``input_shape``.

        Raises ValueError, naming the layer and the shape, where a layer does not fit.
        """
        shapes = []
        for layer in self.layers:
            input_shape = layer.output_shape(input_shape)
            shapes.append(tuple(input_shape))
        return shapes

    def flops(self, input_shape):
        """Floating-point operations of a forward pass on one input (``Layer.flops``);
        a training step costs about three times that per image (forward, dW, dx)."""
        shapes = [tuple(input_shape)] + self.output_shapes(input_shape)
        return sum(layer.flops(shape) for layer, shape in zip(self.layers, shapes))

    def summary(self, input_shape):
        """A table of the layers, their output shapes and parameter counts, as a string."""
        rows = [("layer", "output shape", "parameters"), ("input", str(tuple(input_shape)), "")]
        for layer, shape in zip(self.layers, self.output_shapes(input_shape)):
            count = sum(p.value.size for p in layer.parameters())
            rows.append((repr(layer), str(shape), f"{count:,}" if count else ""))
        total = sum(p.value.size for p in self.parameters())
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}" for a, b, c in rows]
        rule = "-" * len(lines[0])
        return "\n".join([lines[0], rule, *lines[1:], rule, f"{total:,} parameters"])

    def forward(self, x, training=False):
        """Logits (N, d_out) of the rows of ``x`` (N, d_in); ``training`` turns dropout on."""
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def loss_and_gradients(self, x, labels, loss="cross_entropy", weight_decay=0.0,
                           trained_from=0):
        """Forward and backward pass on one batch; the gradients go to the parameters.

        Dropout is on. The loss is ``LOSSES[loss]`` (``loss`` a name) or ``loss`` itself
        (a callable (z, labels) -> (value, dC/dz), such as
        ``functools.partial(softmax_cross_entropy, smoothing=0.2)``), plus the L2 penalty
        (weight_decay / 2) sum ||W||^2 over the weights (not the biases), whose
        gradient is weight_decay * W; ``weight_decay`` is a finite number >= 0.
        The backward pass stops at layer ``trained_from``: the layers below it (frozen)
        get no gradient, and it saves their cost.

        Returns
        -------
        loss : float
        logits : np.ndarray, shape (N, d_out)
        """
        loss_function = resolve_loss(loss)
        weight_decay = check_float(weight_decay, "weight_decay", 0)
        trained_from = check_int(trained_from, "trained_from", 0, len(self.layers) - 1)
        z = self.forward(x, training=True)
        value, grad = loss_function(z, labels)
        self.backward(grad, trained_from)
        if weight_decay:
            for p in self.parameters():
                if p.decay:
                    value += 0.5 * weight_decay * float(np.sum(p.value * p.value))
                    p.grad += weight_decay * p.value
        return value, z

    def backward(self, grad, down_to=0, need_dx=False):
        """The backward pass from dC/dlogits down to layer ``down_to``, which fills the
        gradients of these layers' parameters.

        Parameters
        ----------
        grad : np.ndarray, shape of the logits (N, d_out)
            dC/dz, from the loss, after a forward pass.
        down_to : int
            The lowest layer reached (the layers below keep their gradients).
        need_dx : bool
            Whether layer ``down_to`` computes dC/d(its input) too. Training does not
            need it: False skips its cost (a third of a dense layer's backward pass).

        Returns
        -------
        np.ndarray, shape of layer ``down_to``'s input, or None (``need_dx=False``)
        """
        for i in range(len(self.layers) - 1, down_to - 1, -1):
            grad = self.layers[i].backward(grad, need_dx=need_dx or i > down_to)
        return grad

    def input_gradient(self, x, labels, loss="cross_entropy", training=False):
        """dL/dx: the gradient of the loss with respect to the network's input.

        For saliency maps and adversarial images. L is the loss of the logits of ``x``,
        the mean over its N rows of their losses L_n, so that row n of dL/dx is
        dL_n/dx_n / N; without weight decay, which does not depend on x. The backward
        pass also overwrites every parameter's ``grad`` (with dL/dw).

        Parameters
        ----------
        x : np.ndarray, shape (N, ...) of the network's input, floating
        labels : np.ndarray of int, shape (N,)
        loss : str or callable
            As for ``loss_and_gradients``.
        training : bool
            False (default): the network as it predicts, dropout off and batch norm on
            its running statistics. True: as in training (dropout masks drawn, batch
            statistics, which the running averages then take in).

        Returns
        -------
        np.ndarray, shape ``x.shape``, dtype of the computation
        """
        loss_function = resolve_loss(loss)
        _, grad = loss_function(self.forward(x, training), labels)
        return self.backward(grad, need_dx=True)

    def predict_logits(self, x, batch_size=4096, prepare=None):
        """Logits of ``x`` (N, ...) in the weights' dtype, by batches to bound the memory.

        ``prepare``, if given, turns each batch of ``x`` into the network's input
        (``imagelab.data.augment.ImagePipeline.evaluation``); by default it is converted to
        the weights' dtype.
        """
        dtype = self.parameters()[0].value.dtype
        if prepare is None:
            x = np.asarray(x, dtype)
        return np.concatenate([self.forward(x[i:i + batch_size] if prepare is None
                                            else prepare(x[i:i + batch_size]))
                               for i in range(0, len(x), batch_size)])

    def get_weights(self):
        """Copies of every parameter array, then of every buffer, in layer order."""
        return [p.value.copy() for p in self.parameters()] + [b.copy() for b in self.buffers()]

    def set_weights(self, weights):
        """Copy ``weights`` (as ``get_weights`` returns them) into the network."""
        for target, w in zip([p.value for p in self.parameters()] + self.buffers(), weights):
            target[...] = w


def mlp(sizes, activation="sigmoid", init=None, dropout=0.0, seed=None, dtype=np.float32):
    """A multilayer perceptron: Dense, activation, [Dropout,] ..., Dense.

    Parameters
    ----------
    sizes : sequence of int >= 1
        ``[d_in, d_h1, ..., d_out]``: ``len(sizes) - 2`` hidden layers. The lab's
        network is ``mlp([d_in, d_h, d_out], "sigmoid")``.
    activation : {"sigmoid", "relu"}
    init : {"glorot", "he"}, optional
        Default: Glorot for sigmoid units, He for ReLU units.
    dropout : float in [0, 1)
        Dropout rate after each hidden layer (0: no Dropout layer).
    seed : None, int >= 0 or np.random.Generator
        Seed of the initial weights and of the dropout masks.
    dtype : floating dtype of the weights (float32 by default)

    Returns
    -------
    Network
    """
    sizes = [check_int(size, f"sizes[{i}]", 1) for i, size in enumerate(sizes)]
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least an input and an output size, got {sizes}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if init is None:
        init = "he" if activation == "relu" else "glorot"
    rng = np.random.default_rng(check_seed(seed))
    layers = []
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        layers += [Dense(d_in, d_out, init, rng, dtype), ACTIVATIONS[activation]()]
        if dropout:
            layers.append(Dropout(dropout, rng))
    # No activation (nor dropout) after the output layer: it gives the logits.
    while not isinstance(layers[-1], Dense):
        layers.pop()
    return Network(layers)


def from_lab_weights(w1, b1, w2, b2):
    """The lab's network (``mlp.py``) with the given weights, as a ``Network``."""
    network = mlp([w1.shape[0], w1.shape[1], w2.shape[1]], "sigmoid", dtype=w1.dtype)
    network.set_weights([w1, b1, w2, b2])
    return network
