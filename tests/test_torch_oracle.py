"""The autograd Tensor and its optimizers against PyTorch, an independent implementation.

Random graphs in float64 are built twice, once of Tensors and once of torch tensors,
from every operation of ``imagelab.autograd.tensor`` and ``imagelab.autograd.functional``
and the losses of ``imagelab.autograd.nn``: arithmetic with broadcasting (Tensors,
arrays and numbers on either side), matrix products, reductions over axes with or
without kept dimensions (logsumexp among them), reshapes, squeeze, unsqueeze, flatten,
transposes, indexing, the elementwise functions (abs at 0 after a relu), softmax,
maximum and minimum (ties included: maximum(x, x)), where on a comparison (which must be
torch's too), concatenate and stack. A node is reused by later operations at random, so
that gradients add up along several paths. The convolution, pooling and batch norm
modules are compared with ``torch.nn.functional`` on their own.
Every node's value and every leaf's gradient must agree to 1e-10 relative to the
array's largest entry: the two compute the same formulas in float64 (rounding
1.1e-16 per operation), in other orders (sums, matrix products), through graphs of a
dozen operations whose values are kept below 1e3 in absolute value.

Skipped where PyTorch is not installed: it is an oracle of the tests, never a
dependency of the package.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
# One thread: on arrays of a few dozen entries, a second one only waits (milliseconds
# per operation on a busy machine, against microseconds).
torch.set_num_threads(1)

from imagelab.autograd import functional, nn                        # noqa: E402
from imagelab.autograd.optim import SGD, Adam                        # noqa: E402
from imagelab.autograd.tensor import Tensor                          # noqa: E402

RTOL = 1e-10
SEEDS = range(300)
OPERATIONS_PER_GRAPH = 12
LARGEST = 1e3           # results beyond it (or not finite) are not kept in the graph
# Nor results whose entries are all below SMALLEST: the residue of a cancellation
# (x - maximum(x, y) where x wins), exact 0 on one side and rounding noise of the
# operands (1e-16 of them) on the other, is 100% off relative to itself.
SMALLEST = 1e-6


class Pair:
    """One node of both graphs: ``ours`` (a Tensor) and ``theirs`` (a torch tensor)."""

    def __init__(self, ours, theirs):
        self.ours, self.theirs = ours, theirs

    @property
    def shape(self):
        return self.ours.shape


def leaf(rng, shape, requires_grad=True):
    value = rng.standard_normal(shape)
    return Pair(Tensor(value.copy(), requires_grad=requires_grad),
                torch.tensor(value, requires_grad=requires_grad))


def close(ours, theirs, what):
    """|ours - theirs| <= RTOL max |theirs|, entry by entry (theirs a torch tensor)."""
    theirs = theirs.detach().numpy()
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} against {theirs.shape}"
    error, scale = np.abs(ours - theirs).max(initial=0.0), np.abs(theirs).max(initial=0.0)
    assert error <= RTOL * scale, f"{what}: differences up to {error:.3g}, entries up " \
        f"to {scale:.3g}\nours:\n{ours}\ntorch:\n{theirs}"


# ------------------------------------------------------------------ random choices

def random_axis(rng, ndim):
    """None, an axis (maybe negative) or a tuple of axes, valid for ``ndim`` dimensions."""
    choice = rng.integers(3) if ndim else 0
    if choice == 0:
        return None
    if choice == 1:
        return int(rng.integers(-ndim, ndim))
    count = int(rng.integers(1, ndim + 1))
    return tuple(int(a) - ndim * int(rng.integers(2))
                 for a in rng.choice(ndim, count, replace=False))


def torch_dims(axis, ndim):
    return tuple(range(ndim)) if axis is None else axis


def broadcast_partner_shape(rng, shape):
    """A shape that broadcasts to ``shape``: leading axes dropped, some sizes made 1."""
    kept = shape[rng.integers(len(shape) + 1):]
    return tuple(1 if rng.random() < 0.3 else size for size in kept)


def broadcasts(a, b):
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def partner(rng, pool, x):
    """A second operand for ``x``: a node whose shape broadcasts with it (reuse), a new
    leaf (requiring a gradient or not), an array or a number."""
    choice = rng.integers(4)
    fits = [p for p in pool if broadcasts(p.shape, x.shape)]
    if choice == 0 and fits:
        return fits[rng.integers(len(fits))]
    shape = broadcast_partner_shape(rng, x.shape)
    if choice == 2:
        value = rng.standard_normal(shape)
        return Pair(value, torch.tensor(value))
    if choice == 3:
        value = float(rng.uniform(0.5, 2.0))
        return Pair(value, value)
    new = leaf(rng, shape, requires_grad=rng.random() < 0.7)
    pool.append(new)
    return new


def positive(x):
    """x^2 + 1/4 > 0 (x a Pair, a Tensor, an array or a number, torch's or ours), for
    log, division and the powers that need it."""
    if isinstance(x, Pair):
        return Pair(positive(x.ours), positive(x.theirs))
    return x * x + 0.25


def random_index(rng, shape):
    """An index of each kind NumPy knows, as (ours, theirs)."""
    if not shape:
        return (), ()
    n = shape[0]
    choice = rng.integers(5)
    if choice == 0:
        index = int(rng.integers(-n, n))
        return index, index
    if choice == 1:
        start = int(rng.integers(shape[-1]))
        return (Ellipsis, slice(start, None)), (Ellipsis, slice(start, None))
    if choice == 2:                                      # repeated entries
        rows = rng.integers(n, size=n + 2)
        return rows, torch.tensor(rows)
    if choice == 3:
        mask = rng.random(shape) < 0.6
        return mask, torch.tensor(mask)
    if len(shape) >= 2:                                  # rows and columns, one each
        rows, cols = rng.integers(n, size=3), rng.integers(shape[1], size=3)
        return (rows, cols), (torch.tensor(rows), torch.tensor(cols))
    return slice(None, None, 2), slice(None, None, 2)


# ------------------------------------------------------------------ operations
# Each takes (rng, pool, x) and returns (our result, theirs).

def arithmetic(rng, pool, x):
    y = partner(rng, pool, x)
    symbol = rng.choice(["+", "-", "*", "/"])
    operation = {"+": lambda a, b: a + b, "-": lambda a, b: a - b,
                 "*": lambda a, b: a * b, "/": lambda a, b: a / positive(b)}[symbol]
    a, b = (x, y) if rng.random() < 0.5 else (y, x)      # x on the left or on the right
    return operation(a.ours, b.ours), operation(a.theirs, b.theirs)


def negate(rng, pool, x):
    return -x.ours, -x.theirs


def power(rng, pool, x):
    p = rng.choice([0, 1, 2, 3, 0.5, -1, -1.5, 2.5]).item()
    if p not in (0, 1, 2, 3):
        x = positive(x)
    return x.ours ** p, x.theirs ** p


def matmul(rng, pool, x):
    k = x.shape[-1] if x.shape else 0
    if not k:
        return None
    m = int(rng.integers(1, 4))
    batch = broadcast_partner_shape(rng, x.shape[:-2]) if x.ours.ndim > 2 else (2,)
    y = leaf(rng, [(k,), (k, m), batch + (k, m)][rng.integers(3)])
    pool.append(y)
    if x.ours.ndim == 1 and rng.random() < 0.5 and y.ours.ndim == 2:
        z = leaf(rng, (3, k))
        pool.append(z)
        return z.ours @ x.ours, z.theirs @ x.theirs        # a matrix times a vector
    return x.ours @ y.ours, x.theirs @ y.theirs


def elementwise(rng, pool, x):
    name = rng.choice(["exp", "log", "relu", "sigmoid", "tanh", "softplus", "clip", "sqrt",
                       "abs"])
    if name == "exp" and np.any(x.ours.data > np.log(LARGEST)):
        return None
    if name in ("log", "sqrt"):
        x = positive(x)
    if name == "softplus":                    # log(1 + e^x), written another way
        return x.ours.softplus(), torch.logaddexp(x.theirs, torch.zeros_like(x.theirs))
    if name == "clip":
        low, high = sorted(rng.uniform(-1, 1, 2))
        return x.ours.clip(low, high), x.theirs.clamp(low, high)
    return getattr(x.ours, name)(), getattr(torch, name)(x.theirs)


def as_torch(value):
    """A partner's torch side as a tensor (torch.maximum and torch.where take no numbers)."""
    return value if isinstance(value, torch.Tensor) else torch.tensor(value, dtype=torch.float64)


def extreme(rng, pool, x):
    """maximum or minimum of x and a partner, or of x and itself (a tie everywhere)."""
    y = x if rng.random() < 0.2 else partner(rng, pool, x)
    ours, theirs = [(functional.maximum, torch.maximum),
                    (functional.minimum, torch.minimum)][rng.integers(2)]
    a, b = (x, y) if rng.random() < 0.5 else (y, x)
    return ours(a.ours, b.ours), theirs(as_torch(a.theirs), as_torch(b.theirs))


def select(rng, pool, x):
    """where(x compared with a partner, x, partner): the comparison must be torch's too."""
    y = partner(rng, pool, x)
    symbol = rng.choice(["<", "<=", ">", ">="])
    compare = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
               ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}[symbol]
    condition = compare(x.ours, y.ours)
    assert type(condition) is np.ndarray and condition.dtype == bool
    np.testing.assert_array_equal(condition, compare(x.theirs, as_torch(y.theirs)).numpy())
    a, b = (x, y) if rng.random() < 0.5 else (y, x)
    return (functional.where(condition, a.ours, b.ours),
            torch.where(torch.tensor(condition), as_torch(a.theirs), as_torch(b.theirs)))


def join(rng, pool, x):
    """x concatenated with a new leaf along an axis, or stacked with a leaf of its shape."""
    if not x.shape or rng.random() < 0.5:
        y = leaf(rng, x.shape)
        pool.append(y)
        axis = int(rng.integers(-x.ours.ndim - 1, x.ours.ndim + 1))
        order = (x, y) if rng.random() < 0.5 else (y, x)
        return (functional.stack([p.ours for p in order], axis),
                torch.stack([p.theirs for p in order], axis))
    axis = int(rng.integers(-x.ours.ndim, x.ours.ndim))
    shape = list(x.shape)
    shape[axis] = int(rng.integers(1, 3))
    y = leaf(rng, tuple(shape))
    pool.append(y)
    return (functional.concatenate([x.ours, y.ours, x.ours], axis),
            torch.cat([x.theirs, y.theirs, x.theirs], axis))


def reshape_axes(rng, pool, x):
    """squeeze, unsqueeze or flatten."""
    ndim, choice = x.ours.ndim, rng.integers(3)
    if choice == 0:
        ones = [a for a, size in enumerate(x.shape) if size == 1]
        if ones and rng.random() < 0.5:
            axis = ones[rng.integers(len(ones))] - ndim * int(rng.integers(2))
            return x.ours.squeeze(axis), x.theirs.squeeze(axis)
        return x.ours.squeeze(), x.theirs.squeeze()
    if choice == 1:
        axis = int(rng.integers(-ndim - 1, ndim + 1))
        return x.ours.unsqueeze(axis), x.theirs.unsqueeze(axis)
    if not ndim:
        return x.ours.flatten(), x.theirs.flatten()
    start = int(rng.integers(ndim))
    end = int(rng.integers(start, ndim)) - ndim * int(rng.integers(2))
    return x.ours.flatten(start, end), x.theirs.flatten(start, end)


def reduction(rng, pool, x):
    name = rng.choice(["sum", "mean", "max", "logsumexp"])
    if name == "logsumexp" and not x.shape:
        return None
    axis, keepdims = random_axis(rng, x.ours.ndim), bool(rng.random() < 0.5)
    dims = torch_dims(axis, x.ours.ndim)
    theirs = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax,
              "logsumexp": torch.logsumexp}[name]
    return (getattr(x.ours, name)(axis=axis, keepdims=keepdims),
            theirs(x.theirs, dim=dims, keepdim=keepdims))


def softmax(rng, pool, x):
    if not x.shape:
        return None
    axis = int(rng.integers(-x.ours.ndim, x.ours.ndim))
    if rng.random() < 0.5:
        return x.ours.softmax(axis=axis), torch.softmax(x.theirs, dim=axis)
    return x.ours.log_softmax(axis=axis), torch.log_softmax(x.theirs, dim=axis)


def reshape(rng, pool, x):
    shapes = [(-1,), x.shape[::-1], (1,) + x.shape, (x.ours.size,)]
    shape = shapes[rng.integers(len(shapes))]
    ours = x.ours.reshape(*shape) if rng.random() < 0.5 else x.ours.reshape(shape)
    return ours, x.theirs.reshape(shape)


def transpose(rng, pool, x):
    ndim = x.ours.ndim
    if rng.random() < 0.2:
        return x.ours.T, x.theirs.permute(tuple(range(ndim))[::-1])
    axes = tuple(int(a) - ndim * int(rng.integers(2)) for a in rng.permutation(ndim))
    return x.ours.transpose(*axes), x.theirs.permute(axes)


def index(rng, pool, x):
    ours, theirs = random_index(rng, x.shape)
    return x.ours[ours], x.theirs[theirs]


def loss(rng, pool, x):
    """One of the losses of ``imagelab.autograd.nn``, on x as logits."""
    if not x.shape:
        return None
    functional = torch.nn.functional
    name = rng.choice(["cross_entropy", "binary", "mse"])
    if name == "cross_entropy":
        logits = Pair(x.ours.reshape(-1, x.shape[-1]), x.theirs.reshape(-1, x.shape[-1]))
        labels = rng.integers(x.shape[-1], size=logits.shape[0])
        return (nn.cross_entropy(logits.ours, labels),
                functional.cross_entropy(logits.theirs, torch.tensor(labels)))
    targets = rng.random(x.shape)
    if name == "binary":
        return (nn.binary_cross_entropy_with_logits(x.ours, targets),
                functional.binary_cross_entropy_with_logits(x.theirs, torch.tensor(targets)))
    return nn.mse_loss(x.ours, targets), functional.mse_loss(x.theirs, torch.tensor(targets))


OPERATIONS = [arithmetic, arithmetic, negate, power, matmul, elementwise, elementwise,
              reduction, softmax, reshape, transpose, index, loss, extreme, select, join,
              reshape_axes]
LEAF_SHAPES = [(2, 3, 4), (3, 4), (4,), (2, 1, 4), (3, 1), ()]


def random_graph(seed):
    """The leaves and nodes of one random graph, and the operations that made them."""
    rng = np.random.default_rng(seed)
    pool = [leaf(rng, LEAF_SHAPES[i]) for i in rng.choice(len(LEAF_SHAPES), 2)]
    pool.append(leaf(rng, (2, 3, 4), requires_grad=False))
    leaves, names = list(pool), []
    while len(names) < OPERATIONS_PER_GRAPH:
        operation = OPERATIONS[rng.integers(len(OPERATIONS))]
        x = pool[rng.integers(len(pool))]
        size = len(pool)
        result = operation(rng, pool, x)
        leaves += pool[size:]
        if result is None or not isinstance(result[0], Tensor):
            continue
        ours, theirs = result
        if (not 0 < ours.size <= 64 or not np.all(np.abs(ours.data) < LARGEST)
                or np.abs(ours.data).max() < SMALLEST):
            continue
        pool.append(Pair(ours, theirs))
        names.append(operation.__name__)
    return leaves, pool, names


@pytest.mark.parametrize("first", range(0, len(SEEDS), 50))
def test_random_graphs_agree_with_torch_autograd(first):
    for seed in SEEDS[first:first + 50]:
        leaves, pool, names = random_graph(seed)
        what = f"seed {seed}, operations {names}"
        rng = np.random.default_rng(seed + 10_000)
        ours, theirs = 0.0, 0.0
        for node in pool:                          # every node takes part in the loss
            close(node.ours.data, node.theirs, f"value, {what}")
            if node.ours.requires_grad:
                weights = rng.standard_normal(node.shape)
                ours = ours + (node.ours * weights).sum()
                theirs = theirs + (node.theirs * torch.tensor(weights)).sum()
        ours.backward()
        theirs.backward()
        for number, node in enumerate(leaves):
            if node.ours.requires_grad and node.theirs.grad is not None:
                close(node.ours.grad, node.theirs.grad, f"gradient of leaf {number}, {what}")
            else:
                assert node.ours.grad is None, f"leaf {number} unused, {what}"


# ------------------------------------------------------------------ the image layers

def channels_first(x):
    """(N, H, W, C) -> (N, C, H, W), torch's layout; any other shape unchanged."""
    return x.permute(0, 3, 1, 2) if x.dim() == 4 else x


def channels_last(x):
    return x.permute(0, 2, 3, 1) if x.dim() == 4 else x


def compare_module(module, shape, theirs, seed=0):
    """``module`` (a Tensor module) and ``theirs`` (a function of torch's input, NCHW, and
    of torch copies of the module's parameters, in ``parameters()`` order) on one random
    input: the outputs and the gradients of a random weighting of them agree."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    ours_x, theirs_x = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    theirs_parameters = [torch.tensor(p.data.copy(), requires_grad=True)
                         for p in module.parameters()]
    ours = module(ours_x)
    reference = channels_last(theirs(channels_first(theirs_x), *theirs_parameters))
    close(ours.data, reference, f"output of {module.layer!r}")
    weights = rng.standard_normal(ours.shape)
    (ours * weights).sum().backward()
    (reference * torch.tensor(weights)).sum().backward()
    close(ours_x.grad, theirs_x.grad, f"input gradient of {module.layer!r}")
    for number, (a, b) in enumerate(zip(module.parameters(), theirs_parameters)):
        close(a.grad, b.grad, f"gradient of parameter {number} of {module.layer!r}")


@pytest.mark.parametrize("c_in, c_out, kernel, stride, padding, bias, algorithm", [
    (3, 2, 3, 1, 1, True, "im2col"), (2, 3, 3, 1, 1, True, "im2col"),
    (2, 3, 3, 2, 0, True, "im2col"), (2, 4, (3, 2), 2, 2, False, "im2col"),
    (4, 2, 1, 1, 0, True, "im2col"), (3, 2, 3, 1, 1, True, "winograd"),
    (2, 3, 3, 1, 0, False, "winograd"), (2, 3, 3, 1, 2, True, "winograd")])
def test_the_convolution_is_torchs(c_in, c_out, kernel, stride, padding, bias, algorithm):
    module = nn.Conv2d(c_in, c_out, kernel, stride, padding, rng=0, dtype=np.float64, bias=bias,
                       algorithm=algorithm)
    if bias:
        module.bias.data[...] = np.random.default_rng(1).standard_normal(c_out)

    def theirs(x, w, b=None):            # (kh, kw, c_in, c_out) -> (c_out, c_in, kh, kw)
        return torch.nn.functional.conv2d(x, w.permute(3, 2, 0, 1), b, stride, padding)
    compare_module(module, (2, 7, 6, c_in), theirs)


@pytest.mark.parametrize("kernel, stride", [(2, None), (3, 2), (2, 1)])
def test_max_pooling_is_torchs(kernel, stride):
    # Random inputs hold no ties, where the two might choose different maxima.
    compare_module(nn.MaxPool2d(kernel, stride), (2, 7, 6, 3),
                   lambda x: torch.nn.functional.max_pool2d(x, kernel, stride or kernel))


@pytest.mark.parametrize("shape", [(4, 3, 5, 3), (6, 3)], ids=["images", "rows"])
@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
@pytest.mark.parametrize("scale", [True, False], ids=["gamma", "no gamma"])
def test_batch_norm_is_torchs_and_so_are_its_running_averages(shape, training, scale):
    rng = np.random.default_rng(2)
    module = nn.BatchNorm(3, momentum=0.3, eps=1e-3, dtype=np.float64, scale=scale).train(training)
    for tensor in module.named_tensors().values():
        tensor.data[...] = rng.uniform(0.5, 2.0, 3)
    running = [torch.tensor(module.running_mean.data.copy()),
               torch.tensor(module.running_var.data.copy())]

    def theirs(x, *parameters):
        gamma, beta = parameters if scale else (None, parameters[0])
        return torch.nn.functional.batch_norm(x, *running, gamma, beta, training, 0.3, 1e-3)
    compare_module(module, shape, theirs)
    close(module.running_mean.data, running[0], "running mean")
    close(module.running_var.data, running[1], "running variance")


# ------------------------------------------------------------------ optimizers

LEARNING_RATES = [0.1, 0.1, 0.1, 0.1, 0.1]
SCHEDULE = [0.1, 0.3, 0.05, 0.2, 0.02]


def run_both(make_ours, make_theirs, learning_rates, first_used=(1, 1), seed=0):
    """Step ours and theirs with the same gradients; parameter i first gets a gradient
    at step first_used[i] (counted from 1). Returns both final values, as arrays."""
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal((3, 4)), rng.standard_normal(4)]
    ours = [Tensor(v.copy(), requires_grad=True) for v in values]
    theirs = [torch.tensor(v.copy(), requires_grad=True) for v in values]
    optimizer, reference = make_ours(ours), make_theirs(theirs)
    for step, learning_rate in enumerate(learning_rates, start=1):
        for i, (a, b) in enumerate(zip(ours, theirs)):
            g = rng.standard_normal(a.shape)
            a.grad, b.grad = (g, torch.tensor(g)) if step >= first_used[i] else (None, None)
        optimizer.learning_rate = learning_rate
        for group in reference.param_groups:
            group["lr"] = learning_rate
        optimizer.step()
        reference.step()
    return [t.data for t in ours], [t.detach().numpy() for t in theirs]


SGD_SETTINGS = [dict(momentum=0.9), dict(momentum=0.9, weight_decay=0.05),
                dict(momentum=0.0, weight_decay=0.05), dict(momentum=0.85, nesterov=True),
                dict(momentum=0.85, nesterov=True, weight_decay=0.03)]


@pytest.mark.parametrize("settings", SGD_SETTINGS, ids=str)
def test_sgd_is_torchs_at_a_constant_rate(settings):
    ours, theirs = run_both(lambda p: SGD(p, 0.1, **settings),
                            lambda p: torch.optim.SGD(p, 0.1, **settings), LEARNING_RATES)
    for a, b in zip(ours, theirs):
        close(a, torch.tensor(b), f"SGD {settings}")


def test_nesterov_is_torchs_at_any_rate():
    settings = dict(momentum=0.85, nesterov=True, weight_decay=0.03)
    ours, theirs = run_both(lambda p: SGD(p, 0.1, **settings),
                            lambda p: torch.optim.SGD(p, 0.1, **settings), SCHEDULE)
    for a, b in zip(ours, theirs):
        close(a, torch.tensor(b), "Nesterov")


def test_heavy_ball_and_torch_differ_as_their_formulas_say_when_the_rate_changes():
    # The gradients do not depend on w (they are drawn), so after k steps w has moved
    # by the sum of the steps of imagelab.nn.optim.SGD's docstring:
    #   ours:   -sum_{i<=k} sum_{j<=i} mu^(i-j) lr_j g_j
    #   torch:  -sum_{i<=k} lr_i sum_{j<=i} mu^(i-j) g_j
    mu = 0.9
    ours, theirs = run_both(lambda p: SGD(p, 0.1, momentum=mu),
                            lambda p: torch.optim.SGD(p, 0.1, momentum=mu), SCHEDULE)
    rng = np.random.default_rng(0)
    values = [rng.standard_normal((3, 4)), rng.standard_normal(4)]
    grads = [[rng.standard_normal(v.shape) for v in values] for _ in SCHEDULE]
    for i, start in enumerate(values):
        ours_moved, torch_moved = np.zeros_like(start), np.zeros_like(start)
        for k, lr_k in enumerate(SCHEDULE):
            ours_moved -= sum(mu ** (k - j) * SCHEDULE[j] * grads[j][i] for j in range(k + 1))
            torch_moved -= lr_k * sum(mu ** (k - j) * grads[j][i] for j in range(k + 1))
        close(ours[i], torch.tensor(start + ours_moved), "heavy ball, ours")
        close(theirs[i], torch.tensor(start + torch_moved), "heavy ball, torch")
        assert np.abs(ours_moved - torch_moved).min() > 1e-3     # truly different


@pytest.mark.parametrize("learning_rates", [LEARNING_RATES, SCHEDULE], ids=["constant",
                                                                            "schedule"])
def test_adam_is_torchs_also_for_a_parameter_first_used_at_step_2(learning_rates):
    settings = dict(beta1=0.8, beta2=0.9, eps=1e-3)
    ours, theirs = run_both(
        lambda p: Adam(p, 0.1, **settings),
        lambda p: torch.optim.Adam(p, 0.1, betas=(0.8, 0.9), eps=1e-3),
        learning_rates, first_used=(1, 2))
    for a, b in zip(ours, theirs):
        close(a, torch.tensor(b), "Adam")
