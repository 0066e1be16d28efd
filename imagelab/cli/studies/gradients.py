"""imagelab study gradients: input-gradient maps and first-layer weights as images.

    imagelab study gradients [--seeds 3] [--epochs 8]

Trains MLPs with no hidden layer and with 10, 32 and 256 ReLU units on the training
images (pixels in [0, 1]), once per seed; writes into --results-dir
``study_gradients_<dataset>.png`` (one test image per class, the logit gradients of its
true class, of the runner-up and of the least likely class, for the 256-unit MLP),
``study_gradients_<dataset>_weights.png`` (first-layer weights as images and their mean
over units) and ``study_gradients_<dataset>.json`` (each model's test accuracy, share of
the gradient on the object, probability-to-logit gradient norm, correlation of the mean
weight image with the mean image: mean, std, min and max over the seeds).
"""
import time

import numpy as np

from imagelab.cli.arguments import ArgumentParser, check_outputs, run_command
from imagelab.cli.studies import add_study_arguments, add_training_arguments
from imagelab.data.registry import DATASETS
from imagelab.data.splits import data_note, load_split, result_name
from imagelab.utils.checks import FlagError
from imagelab.utils.files import save_figure, save_results
from imagelab.utils.progress import Progress
from imagelab.analysis.gradients import (HIDDEN, example_maps, first_layer_images, measure,
                                         train_models)
from imagelab.analysis.models import unit_pixels
from imagelab.viz.gradients import plot_first_layers, plot_gradient_maps

PROG = "imagelab study gradients"


def parse_arguments(argv=None):
    parser = ArgumentParser(prog=PROG, description="Input-gradient maps of class scores and "
                                                   "first-layer weights of MLPs, as images.")
    add_study_arguments(parser)
    add_training_arguments(parser, "model", epochs=8)
    return parser, parser.parse_args(argv)


def one_per_class(labels):
    """Index of the first row of each class present, in class order."""
    return np.array([np.flatnonzero(labels == c)[0] for c in np.unique(labels)])


def run(args, argv):
    began = time.perf_counter()
    if DATASETS[args.dataset].image_shape[2] != 1:
        raise FlagError("--dataset", f"must be a dataset of grey images (its maps and weights "
                                     f"are drawn as grey-scale images), got {args.dataset}")
    name = result_name("study_gradients", None, args.dataset)
    check_outputs("--results-dir", args.results_dir, [name + ".json", name + "_weights.png"])
    data = load_split(args.dataset, args.data_dir, args.split, args.seed,
                      download=not args.no_download)
    shape = data.image_shape[:2]
    x, x_test = unit_pixels(data.data_train), unit_pixels(data.data_test)
    seeds = range(args.seed, args.seed + args.seeds)
    progress = Progress(len(HIDDEN) * args.seeds)
    models = train_models(x, data.labels_train, HIDDEN, seeds, args.epochs, progress.update)
    progress.close()
    record = measure(models, x_test, data.labels_test, x.mean(axis=0), shape)
    title = DATASETS[args.dataset].title
    widest = list(models)[-1]
    shown = one_per_class(data.labels_test)
    maps, classes = example_maps(models[widest][0], x_test[shown], data.labels_test[shown])
    note = data_note(args.data_dir, args.dataset)
    save_figure(args.results_dir, name + "_weights", plot_first_layers(
        {model: first_layer_images(networks[0], shape) for model, networks in models.items()},
        x.mean(axis=0).reshape(shape), f"First-layer weights of MLPs on {title} "
                                       f"(seed {args.seed})"))
    for model in models:
        print(f"{model:>12}  test {record[model]['test_accuracy']['mean']:.4f}  "
              f"share on object {record[model]['share_on_object']['mean']:.3f} "
              f"(area {record['object_area']:.3f})  "
              f"|dp/dx|/|dz/dx| {record[model]['probability_to_logit_norm']['mean']:.3g}  "
              f"corr(mean weights, mean image) "
              f"{record[model]['mean_weight_correlation']['mean']:+.3f}")
    record = {"command": " ".join([PROG, *argv]), "dataset": args.dataset,
              "seeds": list(seeds), "epochs": args.epochs, "models": record,
              "shown": {"model": widest, "test_rows": shown.tolist(),
                        "classes": classes.tolist()},
              "seconds": time.perf_counter() - began}
    save_results(args.results_dir, name, plot_gradient_maps(
        x_test[shown], maps, classes, data.label_names, shape,
        f"Logit gradients of the {widest} MLP on {title} test images (seed {args.seed})"),
        record, note=note)


def main(argv=None):
    run_command(parse_arguments, run, argv)
