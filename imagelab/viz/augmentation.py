"""Figures of the augmentation study: accuracies per configuration, and what each one does."""
import numpy as np
from matplotlib.figure import Figure


def plot_augmentation(record, title):
    """Test accuracy (left) and training-test gap (right) of each configuration.

    Parameters
    ----------
    record : dict, name -> {"test_accuracy": spread, "gap": spread, ...}
        As ``imagelab.analysis.augmentation.compare`` returns it; each bar is the mean
        over the seeds, its whisker min..max, the dashed line the first configuration's
        mean (no augmentation).
    title : str
    """
    names = list(record)
    figure = Figure(figsize=(10, 0.32 * len(names) + 1.6))
    axes = figure.subplots(1, 2, sharey=True)
    y = np.arange(len(names))
    for ax, key, label in zip(axes, ("test_accuracy", "gap"),
                              ("test accuracy (%)", "training accuracy - test accuracy "
                                                    "(points)")):
        mean = np.array([100 * record[name][key]["mean"] for name in names])
        low = mean - [100 * record[name][key]["min"] for name in names]
        high = [100 * record[name][key]["max"] for name in names] - mean
        ax.barh(y, mean, xerr=[low, high], color="tab:blue", alpha=0.7, capsize=2)
        ax.axvline(mean[0], color="black", linestyle="--", linewidth=0.8)
        span = max(mean.max() + high.max() - (mean.min() - low.max()), 1e-3)
        ax.set_xlim(max(0.0, mean.min() - low.max() - 0.15 * span),
                    mean.max() + high.max() + 0.15 * span)
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, names)
    axes[0].invert_yaxis()
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure


def plot_examples(examples, image_shape, title):
    """A few training images (columns) as each configuration (rows) transforms them.

    examples : dict, configuration name -> np.ndarray (n, d) of pixels in [0, 1]
    """
    names = list(examples)
    n = len(examples[names[0]])
    figure = Figure(figsize=(0.65 * n + 1.2, 0.65 * len(names) + 0.5))
    axes = figure.subplots(len(names), n, squeeze=False)
    for row, name in enumerate(names):
        for j in range(n):
            axes[row, j].imshow(examples[name][j].reshape(image_shape).squeeze(),
                                cmap="gray", vmin=0, vmax=1)
            axes[row, j].set_xticks([])
            axes[row, j].set_yticks([])
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure
