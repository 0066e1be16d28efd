"""What an MLP looks at: input gradients of class scores, and first-layer weights as images.

The gradient of a class's score with respect to the input image says which pixels, nudged,
would change that score most: a map of the image's size. The score is the class's logit
z_k, not its softmax probability p_k: dp_k/dx = p_k (dz_k/dx - sum_j p_j dz_j/dx) is
multiplied by p_k (1 - p_k) for the true class of a confident prediction, so it vanishes
where the network is sure, and it mixes every class's map into each one. The logit's map
is the network's own evidence for the class; ``class_score_gradient`` gives both so that
the study can measure the difference.

The first layer's weights are images too: unit j of ``Dense(784, h)`` computes
w_j . x + b_j, a template laid over the image (``first_layer_images``).
"""
import numpy as np

from imagelab.nn.functional import softmax
from imagelab.nn.layers import Dense
from imagelab.analysis.models import accuracy_of, train_mlp
from imagelab.training.metrics import seed_spread

SCORES = ("logit", "probability")
# The models of the study: hidden-layer widths, () being the linear softmax classifier.
HIDDEN = ((), (10,), (32,), (256,))


def class_score_gradient(network, x, classes, score="logit"):
    """d score_k(x_n) / d x_n for each row n and its class k = ``classes[n]``.

    One forward pass, then one backward pass from the upstream gradient dS/dz, S the sum
    over rows of their classes' scores: rows do not interact, so row n of dS/dx is the
    gradient of its own score.

    - "logit": dS/dz_n = e_k, the one-hot vector of class k.
    - "probability": p = softmax(z_n), dp_k/dz_n = p_k (e_k - p).

    Parameters
    ----------
    network : imagelab.nn.network.Network
        Predicting (dropout off, batch norm on its running statistics).
    x : np.ndarray, shape (N, ...) of the network's input, floating
    classes : np.ndarray of int, shape (N,)
        The class whose score each row's gradient is of (the true one, or any other).
    score : {"logit", "probability"}

    Returns
    -------
    np.ndarray, shape ``x.shape``, dtype of the computation
        Also overwrites every parameter's ``grad``, as any backward pass does.
    """
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    z = network.forward(x, training=False)
    classes = np.asarray(classes)
    if classes.shape != (len(z),) or classes.min() < 0 or classes.max() >= z.shape[1]:
        raise ValueError(f"classes must hold one class in 0..{z.shape[1] - 1} per row "
                         f"({len(z)}), got shape {classes.shape}")
    upstream = np.zeros_like(z)
    upstream[np.arange(len(z)), classes] = 1
    if score == "probability":
        p = softmax(z)
        upstream = p[np.arange(len(z)), classes][:, None] * (upstream - p)
    return network.backward(upstream, need_dx=True)


def first_layer_images(network, image_shape):
    """The first Dense layer's weights, one image per unit (or per class, no hidden layer).

    Parameters
    ----------
    network : imagelab.nn.network.Network whose first layer is ``Dense(d, h)``
    image_shape : tuple of ints whose product is d, e.g. (28, 28)

    Returns
    -------
    np.ndarray, shape (h, *image_shape), dtype of the weights
        Row j is the column W[:, j] of the weights, unit j's template.
    """
    layer = network.layers[0]
    if not isinstance(layer, Dense):
        raise ValueError(f"the first layer must be Dense, got {layer!r}")
    weights = layer.parameters()[0].value                      # (d, h)
    return weights.T.reshape(weights.shape[1], *image_shape)


def share_on_object(maps, images, threshold=0.1):
    """The share of each map's absolute mass that lies on the object's pixels.

        share_n = sum_{i : x_ni > t} |g_ni| / sum_i |g_ni|

    with the object the pixels brighter than ``t`` (Fashion-MNIST's background is 0).
    Compare it with ``object_area``: a map blind to the image would put that share there.

    Parameters
    ----------
    maps : np.ndarray, shape (N, d)
        Gradient maps (or any maps), rows flattened like the images.
    images : np.ndarray, shape (N, d)
        Pixels in [0, 1].
    threshold : float
        t.

    Returns
    -------
    np.ndarray of float64, shape (N,); 0 for a map that is 0 everywhere
    """
    mass = np.abs(np.asarray(maps, np.float64))
    total = mass.sum(axis=1)
    on_object = np.where(images > threshold, mass, 0).sum(axis=1)
    return np.divide(on_object, total, out=np.zeros_like(total), where=total > 0)


def object_area(images, threshold=0.1):
    """The fraction of each image's pixels brighter than ``threshold``: (N, d) -> (N,)."""
    return np.mean(images > threshold, axis=1)


def correlation(a, b):
    """Pearson's correlation of two arrays of one size, taken as flat vectors.

        r = sum (a_i - mean a)(b_i - mean b) / sqrt(sum (a_i - mean a)^2 sum (b_i - mean b)^2)

    Returns a float in [-1, 1]; 0 if either array is constant (no direction to compare).
    """
    a = np.ravel(a).astype(np.float64) - np.mean(a, dtype=np.float64)
    b = np.ravel(b).astype(np.float64) - np.mean(b, dtype=np.float64)
    norms = np.sqrt(np.dot(a, a) * np.dot(b, b))
    return float(np.dot(a, b) / norms) if norms > 0 else 0.0


def runner_up_and_last(network, x, labels):
    """For each row, the other class of the largest logit and the class of the smallest.

    Returns
    -------
    runner_up, last : np.ndarray of int, shape (N,)
        ``runner_up[n]`` is never ``labels[n]``; ``last[n]`` is the least likely class.
    """
    z = np.array(network.predict_logits(x), np.float64)
    last = z.argmin(axis=1)
    z[np.arange(len(z)), labels] = -np.inf
    return z.argmax(axis=1), last



def train_models(x, labels, hidden_sizes=HIDDEN, seeds=(0, 1, 2), num_epoch=8, report=None):
    """One MLP per hidden-layer widths and seed (``train_mlp``, ReLU units).

    Parameters
    ----------
    x : np.ndarray of float32, shape (N, d), pixels in [0, 1]; labels : np.ndarray of int (N,)
    hidden_sizes : sequence of tuples of int
    seeds : sequence of int >= 0
    num_epoch : int >= 1
    report : callable (done, text) -> None, optional
        Called after each training (e.g. ``Progress.update``).

    Returns
    -------
    dict : name ("784-10", ...) -> list of networks, one per seed
    """
    models, done = {}, 0
    for hidden in hidden_sizes:
        name = model_name(x.shape[1], hidden, int(np.max(labels)) + 1)
        models[name] = []
        for seed in seeds:
            models[name].append(train_mlp(x, labels, hidden, num_epoch=num_epoch, seed=seed)[0])
            done += 1
            if report is not None:
                report(done, f"trained {done}/{len(hidden_sizes) * len(seeds)}: {name}, "
                             f"seed {seed}")
    return models


def model_name(d_in, hidden, num_classes):
    """The layer widths joined by dashes: "784-32-10"; "784-10" has no hidden layer."""
    return "-".join(str(size) for size in (d_in, *hidden, num_classes))


def measure(models, x_test, labels_test, mean_image, image_shape, threshold=0.1):
    """The study's numbers for each model, each a ``seed_spread`` over its seeds.

    - "test_accuracy";
    - "share_on_object": mean over the test images of ``share_on_object`` of the true
      class's logit gradient ("object_area" is the share of the pixels themselves);
    - "probability_to_logit_norm": median over the test images of
      ||dp_true/dx|| / ||dz_true/dx||, how much smaller the probability's map is;
    - "mean_weight_correlation": ``correlation`` of the mean of the first-layer images
      over units with ``mean_image`` (the mean training image).

    Parameters
    ----------
    models : dict, name -> list of networks (``train_models``)
    x_test : np.ndarray of float32, shape (N, d); labels_test : np.ndarray of int (N,)
    mean_image : np.ndarray, shape (d,)
    image_shape : tuple, e.g. (28, 28)

    Returns
    -------
    dict : name -> {number's name -> spread dict}, and "object_area" -> float
    """
    record = {"object_area": float(object_area(x_test, threshold).mean())}
    for name, networks in models.items():
        values = {"test_accuracy": [], "share_on_object": [], "probability_to_logit_norm": [],
                  "mean_weight_correlation": []}
        for network in networks:
            values["test_accuracy"].append(accuracy_of(network, x_test, labels_test))
            logit = class_score_gradient(network, x_test, labels_test)
            probability = class_score_gradient(network, x_test, labels_test, "probability")
            values["share_on_object"].append(share_on_object(logit, x_test, threshold).mean())
            ratio = (np.linalg.norm(probability, axis=1)
                     / np.maximum(np.linalg.norm(logit, axis=1), np.finfo(np.float32).tiny))
            values["probability_to_logit_norm"].append(np.median(ratio))
            templates = first_layer_images(network, image_shape)
            values["mean_weight_correlation"].append(correlation(templates.mean(axis=0),
                                                                 mean_image))
        record[name] = {key: seed_spread(value) for key, value in values.items()}
    return record


def example_maps(network, images, labels):
    """Gradient maps of the true class, the runner-up and the least likely class.

    Parameters
    ----------
    network : Network; images : np.ndarray of float32 (n, d); labels : np.ndarray of int (n,)

    Returns
    -------
    maps : np.ndarray, shape (n, 3, d)
        The logit gradients of ``labels``, of the runner-up classes, of the last classes.
    classes : np.ndarray of int, shape (n, 3)
        The class of each map.
    """
    runner_up, last = runner_up_and_last(network, images, labels)
    classes = np.stack([labels, runner_up, last], axis=1)
    maps = np.stack([class_score_gradient(network, images, classes[:, j]) for j in range(3)],
                    axis=1)
    return maps, classes
