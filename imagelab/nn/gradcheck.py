"""Gradients by central differences, to check the gradients that a backward pass computes.

    loss = lambda: softmax_cross_entropy(z, labels)[0]
    check_gradient(loss, z, softmax_cross_entropy(z, labels)[1], atol=1e-8)

``numerical_gradient`` estimates the gradient of a scalar function of a float64 array,
``check_gradient`` compares it with a computed gradient, entry by entry, and
``error_bound`` gives the tolerance that such a comparison may grant (see its
derivation in ``numerical_gradient``). ``imagelab.autograd.tensor.gradcheck`` checks a
function of Tensors with them.
"""
import numpy as np

from imagelab.utils.checks import check_float

DEFAULT_STEP = 1e-6


class GradcheckError(AssertionError):
    """A computed gradient that differs from its finite-difference estimate."""


def numerical_gradient(f, x, step=DEFAULT_STEP):
    """The gradient of the scalar ``f()`` with respect to ``x``, by central differences.

    Each entry x_i in turn is moved to x_i + h and to x_i - h (h = ``step``), and

        df/dx_i ~ D_i = (f(x + h e_i) - f(x - h e_i)) / (2 h).

    Its error has two parts. Truncation: Taylor's formula to order 3 at x +- h e_i
    leaves D_i - df/dx_i = h^2 (f'''(a) + f'''(b)) / 12, at most h^2 M / 6, M bounding
    |d^3 f / dx_i^3| on [x - h e_i, x + h e_i]. Rounding: if each computed value of f is
    within r of the exact one (r about k eps |f|, eps = 2^-52 and k the roundings that
    reach the result; x_i +- h, itself rounded, adds |df/dx_i| eps |x_i| / 2), the
    difference of two is within 2 r, hence D_i within r / h. Together (``error_bound``):

        |D_i - df/dx_i| <= h^2 M / 6 + r / h,

    smallest at h = (3 r / M)^(1/3). For r ~ 1e-15 and M ~ 1 that is h ~ 1.4e-5 and an
    error ~ 1e-10; the default h = 1e-6 errs by at most about 1e-9 (rounding) plus
    1.7e-13 M (truncation). A tolerance for comparing D with a computed gradient follows
    from estimates of M and r, plus the computed gradient's own rounding (a relative
    error of some eps). Float64 is required: in float32 (eps = 1.2e-7) the rounding
    term alone would be about 0.1 |f| at h = 1e-6.

    The bound needs f smooth on each segment [x - h e_i, x + h e_i]: where a ReLU's
    argument or a maximum's winner changes within it (a kink), D_i may be off by as much
    as the jump of the derivative. Choose x at least h away from every kink.

    Parameters
    ----------
    f : callable () -> float
        The function, which reads ``x`` where it is: it takes no argument.
    x : np.ndarray of np.float64, any shape
        The point. Changed in place during the call, one entry at a time, and restored
        to the bit.
    step : float > 0
        h.

    Returns
    -------
    np.ndarray of np.float64, shape ``x.shape``
        D, the estimate of df/dx.
    """
    step = check_float(step, "step", 0, include_min=False)
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise ValueError(f"x must be a float64 array (central differences need its "
                         f"precision), got {getattr(x, 'dtype', type(x).__name__)}")
    gradient = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + step
        plus = f()
        x[index] = saved - step
        minus = f()
        x[index] = saved
        gradient[index] = (plus - minus) / (2 * step)
    return gradient


def error_bound(step, rounding, third_derivative):
    """The largest error of a central difference: h^2 M / 6 + r / h.

    Parameters
    ----------
    step : float > 0
        h.
    rounding : float >= 0
        r, a bound on the error of each computed value of the function.
    third_derivative : float >= 0
        M, a bound on the third derivative along the entry's axis, near the point.

    Returns
    -------
    float
    """
    return step ** 2 * third_derivative / 6 + rounding / step


def check_gradient(f, x, gradient, step=DEFAULT_STEP, atol=1e-6, rtol=1e-5, name="x"):
    """Check a computed gradient of the scalar ``f()`` against ``numerical_gradient``.

    Parameters
    ----------
    f, x, step : as for ``numerical_gradient``
    gradient : array_like, shape ``x.shape``
        The gradient to check, df/dx at ``x``.
    atol, rtol : float >= 0
        An entry passes when |gradient - D| <= atol + rtol |D|, D the finite
        difference (as ``np.testing.assert_allclose``); see ``numerical_gradient`` for
        the error of D, which ``atol`` must cover.
    name : str
        What ``x`` is, for the message.

    Returns
    -------
    True

    Raises
    ------
    GradcheckError
        Naming ``x``, the first entry (row-major) that fails, and both values.
    """
    atol, rtol = check_float(atol, "atol", 0), check_float(rtol, "rtol", 0)
    gradient = np.asarray(gradient)
    if gradient.shape != x.shape:
        raise ValueError(f"gradient must have the shape of {name}, {x.shape}, got "
                         f"{gradient.shape}")
    numerical = numerical_gradient(f, x, step)
    failed = np.abs(gradient - numerical) > atol + rtol * np.abs(numerical)
    if failed.any():
        index = np.unravel_index(np.flatnonzero(failed)[0], x.shape)
        index = tuple(int(i) for i in index)
        raise GradcheckError(f"{name} (shape {x.shape}), entry {index}: gradient "
                             f"{gradient[index]:.10g}, finite differences "
                             f"{numerical[index]:.10g}")
    return True
