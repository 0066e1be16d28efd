"""An MLP that draws edges: Canny edge masks as per-pixel targets, scored against baselines.

Every image gets its Canny edge mask (scikit-image), a 0/1 target per pixel. An MLP
``H W - hidden... - H W`` with one sigmoid output per pixel learns to draw it, trained
with the binary cross-entropy or with the squared error of the sigmoid
(``imagelab.nn.losses``). Its masks are scored on the test images over all their pixels
pooled (micro averaging: one confusion matrix of every test pixel), edge pixels being
the positive class, against two baselines: an all-background mask, and the Sobel
gradient magnitude above a threshold chosen to maximise F1 on the training images.
"""
import numpy as np

from imagelab.analysis.models import unit_pixels
from imagelab.data.descriptors import to_grey
from imagelab.data.images import rows_to_images
from imagelab.nn.functional import sigmoid
from imagelab.nn.losses import sigmoid_binary_cross_entropy, sigmoid_squared_error
from imagelab.nn.network import mlp
from imagelab.training.loop import train_to_targets
from imagelab.training.metrics import confusion_matrix, per_class_scores, seed_spread

# The two losses the study compares, by the name its results use.
EDGE_LOSSES = {"bce": sigmoid_binary_cross_entropy, "se": sigmoid_squared_error}

# Rows at a time in the functions that loop over a whole dataset: about 3 MB of float32
# pixels of 28 x 28 images per chunk, whatever the number of images.
CHUNK = 1000


def grey_images(rows, image_shape):
    """Float32 grey images in [0, 1], (N, H, W), of rows (N, H W C) of values 0..255.

    Colour images become ``imagelab.data.descriptors.to_grey``'s grey levels.
    """
    return to_grey(rows_to_images(unit_pixels(rows), image_shape))


def import_canny():
    """``skimage.feature.canny``, or an ImportError naming the extra that installs it."""
    try:
        from skimage.feature import canny
    except ImportError as error:
        raise ImportError("the edges study needs scikit-image for its Canny masks, which is "
                          "not installed: run `pip install -e '.[descriptors]'` in the clone "
                          "(or `pip install scikit-image`)") from error
    return canny


def canny_masks(images, sigma=1.0, report=None):
    """The Canny edge mask of each image (``skimage.feature.canny``).

    Parameters
    ----------
    images : np.ndarray of float, shape (N, H, W)
        Grey images in [0, 1].
    sigma : float > 0
        Standard deviation of the Gaussian smoothing before the gradient. The
        hysteresis thresholds are scikit-image's defaults for float images: 0.1 and 0.2
        on the magnitude of SciPy's (unnormalised) Sobel gradient of the smoothed image.
    report : callable (int) -> None, optional
        Called with the number of images done after every ``CHUNK`` images and at the end.

    Returns
    -------
    np.ndarray of np.uint8, shape (N, H, W)
        1 on an edge pixel, 0 elsewhere.

    Raises
    ------
    ImportError
        Without scikit-image, naming the extra that installs it.
    """
    canny = import_canny()
    masks = np.empty(np.shape(images), np.uint8)
    for n, image in enumerate(images):
        masks[n] = canny(image, sigma=sigma)
        if report is not None and ((n + 1) % CHUNK == 0 or n + 1 == len(masks)):
            report(n + 1)
    return masks


def sobel_magnitude(images):
    """Sobel gradient magnitude of each image, as ``skimage.filters.sobel`` computes it.

    With the kernels [1, 2, 1] / 4 (smoothing across) times [1, 0, -1] (difference along),
    G_y down the rows and G_x along them, the magnitude is sqrt((G_x^2 + G_y^2) / 2),
    and the borders are mirrored (edge pixel repeated: "reflect" in SciPy, "symmetric" in
    NumPy), as scikit-image does.

    Parameters
    ----------
    images : np.ndarray of float, shape (N, H, W)

    Returns
    -------
    np.ndarray, shape (N, H, W), dtype of ``images``
    """
    p = np.pad(images, ((0, 0), (1, 1), (1, 1)), mode="symmetric")
    across_columns = p[:, :, :-2] + 2 * p[:, :, 1:-1] + p[:, :, 2:]     # (N, H + 2, W)
    g_y = (across_columns[:, 2:] - across_columns[:, :-2]) / 4
    across_rows = p[:, :-2] + 2 * p[:, 1:-1] + p[:, 2:]                 # (N, H, W + 2)
    g_x = (across_rows[:, :, 2:] - across_rows[:, :, :-2]) / 4
    return np.sqrt((g_x ** 2 + g_y ** 2) / 2)


def mask_scores(masks_true, masks_pred):
    """Precision, recall, F1 and IoU of predicted edge masks, over all pixels pooled.

    Micro averaging: one 2 x 2 confusion matrix of every pixel of every image, edge (1)
    the positive class; a ratio whose denominator is 0 is 0 (``per_class_scores``'s
    convention, scikit-learn's ``zero_division=0``), so an all-background prediction
    has precision 0.

    Parameters
    ----------
    masks_true, masks_pred : np.ndarray of 0/1 or bool, the same shape (any)

    Returns
    -------
    dict of float
        "precision" TP / (TP + FP), "recall" TP / (TP + FN), "f1" their harmonic mean
        2 TP / (2 TP + FP + FN), "iou" TP / (TP + FP + FN) (the Jaccard index of the
        edge pixels), "pixel_accuracy" (TP + TN) / all, "edge_fraction" of the true masks.
    """
    if np.shape(masks_true) != np.shape(masks_pred):
        raise ValueError(f"masks_pred must have the shape of masks_true "
                         f"{np.shape(masks_true)}, got {np.shape(masks_pred)}")
    truth = np.ravel(masks_true).astype(np.int64)
    confusion = confusion_matrix(truth, np.ravel(masks_pred).astype(np.int64), 2)
    scores = {key: float(value[1]) for key, value in per_class_scores(confusion).items()}
    (tn, fp), (fn, tp) = confusion
    union = tp + fp + fn
    scores["iou"] = float(tp / union) if union else 0.0
    scores["pixel_accuracy"] = float((tp + tn) / confusion.sum())
    scores["edge_fraction"] = float(np.mean(truth))
    return scores


def threshold_counts(scores, masks, thresholds):
    """The pixel confusion matrix of ``scores >= t`` against ``masks``, for each threshold t.

    One pass over the pixels, ``CHUNK`` images at a time: each pixel falls in the bin
    of the largest threshold at or below its score, and a reversed cumulative sum of
    the bins counts the pixels at or above each threshold.

    Parameters
    ----------
    scores : np.ndarray of float, shape (N, ...)
        One score a pixel (an edge probability, a gradient magnitude).
    masks : np.ndarray of 0/1, shape of ``scores``
    thresholds : array_like of float, shape (K,), increasing

    Returns
    -------
    np.ndarray of np.int64, shape (K, 2, 2)
        ``counts[k]`` is the ``confusion_matrix`` of the masks (rows) and of
        ``scores >= thresholds[k]`` (columns).
    """
    thresholds = np.asarray(thresholds, np.float64)
    if thresholds.ndim != 1 or not thresholds.size or np.any(np.diff(thresholds) <= 0):
        raise ValueError(f"thresholds must be a non-empty increasing 1-D array, "
                         f"got {thresholds}")
    # bins[c, k]: pixels of class c whose score lies in [t_k, t_k+1); bin 0: below t_0.
    bins = np.zeros((2, len(thresholds) + 1), np.int64)
    for start in range(0, len(scores), CHUNK):
        chunk = np.ravel(scores[start:start + CHUNK])
        truth = np.ravel(masks[start:start + CHUNK]).astype(bool)
        where = np.searchsorted(thresholds, chunk, side="right")
        for c, pixels in enumerate((where[~truth], where[truth])):
            bins[c] += np.bincount(pixels, minlength=len(thresholds) + 1)
    at_or_above = np.cumsum(bins[:, ::-1], axis=1)[:, ::-1][:, 1:]     # (2, K)
    below = bins.sum(axis=1, keepdims=True) - at_or_above
    return np.stack([below, at_or_above], axis=-1).transpose(1, 0, 2)


def best_threshold(scores, masks, thresholds):
    """The threshold t of ``thresholds`` whose mask ``scores >= t`` has the largest F1.

    Parameters
    ----------
    scores, masks, thresholds : as for ``threshold_counts``
        E.g. the training images' scores and Canny masks.

    Returns
    -------
    threshold : float
        The first of the best, should several tie.
    f1 : np.ndarray of float64, shape (K,)
        The F1 of each threshold (micro, as ``mask_scores``).
    """
    counts = threshold_counts(scores, masks, thresholds)
    f1 = np.array([per_class_scores(confusion)["f1"][1] for confusion in counts])
    return float(np.asarray(thresholds)[np.argmax(f1)]), f1


def train_edge_mlp(x, masks, loss, hidden=(256, 256), *, num_epoch=6, learning_rate=1e-3,
                   batch_size=128, seed=0):
    """An MLP ``d - hidden... - d`` with one logit per pixel, trained to draw ``masks``.

    Parameters
    ----------
    x : np.ndarray of float32, shape (N, d)
        Image rows (grey pixels in [0, 1]).
    masks : np.ndarray of 0/1, shape (N, d)
        The target of each output: 1 on an edge pixel.
    loss : {"bce", "se"}
        ``EDGE_LOSSES``: binary cross-entropy or squared error of sigmoid(z), each the
        mean over all N d outputs.
    hidden : sequence of int >= 1
        Widths of the hidden ReLU layers.
    num_epoch, learning_rate, batch_size
        Adam with a cosine schedule (``imagelab.training.loop.train_to_targets``).
    seed : int >= 0
        Seed of the initial weights and of the batch order.

    Returns
    -------
    network : imagelab.nn.network.Network
        Its outputs are logits: sigmoid(logit) is a pixel's edge probability.
    losses : list of float
        Each epoch's mean training loss.
    """
    network = mlp([x.shape[1], *hidden, masks.shape[1]], "relu", seed=seed)
    losses = train_to_targets(network, x, masks, EDGE_LOSSES[loss], num_epoch=num_epoch,
                              batch_size=batch_size, learning_rate=learning_rate, seed=seed)
    return network, losses


def edge_probabilities(network, x):
    """sigmoid of the network's logits: float32 (N, d), each pixel's edge probability."""
    return sigmoid(network.predict_logits(x)).astype(np.float32, copy=False)


def baseline_scores(images_train, masks_train, images_test, masks_test, thresholds):
    """The two baselines' test scores: all background, and the thresholded Sobel magnitude.

    Parameters
    ----------
    images_train, images_test : np.ndarray of float, shape (N, H, W)
        Grey images in [0, 1].
    masks_train, masks_test : np.ndarray of 0/1, shape (N, H, W)
        Their Canny masks.
    thresholds : array_like of float, increasing
        The candidate thresholds of the gradient magnitude.

    Returns
    -------
    scores : dict
        "all_background": ``mask_scores`` of a mask of zeros; "gradient_magnitude": those
        of ``sobel_magnitude >= t`` on the test images, with "threshold" t, the one of
        ``thresholds`` of largest F1 on the training images (``best_threshold``), and
        "train_f1" that F1.
    test_masks : np.ndarray of bool, shape (N_test, H, W)
        The gradient-magnitude baseline's test masks.
    """
    threshold, f1 = best_threshold(sobel_magnitude(images_train), masks_train, thresholds)
    test_masks = sobel_magnitude(images_test) >= threshold
    return {"all_background": mask_scores(masks_test, np.zeros_like(masks_test)),
            "gradient_magnitude": {"threshold": threshold, "train_f1": float(f1.max()),
                                   **mask_scores(masks_test, test_masks)}}, test_masks


def compare_losses(x_train, masks_train, x_test, masks_test, thresholds, *, losses=("bce", "se"),
                   seeds=(0, 1, 2), examples=(), report=None, **training):
    """Train an edge MLP with each loss and each seed; score each on the test images.

    Each network's masks are scored twice: at probability 0.5, and at the threshold
    of ``thresholds`` of largest F1 on the training images (chosen as the baseline's).

    Parameters
    ----------
    x_train, x_test : np.ndarray of float32, shape (N, d)
        Image rows, grey pixels in [0, 1].
    masks_train, masks_test : np.ndarray of 0/1, shape (N, d)
    thresholds : array_like of float in (0, 1), increasing
    losses : sequence of names of ``EDGE_LOSSES``
    seeds : sequence of int >= 0
    examples : sequence of int
        Test rows whose edge probabilities are kept, by the first seed's networks.
    report : callable (int, str) -> None, optional
        Called after each training with the number done and a line saying how it went.
    **training
        ``hidden``, ``num_epoch``, ``learning_rate``, ``batch_size`` of ``train_edge_mlp``.

    Returns
    -------
    results : dict
        loss -> {"runs": one dict per seed ("seed", "train_loss" per epoch, "threshold",
        "train_f1", "at_0.5" and "at_threshold": ``mask_scores`` of the test masks),
        "spread": for "at_0.5" and "at_threshold", each score's ``seed_spread`` over the seeds,
        and "threshold"'s}.
    probabilities : dict
        loss -> np.ndarray of float32 (len(examples), d), the examples' edge probabilities.
    """
    results, probabilities, done = {}, {}, 0
    for loss in losses:
        runs = []
        for seed in seeds:
            network, train_loss = train_edge_mlp(x_train, masks_train, loss, seed=seed,
                                                 **training)
            threshold, f1 = best_threshold(edge_probabilities(network, x_train), masks_train,
                                           thresholds)
            p_test = edge_probabilities(network, x_test)
            runs.append({"seed": seed, "train_loss": train_loss, "threshold": threshold,
                         "train_f1": float(f1.max()),
                         "at_0.5": mask_scores(masks_test, p_test >= 0.5),
                         "at_threshold": mask_scores(masks_test, p_test >= threshold)})
            if seed == seeds[0]:
                probabilities[loss] = p_test[list(examples)]
            done += 1
            if report is not None:
                report(done, f"{loss} seed {seed}: test F1 {runs[-1]['at_0.5']['f1']:.4f} at "
                             f"0.5, {runs[-1]['at_threshold']['f1']:.4f} at {threshold:.2f}")
        summary = {rule: {key: seed_spread([run[rule][key] for run in runs])
                          for key in runs[0][rule]}
                   for rule in ("at_0.5", "at_threshold")}
        summary["threshold"] = seed_spread([run["threshold"] for run in runs])
        results[loss] = {"runs": runs, "spread": summary}
    return results, probabilities


def score_table(baselines, results, metrics=("precision", "recall", "f1", "iou")):
    """Every method's test scores as ``seed_spread``s, the baselines' over their one value.

    Parameters
    ----------
    baselines : dict, as ``baseline_scores`` returns it
    results : dict, as ``compare_losses`` returns it
    metrics : sequence of keys of ``mask_scores``

    Returns
    -------
    dict
        method -> metric -> {"mean", "std", "min", "max"}; methods "all_background",
        "gradient_magnitude", then "<loss>_at_0.5" and "<loss>_at_threshold" per loss.
    """
    table = {name: {key: seed_spread([scores[key]]) for key in metrics}
             for name, scores in baselines.items()}
    for loss, result in results.items():
        for rule in ("at_0.5", "at_threshold"):
            table[f"{loss}_{rule}"] = {key: result["spread"][rule][key] for key in metrics}
    return table


def example_rows(labels, count):
    """Rows of one image per class, the first of each, for the first ``count`` classes.

    Returns np.ndarray of int, shape (min(count, number of classes present),).
    """
    return np.unique(labels, return_index=True)[1][:count]
