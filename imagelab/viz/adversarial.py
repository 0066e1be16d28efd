"""The figures of the adversarial study: attack curves, adversarial images, the defence.

Each function takes arrays (or the dicts of ``imagelab.analysis.adversarial``) and
returns a ``matplotlib.figure.Figure``.
"""
import numpy as np
from matplotlib.figure import Figure

# How each attack is drawn: colour by method, solid untargeted, dashed targeted.
STYLES = {"fgsm": ("tab:blue", "-"), "iterated": ("tab:red", "-"),
          "fgsm_targeted": ("tab:blue", "--"), "iterated_targeted": ("tab:red", "--")}


def plot_attack_curves(curves, title):
    """Success rate (left) and the model's confidences (right) against epsilon.

    Parameters
    ----------
    curves : dict model name -> dict attack name (keys of ``STYLES``) -> curve
        A curve as ``imagelab.analysis.adversarial.attack_curves`` returns it.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
        One row per model. Right: the mean probability of the true class (thin) and,
        for a targeted attack, of the target class (thick).
    """
    figure = Figure(figsize=(11, 3.6 * len(curves) + 0.6))
    axes = figure.subplots(len(curves), 2, squeeze=False)
    for (model, attacks), (left, right) in zip(curves.items(), axes):
        for attack, curve in attacks.items():
            colour, line = STYLES[attack]
            name = attack.replace("_", ", ")
            left.plot(curve["epsilon"], curve["success_rate"], line, color=colour,
                      marker=".", label=name)
            right.plot(curve["epsilon"], curve["original_confidence"], line, color=colour,
                       linewidth=1, label=f"{name}: true class")
            if "target_confidence" in curve:
                right.plot(curve["epsilon"], curve["target_confidence"], line, color=colour,
                           linewidth=2.5, label=f"{name}: target class")
        left.set_ylabel(f"{model}: success rate")
        right.set_ylabel(f"{model}: mean probability")
        for ax in (left, right):
            ax.set_xlabel("epsilon (largest change of a pixel, in [0, 1])")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
        left.legend(fontsize=8)
        right.legend(fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_adversarial_grid(originals, adversarial, labels, predicted, class_names, epsilon,
                          title):
    """Originals, their perturbations amplified, and the adversarial images, in columns.

    Parameters
    ----------
    originals, adversarial : np.ndarray, shape (n, H, W) or (n, H, W, 1), pixels in [0, 1]
    labels : np.ndarray of int, shape (n,)
        The true classes (over the originals).
    predicted : np.ndarray of int, shape (n,)
        The model's classes of the adversarial images.
    class_names : list of str
    epsilon : float > 0
        The attack's bound: the perturbation, in [-eps, eps], is drawn from black (-eps)
        through grey (0) to white (+eps).
    title : str
    """
    originals = np.reshape(originals, originals.shape[:3])
    adversarial = np.reshape(adversarial, adversarial.shape[:3])
    n = len(originals)
    figure = Figure(figsize=(1.5 * n + 0.4, 5.4))
    axes = figure.subplots(3, n, squeeze=False)
    rows = (("original", originals, 0, 1), ("perturbation", adversarial - originals,
                                            -epsilon, epsilon),
            ("adversarial", adversarial, 0, 1))
    for r, (name, images, low, high) in enumerate(rows):
        for i in range(n):
            ax = axes[r, i]
            ax.imshow(images[i], cmap="gray", vmin=low, vmax=high, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_ylabel(name, fontsize=9)
    for i in range(n):           # the true class above, the predicted one (red if wrong) below
        axes[0, i].set_title(class_names[labels[i]], fontsize=8)
        axes[2, i].set_title(class_names[predicted[i]], fontsize=8,
                             color="tab:red" if predicted[i] != labels[i] else "black")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


def plot_defence(results, title):
    """Clean and robust test accuracy of each training, as bars with their seed spread.

    Parameters
    ----------
    results : dict training name -> dict measure name -> list of float (one per seed)
        E.g. {"standard": {"clean": [...], "iterated attack": [...]}, "adversarial": ...}.
    title : str
        Bars show the mean, whiskers the smallest and largest seed.
    """
    trainings = list(results)
    measures = list(results[trainings[0]])
    width = 0.8 / len(trainings)
    figure = Figure(figsize=(7, 4.5))
    ax = figure.subplots()
    for k, training in enumerate(trainings):
        values = [np.asarray(results[training][m]) for m in measures]
        means = np.array([v.mean() for v in values])
        spread = np.array([[m - v.min() for m, v in zip(means, values)],
                           [v.max() - m for m, v in zip(means, values)]])
        positions = np.arange(len(measures)) + (k - (len(trainings) - 1) / 2) * width
        ax.bar(positions, means, width, yerr=spread, capsize=4, label=training)
        for p, m in zip(positions, means):
            ax.text(p, m + 0.02, f"{m:.1%}", ha="center", fontsize=8)
    ax.set_xticks(np.arange(len(measures)), measures)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(title, fontsize=10)
    figure.tight_layout()
    return figure
