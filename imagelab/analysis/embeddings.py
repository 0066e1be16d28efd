"""What a network's layers make of the images: their activations, 2-D t-SNE maps, and a
score for each map.

A map is only a picture; two numbers say how well it keeps the classes apart:

- the leave-one-out k-NN accuracy: each point is given the majority label of its k
  nearest other points (ties: the tied class met first among them, from the nearest),
  and the score is the fraction of points given their own label;
- the silhouette: for point i of class c, a_i is its mean distance to the other points of
  c, b_i the smallest mean distance to the points of another class, and
  s_i = (b_i - a_i) / max(a_i, b_i) (0 for a class of one point); the score is the mean
  of s_i, from -1 to 1, high when the classes are compact and far apart.

t-SNE itself is scikit-learn's (``sklearn.manifold.TSNE``), an optional package
(``pip install -e '.[tsne]'`` in the clone), imported only when a map is drawn.
"""
import numpy as np

from imagelab.nn.layers import ACTIVATIONS
from imagelab.utils.checks import check_int

# Rows of the distance matrices computed at once: 1,000 rows of 10,000 points are 80 MB.
BLOCK_ROWS = 1000


def require_tsne():
    """scikit-learn's ``TSNE`` class, or ImportError saying how to install it."""
    try:
        from sklearn.manifold import TSNE
    except ImportError as error:
        raise ImportError("the t-SNE maps need scikit-learn, which is not installed: run "
                          "`pip install -e '.[tsne]'` in the clone (or `pip install "
                          "scikit-learn`)") from error
    return TSNE


def embedding_layers(network):
    """The layers whose outputs the study maps: each hidden layer before its activation,
    and the logits.

    A hidden layer's pre-activation is the output of the layer just before an activation
    layer (``imagelab.nn.layers.ACTIVATIONS``): a Dense layer in an MLP, the batch norm
    after a Dense or convolution layer in a CNN.

    Returns
    -------
    list of (name, index)
        ``("hidden 1", i1), ..., ("logits", len(network.layers) - 1)``, in layer order.
    """
    layers = network.layers
    activations = tuple(ACTIVATIONS.values())
    hidden = [i for i in range(len(layers) - 1) if isinstance(layers[i + 1], activations)]
    return ([(f"hidden {n}", i) for n, i in enumerate(hidden, start=1)]
            + [("logits", len(layers) - 1)])


def layer_outputs(network, x, indices, batch_size=500):
    """The outputs of the layers ``indices`` of ``network`` for the inputs ``x``.

    The network runs as it predicts (dropout off, batch norm on its running statistics),
    by batches of ``batch_size`` rows to bound the memory.

    Parameters
    ----------
    network : imagelab.nn.network.Network
    x : np.ndarray, shape (N, ...) of the network's input
    indices : sequence of int
        Positions in ``network.layers`` (0 is the first layer's output).
    batch_size : int >= 1

    Returns
    -------
    list of np.ndarray, one per index, shape (N, d) (each output flattened), in the
    weights' dtype.
    """
    batch_size = check_int(batch_size, "batch_size", 1)
    count = len(network.layers)
    indices = [check_int(i, "indices", 0, count - 1) for i in indices]
    dtype = network.parameters()[0].value.dtype
    outputs = {i: [] for i in indices}
    for start in range(0, len(x), batch_size):
        h = np.asarray(x[start:start + batch_size], dtype)
        for i, layer in enumerate(network.layers[:max(indices) + 1]):
            h = layer.forward(h, training=False)
            if i in outputs:
                outputs[i].append(h.reshape(len(h), -1))
    return [np.concatenate(outputs[i]) for i in indices]


def tsne_map(features, seed=0, perplexity=30.0):
    """A 2-D t-SNE map of the rows of ``features`` (scikit-learn's Barnes-Hut t-SNE).

    PCA initialisation, the "auto" learning rate (max(N / 12 / 4, 50), 12 being the
    early exaggeration) and 1,000 iterations: scikit-learn's defaults. The affinities
    are calibrated to the ``perplexity`` point by point, so that the scale of the
    features does not matter.

    Parameters
    ----------
    features : np.ndarray, shape (N, d), N > perplexity
    seed : int >= 0
        The seed of t-SNE's randomness (its optimisation depends on it a little).
    perplexity : float > 0
        About the number of neighbours each point attends to.

    Returns
    -------
    np.ndarray of float64, shape (N, 2)
    """
    tsne = require_tsne()(n_components=2, perplexity=perplexity, init="pca",
                          learning_rate="auto", random_state=check_int(seed, "seed", 0))
    return tsne.fit_transform(np.asarray(features, np.float64)).astype(np.float64)


def _squared_distance_blocks(points):
    """Yield (start, D) for blocks of rows: D[r, j] = ||p_(start + r) - p_j||^2, >= 0.

    ||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b, in float64: one matrix product per block.
    """
    points = np.asarray(points, np.float64)
    squared = np.sum(points * points, axis=1)
    for start in range(0, len(points), BLOCK_ROWS):
        block = points[start:start + BLOCK_ROWS]
        distances = squared[start:start + BLOCK_ROWS, None] + squared - 2 * block @ points.T
        yield start, np.maximum(distances, 0)        # rounding may leave -1e-16


def knn_accuracy(points, labels, k=5):
    """Leave-one-out k-NN accuracy of labelled points (Euclidean distance).

    Each point is given the label most frequent among its ``k`` nearest other points;
    a tie goes to the tied label met first from the nearest neighbour on.

    Parameters
    ----------
    points : np.ndarray, shape (N, d), N > k
    labels : np.ndarray of int >= 0, shape (N,)
    k : int >= 1

    Returns
    -------
    float : the fraction of points given their own label
    """
    labels = np.asarray(labels)
    k = check_int(k, "k", 1, len(labels) - 1)
    num_classes = int(labels.max()) + 1
    correct = 0
    for start, distances in _squared_distance_blocks(points):
        rows = np.arange(len(distances))
        distances[rows, start + rows] = np.inf                 # leave the point itself out
        nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]
        votes = labels[nearest]                                # (rows, k), nearest first
        counts = np.zeros((len(rows), num_classes), int)
        np.add.at(counts, (rows[:, None], votes), 1)
        # The first neighbour whose label has the most votes: the nearest of the tied.
        top = counts[rows[:, None], votes] == counts.max(axis=1, keepdims=True)
        predicted = votes[rows, np.argmax(top, axis=1)]
        correct += int(np.sum(predicted == labels[start:start + len(rows)]))
    return correct / len(labels)


def silhouette(points, labels):
    """Mean silhouette of labelled points (Euclidean distance), from -1 to 1.

    s_i = (b_i - a_i) / max(a_i, b_i): a_i the mean distance from point i to the other
    points of its class, b_i the smallest mean distance to the points of another class;
    s_i = 0 for the only point of its class (scikit-learn's convention).

    Parameters
    ----------
    points : np.ndarray, shape (N, d)
    labels : np.ndarray of int >= 0, shape (N,), at least two distinct labels

    Returns
    -------
    float
    """
    classes, labels = np.unique(np.asarray(labels), return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"silhouette needs at least two classes, got {len(classes)}")
    one_hot = np.eye(len(classes))[labels]                     # (N, C)
    sizes = one_hot.sum(axis=0)
    scores = []
    for start, distances in _squared_distance_blocks(points):
        rows = np.arange(len(distances))
        own = labels[start:start + len(rows)]
        distances = np.sqrt(distances)
        distances[rows, start + rows] = 0                      # exactly, despite rounding
        sums = distances @ one_hot                             # (rows, C): sum per class
        a = sums[rows, own] / np.maximum(sizes[own] - 1, 1)
        means = sums / sizes
        means[rows, own] = np.inf
        b = means.min(axis=1)
        largest = np.maximum(a, b)
        s = np.divide(b - a, largest, out=np.zeros_like(a), where=largest > 0)
        scores.append(np.where(sizes[own] > 1, s, 0.0))
    return float(np.mean(np.concatenate(scores)))


def scored_map(features, labels, seed=0, k=5, perplexity=30.0):
    """The t-SNE map of ``features`` and its scores.

    Parameters
    ----------
    features : np.ndarray, shape (N, d)
    labels : np.ndarray of int, shape (N,)
    seed, perplexity : as for ``tsne_map``; k : as for ``knn_accuracy``

    Returns
    -------
    points : np.ndarray of float64, shape (N, 2)
    scores : dict
        "knn_map" and "silhouette_map" (in the 2-D map), "knn_features" (the same
        k-NN accuracy in the d-dimensional features: what the map could keep).
    """
    points = tsne_map(features, seed, perplexity)
    return points, {"knn_map": knn_accuracy(points, labels, k),
                    "silhouette_map": silhouette(points, labels),
                    "knn_features": knn_accuracy(features, labels, k)}
