"""Toy 2-D data: three two-class sets of points (blobs, moons, a two-armed spiral).

Each set is drawn afresh from a seed: ``points`` float32 (n, 2), ``labels`` int64 (n,)
alternating 0, 1, 0, 1, ...
"""
import numpy as np

from imagelab.utils.checks import check_float, check_int


def _two_classes(n, noise, seed):
    """Checked ``n`` and ``noise``, a generator seeded by ``seed``, and balanced labels.

    Returns
    -------
    n : int, noise : float, rng : np.random.Generator
    labels : np.ndarray of np.int64, shape (n,)
        0, 1, 0, 1, ...: the two counts differ by at most one.
    """
    n = check_int(n, "n", 2)
    noise = check_float(noise, "noise", 0)
    return n, noise, np.random.default_rng(seed), np.arange(n, dtype=np.int64) % 2


def _noisy(clean, noise, rng, labels):
    """``clean`` (n, 2) plus Gaussian noise of standard deviation ``noise``, as float32."""
    points = clean + noise * rng.standard_normal(clean.shape)
    return points.astype(np.float32), labels


def blobs(n, noise=0.5, seed=None):
    """Two Gaussian blobs, centred at (-1, -1) (class 0) and (1, 1) (class 1).

    Parameters
    ----------
    n : int >= 2
        Number of points, half of each class (one more of class 0 when n is odd).
    noise : float >= 0
        Standard deviation of each coordinate around its blob's centre.
    seed : None, int >= 0 or np.random.Generator

    Returns
    -------
    points : np.ndarray of np.float32, shape (n, 2)
    labels : np.ndarray of np.int64, shape (n,)
        0 or 1, alternating.
    """
    n, noise, rng, labels = _two_classes(n, noise, seed)
    centres = np.repeat(2.0 * labels[:, None] - 1, 2, axis=1)
    return _noisy(centres, noise, rng, labels)


def moons(n, noise=0.15, seed=None):
    """Two interleaved half circles of radius 1.

    Class 0 lies on (cos t, sin t), class 1 on (1 - cos t, 0.5 - sin t), t uniform in
    [0, pi]; the shapes and returns are those of ``blobs`` (``noise``: the standard
    deviation of each coordinate around its curve).
    """
    n, noise, rng, labels = _two_classes(n, noise, seed)
    t = np.pi * rng.random(n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    clean = np.where(labels[:, None] == 1, [1.0, 0.5] - upper, upper)
    return _noisy(clean, noise, rng, labels)


def spiral(n, noise=0.05, seed=None, turns=1.5):
    """Two interleaved arms of an Archimedean spiral, of radius 1.

    A point at a fraction t of its arm (t = sqrt(u), u uniform in [0, 1], so that the
    points spread evenly along the arm) lies at radius t and angle 2 pi turns t, plus
    pi for class 1: the arms are 1 / (2 turns) apart. The shapes and returns are those
    of ``blobs``.

    Parameters
    ----------
    turns : float > 0
        Turns of each arm around the centre.
    """
    n, noise, rng, labels = _two_classes(n, noise, seed)
    turns = check_float(turns, "turns", 0, include_min=False)
    t = np.sqrt(rng.random(n))
    angle = 2 * np.pi * turns * t + np.pi * labels
    return _noisy(t[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1), noise, rng,
                  labels)


TOY_DATASETS = {"blobs": blobs, "moons": moons, "spiral": spiral}
"""Name -> generator ``(n, noise=..., seed=None) -> (points, labels)`` of each toy set."""
