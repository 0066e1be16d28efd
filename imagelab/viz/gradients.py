"""Figures of the gradients study: input-gradient maps, first-layer weights as images.

Signed maps are drawn red (positive) and blue (negative) on a scale symmetric about 0,
each map on its own scale (its largest absolute value), so that white is 0 everywhere.
"""
import numpy as np
from matplotlib.figure import Figure


def _signed(ax, image, title=None):
    """Draw a signed map on a symmetric red-blue scale, without axes."""
    limit = max(float(np.abs(image).max()), 1e-12)
    ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=7)


def plot_gradient_maps(images, maps, classes, class_names, image_shape, title):
    """One row per image: the image, then the logit gradient of each chosen class.

    Parameters
    ----------
    images : np.ndarray, shape (n, d), pixels in [0, 1]
    maps : np.ndarray, shape (n, k, d)
        Gradient maps (``imagelab.analysis.gradients.example_maps``).
    classes : np.ndarray of int, shape (n, k)
        The class of each map; column 0 is the image's true class.
    class_names : list of str
    image_shape : (H, W)
    title : str
    """
    n, k = classes.shape
    headings = ["true class", "runner-up", "least likely"][:k]
    figure = Figure(figsize=(1.3 * (k + 1), 1.3 * n + 0.6))
    axes = figure.subplots(n, k + 1, squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(images[i].reshape(image_shape), cmap="gray", vmin=0, vmax=1)
        axes[i, 0].axis("off")
        axes[i, 0].set_title(class_names[classes[i, 0]], fontsize=7)
        for j in range(k):
            _signed(axes[i, j + 1], maps[i, j].reshape(image_shape),
                    f"{headings[j] if i == 0 else ''}\n{class_names[classes[i, j]]}")
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure


def plot_first_layers(templates, mean_image, title, columns=16):
    """Each model's first-layer weights as images (its first ``columns`` units), then
    their mean over all its units; a last row shows the mean training image.

    Parameters
    ----------
    templates : dict, model name -> np.ndarray (h, H, W) (``first_layer_images``)
    mean_image : np.ndarray, shape (H, W)
    title : str
    columns : int
        Units drawn per model (the mean takes them all).
    """
    names = list(templates)
    rows = len(names) + 1
    figure = Figure(figsize=(0.75 * (columns + 1), 1.0 * rows + 0.7))
    axes = figure.subplots(rows, columns + 1, squeeze=False,
                           gridspec_kw={"wspace": 0.08, "hspace": 0.45})
    # No tight_layout: the row labels overhang their first axes on purpose.
    figure.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=1 - 0.7 / (rows + 0.7))
    for ax in axes.ravel():
        ax.axis("off")
    for row, name in enumerate(names):
        units = templates[name]
        for j in range(min(columns, len(units))):
            _signed(axes[row, j], units[j])
        axes[row, 0].text(0, 1.08, f"{name}: {min(columns, len(units))} of its {len(units)} "
                                   "first-layer units", fontsize=7,
                          transform=axes[row, 0].transAxes)
        _signed(axes[row, columns], units.mean(axis=0), "their mean")
    axes[-1, columns].imshow(mean_image, cmap="gray")
    axes[-1, columns].set_title("mean image", fontsize=7)
    figure.suptitle(f"{title}\n(red > 0 > blue, each image on its own scale)", fontsize=8)
    return figure
