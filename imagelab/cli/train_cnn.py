"""Train a convolutional network on the images, by mini-batches, and save it.

    imagelab train-cnn --arch conv4 --num-epoch 14 --pad 4 --flip ...

The data stays uint8 in memory; each batch is augmented and normalised as it is drawn
(``imagelab.data.augment``). A validation split carved out of the training images picks
the epoch whose weights are kept; the test images are used once, at the end. Writes
``<name>.png`` (learning curves), ``<name>.json``, the confusion matrix, the image
grids, the first layer's filters, and the model (``<model-dir>/<name>.npz``, which
``imagelab classify`` reads).
"""
import resource
import time

import numpy as np

from imagelab.utils.allocator import keep_freed_memory
from imagelab.cli.memory import refuse_unless_it_fits
from imagelab.cli.arguments import (ArgumentParser, add_common_arguments, add_resume_argument,
                                check_outputs, checked_checkpoint, file_stem, fraction,
                                model_saved_first, non_negative_float, positive_float,
                                positive_int, rate, results_folder, run_command,
                                stop_if_diverging, training_settings)
from imagelab.utils.checks import FlagError
from imagelab.data.augment import ImagePipeline, channel_statistics
from imagelab.nn.architectures import ARCHITECTURES, build, conv4, lenet
from imagelab.data.splits import data_note, load_split, result_name
from imagelab.data.registry import DATASETS
from imagelab.viz.figures import plot_filters, plot_learning_curves, save_classification_figures
from imagelab.utils.files import save_figure, save_results
from imagelab.data.images import images_to_rows, uint8_channels_last
from imagelab.nn.model_files import Classifier
from imagelab.nn.optim import SGD, Adam
from imagelab.analysis.robustness import light_robustness
from imagelab.viz.figures import plot_robustness
from imagelab.training.checkpoint import Checkpoint, network_generators
from imagelab.training.loop import split_validation, train

# The default --learning-rate of each architecture: one at which it learns (LeNet stays
# at chance at conv4's 0.1, which its batch norms make trainable).
LEARNING_RATES = {"conv4": 0.1, "lenet": 0.05}

# The files a run writes in --results-dir, "{}" standing for --name.
RESULT_FILES = ("{}.json", "{}.png", "{}_confusion.png", "{}_predictions.png",
                "{}_mistakes.png", "{}_filters.png", "{}_robustness.png")


def parse_arguments(argv=None):
    parser = ArgumentParser(
        prog="imagelab train-cnn",
        description="Train a convolutional network on CIFAR-10 (or --dataset), plot its "
                    "learning curves and save the model.")
    add_common_arguments(parser)
    parser.set_defaults(split="official")
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), default="conv4",
                        help="lenet (PyTorch's tutorial net) or conv4 (four 3x3 "
                             "convolutions; default)")
    parser.add_argument("--width", type=positive_int, default=32,
                        help="conv4: channels of the first two convolutions (default: 32)")
    parser.add_argument("--hidden", type=positive_int, default=512,
                        help="conv4: units of the dense hidden layer (default: 512)")
    parser.add_argument("--no-batch-norm", action="store_true",
                        help="conv4: no batch normalisation after the convolutions")
    parser.add_argument("--dropout", type=rate, default=0.0,
                        help="conv4: dropout rate before the last layer (default: 0)")
    parser.add_argument("--optimizer", choices=["adam", "sgd"], default="sgd",
                        help="(default: sgd, with --momentum)")
    parser.add_argument("--learning-rate", type=positive_float, default=None,
                        help="base learning rate of the cosine schedule (default: "
                             + ", ".join(f"{rate:g} for {arch}"
                                         for arch, rate in LEARNING_RATES.items()) + ")")
    parser.add_argument("--momentum", type=rate, default=0.9, help="(default: 0.9)")
    parser.add_argument("--weight-decay", type=non_negative_float, default=5e-4,
                        help="L2 penalty factor on the weights (default: 5e-4)")
    parser.add_argument("--num-epoch", type=positive_int, default=14,
                        help="passes over the training images (default: 14)")
    parser.add_argument("--batch-size", type=positive_int, default=128,
                        help="images per mini-batch (default: 128)")
    parser.add_argument("--validation", type=fraction, default=0.02,
                        help="fraction of the training images held out to pick the best "
                             "epoch (default: 0.02)")
    parser.add_argument("--pad", type=int, choices=range(0, 9), default=0, metavar="0..8",
                        help="random translations by up to this many pixels, i.e. crops "
                             "with this padding (default: 0)")
    parser.add_argument("--flip", action="store_true", help="random mirror images")
    parser.add_argument("--brightness", type=rate, default=0.0,
                        help="random brightness shifts up to this fraction of 255 (default: 0)")
    parser.add_argument("--contrast", type=rate, default=0.0,
                        help="random contrast factors in 1 -+ this (default: 0)")
    parser.add_argument("--robustness", action="store_true",
                        help="also measure the test accuracy under brightness and contrast "
                             "changes")
    parser.add_argument("--model-dir", type=results_folder, default="models",
                        help="folder for the model file <name>.npz (default: models/)")
    parser.add_argument("--name", type=file_stem, default=None,
                        help="stem of the result files (default: cnn_<arch>)")
    add_resume_argument(parser)
    args = parser.parse_args(argv)
    if args.learning_rate is None:
        args.learning_rate = LEARNING_RATES[args.arch]
    return parser, args


def architecture(args, num_classes):
    """The layer specification the flags describe."""
    if args.arch == "lenet":
        return lenet(num_classes)
    return conv4(num_classes, batch_norm=not args.no_batch_norm, width=args.width,
                 hidden=args.hidden, dropout=args.dropout)


def check_validation(fraction_val, n):
    """Refuse (``FlagError``) a --validation that leaves no image on one side of ``n``."""
    n_val = round(fraction_val * n)
    if not 0 < n_val < n:
        raise FlagError("--validation", f"must leave at least one of the {n} training images "
                                        f"on each side, got {fraction_val} ({n_val} held out)")


def run(args, argv):
    """Load, train and test as the flags say; save the results and the model."""
    start = time.perf_counter()
    shape = DATASETS[args.dataset].image_shape
    spec = architecture(args, len(DATASETS[args.dataset].label_names))
    # values, gradients and the optimizer's states: SGD's velocity, Adam's two moments
    copies = 3 if args.optimizer == "sgd" else 4
    refuse_unless_it_fits("--width/--hidden/--batch-size", spec, shape, args.batch_size, copies)
    name = args.name or result_name(f"cnn_{args.arch}", None, args.dataset)
    path = checked_checkpoint(args, name)
    check_outputs("--results-dir", args.results_dir, [f.format(name) for f in RESULT_FILES])
    data = load_split(args.dataset, args.data_dir, args.split, args.seed,
                      download=not args.no_download)
    rows_train, labels_train = uint8_channels_last(data.data_train, shape), data.labels_train
    rows_test, labels_test = uint8_channels_last(data.data_test, shape), data.labels_test
    label_names, data = data.label_names, None             # free the float32 copies
    check_validation(args.validation, len(labels_train))
    train_index, val_index = split_validation(rows_train, labels_train, args.validation,
                                              seed=args.seed)
    mean, std = channel_statistics(rows_train[train_index].reshape(-1, *shape))
    pipeline = ImagePipeline(shape, mean, std, args.pad, args.flip, args.brightness,
                             args.contrast)
    network = build(spec, shape, seed=args.seed)
    print(network.summary(shape))
    optimizer = (SGD(network.parameters(), args.momentum) if args.optimizer == "sgd"
                 else Adam(network.parameters()))
    rng = np.random.default_rng(args.seed)
    checkpoint = Checkpoint(path, training_settings(args), network, [optimizer],
                            [rng, *network_generators(network)])
    resumed = checkpoint.load() if args.resume else None
    keep_freed_memory()
    with stop_if_diverging(args.learning_rate):
        history = train(network, rows_train[train_index], labels_train[train_index],
                        rows_train[val_index], labels_train[val_index],
                        num_epoch=args.num_epoch, batch_size=args.batch_size,
                        optimizer=optimizer, learning_rate=args.learning_rate,
                        weight_decay=args.weight_decay, pipeline=pipeline, seed=rng,
                        verbose=True, start=resumed, after_epoch=checkpoint.save)
    training_minutes = sum(history["seconds"]) / 60
    classifier = Classifier(network, spec, shape, mean, std, label_names)
    test_images = rows_test.reshape(-1, *shape)
    logits = classifier.logits(test_images)                 # the test split's only use
    test_accuracy = float(np.mean(np.argmax(logits, axis=1) == labels_test))
    print(f"best epoch {history['best_epoch']}  test accuracy {test_accuracy:.4f}  "
          f"({training_minutes:.1f} min of training)")
    with model_saved_first(args.model_dir, name, classifier, args.results_dir):
        checkpoint.remove()
        robustness = None
        if args.robustness:
            robustness = light_robustness(lambda x: classifier.classify(x), test_images,
                                          labels_test)
        record = {"command": " ".join(["imagelab train-cnn", *argv]),
                  "dataset": args.dataset, "split": args.split, "architecture": spec,
                  "parameters": sum(p.value.size for p in network.parameters()),
                  **{k: getattr(args, k) for k in (
                      "optimizer", "learning_rate", "momentum", "weight_decay", "num_epoch",
                      "batch_size", "validation", "pad", "flip", "brightness", "contrast",
                      "seed")},
                  "n_train": len(train_index), "n_val": len(val_index),
                  "n_test": len(labels_test), "test_accuracy": test_accuracy,
                  "training_minutes": round(training_minutes, 1),
                  "seconds": round(time.perf_counter() - start, 1),
                  "peak_memory_mb": round(
                      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                  "robustness": robustness, "history": history}
        title = (f"{args.arch} on {DATASETS[args.dataset].title}: "
                 f"test accuracy {test_accuracy:.1%}")
        note = data_note(args.data_dir, args.dataset)
        save_results(args.results_dir, name, plot_learning_curves(history, title), record,
                     note)
        save_classification_figures(args.results_dir, name, images_to_rows(test_images),
                                    labels_test, logits, label_names,
                                    title=f"{args.arch} on {DATASETS[args.dataset].title} "
                                          f"({name})", image_shape=shape)
        save_figure(args.results_dir, f"{name}_filters",
                    plot_filters(network.layers[0].w.value, f"First-layer filters of {name}"))
        if robustness is not None:
            save_figure(args.results_dir, f"{name}_robustness",
                        plot_robustness({name: robustness}, f"{title}: light changes"))


def main(argv=None):
    run_command(parse_arguments, run, argv)


if __name__ == "__main__":
    main()
