"""The embeddings study: layer outputs against the weights, the scores against slow loops
and scikit-learn, t-SNE on separated blobs, and the command end to end on tiny data."""
import collections
import json
import math
import os
import sys

import numpy as np
import pytest
import threadpoolctl

from conftest import make_mnist_folder, set_mnist_sizes
from imagelab.analysis import embeddings, models
from imagelab.analysis.embeddings import (embedding_layers, knn_accuracy, layer_outputs,
                                          silhouette)
from imagelab.analysis.models import STUDY_CNN
from imagelab.cli.studies import embeddings as command
from imagelab.nn.architectures import build
from imagelab.nn.network import mlp


def test_mlp_outputs_are_the_pre_activations_computed_with_the_weights():
    network = mlp([6, 5, 4, 3], "relu", seed=0, dtype=np.float64)
    for layer in network.layers[::2]:          # non-zero biases, so that they count
        layer.b.value[...] = np.random.default_rng(1).normal(size=layer.b.value.shape)
    x = np.random.default_rng(2).normal(size=(7, 6))
    (w1, b1), (w2, b2), (w3, b3) = [layer.parameters() for layer in network.layers[::2]]
    z1 = x @ w1.value + b1.value
    z2 = np.maximum(z1, 0) @ w2.value + b2.value
    logits = np.maximum(z2, 0) @ w3.value + b3.value
    layers = embedding_layers(network)
    assert [name for name, _ in layers] == ["hidden 1", "hidden 2", "logits"]
    outputs = layer_outputs(network, x, [index for _, index in layers], batch_size=3)
    # Each entry is a sum of at most 6 products of values of order 1: in any order of
    # summation (BLAS kernels differ) float64 rounds it within about 6 * 2.2e-16 * 10.
    for got, expected in zip(outputs, (z1, z2, logits)):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_the_cnn_last_hidden_layer_is_the_input_of_its_last_relu():
    network = build(STUDY_CNN[:3] + [["pool", 2], ["flatten"], ["dense", 6], ["bn"],
                                     ["relu"], ["dense", 3]], (8, 8, 1), seed=0)
    layers = embedding_layers(network)
    assert [name for name, _ in layers] == ["hidden 1", "hidden 2", "logits"]
    last_hidden = layers[-2][1]
    assert type(network.layers[last_hidden + 1]).__name__ == "ReLU"
    images = np.random.default_rng(3).random((5, 8, 8, 1), np.float32)
    hidden, logits = layer_outputs(network, images, [last_hidden, len(network.layers) - 1])
    assert hidden.shape == (5, 6)
    w, b = network.layers[-1].parameters()
    # The logits are the dense layer of ReLU(hidden): rounding of a 6-term float32 sum.
    np.testing.assert_allclose(logits, np.maximum(hidden, 0) @ w.value + b.value,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits, network.forward(images), rtol=1e-6, atol=1e-6)


def slow_knn_accuracy(points, labels, k):
    """Leave-one-out k-NN, one point at a time; ties to the tied label nearest first."""
    correct = 0
    for i, p in enumerate(points):
        others = sorted((math.dist(p, q), j) for j, q in enumerate(points) if j != i)
        votes = [labels[j] for _, j in others[:k]]
        counts = collections.Counter(votes)
        most = max(counts.values())
        predicted = next(v for v in votes if counts[v] == most)
        correct += predicted == labels[i]
    return correct / len(points)


@pytest.mark.parametrize("k, dimension", [(1, 2), (4, 2), (5, 7)])
def test_knn_accuracy_matches_a_slow_loop(k, dimension, monkeypatch):
    monkeypatch.setattr(embeddings, "BLOCK_ROWS", 13)       # several blocks of rows
    rng = np.random.default_rng(k)
    labels = rng.integers(0, 4, 60)
    points = rng.normal(size=(60, dimension)) + labels[:, None] * 0.7
    expected = slow_knn_accuracy(points, labels, k)
    assert 0.2 < expected < 1                                # neither trivial nor perfect
    assert knn_accuracy(points, labels, k) == expected


def test_knn_ties_go_to_the_label_of_the_nearest_tied_neighbour():
    points = np.array([[0.0], [1.0], [-2.5], [3.0], [-4.5]])
    # Point 0's 4 nearest: 1 (label 2), 2 (label 1), 3 (label 1), 4 (label 2): a tie of
    # two votes each, which label 2 wins (its neighbour at distance 1 is the nearest).
    labels = np.array([2, 2, 1, 1, 2])
    assert slow_knn_accuracy(points, labels, 4) == knn_accuracy(points, labels, 4)
    labels = np.array([1, 2, 1, 1, 2])
    assert slow_knn_accuracy(points, labels, 4) == knn_accuracy(points, labels, 4)


def slow_silhouette(points, labels):
    """The mean silhouette by its definition, one point at a time."""
    scores = []
    for i, p in enumerate(points):
        same = [math.dist(p, q) for j, q in enumerate(points)
                if labels[j] == labels[i] and j != i]
        if not same:
            scores.append(0.0)
            continue
        a = sum(same) / len(same)
        b = min(np.mean([math.dist(p, q) for j, q in enumerate(points) if labels[j] == c])
                for c in set(labels) - {labels[i]})
        scores.append((b - a) / max(a, b))
    return sum(scores) / len(scores)


def points_and_labels(n=50, seed=0):
    """Blurred clusters in 2-D, labels 0, 1, 3 and one point alone in class 5."""
    rng = np.random.default_rng(seed)
    labels = rng.choice([0, 1, 3], n)
    labels[7] = 5
    return rng.normal(size=(n, 2)) + 1.5 * labels[:, None], labels


def test_silhouette_matches_its_definition_and_scikit_learn(monkeypatch):
    monkeypatch.setattr(embeddings, "BLOCK_ROWS", 16)
    points, labels = points_and_labels()
    # Squared distances by ||a||^2 + ||b||^2 - 2 a.b lose about 1e-16 * 200 (the squared
    # norms here) in absolute terms; between points at least 1e-3 apart the square root
    # keeps the relative error under 1e-16 * 200 / 1e-6 = 2e-8, and so does each mean.
    distances = np.linalg.norm(points[:, None] - points[None], axis=2)
    assert distances[~np.eye(len(points), dtype=bool)].min() > 1e-3
    assert np.sum(points ** 2, axis=1).max() < 200
    expected = slow_silhouette(points, labels)
    assert silhouette(points, labels) == pytest.approx(expected, rel=1e-7)
    metrics = pytest.importorskip("sklearn.metrics")
    assert silhouette(points, labels) == pytest.approx(
        metrics.silhouette_score(points, labels), rel=1e-7)


def test_silhouette_refuses_a_single_class():
    with pytest.raises(ValueError, match="two classes"):
        silhouette(np.zeros((4, 2)), np.zeros(4, int))


def test_tsne_keeps_separated_blobs_apart():
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    features = rng.normal(size=(60, 10)) + 8 * np.eye(10)[labels]
    # t-SNE's OpenMP threads wait by spinning: on cores busy with other work (the suite
    # run beside another job) 60 points took 10 s with two threads, 0.2 s with one.
    with threadpoolctl.threadpool_limits(1, "openmp"):
        points, scores = embeddings.scored_map(features, labels, seed=1, k=3, perplexity=10)
        again = embeddings.tsne_map(features, 1, 10)
    assert points.shape == (60, 2) and points.dtype == np.float64
    assert scores["knn_map"] == 1 and scores["knn_features"] == 1
    assert scores["silhouette_map"] > 0.5
    np.testing.assert_array_equal(points, again)


def test_without_scikit_learn_the_maps_name_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[tsne\]'"):
        embeddings.require_tsne()


def first_two_columns(features, seed=0, perplexity=30.0):
    """A stand-in for t-SNE in the end-to-end test (t-SNE costs a second a map)."""
    return np.asarray(features, np.float64)[:, :2] + seed


@pytest.fixture
def tiny_fashion(tmp_path, monkeypatch):
    """A tiny Fashion-MNIST (80 training, 30 test images) and a results folder."""
    set_mnist_sizes(monkeypatch, (80, 30))
    make_mnist_folder(tmp_path / "data" / "fashion-mnist", counts=(80, 30))
    return str(tmp_path / "data"), str(tmp_path / "results")


FAST = ["--points", "20", "--perplexity", "5", "--seeds", "2", "--architectures", "6,5",
        "7", "--epochs", "1", "--cnn-epochs", "1", "--k", "3", "--no-download"]


def test_the_command_writes_its_figures_and_every_score(tiny_fashion, monkeypatch, capsys):
    pytest.importorskip("sklearn")
    monkeypatch.setattr(embeddings, "tsne_map", first_two_columns)
    data_dir, results = tiny_fashion
    command.main(["--data-dir", data_dir, "--results-dir", results, *FAST])
    name = os.path.join(results, "study_embeddings_fashion-mnist")
    for path in (name + ".png", name + "_scores.png"):
        assert os.path.getsize(path) > 1000
    with open(name + ".json") as f:
        record = json.load(f)
    # pixels, CNN untrained and trained, 3 + 3 layers of 6,5, 2 + 2 of 7
    assert len(record["maps"]) == 13
    assert record["maps"][0]["name"] == "pixels"
    assert all(len(m["knn_map"]["values"]) == 2 for m in record["maps"])
    assert len(record["models"]["MLP 784-6-5-10"]["values"]) == 2
    assert record["command"].startswith("imagelab study embeddings --data-dir")
    assert "[13/" in capsys.readouterr().err                 # the progress line


@pytest.mark.parametrize("flags, message", [
    (["--points", "0"], "--points: must be an integer >= 1, got 0"),
    (["--perplexity", "40", "--points", "40"], "--perplexity: must be below --points"),
    (["--k", "25", "--points", "25", "--perplexity", "5"], "--k: must be below --points"),
    (["--architectures", "256,x"], "must be hidden widths such as 256,256"),
    (["--architectures", "8", "8"], "--architectures: must name each architecture once"),
])
def test_a_bad_flag_is_one_line_before_any_data_is_read(tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as stop:
        command.main(["--data-dir", str(tmp_path), "--no-download", *flags])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not os.path.exists(tmp_path / "fashion-mnist")


def test_more_points_than_test_images_is_one_line(tiny_fashion, capsys):
    pytest.importorskip("sklearn")
    data_dir, results = tiny_fashion
    with pytest.raises(SystemExit) as stop:
        command.main(["--data-dir", data_dir, "--results-dir", results, *FAST,
                      "--points", "31"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--points: must be at most the 30 test images" in err


def test_without_scikit_learn_the_command_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)
    with pytest.raises(SystemExit) as stop:
        command.main(["--data-dir", str(tmp_path), "--no-download"])
    # SystemExit("error: ...") prints its one line to stderr and exits with status 1.
    assert str(stop.value.code).startswith("error: ") and "\n" not in str(stop.value.code)
    assert "pip install -e '.[tsne]'" in str(stop.value.code)


def test_the_untrained_networks_are_the_ones_the_trainings_start_from(monkeypatch):
    """The command maps ``mlp(...)`` and ``build(...)`` as the start of ``train_mlp`` and
    ``train_cnn``: with the training left out, the weights must be the same."""
    monkeypatch.setattr(models, "_train", lambda network, *args, **kwargs: {})
    x = np.random.default_rng(4).random((20, 64), np.float32)
    labels = np.arange(20) % 3
    trained, _ = models.train_mlp(x, labels, (5, 4), seed=7)
    for got, expected in zip(mlp([64, 5, 4, 3], "relu", seed=7).get_weights(),
                             trained.get_weights()):
        np.testing.assert_array_equal(got, expected)
    trained, _ = models.train_cnn(x, labels, (8, 8, 1), seed=7)
    untrained = build(STUDY_CNN + [["dense", 3]], (8, 8, 1), seed=7)
    for got, expected in zip(untrained.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(got, expected)
