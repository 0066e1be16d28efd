"""Figures of the transfer study: accuracy against the share of labels, and reconstructions.

Both take arrays (``imagelab.analysis.transfer.run_study``'s numbers, images in [0, 1])
and return a ``matplotlib.figure.Figure``.
"""
import numpy as np
from matplotlib.figure import Figure


def plot_transfer_curves(fractions, bottlenecks, methods, accuracies, title):
    """Test accuracy against the fraction of labels, a panel per bottleneck, a line per method.

    Each point is the mean over the seeds, its bar runs from the lowest to the highest.

    Parameters
    ----------
    fractions : sequence of float, length F
        The fractions of the labels (x axis, logarithmic).
    bottlenecks : sequence of int, length B
    methods : sequence of str, length M
    accuracies : array_like, shape (B, F, M, S)
        Test accuracy of each bottleneck, fraction, method and seed.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    accuracies = 100 * np.asarray(accuracies, dtype=float)
    fractions = 100 * np.asarray(fractions, dtype=float)
    figure = Figure(figsize=(3.2 * len(bottlenecks) + 1, 4))
    axes = np.atleast_1d(figure.subplots(1, len(bottlenecks), sharey=True))
    for ax, bottleneck, cell in zip(axes, bottlenecks, accuracies):
        for m, method in enumerate(methods):
            mean, low, high = (cell[:, m].mean(axis=1), cell[:, m].min(axis=1),
                               cell[:, m].max(axis=1))
            ax.errorbar(fractions, mean, yerr=[mean - low, high - mean], marker="o",
                        capsize=3, label=method)
        ax.set_xscale("log")
        ax.set_xticks(fractions, [f"{f:g}%" for f in fractions])
        ax.set(title=f"bottleneck {bottleneck}", xlabel="labels used")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].legend()
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_reconstructions(images, reconstructions, title):
    """Test images (top row) and each auto-encoder's reconstructions of them (a row each).

    Parameters
    ----------
    images : np.ndarray, shape (n, H, W, C), values in [0, 1]
    reconstructions : dict
        Row label (e.g. "bottleneck 16") -> np.ndarray of the shape of ``images``.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = {"original": images, **reconstructions}
    n = len(images)
    figure = Figure(figsize=(0.9 * n + 1.2, 0.95 * len(rows) + 0.6))
    axes = figure.subplots(len(rows), n, squeeze=False)
    for ax_row, (label, pictures) in zip(axes, rows.items()):
        for ax, picture in zip(ax_row, pictures):
            # One channel shows in grey; vmin and vmax keep [0, 1] from being rescaled.
            ax.imshow(picture[..., 0] if picture.shape[-1] == 1 else picture,
                      cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        ax_row[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return figure
