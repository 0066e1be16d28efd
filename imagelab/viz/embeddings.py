"""Figures of the embeddings study: a grid of 2-D maps coloured by class, and their scores."""
import numpy as np
from matplotlib.figure import Figure


def plot_maps(panels, labels, class_names, title, columns=3):
    """A grid of 2-D maps, each point coloured by its class, one legend for all.

    Parameters
    ----------
    panels : list of (str, np.ndarray of shape (N, 2)) or None
        Each map with its title, row by row; None leaves a cell empty.
    labels : np.ndarray of int, shape (N,)
        The class of each point (the same points in every map).
    class_names : sequence of str
    title : str
    columns : int >= 1
    """
    rows = -(-len(panels) // columns)
    figure = Figure(figsize=(2.9 * columns, 2.9 * rows + 0.9))
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    colours = [f"C{c}" for c in range(len(class_names))]    # matplotlib's 10 colours
    for ax, panel in zip(axes, panels + [None] * (len(axes) - len(panels))):
        ax.set_axis_off()
        if panel is None:
            continue
        name, points = panel
        ax.scatter(points[:, 0], points[:, 1], s=3, c=[colours[c] for c in labels],
                   linewidths=0, antialiased=False)
        ax.set_title(name, fontsize=8)
    handles = [axes[0].scatter([], [], s=20, color=colour, label=name)
               for colour, name in zip(colours, class_names)]
    figure.legend(handles=handles, loc="lower center", ncol=min(5, len(class_names)),
                  fontsize=8, frameon=False, bbox_to_anchor=(0.5, 0.02))
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    return figure


def plot_map_scores(names, map_scores, feature_scores, title, xlabel):
    """One row per map: its score in the 2-D map over seeds (mean, a bar from min to
    max) beside the same score in the features the map was made from.

    Parameters
    ----------
    names : list of str, one per map (top to bottom)
    map_scores, feature_scores : list of sequences of float
        Each map's scores, one per seed.
    title, xlabel : str
    """
    figure = Figure(figsize=(8, 0.35 * len(names) + 1.5))
    ax = figure.subplots()
    y = np.arange(len(names))[::-1]
    for scores, marker, label in ((map_scores, "o", "in the 2-D map (mean, min..max over "
                                                    "seeds)"),
                                  (feature_scores, "x", "in the features themselves")):
        means = np.array([np.mean(s) for s in scores])
        spans = np.array([[np.mean(s) - np.min(s), np.max(s) - np.mean(s)] for s in scores])
        ax.errorbar(means, y, xerr=spans.T, fmt=marker, capsize=3, label=label)
    ax.set_yticks(y, names, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title(title)
    figure.tight_layout()
    return figure
