"""An autograd Tensor: a NumPy array that records the operations applied to it.

Each operation on a ``Tensor`` computes its value (the forward pass) and, when one of
its inputs requires a gradient, makes its result a node of a graph: the node keeps its
inputs (its parents) and a function that turns the gradient of the result into the
gradient of each input (the chain rule, one local derivative per operation).
``backward()`` visits the nodes from the result back to the leaves in reverse
topological order, so that a node passes its gradient on only once every node that
used it has added its share, and adds what reaches a leaf into the leaf's ``grad``.

Broadcasting: an input of shape (1, d) added to one of shape (N, d) takes part in the
N rows of the result, so its gradient is the sum of the result's gradient over those
rows (``unbroadcast``).

    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()          # y = x1^2 + x2^2
    y.backward()               # x.grad == [2.0, 4.0], dy/dx = 2 x

``gradcheck`` compares the gradients of any function of Tensors with finite differences.
The functions of several Tensors (``maximum``, ``where``, ``concatenate``, ...) and the
CNN layers as operations are in ``imagelab.autograd.functional``.
"""
import contextlib
import numbers

import numpy as np

from imagelab.utils.checks import check_seed
from imagelab.nn.functional import sigmoid
from imagelab.nn.gradcheck import DEFAULT_STEP, check_gradient

# Whether operations record the graph; ``no_grad`` turns it off in a block.
_grad_enabled = True


@contextlib.contextmanager
def no_grad():
    """Within the block, operations record no graph: their results require no gradient.

    For evaluation and for updates of parameters: the values are the same, and no
    node keeps its inputs alive.
    """
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes along which an input of ``shape`` was broadcast.

    An input broadcast to the result's shape stands in several entries of the result:
    along the leading axes it lacks and along its axes of size 1. By the chain rule its
    gradient is the sum of the result's gradient over those entries.

    Parameters
    ----------
    grad : np.ndarray
        The gradient of the result, whose shape is ``shape`` broadcast.
    shape : tuple of int

    Returns
    -------
    np.ndarray of shape ``shape``, dtype of ``grad``
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, size in enumerate(shape)
                                      if size == 1 and grad.shape[lead + i] != 1)
    return grad.sum(axis=axes).reshape(shape)


def _axes(axis, ndim):
    """``axis`` (None, an int or a tuple of ints, negative allowed) as a tuple of axes >= 0."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of bounds for a tensor of {ndim} dimensions")
    return tuple(sorted(a % ndim for a in axes))


def _unreduce(grad, axes, keepdims, shape):
    """The gradient of a reduction over ``axes`` (kept or not), broadcast back to ``shape``.

    The view is read-only: gradients are never modified in place.
    """
    if not keepdims:
        grad = np.expand_dims(grad, axes)
    return np.broadcast_to(grad, shape)


def _node(data, op, parents, backward):
    """The result of an operation: a Tensor of ``data``, a node of the graph if it needs one.

    Parameters
    ----------
    data : np.ndarray or NumPy scalar
        The value.
    op : str
        The operation's name (for error messages).
    parents : tuple of Tensor
        The inputs.
    backward : function
        Maps the gradient of the result (an array of ``data``'s shape) to a tuple
        holding, for each parent, the gradient with respect to it (an array of its
        shape), or None for a parent that requires no gradient.
    """
    out = Tensor.__new__(Tensor)
    out.data, out.grad = np.asarray(data), None
    if _grad_enabled and any(p.requires_grad for p in parents):
        out.requires_grad, out._parents, out._backward, out._op = True, parents, backward, op
    else:
        out.requires_grad, out._parents, out._backward, out._op = False, (), None, None
    return out


def _broadcasting(function, a, b, symbol):
    """``function(a.data, b.data)``; an error naming both shapes if they do not broadcast."""
    try:
        return function(a.data, b.data)
    except ValueError:
        raise ValueError(f"shapes {a.shape} and {b.shape} do not broadcast together "
                         f"for {symbol}") from None


def _topological_order(root):
    """``root`` and the nodes it depends on (through gradients), each after its parents.

    A depth-first search with a stack of its own instead of recursion, so that a chain
    of any length fits (Python stops recursing near 1,000 calls). A node is pushed
    twice: first to visit its parents, then, once they are all in the order, to join it.
    """
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
        elif node not in visited:
            visited.add(node)
            stack.append((node, True))
            stack.extend((p, False) for p in node._parents
                         if p.requires_grad and p not in visited)
    return order


class Tensor:
    """An array and, when it requires a gradient, how it was computed.

    Parameters
    ----------
    data : array_like
        A floating array keeps its dtype (float32 for training, float64 for checks);
        integers, booleans and Python numbers become float64.
    requires_grad : bool
        Whether ``backward()`` computes the gradient with respect to this tensor.

    Attributes
    ----------
    data : np.ndarray
        The value. An optimizer updates it in place between backward passes.
    grad : np.ndarray of the shape of ``data``, or None
        For a leaf (a tensor made by the user, not by an operation) that requires a
        gradient: the sum of its gradients over every ``backward()`` since it was last
        set to None. Replace it, never modify it in place (two leaves may share one
        array). Results of operations keep no gradient.
    requires_grad : bool
    """

    __slots__ = ("_backward", "_op", "_parents", "data", "grad", "requires_grad")
    # ndarray + Tensor calls Tensor.__radd__ instead of NumPy's elementwise loop.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False):
        if isinstance(data, Tensor):
            raise TypeError("data must be an array, got a Tensor (use tensor.detach())")
        data = np.asarray(data)
        if data.dtype.kind in "biu":
            data = data.astype(np.float64)
        elif data.dtype.kind != "f":
            raise ValueError(f"data must hold real numbers, got dtype {data.dtype}")
        self.data, self.grad, self.requires_grad = data, None, bool(requires_grad)
        self._parents, self._backward, self._op = (), None, None

    # ------------------------------------------------------------ what it is

    shape = property(lambda self: self.data.shape, doc="tuple of int")
    ndim = property(lambda self: self.data.ndim, doc="int")
    size = property(lambda self: self.data.size, doc="int")
    dtype = property(lambda self: self.data.dtype, doc="np.dtype")
    is_leaf = property(lambda self: self._op is None,
                       doc="Made by the user (or under no_grad), not by an operation.")

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({self.data!r}{grad})"

    def item(self):
        """The value of a one-element tensor, as a Python float."""
        return self.data.item()

    def detach(self):
        """A leaf sharing this tensor's data, requiring no gradient: the graph stops here."""
        return Tensor(self.data)

    def _lift(self, other):
        """``other`` as a Tensor; a number or array takes this tensor's dtype (no upcast)."""
        if isinstance(other, Tensor):
            return other
        return Tensor(np.asarray(other, dtype=self.data.dtype))

    # ------------------------------------------------------------ comparisons
    # x < y, x <= y, x > y, x >= y compare the values (Tensors, arrays or numbers, with
    # broadcasting) and give a plain boolean array: no graph, since a comparison has no
    # gradient. == and != keep Python's identity: a Tensor is a key of the dicts and sets
    # of backward() and is looked up in lists, where an elementwise == would give an
    # array whose truth is ambiguous. Compare values with x.data == y.data.

    def _compare(self, other, function, symbol):
        """``function(self.data, other's data)``, an np.ndarray of bool."""
        theirs = other.data if isinstance(other, Tensor) else np.asarray(other)
        try:
            return np.asarray(function(self.data, theirs))
        except ValueError:
            raise ValueError(f"shapes {self.shape} and {theirs.shape} do not broadcast "
                             f"together for {symbol}") from None

    def __lt__(self, other):
        return self._compare(other, np.less, "<")

    def __le__(self, other):
        return self._compare(other, np.less_equal, "<=")

    def __gt__(self, other):
        return self._compare(other, np.greater, ">")

    def __ge__(self, other):
        return self._compare(other, np.greater_equal, ">=")

    # ------------------------------------------------------------ backward pass

    def backward(self, grad=None, retain_graph=False):
        """Add to the ``grad`` of every leaf the gradient of this tensor with respect to it.

        Parameters
        ----------
        grad : array_like of this tensor's shape, optional
            dL/d(this tensor) for some final scalar L. Default: 1 (this tensor is L),
            for a tensor of one element only.
        retain_graph : bool
            Keep the graph, to go backward through it again. By default each node
            forgets its inputs and its backward function once it has used them, so
            that the graph (and the arrays it holds) is freed.

        Raises
        ------
        RuntimeError
            If this tensor requires no gradient, if ``grad`` is missing for a tensor
            of more than one element, or if a node was freed by an earlier backward.
        ValueError
            If ``grad`` does not have this tensor's shape.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that requires no gradient: none of "
                               "the tensors it was computed from has requires_grad=True, "
                               "or it was computed under no_grad()")
        grads = {self: self._seed(grad)}
        for node in reversed(_topological_order(self)):
            g = grads.pop(node)
            if node._op is None:                                  # a leaf
                node.grad = g if node.grad is None else node.grad + g
                continue
            if node._backward is None:
                raise RuntimeError(
                    f"backward through a freed graph: the result of {node._op} already "
                    "passed its gradient on in an earlier backward(), which freed it; "
                    "call that backward(retain_graph=True) to go through it again")
            for parent, parent_grad in zip(node._parents, node._backward(g)):
                if parent_grad is None:
                    continue
                if parent_grad.dtype != parent.data.dtype:       # e.g. float32 * float64
                    parent_grad = parent_grad.astype(parent.data.dtype)
                # A tensor used several times: the sum of its uses' gradients.
                grads[parent] = grads[parent] + parent_grad if parent in grads else parent_grad
            if not retain_graph:
                node._parents, node._backward = (), None

    def _seed(self, grad):
        """The gradient ``backward`` starts from: ``grad`` checked and copied, or ones."""
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a tensor of one element (a "
                    f"loss), got shape {self.shape}: pass grad, the gradient of the final "
                    f"scalar with respect to this tensor, an array of shape {self.shape}")
            return np.ones_like(self.data)
        grad = np.array(grad, dtype=self.data.dtype)
        if grad.shape != self.shape:
            raise ValueError(f"grad has shape {grad.shape} but the tensor has shape "
                             f"{self.shape}: they must be equal")
        return grad

    # ------------------------------------------------------------ arithmetic

    def __add__(self, other):
        a, b = self, self._lift(other)

        def backward(g):                       # d(a + b)/da = d(a + b)/db = 1
            return (unbroadcast(g, a.shape) if a.requires_grad else None,
                    unbroadcast(g, b.shape) if b.requires_grad else None)
        return _node(_broadcasting(np.add, a, b, "+"), "+", (a, b), backward)

    def __sub__(self, other):
        a, b = self, self._lift(other)

        def backward(g):                       # d(a - b)/da = 1, d(a - b)/db = -1
            return (unbroadcast(g, a.shape) if a.requires_grad else None,
                    unbroadcast(-g, b.shape) if b.requires_grad else None)
        return _node(_broadcasting(np.subtract, a, b, "-"), "-", (a, b), backward)

    def __mul__(self, other):
        a, b = self, self._lift(other)

        def backward(g):                       # d(ab)/da = b, d(ab)/db = a
            return (unbroadcast(g * b.data, a.shape) if a.requires_grad else None,
                    unbroadcast(g * a.data, b.shape) if b.requires_grad else None)
        return _node(_broadcasting(np.multiply, a, b, "*"), "*", (a, b), backward)

    def __truediv__(self, other):
        a, b = self, self._lift(other)
        out = _broadcasting(np.divide, a, b, "/")

        def backward(g):                       # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 = -out/b
            return (unbroadcast(g / b.data, a.shape) if a.requires_grad else None,
                    unbroadcast(-g * out / b.data, b.shape) if b.requires_grad else None)
        return _node(out, "/", (a, b), backward)

    def __radd__(self, other):
        return self._lift(other) + self

    def __rsub__(self, other):
        return self._lift(other) - self

    def __rmul__(self, other):
        return self._lift(other) * self

    def __rtruediv__(self, other):
        return self._lift(other) / self

    def __neg__(self):
        return _node(-self.data, "neg", (self,), lambda g: (-g,))

    def __pow__(self, exponent):
        """``self ** exponent`` for a constant exponent (a real number)."""
        if not isinstance(exponent, numbers.Real) or isinstance(exponent, bool):
            raise TypeError(f"the exponent must be a real number (a constant), got "
                            f"{type(exponent).__name__}")

        def backward(g):                       # d(x^p)/dx = p x^(p - 1)
            if exponent == 0:                  # x^0 = 1: 0, also at x = 0 (not 0 * inf)
                return (np.zeros_like(self.data),)
            return (g * exponent * self.data ** (exponent - 1),)
        return _node(self.data ** exponent, "**", (self,), backward)

    def __matmul__(self, other):
        """Matrix product, as ``np.matmul``: 1-D operands are a row or a column."""
        a, b = self, self._lift(other)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"@ needs operands of at least one dimension, got shapes "
                             f"{a.shape} and {b.shape}")
        if a.ndim == 1:                        # a row (1, k), then that axis removed
            out = a.reshape(1, -1) @ b
            return out.reshape(out.shape[:-2] + out.shape[-1:] if b.ndim > 1 else ())
        if b.ndim == 1:                        # a column (k, 1), then that axis removed
            return (a @ b.reshape(-1, 1)).reshape(a.shape[:-1])
        if a.shape[-1] != b.shape[-2]:
            raise ValueError(f"shapes {a.shape} and {b.shape} do not fit for @: "
                             f"{a.shape[-1]} columns against {b.shape[-2]} rows")

        def backward(g):                       # C = A B: dL/dA = dL/dC B^T, dL/dB = A^T dL/dC
            return (unbroadcast(g @ np.swapaxes(b.data, -1, -2), a.shape)
                    if a.requires_grad else None,
                    unbroadcast(np.swapaxes(a.data, -1, -2) @ g, b.shape)
                    if b.requires_grad else None)
        return _node(_broadcasting(np.matmul, a, b, "@"), "@", (a, b), backward)

    def __rmatmul__(self, other):
        return self._lift(other) @ self

    # ------------------------------------------------------------ elementwise functions

    def exp(self):
        out = np.exp(self.data)
        return _node(out, "exp", (self,), lambda g: (g * out,))             # (e^x)' = e^x

    def log(self):
        return _node(np.log(self.data), "log", (self,), lambda g: (g / self.data,))

    def sqrt(self):
        """x^(1/2); its derivative 1 / (2 sqrt(x)) is infinite at 0, as PyTorch's
        (g / 0 = inf, and nan where g = 0 too)."""
        out = np.sqrt(self.data)

        def backward(g):
            with np.errstate(divide="ignore", invalid="ignore"):   # the infinite slope at 0
                return (g / (2 * out),)
        return _node(out, "sqrt", (self,), backward)

    def abs(self):
        """|x|; its derivative sign(x) is taken as 0 at 0, as PyTorch's."""
        return _node(np.abs(self.data), "abs", (self,), lambda g: (g * np.sign(self.data),))

    def relu(self):
        """max(x, 0); its derivative is taken as 0 at 0."""
        positive = self.data > 0

        def backward(g):
            # g * 1[x > 0], as imagelab.nn.layers.ReLU: a product by the mask runs several
            # times faster than np.where; adding 0 turns its -0 (from -g * 0) into 0.
            dx = g * positive
            dx += 0
            return (dx,)
        return _node(np.maximum(self.data, 0), "relu", (self,), backward)

    def sigmoid(self):
        """1 / (1 + exp(-x)), without overflow (``mlp.sigmoid``)."""
        out = sigmoid(self.data)
        return _node(out, "sigmoid", (self,), lambda g: (g * out * (1 - out),))

    def tanh(self):
        out = np.tanh(self.data)
        return _node(out, "tanh", (self,), lambda g: (g * (1 - out * out),))

    def softplus(self):
        """log(1 + exp(x)) = max(x, 0) + log(1 + exp(-|x|)), without overflow; its
        derivative is sigmoid(x)."""
        out = np.maximum(self.data, 0) + np.log1p(np.exp(-np.abs(self.data)))
        return _node(out, "softplus", (self,), lambda g: (g * sigmoid(self.data),))

    def clip(self, low=None, high=None):
        """x limited to [low, high] (None: no bound); the gradient flows where x is inside."""
        inside = np.ones(self.shape, bool)
        if low is not None:
            inside &= self.data >= low
        if high is not None:
            inside &= self.data <= high
        return _node(np.clip(self.data, low, high), "clip", (self,),
                     lambda g: (np.where(inside, g, 0),))

    # ------------------------------------------------------------ reductions

    def sum(self, axis=None, keepdims=False):
        """Sum over ``axis`` (None: all); each entry's gradient is its sum's."""
        axes = _axes(axis, self.ndim)
        return _node(self.data.sum(axis=axes, keepdims=keepdims), "sum", (self,),
                     lambda g: (_unreduce(g, axes, keepdims, self.shape),))

    def mean(self, axis=None, keepdims=False):
        """Mean over ``axis``: the sum divided by the count n, so each gradient is 1/n."""
        axes = _axes(axis, self.ndim)
        count = int(np.prod([self.shape[a] for a in axes]))
        return _node(self.data.mean(axis=axes, keepdims=keepdims), "mean", (self,),
                     lambda g: (_unreduce(g / count, axes, keepdims, self.shape),))

    def max(self, axis=None, keepdims=False):
        """Largest entry over ``axis``; its gradient goes to the largest entries (shared
        equally between ties)."""
        axes = _axes(axis, self.ndim)
        out = self.data.max(axis=axes, keepdims=True)

        def backward(g):
            top = self.data == out                   # 1 at the largest entries, 0 elsewhere
            return (_unreduce(g, axes, keepdims, self.shape) * top
                    / top.sum(axis=axes, keepdims=True),)
        return _node(out if keepdims else np.squeeze(out, axes), "max", (self,), backward)

    def softmax(self, axis=-1):
        """exp(x) / sum(exp(x)) along ``axis``, computed on x - max(x) (no overflow).

        With s = softmax(x): ds_i/dx_j = s_i (delta_ij - s_j), so dL/dx = s (g - sum(g s)).
        """
        shifted = np.exp(self.data - self.data.max(axis=axis, keepdims=True))
        out = shifted / shifted.sum(axis=axis, keepdims=True)
        return _node(out, "softmax", (self,),
                     lambda g: (out * (g - (g * out).sum(axis=axis, keepdims=True)),))

    def log_softmax(self, axis=-1):
        """x - log(sum(exp(x))) along ``axis``, computed on x - max(x) (no overflow).

        d(log s_i)/dx_j = delta_ij - s_j, so dL/dx = g - s sum(g), s = exp(out).
        """
        shifted = self.data - self.data.max(axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        return _node(out, "log_softmax", (self,),
                     lambda g: (g - np.exp(out) * g.sum(axis=axis, keepdims=True),))

    def logsumexp(self, axis=None, keepdims=False):
        """log(sum(exp(x))) over ``axis`` (None: all), computed as m + log(sum(exp(x - m)))
        with m the largest entry (no overflow; m of an all -inf slice taken as 0, so that
        the result is -inf there, as PyTorch's).

        Its gradient is softmax(x) over ``axis``: d/dx_i = exp(x_i - out); nan over an
        all -inf slice (exp(-inf + inf)), as PyTorch's.
        """
        axes = _axes(axis, self.ndim)
        top = self.data.max(axis=axes, keepdims=True)
        top = np.where(np.isfinite(top), top, 0)
        with np.errstate(divide="ignore"):                   # log(0) = -inf: all -inf
            out = top + np.log(np.exp(self.data - top).sum(axis=axes, keepdims=True))

        def backward(g):
            with np.errstate(invalid="ignore"):              # -inf + inf: see above
                return (_unreduce(g, axes, keepdims, self.shape) * np.exp(self.data - out),)
        return _node(out if keepdims else np.squeeze(out, axes), "logsumexp", (self,),
                     backward)

    # ------------------------------------------------------------ shapes and indexing

    def reshape(self, *shape):
        """The same entries in another shape (``reshape(2, 3)`` or ``reshape((2, 3))``)."""
        shape = shape[0] if len(shape) == 1 and not isinstance(shape[0], numbers.Integral) \
            else shape
        try:
            data = self.data.reshape(shape)
        except ValueError:
            raise ValueError(f"cannot reshape a tensor of shape {self.shape} "
                             f"({self.size} entries) into shape {tuple(shape)}") from None
        return _node(data, "reshape", (self,), lambda g: (g.reshape(self.shape),))

    def transpose(self, *axes):
        """Axes permuted (``transpose()`` reverses them, negative axes count from the
        end); the gradient is permuted back by the inverse permutation."""
        axes = axes[0] if len(axes) == 1 and not isinstance(axes[0], numbers.Integral) \
            else axes
        axes = tuple(range(self.ndim))[::-1] if not axes else tuple(axes)
        data = self.data.transpose(axes)             # checks that axes is a permutation
        inverse = np.argsort([a % self.ndim for a in axes])
        return _node(data, "transpose", (self,), lambda g: (g.transpose(inverse),))

    T = property(lambda self: self.transpose(), doc="The axes reversed (a matrix transposed).")

    def squeeze(self, axis=None):
        """The axes of size 1 in ``axis`` removed (None: all of them), as ``np.squeeze``:
        an axis of another size is refused."""
        axes = _axes(axis, self.ndim)
        if axis is None:
            axes = tuple(a for a in axes if self.shape[a] == 1)
        elif any(self.shape[a] != 1 for a in axes):
            raise ValueError(f"cannot squeeze axis {axis} of a tensor of shape {self.shape}: "
                             "only axes of size 1 can be removed")
        return _node(np.squeeze(self.data, axes), "squeeze", (self,),
                     lambda g: (g.reshape(self.shape),))

    def unsqueeze(self, axis):
        """An axis of size 1 inserted at ``axis`` (an int, negative counting from the end of
        the result), as ``np.expand_dims``."""
        if not -self.ndim - 1 <= axis <= self.ndim:
            raise ValueError(f"axis {axis} is out of bounds for inserting an axis into a "
                             f"tensor of shape {self.shape}")
        return _node(np.expand_dims(self.data, axis), "unsqueeze", (self,),
                     lambda g: (g.reshape(self.shape),))

    def flatten(self, start=0, end=-1):
        """Axes ``start`` to ``end`` (both included) merged into one, as ``torch.flatten``:
        ``x.flatten(1)`` turns a batch of images (N, H, W, C) into rows (N, H W C)."""
        if self.ndim == 0:
            return self.reshape(1)
        first, last = _axes(start, self.ndim)[0], _axes(end, self.ndim)[0]
        if first > last:
            raise ValueError(f"flatten: start {start} comes after end {end} for a tensor of "
                             f"shape {self.shape}")
        merged = int(np.prod(self.shape[first:last + 1]))      # not -1: sizes may be 0
        return self.reshape(self.shape[:first] + (merged,) + self.shape[last + 1:])

    def __getitem__(self, index):
        """Entries chosen as NumPy chooses them: slices, integers, integer or boolean arrays.

        An entry chosen k times receives the sum of its k gradients (``np.add.at``).
        """
        if isinstance(index, Tensor) or (isinstance(index, tuple)
                                         and any(isinstance(i, Tensor) for i in index)):
            raise TypeError("index with arrays, slices and integers, not with Tensors")

        def backward(g):
            full = np.zeros(self.shape, g.dtype)
            np.add.at(full, index, g)
            return (full,)
        return _node(self.data[index], "index", (self,), backward)


def gradcheck(function, *inputs, step=DEFAULT_STEP, atol=1e-6, rtol=1e-5, seed=0):
    """Check ``backward()`` through ``function`` against central finite differences, in float64.

    The output is reduced to the scalar L = sum(w * function(*inputs)), w of fixed
    random weights drawn from ``seed``: its gradient checks every output at once, in
    one random direction. Each input's gradient from ``backward()`` is then compared
    with ``imagelab.nn.gradcheck.numerical_gradient`` of L (whose docstring derives the
    error of the estimate, O(step^2) truncation plus rounding O(eps |L| / step)).

    Parameters
    ----------
    function : callable
        Takes as many Tensors as ``inputs`` and returns a Tensor (any shape) made by
        Tensor operations.
    *inputs : Tensor or array_like
        The point of the check. Each is copied to float64 (with requires_grad=True),
        so the check runs in float64 whatever the inputs' dtype.
    step : float > 0
    atol, rtol : float >= 0
        An entry passes when |backward - finite difference| <= atol + rtol |finite
        difference|.
    seed : None, int >= 0 or np.random.Generator

    Returns
    -------
    True

    Raises
    ------
    imagelab.nn.gradcheck.GradcheckError
        Naming the input, the entry, and both values, at the first entry that fails.
    """
    xs = [Tensor(np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64),
                 requires_grad=True) for x in inputs]
    out = function(*xs)
    weights = np.random.default_rng(check_seed(seed)).standard_normal(out.shape)
    out.backward(weights)

    def loss():
        with no_grad():
            return float(np.sum(weights * function(*xs).data))

    for number, x in enumerate(xs):
        analytic = np.zeros(x.shape) if x.grad is None else x.grad
        check_gradient(loss, x.data, analytic, step, atol, rtol, name=f"input {number}")
    return True
