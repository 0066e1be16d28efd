"""Train CIFAR-10's fast recipe (``imagelab.recipes.airbench``, airbench94) and save the model.

    imagelab train-recipe                      # airbench94's settings, 10 epochs
    imagelab train-recipe --no-lookahead ...   # one ingredient removed

Trains on the whole official training set (nothing is chosen on a validation split:
the last weights are kept), evaluates the test set after each epoch for the learning
curves, then once per test-time augmentation level. Writes ``<name>.png`` (learning
curves), ``<name>.json``, the confusion matrix and image grids of the last level, and
the model (``<model-dir>/<name>.npz``, which ``imagelab classify`` reads).
"""
import dataclasses
import resource
import time
from functools import partial

from imagelab.utils.allocator import keep_freed_memory
from imagelab.cli.memory import refuse_unless_it_fits
from imagelab.cli.arguments import (ArgumentParser, add_common_arguments, add_resume_argument,
                                check_outputs, checked_checkpoint, file_stem,
                                model_saved_first, non_negative_float, positive_float,
                                positive_int, rate, refuse_above, results_folder, run_command,
                                stop_if_diverging, training_settings)
from imagelab.data.splits import data_note, load_split, result_name
from imagelab.data.registry import DATASETS
from imagelab.viz.figures import plot_learning_curves, save_classification_figures
from imagelab.utils.files import save_results
from imagelab.data.images import images_to_rows, uint8_channels_last
from imagelab.utils.machine import cpu_name
from imagelab.nn.model_files import Classifier
from imagelab.training.checkpoint import Checkpoint, remove_checkpoint
from imagelab.recipes.airbench import (FLIPS, Recipe, recipe_architecture, tta_accuracies,
                                       train_recipe)

# The files a run writes in --results-dir, "{}" standing for --name.
RESULT_FILES = ("{}.json", "{}.png", "{}_confusion.png", "{}_predictions.png",
                "{}_mistakes.png")

def add_recipe_arguments(parser):
    """The recipe's flags, airbench94's values as defaults (``imagelab.recipes.airbench.Recipe``)."""
    add_common_arguments(parser)
    parser.set_defaults(split="official")
    default = Recipe()
    parser.add_argument("--epochs", type=positive_float, default=default.epochs,
                        help=f"passes over the training images, may end mid-epoch "
                             f"(default: {default.epochs:g})")
    parser.add_argument("--batch-size", type=positive_int, default=default.batch_size,
                        help=f"images per optimizer step (default: {default.batch_size})")
    parser.add_argument("--micro-batch", type=positive_int, default=default.micro_batch,
                        help=f"images per forward and backward pass; their gradients add up "
                             f"to the batch's (bounds the memory; default: {default.micro_batch})")
    parser.add_argument("--learning-rate", type=positive_float, default=default.learning_rate,
                        help=f"airbench's rate, per 1,024 images "
                             f"(default: {default.learning_rate:g})")
    parser.add_argument("--momentum", type=rate, default=default.momentum,
                        help=f"Nesterov momentum (default: {default.momentum:g})")
    parser.add_argument("--weight-decay", type=non_negative_float, default=default.weight_decay,
                        help=f"airbench's decay, per 1,024 images "
                             f"(default: {default.weight_decay:g})")
    parser.add_argument("--bias-scaler", type=positive_float, default=default.bias_scaler,
                        help=f"factor on batch norm's biases' rate; 1 removes the ingredient "
                             f"(default: {default.bias_scaler:g})")
    parser.add_argument("--label-smoothing", type=rate, default=default.label_smoothing,
                        help=f"0 removes the ingredient (default: {default.label_smoothing:g})")
    parser.add_argument("--translate", type=int, choices=range(0, 5), default=default.translate,
                        metavar="0..4", help=f"random moves by up to this many pixels "
                                             f"(default: {default.translate})")
    parser.add_argument("--flip", choices=FLIPS, default=default.flip,
                        help=f"mirror images (default: {default.flip})")
    parser.add_argument("--no-whitening", action="store_true",
                        help="train the first convolution from a random start instead")
    parser.add_argument("--no-identity-init", action="store_true",
                        help="random starts for every convolution")
    parser.add_argument("--no-lookahead", action="store_true",
                        help="no weight averaging")
    parser.add_argument("--widths", type=positive_int, nargs=3, default=list(default.widths),
                        metavar="W", help="channels of the three blocks (default: 64 256 256)")


def recipe_from_arguments(args):
    """The ``Recipe`` that the parsed flags describe."""
    return Recipe(epochs=args.epochs, batch_size=args.batch_size, micro_batch=args.micro_batch,
                  learning_rate=args.learning_rate, momentum=args.momentum,
                  weight_decay=args.weight_decay, bias_scaler=args.bias_scaler,
                  label_smoothing=args.label_smoothing, translate=args.translate,
                  flip=args.flip, whitening=not args.no_whitening,
                  identity_init=not args.no_identity_init, lookahead=not args.no_lookahead,
                  widths=tuple(args.widths))


def parse_arguments(argv=None):
    parser = ArgumentParser(
        prog="imagelab train-recipe",
        description="Train the fast CIFAR-10 recipe (airbench94) in NumPy, plot its learning "
                    "curves, test it with test-time augmentation and save the model.")
    add_recipe_arguments(parser)
    parser.add_argument("--model-dir", type=results_folder, default="models",
                        help="folder for the model file <name>.npz (default: models/)")
    parser.add_argument("--name", type=file_stem, default=None,
                        help="stem of the result files (default: recipe, recipe_<dataset> "
                             "off CIFAR-10)")
    add_resume_argument(parser)
    args = parser.parse_args(argv)
    if args.name is None:
        args.name = result_name("recipe", None, args.dataset)
    return parser, args


def refuse_a_recipe_too_large(recipe, dataset):
    """Raise ``FlagError`` if ``recipe``'s training on ``dataset`` cannot fit in memory.

    Five arrays the size of the parameters (values, gradients, their sum over
    micro-batches, the momentum, the lookahead's average) and one micro-batch's outputs.
    """
    record = DATASETS[dataset]
    spec = recipe_architecture(recipe, record.image_shape, len(record.label_names),
                               recipe.batchnorm_momentum)
    refuse_unless_it_fits("--widths/--micro-batch", spec, record.image_shape,
                          recipe.micro_batch, 4 + recipe.lookahead)


def load_images(args):
    """uint8 rows of channel-last images and labels, training and test, and label names.

    Raises ``FlagError`` if --batch-size exceeds the number of training images.
    """
    shape = DATASETS[args.dataset].image_shape
    data = load_split(args.dataset, args.data_dir, args.split, args.seed,
                      download=not args.no_download)
    refuse_above("--batch-size", args.batch_size, len(data.labels_train),
                 "the number of training images")
    return (uint8_channels_last(data.data_train, shape), data.labels_train,
            uint8_channels_last(data.data_test, shape), data.labels_test, data.label_names)


def run(args, argv):
    """Load, train and test as the flags say; save the results and the model."""
    start = time.perf_counter()
    recipe = recipe_from_arguments(args)
    refuse_a_recipe_too_large(recipe, args.dataset)
    path = checked_checkpoint(args, args.name)
    check_outputs("--results-dir", args.results_dir,
                  [f.format(args.name) for f in RESULT_FILES])
    shape = DATASETS[args.dataset].image_shape
    rows_train, labels_train, rows_test, labels_test, label_names = load_images(args)
    keep_freed_memory()
    with stop_if_diverging(args.learning_rate):
        network, spec, pipeline, history = train_recipe(
            rows_train, labels_train, shape, len(label_names), recipe, seed=args.seed,
            test=(rows_test, labels_test), verbose=True,
            checkpoint=partial(Checkpoint, path, training_settings(args)), resume=args.resume)
    print(network.summary(shape))
    test_images = rows_test.reshape(-1, *shape)
    accuracies, logits = tta_accuracies(network, pipeline, test_images, labels_test)
    minutes = sum(history["seconds"]) / 60
    print("test accuracy by test-time augmentation level: "
          + "  ".join(f"{level}: {a:.4f}" for level, a in enumerate(accuracies))
          + f"  ({minutes:.1f} min of training)")
    record = {"command": " ".join(["imagelab train-recipe", *argv]),
              "dataset": args.dataset, "split": args.split, "seed": args.seed,
              "recipe": dataclasses.asdict(recipe), "architecture": spec,
              "parameters": sum(p.value.size for p in network.parameters()),
              "forward_gflop_per_image": round(network.flops(shape) / 1e9, 3),
              "cpu": cpu_name(), "n_train": len(labels_train), "n_test": len(labels_test),
              "test_accuracy_by_tta_level": accuracies, "test_accuracy": accuracies[-1],
              "training_minutes": round(minutes, 1),
              "seconds": round(time.perf_counter() - start, 1),
              "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
              "history": history}
    dataset = DATASETS[args.dataset].title
    title = f"Fast recipe on {dataset}: test accuracy {accuracies[-1]:.1%} ({minutes:.0f} min)"
    note = data_note(args.data_dir, args.dataset)
    classifier = Classifier(network, spec, shape, pipeline.mean, pipeline.std, label_names)
    with model_saved_first(args.model_dir, args.name, classifier, args.results_dir):
        remove_checkpoint(path)
        save_results(args.results_dir, args.name,
                     plot_learning_curves(history, title, "test"), record, note)
        save_classification_figures(args.results_dir, args.name, images_to_rows(test_images),
                                    labels_test, logits, label_names,
                                    title=f"fast recipe on {dataset} ({args.name})",
                                    image_shape=shape)


def main(argv=None):
    run_command(parse_arguments, run, argv)


if __name__ == "__main__":
    main()
