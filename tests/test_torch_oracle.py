"""The autograd Tensor and its optimizers against PyTorch, an independent implementation.

Random graphs in float64 are built twice, once of Tensors and once of torch tensors,
from every operation of ``imagelab.autograd.tensor`` and the losses of
``imagelab.autograd.nn``: arithmetic with broadcasting (Tensors, arrays and numbers on
either side), matrix products, reductions over axes with or without kept dimensions,
reshapes, transposes, indexing, the elementwise functions and softmax. A node is
reused by later operations at random, so that gradients add up along several paths.
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

from imagelab.autograd import nn                                    # noqa: E402
from imagelab.autograd.optim import SGD, Adam                        # noqa: E402
from imagelab.autograd.tensor import Tensor                          # noqa: E402

RTOL = 1e-10
SEEDS = range(300)
OPERATIONS_PER_GRAPH = 12
LARGEST = 1e3           # results beyond it (or not finite) are not kept in the graph


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
    name = rng.choice(["exp", "log", "relu", "sigmoid", "tanh", "softplus", "clip"])
    if name == "exp" and np.any(x.ours.data > np.log(LARGEST)):
        return None
    if name == "log":
        x = positive(x)
    if name == "softplus":                    # log(1 + e^x), written another way
        return x.ours.softplus(), torch.logaddexp(x.theirs, torch.zeros_like(x.theirs))
    if name == "clip":
        low, high = sorted(rng.uniform(-1, 1, 2))
        return x.ours.clip(low, high), x.theirs.clamp(low, high)
    return getattr(x.ours, name)(), getattr(torch, name)(x.theirs)


def reduction(rng, pool, x):
    name = rng.choice(["sum", "mean", "max"])
    axis, keepdims = random_axis(rng, x.ours.ndim), bool(rng.random() < 0.5)
    dims = torch_dims(axis, x.ours.ndim)
    theirs = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax}[name]
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
              reduction, softmax, reshape, transpose, index, loss]
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
        if not 0 < ours.size <= 64 or not np.all(np.abs(ours.data) < LARGEST):
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
