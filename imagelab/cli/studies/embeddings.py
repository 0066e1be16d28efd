"""2-D t-SNE maps of test images: the pixels, each layer of two MLPs before and after
training, and the CNN's last hidden layer, each scored by k-NN accuracy and silhouette.

    imagelab study embeddings [--points 1000] [--seeds 3] [--architectures 256,256 512]

Writes ``study_embeddings_<dataset>.png`` (the maps of the first seed),
``study_embeddings_<dataset>_scores.png`` (every map's k-NN accuracy over the seeds) and
``study_embeddings_<dataset>.json``. Seed s (from --seed) draws the MLPs' weights and
batches and t-SNE's randomness; the CNN is trained once (seed --seed), its maps vary
with t-SNE's seed only. Needs scikit-learn (``pip install -e '.[tsne]'`` in the clone).
"""
import argparse
import time

import numpy as np

from imagelab.analysis.embeddings import (embedding_layers, layer_outputs, require_tsne,
                                          scored_map)
from imagelab.analysis.models import STUDY_CNN, accuracy_of, train_cnn, train_mlp, unit_pixels
from imagelab.cli.arguments import (ArgumentParser, FlagError, check_outputs, positive_float,
                                    positive_int, run_command)
from imagelab.cli.studies import add_study_arguments, add_training_arguments
from imagelab.data.registry import DATASETS
from imagelab.data.splits import data_note, load_split, result_name
from imagelab.nn.architectures import build
from imagelab.training.metrics import seed_spread
from imagelab.nn.network import mlp
from imagelab.utils.files import add_note, save_figure, save_results
from imagelab.utils.progress import Progress
from imagelab.viz.embeddings import plot_map_scores, plot_maps


def widths(text):
    """argparse type: hidden layer widths as "256,256" -> (256, 256)."""
    try:
        return tuple(positive_int(part) for part in text.split(","))
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(f"must be hidden widths such as 256,256 (integers "
                                         f">= 1, comma-separated), got {text}") from None


def parse_arguments(argv=None):
    parser = ArgumentParser(prog="imagelab study embeddings",
                            description="2-D t-SNE maps of test images through MLPs and a "
                                        "CNN, before and after training, with their scores.")
    add_study_arguments(parser)
    parser.add_argument("--points", type=positive_int, default=1000,
                        help="test images in each map, drawn at random (default: 1000)")
    add_training_arguments(parser, "MLP and t-SNE map", epochs=8, epochs_note=" of an MLP")
    parser.add_argument("--architectures", type=widths, nargs="+",
                        default=[(256, 256), (512,)], metavar="WIDTHS",
                        help="hidden widths of each MLP (default: 256,256 512)")
    parser.add_argument("--cnn-epochs", type=positive_int, default=2,
                        help="training epochs of the CNN (default: 2)")
    parser.add_argument("--k", type=positive_int, default=5,
                        help="neighbours of the leave-one-out k-NN score (default: 5)")
    parser.add_argument("--perplexity", type=positive_float, default=30.0,
                        help="t-SNE's perplexity, below --points (default: 30)")
    return parser, parser.parse_args(argv)


def check_flags(args):
    """Refuse (``FlagError``) what no map can be made of, before the data is read."""
    if args.perplexity >= args.points:
        raise FlagError("--perplexity", f"must be below --points ({args.points}), "
                                        f"got {args.perplexity:g}")
    if args.k >= args.points:
        raise FlagError("--k", f"must be below --points ({args.points}), got {args.k}")
    if len(set(args.architectures)) < len(args.architectures):
        raise FlagError("--architectures", "must name each architecture once, got "
                        + " ".join(",".join(map(str, a)) for a in args.architectures))


def sample_test(data, points, seed):
    """``points`` test images drawn without replacement: pixels in [0, 1] and labels."""
    if points > len(data.labels_test):
        raise FlagError("--points", f"must be at most the {len(data.labels_test)} test "
                                    f"images, got {points}")
    index = np.sort(np.random.default_rng(seed).choice(len(data.labels_test), points,
                                                       replace=False))
    return unit_pixels(data.data_test[index]), data.labels_test[index]


def network_features(network, x, model, trained, last_only=False):
    """[(name, features)] of each mapped layer (``embedding_layers``) of ``network``, or
    of its last hidden layer only (``last_only``)."""
    layers = embedding_layers(network)
    if last_only:
        layers = [("last hidden", layers[-2][1])]        # [-1] is the logits
    state = "trained" if trained else "untrained"
    outputs = layer_outputs(network, x, [index for _, index in layers])
    return [(f"{model} {state}: {name}", features)
            for (name, _), features in zip(layers, outputs)]


class Study:
    """The maps and scores gathered over the seeds, and the progress line."""

    def __init__(self, args, labels, total):
        self.args, self.labels = args, labels
        self.scores, self.first_maps, self.map_seconds = {}, {}, []
        self.progress, self.done, self.start = Progress(total), 0, time.perf_counter()

    def step(self, text):
        self.done += 1
        self.progress.update(self.done, f"[{self.done}/{self.progress.total}] {text} "
                                        f"({time.perf_counter() - self.start:.0f} s)")

    def add(self, named_features, seed):
        """Map and score each (name, features) with t-SNE seed ``seed``."""
        for name, features in named_features:
            start = time.perf_counter()
            points, scores = scored_map(features, self.labels, seed, self.args.k,
                                        self.args.perplexity)
            self.map_seconds.append(time.perf_counter() - start)
            for key, value in scores.items():
                self.scores.setdefault(name, {}).setdefault(key, []).append(value)
            self.scores[name]["dimension"] = features.shape[1]
            self.first_maps.setdefault(name, points)
            self.step(f"map {name}: {self.args.k}-NN {scores['knn_map']:.3f}")


def run(args, argv):
    started = time.perf_counter()
    check_flags(args)
    require_tsne()
    name = result_name("study_embeddings", None, args.dataset)
    check_outputs("--results-dir", args.results_dir,
                  [name + ".png", name + "_scores.png", name + ".json"])
    data = load_split(args.dataset, args.data_dir, args.split, args.seed,
                      download=not args.no_download)
    x, labels = sample_test(data, args.points, args.seed)
    x_train = unit_pixels(data.data_train)
    x_test = unit_pixels(data.data_test)
    shape, num_classes = data.image_shape, int(data.labels_train.max()) + 1
    maps_per_seed = 1 + 2 + 2 * sum(len(hidden) + 1 for hidden in args.architectures)
    study = Study(args, labels, args.seeds * (maps_per_seed + len(args.architectures)) + 1)
    models = {}

    # The CNN, once: its last hidden layer before its ReLU (the batch norm of its dense
    # layer), untrained (the same initial weights) and trained.
    cnn_untrained = build(STUDY_CNN + [["dense", num_classes]], shape, seed=args.seed)
    cnn, _ = train_cnn(x_train, data.labels_train, shape, num_epoch=args.cnn_epochs,
                       seed=args.seed)
    images = x.reshape(-1, *shape)
    models["CNN"] = {"test_accuracy": accuracy_of(cnn, x_test.reshape(-1, *shape),
                                                  data.labels_test)}
    study.step(f"CNN trained, test accuracy {models['CNN']['test_accuracy']:.4f}")
    cnn_features = (network_features(cnn_untrained, images, "CNN", False, last_only=True)
                    + network_features(cnn, images, "CNN", True, last_only=True))

    for s in range(args.seeds):
        seed = args.seed + s
        study.add([("pixels", x)] + cnn_features, seed)
        for hidden in args.architectures:
            model = "MLP " + "-".join(map(str, (x.shape[1], *hidden, num_classes)))
            # train_mlp starts from exactly these weights (same sizes, same seed).
            untrained = mlp([x.shape[1], *hidden, num_classes], "relu", seed=seed)
            network, _ = train_mlp(x_train, data.labels_train, hidden,
                                   num_epoch=args.epochs, seed=seed)
            accuracy = accuracy_of(network, x_test, data.labels_test)
            models.setdefault(model, {"test_accuracy": []})["test_accuracy"].append(accuracy)
            study.step(f"{model} trained (seed {seed}), test accuracy {accuracy:.4f}")
            study.add(network_features(untrained, x, model, False)
                      + network_features(network, x, model, True), seed)
    study.progress.close()
    save(args, argv, data, name, study, models, time.perf_counter() - started)


def save(args, argv, data, name, study, models, seconds):
    """Print the scores; write the two figures and the JSON record."""
    maps = []
    for map_name, scores in study.scores.items():
        maps.append({"name": map_name, "dimension": scores["dimension"],
                     **{key: {**seed_spread(scores[key]), "values": scores[key]}
                        for key in ("knn_map", "silhouette_map", "knn_features")}})
        print(f"{map_name:<50} {args.k}-NN in the map {maps[-1]['knn_map']['mean']:.3f} "
              f"(features {maps[-1]['knn_features']['mean']:.3f}), silhouette "
              f"{maps[-1]['silhouette_map']['mean']:.3f}")
    for model in models.values():
        if isinstance(model["test_accuracy"], list):
            model.update(seed_spread(model["test_accuracy"]), values=model.pop("test_accuracy"))
    record = {"command": " ".join(["imagelab study embeddings", *argv]),
              "dataset": args.dataset, "points": args.points, "seeds": args.seeds,
              "k": args.k, "perplexity": args.perplexity, "epochs": args.epochs,
              "cnn_epochs": args.cnn_epochs, "seed": args.seed,
              "models": models, "maps": maps, "seconds": round(seconds, 1),
              "seconds_per_map": round(float(np.mean(study.map_seconds)), 2)}
    note = data_note(args.data_dir, args.dataset)
    title = (f"t-SNE of {args.points} {DATASETS[args.dataset].title} test images "
             f"(seed {args.seed})\n{args.k}-NN: leave-one-out accuracy in the map, "
             f"mean (min..max) over {args.seeds} seeds")
    save_results(args.results_dir, name, plot_maps(grid(study, args), study.labels,
                                                    data.label_names, title), record, note)
    scores = plot_map_scores([m["name"] for m in maps],
                             [m["knn_map"]["values"] for m in maps],
                             [m["knn_features"]["values"] for m in maps],
                             f"Leave-one-out {args.k}-NN accuracy, {args.points} test images",
                             "accuracy")
    add_note(scores, note)
    save_figure(args.results_dir, name + "_scores", scores)


def grid(study, args):
    """The panels of the maps figure: a row for the pixels and the CNN, then a row per
    MLP and state, one column per layer; each titled with its scores."""
    def panel(map_name):
        scores = study.scores[map_name]
        knn = seed_spread(scores["knn_map"])
        return (f"{map_name}\n{args.k}-NN {knn['mean']:.1%} ({knn['min']:.1%}.."
                f"{knn['max']:.1%}), silhouette {np.mean(scores['silhouette_map']):.2f}",
                study.first_maps[map_name])
    names = list(study.scores)
    columns = max(3, *(len(hidden) + 1 for hidden in args.architectures))
    rows = [names[:3]]
    rest = names[3:]
    for hidden in args.architectures:
        for _ in range(2):                      # untrained, then trained
            rows.append(rest[:len(hidden) + 1])
            rest = rest[len(hidden) + 1:]
    return [panel(n) if n else None for row in rows for n in row + [None] * (columns - len(row))]


def main(argv=None):
    run_command(parse_arguments, run, argv)
