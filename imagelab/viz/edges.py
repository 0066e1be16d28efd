"""The figures of the edges study: images with their edge masks, and the methods' scores."""
import numpy as np
from matplotlib.figure import Figure


def plot_edge_grid(images, panels, title):
    """A grid: the images in the first row, then one row per map of each image.

    Parameters
    ----------
    images : np.ndarray of float, shape (K, H, W)
        Grey images in [0, 1], one per column.
    panels : sequence of (str, np.ndarray of shape (K, H, W))
        Each further row's name and maps, in [0, 1]: a 0/1 mask or a probability
        (black 0, white 1).
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = [("image", images), *panels]
    count = len(images)
    figure = Figure(figsize=(1.1 * count + 1.8, 1.15 * len(rows) + 0.6))
    axes = figure.subplots(len(rows), count, squeeze=False)
    for r, (name, maps) in enumerate(rows):
        for k in range(count):
            ax = axes[r, k]
            ax.imshow(maps[k], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_edge_scores(table, title):
    """Grouped bars: each method's test precision, recall, F1 and IoU.

    Parameters
    ----------
    table : dict
        method -> metric -> {"mean", "min", "max"} (``imagelab.analysis.edges.score_table``):
        a bar is the mean, its whisker spans min..max over the seeds.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    methods = list(table)
    metrics = list(table[methods[0]])
    width = 0.8 / len(methods)
    figure = Figure(figsize=(9, 4.2))
    ax = figure.subplots()
    positions = np.arange(len(metrics))
    for m, method in enumerate(methods):
        mean = np.array([table[method][key]["mean"] for key in metrics])
        low = mean - np.array([table[method][key]["min"] for key in metrics])
        high = np.array([table[method][key]["max"] for key in metrics]) - mean
        ax.bar(positions + (m - (len(methods) - 1) / 2) * width, mean, width,
               yerr=[low, high], capsize=2, label=method.replace("_", " "))
    ax.set_xticks(positions, metrics)
    ax.set(ylabel="test score (edge pixels, micro)", ylim=(0, 1))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    figure.suptitle(title)
    figure.tight_layout()
    return figure
