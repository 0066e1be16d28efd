"""The network trainer: multilayer perceptrons on mini-batches, on pixels or descriptors.

    imagelab train-mlp --hidden 1024 1024 --activation relu --pca 200 --flip ...

A validation split is carved out of the training rows (it picks the epoch whose weights
are kept); the test rows are used once, at the end. Writes ``<name>.png`` (learning
curves) and ``<name>.json``, and with --figures the confusion matrix and the image
grids of the test split.
"""
import time

import numpy as np

from imagelab.cli.arguments import (ArgumentParser, FlagError, add_common_arguments, file_stem,
                                fraction, non_negative_float, positive_float, positive_int,
                                rate, refuse_above, run_command, stop_if_diverging,
                                validated)
from imagelab.data.splits import data_note, load_split, result_name
from imagelab.data.registry import DATASETS
from imagelab.data.descriptors import describer, parse_feature_spec
from imagelab.viz.figures import plot_learning_curves, save_classification_figures
from imagelab.utils.files import save_results
from imagelab.data.images import hflip_rows
from imagelab.nn.layers import ACTIVATIONS
from imagelab.nn.network import mlp
from imagelab.nn.optim import OPTIMIZERS, SGD, Adam
from imagelab.data.preprocessing import fit_pca_whitening, standardize, transform
from imagelab.training.loop import split_validation, train


def parse_arguments(argv=None):
    parser = ArgumentParser(
        prog="imagelab train-mlp",
        description="Train a multilayer perceptron on CIFAR-10 (or --dataset) by mini-batches "
                    "and plot its learning curves.")
    add_common_arguments(parser)
    parser.add_argument("--features", type=validated(parse_feature_spec), default="raw",
                        metavar="SPEC",
                        help="raw (the pixels, default) or a descriptor spec such as hog, "
                             "lbp, color or hog+color (see imagelab/data/descriptors.py)")
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam",
                        help="(default: adam)")
    parser.add_argument("--learning-rate", type=positive_float, default=1e-3,
                        help="base learning rate of the schedule (default: 1e-3)")
    parser.add_argument("--num-epoch", type=positive_int, default=20,
                        help="number of passes over the training rows (default: 20)")
    parser.add_argument("--hidden", type=positive_int, nargs="+", default=[64],
                        help="sizes of the hidden layers, e.g. --hidden 1024 512 (default: 64)")
    parser.add_argument("--activation", choices=sorted(ACTIVATIONS), default="sigmoid",
                        help="hidden units (default: sigmoid, the lab's)")
    parser.add_argument("--batch-size", type=positive_int, default=128,
                        help="rows per mini-batch (default: 128)")
    parser.add_argument("--dropout", type=rate, default=0.0,
                        help="dropout rate after each hidden layer (default: 0)")
    parser.add_argument("--momentum", type=rate, default=0.9,
                        help="momentum of --optimizer sgd (default: 0.9)")
    parser.add_argument("--schedule", choices=["constant", "cosine"], default="cosine",
                        help="learning-rate schedule over the epochs (default: cosine)")
    parser.add_argument("--weight-decay", type=non_negative_float, default=0.0,
                        help="L2 penalty factor on the weights (default: 0)")
    parser.add_argument("--patience", type=positive_int, default=None,
                        help="early stopping: stop after this many epochs without a "
                             "better validation accuracy (default: run every epoch)")
    parser.add_argument("--validation", type=fraction, default=0.1,
                        help="fraction of the training data held out for validation "
                             "(default: 0.1)")
    parser.add_argument("--pca", type=positive_int, default=None,
                        help="PCA-whiten the inputs onto this many components, fitted on "
                             "the training rows (default: standardise each feature)")
    parser.add_argument("--flip", action="store_true",
                        help="augment with left-right mirror images (with --features: "
                             "the descriptors of the mirror images)")
    parser.add_argument("--figures", action="store_true",
                        help="also draw the confusion matrix, a grid of test predictions "
                             "and a grid of the worst mistakes")
    parser.add_argument("--name", type=file_stem, default="mlp_network",
                        help="stem of the result files (default: mlp_network)")
    return parser, parser.parse_args(argv)


def prepare_inputs(data_train, labels_train, data_test, validation, seed, pca=None,
                   flipped=None):
    """Carve the validation split, then standardise or PCA-whiten with training statistics.

    Parameters
    ----------
    data_train : np.ndarray, shape (N, d), labels_train : np.ndarray of int, shape (N,)
    data_test : np.ndarray, shape (N_test, d)
        Raw pixels or descriptors.
    validation : float in (0, 1)
        Fraction of the training rows held out for validation.
    seed : int
        Seed of the validation split.
    pca : int, optional
        Whiten onto this many principal components instead of standardising.
    flipped : np.ndarray, shape (N, d), optional
        A mirrored view of each training row (``imagelab.data.images.hflip_rows`` of the
        pixels, or the descriptors of the mirror images).

    Returns
    -------
    x_train, y_train, x_val, y_val, x_test : np.ndarray
        float32 inputs; all statistics come from the ``x_train`` rows alone.
    x_flip : np.ndarray like ``x_train``, or None without ``flipped``

    Raises
    ------
    FlagError
        If ``validation`` leaves no row on one side, or ``pca`` is wider than the inputs.
    """
    try:
        train_index, val_index = split_validation(data_train, labels_train, validation,
                                                  seed=seed)
    except ValueError as error:
        raise FlagError("--validation", f"must leave rows on both sides of the "
                        f"{len(data_train)} training rows, got {validation}") from error
    if pca:
        refuse_above("--pca", pca, data_train.shape[1], "the width of the inputs")
    x_train, x_val = data_train[train_index], data_train[val_index]
    y_train, y_val = labels_train[train_index], labels_train[val_index]
    x_flip = None if flipped is None else flipped[train_index]
    if pca:
        mean, projection = fit_pca_whitening(x_train, pca)
        x_val, x_test = transform(x_val, mean, projection), transform(data_test, mean, projection)
        if x_flip is not None:
            x_flip = transform(x_flip, mean, projection)
        return transform(x_train, mean, projection), y_train, x_val, y_val, x_test, x_flip
    # Standardise everything with the statistics of the training rows alone.
    others = [x_val, data_test] + ([x_flip] if x_flip is not None else [])
    x_train, rest = standardize(x_train, np.concatenate(others))
    x_val, x_test, x_flip = np.split(rest, np.cumsum([len(x_val), len(data_test)]))
    return x_train, y_train, x_val, y_val, x_test, x_flip if flipped is not None else None


def run(args, argv):
    """Load, train and test as the flags say; save the results."""
    start = time.perf_counter()
    shape = DATASETS[args.dataset].image_shape
    describe = describer(args.features, args.data_dir, shape)
    data = load_split(args.dataset, args.data_dir, args.split, args.seed,
                      download=not args.no_download, features=describe)
    data_train, labels_train, data_test, labels_test = data.arrays()
    images_train = images_test = None
    if args.features != "raw" and (args.flip or args.figures):
        # The pixels of the same split (same seed), to mirror and to draw the images.
        images_train, _, images_test, _ = load_split(
            args.dataset, args.data_dir, args.split, args.seed,
            download=not args.no_download).arrays()
    flipped = None
    if args.flip and images_train is not None:
        # The descriptors of the mirrored images (cached on disk like the others).
        flipped = describe(hflip_rows(images_train, shape))
    elif args.flip:
        flipped = hflip_rows(data_train, shape)
    x_train, y_train, x_val, y_val, x_test, x_flip = prepare_inputs(
        data_train, labels_train, data_test, args.validation, args.seed, args.pca, flipped)
    num_classes = int(max(labels_train.max(), labels_test.max())) + 1
    sizes = [x_train.shape[1], *args.hidden, num_classes]
    network = mlp(sizes, args.activation, dropout=args.dropout, seed=args.seed)
    optimizer = (SGD(network.parameters(), args.momentum) if args.optimizer == "sgd"
                 else Adam(network.parameters()))
    with stop_if_diverging(args.learning_rate):
        history = train(network, x_train, y_train, x_val, y_val, num_epoch=args.num_epoch,
                        batch_size=args.batch_size, optimizer=optimizer,
                        learning_rate=args.learning_rate, schedule=args.schedule,
                        weight_decay=args.weight_decay, patience=args.patience,
                        data_flipped=x_flip, seed=args.seed, verbose=True)
    logits = network.predict_logits(x_test)          # the test split's only use
    test_accuracy = float(np.mean(np.argmax(logits, axis=1) == labels_test))
    elapsed = time.perf_counter() - start
    print(f"best epoch {history['best_epoch']}  validation accuracy "
          f"{max(history['val_accuracy']):.4f}  test accuracy {test_accuracy:.4f}  "
          f"({elapsed:.1f} s)")
    config = {k: getattr(args, k) for k in (
        "optimizer", "activation", "batch_size", "dropout", "learning_rate", "momentum",
        "schedule", "weight_decay", "num_epoch", "patience", "validation", "pca", "flip",
        "seed", "split")}
    record = {"command": " ".join(["imagelab train-mlp", *argv]),
              "dataset": args.dataset, "features": args.features, "sizes": sizes, **config,
              "n_train": len(x_train), "n_val": len(x_val), "n_test": len(x_test),
              "test_accuracy": test_accuracy, "seconds": round(elapsed, 1),
              "history": history}
    name = result_name(args.name, args.features, args.dataset)
    title = (f"MLP {'-'.join(map(str, sizes))} on {DATASETS[args.dataset].title} "
             f"{'raw pixels' if args.features == 'raw' else args.features}"
             f"{f' (PCA {args.pca})' if args.pca else ''}, {args.activation}, "
             f"{args.optimizer}: test accuracy {test_accuracy:.1%}")
    save_results(args.results_dir, name, plot_learning_curves(history, title), record,
                 note=data_note(args.data_dir, args.dataset))
    if args.figures:
        save_classification_figures(
            args.results_dir, name, images_test if images_test is not None else data_test,
            labels_test, logits, data.label_names[:num_classes],
            title=f"MLP on {DATASETS[args.dataset].title} ({name})", image_shape=shape)


def main(argv=None):
    run_command(parse_arguments, run, argv)


if __name__ == "__main__":
    main()
