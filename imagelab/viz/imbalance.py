"""The figures of the class-imbalance study (``imagelab study imbalance``).

Each function takes arrays of numbers already computed (``imagelab.analysis.imbalance``)
and returns a matplotlib Figure.
"""
import numpy as np
from matplotlib.figure import Figure

# One colour per remedy, the same in every figure (matplotlib's default cycle).
COLOURS = ("tab:gray", "tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")


def plot_remedies(panels, scenario_names, remedy_names, reference=None, title=""):
    """Per-seed scores of each remedy in each scenario, one panel per score.

    Parameters
    ----------
    panels : dict
        Panel title (the score, e.g. "balanced accuracy") -> np.ndarray of float,
        shape (S, R, K): the score of remedy r in scenario s with seed k.
    scenario_names : sequence of S str
    remedy_names : sequence of R str
    reference : dict, optional
        Panel title -> np.ndarray (K,): the score of a reference training (the balanced
        set), drawn as a grey band from its min to its max.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
        A dot per seed, a bar at the mean.
    """
    figure = Figure(figsize=(5.2 * len(panels), 4.2))
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    width = 0.8 / len(remedy_names)
    for ax, (name, values) in zip(axes, panels.items()):
        values = np.asarray(values)
        if reference is not None and name in reference:
            low, high = np.min(reference[name]), np.max(reference[name])
            ax.axhspan(low, high, color="lightgray", alpha=0.6,
                       label="balanced training set (no remedy)")
        for r, remedy in enumerate(remedy_names):
            x = np.arange(len(scenario_names)) - 0.4 + (r + 0.5) * width
            ax.bar(x, values[:, r].mean(axis=1), width * 0.9, color=COLOURS[r % len(COLOURS)],
                   alpha=0.35, label=remedy)
            seeds = values.shape[2]
            ax.scatter(np.repeat(x, seeds), values[:, r].ravel(), s=10,
                       color=COLOURS[r % len(COLOURS)], zorder=3)
        ax.set_xticks(range(len(scenario_names)), scenario_names)
        ax.set_ylabel(name)
        # Room above 1 (no score reaches it) for the legend, so that it hides no bar.
        ax.set_ylim(max(0.0, float(np.min(values)) - 0.1), 1.2)
        ax.set_yticks(ax.get_yticks()[ax.get_yticks() <= 1.0])
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=7, loc="upper center", ncol=3)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_class_recall(recall, recall_min, recall_max, class_names, scenario_names,
                      remedy_names, minority, title=""):
    """Each class's test recall under each remedy, one panel per scenario.

    Parameters
    ----------
    recall, recall_min, recall_max : np.ndarray of float, shape (S, R, C)
        Mean, least and largest recall over the seeds, of class c under remedy r in
        scenario s.
    class_names : sequence of C str
    scenario_names : sequence of S str
    remedy_names : sequence of R str
    minority : sequence of S sequences of int
        The smaller classes of each scenario, marked with a star.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
        Bars at the mean, whiskers from the least to the largest.
    """
    recall = np.asarray(recall)
    num_scenarios, num_remedies, num_classes = recall.shape
    figure = Figure(figsize=(12, 2.8 * num_scenarios))
    axes = figure.subplots(num_scenarios, 1, squeeze=False)[:, 0]
    width = 0.8 / num_remedies
    for s, ax in enumerate(axes):
        for r, remedy in enumerate(remedy_names):
            x = np.arange(num_classes) - 0.4 + (r + 0.5) * width
            whiskers = [recall[s, r] - recall_min[s, r], recall_max[s, r] - recall[s, r]]
            ax.bar(x, recall[s, r], width * 0.9, yerr=whiskers, capsize=1.5,
                   color=COLOURS[r % len(COLOURS)], label=remedy,
                   error_kw={"elinewidth": 0.7})
        labels = [name + (" *" if c in minority[s] else "") for c, name in enumerate(class_names)]
        ax.set_xticks(range(num_classes), labels, fontsize=8)
        ax.set_ylim(0, 1.3)                # room above 1 for the legend
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.set_ylabel("test recall")
        ax.set_title(f"{scenario_names[s]} (* the smaller classes)", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8, ncol=num_remedies, loc="upper center")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_confusions(matrices, class_names, panel_titles, title="", columns=3):
    """Confusion matrices side by side, each row coloured by its share of the true class.

    Parameters
    ----------
    matrices : np.ndarray of int, shape (P, C, C)
        Counts, rows the true classes, columns the predicted ones.
    class_names : sequence of C str
    panel_titles : sequence of P str
    title : str
    columns : int
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
        The share of each true class (row) given to each prediction, in percent, written
        where it is at least 1%.
    """
    matrices = np.asarray(matrices)
    rows = -(-len(matrices) // columns)            # ceiling division
    figure = Figure(figsize=(4.3 * columns, 4.3 * rows))
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    ticks = range(len(class_names))
    for ax, matrix, panel_title in zip(axes, matrices, panel_titles):
        shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for (i, j), share in np.ndenumerate(shares):
            if share >= 0.01:
                ax.text(j, i, f"{100 * share:.0f}", ha="center", va="center", fontsize=6,
                        color="white" if share > 0.5 else "black")
        ax.set_xticks(ticks, class_names, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(ticks, class_names, fontsize=7)
        ax.set_title(panel_title, fontsize=9)
    for ax in axes[len(matrices):]:
        ax.set_axis_off()
    figure.supxlabel("predicted class (% of the true class)", fontsize=9)
    figure.supylabel("true class", fontsize=9)
    figure.suptitle(title)
    figure.tight_layout()
    return figure
