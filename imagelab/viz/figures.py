"""Figures that explain a classifier's results: learning curves, confusion matrix, image grids.

Each ``plot_*`` function takes arrays and returns a ``matplotlib.figure.Figure`` (no
pyplot state); ``save_classification_figures`` writes the three figures of a set of
test predictions at once (``imagelab knn-study --figures`` and
``imagelab train-mlp --figures`` call it).
"""
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from imagelab.utils.checks import check_int, check_seed
from imagelab.utils.files import save_figure
from imagelab.data.images import IMAGE_SHAPE, rows_to_images
from imagelab.training.metrics import confusion_matrix, worst_mistakes
from imagelab.training.toy import probability_grid


def plot_learning_curves(history, title, other="val"):
    """Training and validation accuracy (left) and loss (right) against the epoch.

    Parameters
    ----------
    history : dict
        As ``network.train`` returns it: lists "train_accuracy", "val_accuracy",
        "train_loss", "val_loss" (one value per epoch) and "best_epoch" (1-based),
        which is marked if present.
    title : str
    other : {"val", "test"}
        The second curve: the validation split's, or the test set's (a trainer that
        chooses nothing on it, ``imagelab.recipes.airbench``).
    """
    label = {"val": "validation", "test": "test"}[other]
    figure = Figure(figsize=(11, 4.5))
    axes = figure.subplots(1, 2)
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    for ax, quantity in zip(axes, ("accuracy", "loss")):
        ax.plot(epochs, history[f"train_{quantity}"], marker=".", label="training")
        ax.plot(epochs, history[f"{other}_{quantity}"], marker=".", label=label)
        if "best_epoch" in history:
            ax.axvline(history["best_epoch"], color="grey", linestyle="--",
                       label=f"kept: epoch {history['best_epoch']}")
        ax.set(xlabel="epoch", ylabel=quantity)
        ax.grid(alpha=0.3)
        ax.legend()
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_confusion_matrix(matrix, class_names, title):
    """The confusion matrix as a heat map, its counts written in, per-class accuracy on the right.

    Colours show each row's fraction (the share of a true class given to each
    prediction), so that classes of different sizes compare.
    """
    matrix = np.asarray(matrix)
    totals = matrix.sum(axis=1)
    fractions = matrix / np.maximum(totals, 1)[:, None]
    recall = np.diag(matrix) / np.maximum(totals, 1)
    n = len(matrix)
    figure = Figure(figsize=(9, 7.5))
    ax = figure.subplots()
    image = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if fractions[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set(xlabel="predicted class", ylabel="true class")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"{title}\n{matrix.sum()} test images, accuracy {accuracy:.1%}")
    right = ax.secondary_yaxis("right")   # per-class accuracy beside each row
    right.set_yticks(range(n), [f"{r:.0%}" for r in recall])
    right.set_ylabel("accuracy of the class (recall)")
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.12, label="fraction of the true class")
    figure.tight_layout()
    return figure


def plot_image_grid(rows, labels_true, labels_pred, class_names, title, scores=None,
                    columns=8, image_shape=IMAGE_SHAPE):
    """Images with their true and predicted class, right in green and wrong in red.

    Parameters
    ----------
    rows : np.ndarray, shape (n, h * w * c)
        Image rows (c planes, e.g. CIFAR-10's R, G, B), values in 0..255.
    labels_true, labels_pred : np.ndarray of int, shape (n,)
    class_names : sequence of str
    title : str
    scores : np.ndarray, shape (n,), optional
        Confidence of each prediction, shown beside it.
    columns : int
    image_shape : (h, w, c), optional
        (32, 32, 3) for CIFAR-10 (the default); grey images (c = 1), such as the
        MNIST family's (28, 28, 1), are drawn in grey levels.
    """
    images = np.clip(rows_to_images(np.asarray(rows), image_shape), 0, 255).astype(np.uint8)
    if image_shape[2] == 1:
        images = images[..., 0]                      # imshow draws (h, w) with a colormap
    grid_rows = max(1, -(-len(images) // columns))
    figure = Figure(figsize=(1.6 * columns, 1.9 * grid_rows + 0.6))
    axes = np.atleast_1d(figure.subplots(grid_rows, columns, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i >= len(images):
            continue
        ax.imshow(images[i], interpolation="nearest", cmap="gray", vmin=0, vmax=255)
        right = labels_true[i] == labels_pred[i]
        caption = f"true: {class_names[labels_true[i]]}\npred: {class_names[labels_pred[i]]}"
        if scores is not None:
            caption += f" {scores[i]:.0%}"
        ax.set_title(caption, fontsize=8, color="tab:green" if right else "tab:red")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def save_classification_figures(results_dir, name, rows, labels, scores, class_names,
                                title, count=32, seed=0, image_shape=IMAGE_SHAPE):
    """Write ``<name>_confusion.png``, ``<name>_predictions.png`` and ``<name>_mistakes.png``.

    Parameters
    ----------
    rows : np.ndarray, shape (N, h * w * c)
        The test images (raw pixel rows).
    labels : np.ndarray of int, shape (N,)
    scores : np.ndarray, shape (N, C)
        Class scores (logits or probabilities) of each test image, or an (N,) array of
        predicted classes when the classifier gives no score (kNN): the mistakes
        grid then shows the first mistakes instead of the most confident ones.
    class_names : sequence of str, C names
    title : str
        Method name, for the figure titles.
    count : int >= 1
        Images per grid.
    seed : int >= 0
        Seed of the random choice of the images of the predictions grid.
    image_shape : (h, w, c), optional
        The shape of an image (see ``plot_image_grid``).

    Returns
    -------
    list of str : the paths written.
    """
    count, seed = check_int(count, "count", 1), check_seed(seed)
    scores = np.asarray(scores)
    if scores.ndim == 2:
        # Softmax of the scores, so that the confidence of a prediction reads in [0, 1].
        shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
        predicted = np.argmax(probabilities, axis=1)
        mistakes = worst_mistakes(probabilities, labels, count)
        confidence = probabilities[np.arange(len(labels)), predicted]
    else:
        predicted, confidence = scores, None
        mistakes = np.flatnonzero(predicted != labels)[:count]
    matrix = confusion_matrix(labels, predicted, len(class_names))
    shown = np.sort(np.random.default_rng(seed).choice(len(labels), min(count, len(labels)),
                                                       replace=False))

    paths = [save_figure(results_dir, f"{name}_confusion",
                         plot_confusion_matrix(matrix, class_names, title))]
    for suffix, index, caption in (
            ("predictions", shown, "random test images"),
            ("mistakes", mistakes, "most confident mistakes" if confidence is not None
             else "first mistakes")):
        figure = plot_image_grid(rows[index], labels[index], predicted[index], class_names,
                                 f"{title}: {caption}",
                                 None if confidence is None else confidence[index],
                                 image_shape=image_shape)
        paths.append(save_figure(results_dir, f"{name}_{suffix}", figure))
    return paths


def plot_cv(k_values, mean, std, chosen, test_accuracy, title):
    """Figure of the cross-validated accuracy against k, with its spread over the folds.

    The band is mean +- one standard deviation; the chosen k is marked, and its
    accuracy on the test split shown beside it.
    """
    figure = Figure(figsize=(8, 5))
    ax = figure.subplots()
    mean, std = np.asarray(mean), np.asarray(std)
    ax.plot(k_values, mean, marker="o", label="mean over the folds")
    ax.fill_between(k_values, mean - std, mean + std, alpha=0.25,
                    label="mean \u00b1 one standard deviation")
    i = k_values.index(chosen)
    ax.plot(chosen, mean[i], marker="*", markersize=16, color="tab:red", linestyle="none",
            label=f"chosen: k = {chosen}, {mean[i]:.1%} \u00b1 {std[i]:.1%}")
    ax.plot(chosen, test_accuracy, marker="D", color="black", linestyle="none",
            label=f"k = {chosen} on the test split: {test_accuracy:.1%}")
    ax.set(xlabel="k (number of neighbours)", ylabel="accuracy", title=title, xticks=k_values)
    ax.grid(alpha=0.3)
    ax.legend()
    figure.tight_layout()
    return figure


def plot_k_curves(k_values, curves, title):
    """Figure of the test accuracy against k, one curve per representation.

    ``curves`` maps a representation's name to its accuracies (one per k); each
    curve's best k is marked.
    """
    figure = Figure(figsize=(11, 5))
    ax = figure.subplots()
    for name, accuracies in curves.items():
        best = int(np.argmax(accuracies))
        line, = ax.plot(k_values, accuracies, marker=".",
                        label=f"{name}: best k = {k_values[best]}, {accuracies[best]:.1%}")
        ax.plot(k_values[best], accuracies[best], marker="*", markersize=12,
                color=line.get_color(), linestyle="none")
    ax.set(xlabel="k (number of neighbours)", ylabel="test accuracy", title=title,
           xticks=k_values)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))   # beside the axes
    figure.tight_layout()
    return figure


def plot_filters(weights, title, columns=16):
    """The filters of a first convolution as small images, each scaled to its own range.

    Parameters
    ----------
    weights : np.ndarray, shape (kh, kw, c_in, c_out)
        c_in = 3 draws colour filters, c_in = 1 grey ones.
    """
    c_in, c_out = weights.shape[2:]
    grid_rows = -(-c_out // columns)
    figure = Figure(figsize=(0.8 * columns, 0.8 * grid_rows + 0.6))
    axes = np.atleast_1d(figure.subplots(grid_rows, columns, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i < c_out:
            f = weights[..., i]
            f = (f - f.min()) / max(float(f.max() - f.min()), 1e-12)
            ax.imshow(f if c_in == 3 else f[..., 0], cmap="gray", interpolation="nearest")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_accuracy(k_values, accuracies, title):
    """Figure of the accuracy against k, the best k marked."""
    figure = Figure(figsize=(7, 4.5))
    ax = figure.subplots()
    ax.plot(k_values, accuracies, marker="o")
    best = int(np.argmax(accuracies))
    ax.plot(k_values[best], accuracies[best], marker="*", markersize=16, color="tab:red",
            linestyle="none", label=f"best: k = {k_values[best]}, {accuracies[best]:.1%}")
    ax.set(xlabel="k (number of neighbours)", ylabel="test accuracy", title=title,
           xticks=k_values)
    ax.grid(alpha=0.3)
    ax.legend()
    figure.tight_layout()
    return figure


def plot_training(train_accuracies, test_accuracy, title):
    """Figure of the training accuracy per epoch, the final test accuracy shown."""
    figure = Figure(figsize=(7, 4.5))
    ax = figure.subplots()
    epochs = np.arange(1, len(train_accuracies) + 1)
    ax.plot(epochs, train_accuracies, label="training accuracy")
    ax.axhline(test_accuracy, color="tab:red", linestyle="--",
               label=f"final test accuracy: {test_accuracy:.1%}")
    ax.set(xlabel="epoch", ylabel="accuracy", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    figure.tight_layout()
    return figure


def plot_robustness(curves, title):
    """Accuracy against brightness and against contrast, one line per trained model.

    ``curves`` maps a model's name to ``light_robustness``'s result.
    """
    figure = Figure(figsize=(10, 4))
    left, right = figure.subplots(1, 2)
    for name, result in curves.items():
        left.plot(result["brightness"], result["brightness_accuracy"], "o-", label=name)
        right.plot(result["contrast"], result["contrast_accuracy"], "o-", label=name)
    left.set_xlabel("brightness shift (fraction of 255)")
    right.set_xlabel("contrast factor")
    right.set_xscale("log", base=2)
    for ax in (left, right):
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
        ax.legend()
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_comparison(result, title):
    """Validation accuracy (left) and training loss (right) per epoch, of both sides.

    Parameters
    ----------
    result : dict
        As ``compare_with_network`` returns it.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    figure = Figure(figsize=(11, 4.5))
    axes = figure.subplots(1, 2)
    epochs = np.arange(1, len(result["tensor_train_loss"]) + 1)
    for ax, key, label in zip(axes, ("val_accuracy", "train_loss"),
                              ("validation accuracy", "training loss")):
        for side, name, style in (("network", "layer-by-layer network", "o-"),
                                  ("tensor", "autograd Tensor", "x--")):
            ax.plot(epochs, result[f"{side}_{key}"], style, label=name)
        ax.set(xlabel="epoch", ylabel=label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_confidence(panels, title):
    """One panel per set: the probability of class 1 as filled contours, the points on top.

    Parameters
    ----------
    panels : sequence of (str, Network, np.ndarray (n, 2), np.ndarray of int (n,))
        Each panel's title, trained network, points and labels.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
        One axes per panel and a shared colour bar; the 0.5 contour (the decision
        boundary) drawn in black.
    """
    figure = Figure(figsize=(4 * len(panels) + 1, 4), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    levels = np.linspace(0, 1, 11)
    for ax, (name, network, points, labels) in zip(axes, panels):
        x, y, probability = probability_grid(network, points)
        filled = ax.contourf(x, y, probability, levels=levels, cmap="RdBu_r", alpha=0.8)
        ax.contour(x, y, probability, levels=[0.5], colors="black", linewidths=1)
        ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="bwr", vmin=0, vmax=1, s=8,
                   edgecolors="white", linewidths=0.3)
        ax.set(title=name, xlabel="x1", ylabel="x2", aspect="equal")
    figure.colorbar(filled, ax=list(axes), label="probability of class 1")
    figure.suptitle(title)
    return figure


def plot_two_class_grid(rows, targets, probabilities, class_names, image_shape, title,
                        count=32, seed=0):
    """Test images with the predicted class: every mistake first (red), then a random few.

    Parameters
    ----------
    rows : np.ndarray, shape (N, h * w * c)
        The test images, values in 0..255.
    targets : np.ndarray of int (0 or 1), shape (N,)
    probabilities : np.ndarray, shape (N,)
        Probability of class 1; the prediction is class 1 above 0.5.
    class_names : (str, str)
    image_shape : (h, w, c)
    title : str
    count : int >= 1
        Images shown: the mistakes (up to ``count``), then right ones drawn at random.
    seed : int >= 0
        Seed of the random choice.

    Returns
    -------
    matplotlib.figure.Figure
    """
    count, seed = check_int(count, "count", 1), check_seed(seed)
    predicted = (probabilities > 0.5).astype(np.int64)
    wrong = np.flatnonzero(predicted != targets)[:count]
    right = np.flatnonzero(predicted == targets)
    rng = np.random.default_rng(seed)
    shown = np.concatenate([wrong, np.sort(rng.choice(
        right, min(count - len(wrong), len(right)), replace=False))]).astype(np.int64)
    confidence = np.where(predicted == 1, probabilities, 1 - probabilities)
    return plot_image_grid(rows[shown], targets[shown], predicted[shown], class_names,
                           f"{title}\n{len(wrong)} mistakes of {len(targets)} (first, in "
                           "red), then right predictions at random", confidence[shown],
                           image_shape=image_shape)
