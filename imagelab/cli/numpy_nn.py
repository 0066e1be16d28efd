"""The handout's two-class task on two classes of MNIST or Fashion-MNIST.

    imagelab numpy-nn --dataset fashion-mnist --classes 1 8

A network Linear -> ReLU -> ... -> Linear -> Sigmoid (``imagelab.handouts.numpy_layers``) learns
to tell the two classes apart with the squared error. A validation split of the
training rows picks the epoch whose weights are kept; the test rows are used once.
Writes ``numpy_nn_training.png`` (loss and accuracy per epoch), ``numpy_nn_classification.png``
(test images with their predicted class, the mistakes first) and ``numpy_nn.json``.
"""
import time

from imagelab.cli.arguments import (ArgumentParser, DataError, add_common_arguments, fraction,
                                positive_float, positive_int, refuse_above, run_command,
                                stop_if_diverging)
from imagelab.data.registry import load_dataset
from imagelab.nn.optim import OPTIMIZERS
from imagelab.handouts.two_class import run_two_class

DEFAULT_CLASSES = {"fashion-mnist": (1, 8), "mnist": (3, 8)}   # trouser vs bag; 3 vs 8


def parse_arguments(argv=None):
    parser = ArgumentParser(
        prog="imagelab numpy-nn",
        description="Train the handout's NumPy network (Linear, ReLU, Sigmoid, squared "
                    "error) on two classes of MNIST or Fashion-MNIST.")
    add_common_arguments(parser)
    parser.set_defaults(dataset="fashion-mnist")   # MNIST itself needs a download
    parser.add_argument("--classes", type=int, nargs=2, metavar=("A", "B"), default=None,
                        help="the two class codes, B becoming the target 1 (default: 1 8, "
                             "trouser vs bag, for fashion-mnist; 3 8 for mnist)")
    parser.add_argument("--hidden", type=positive_int, nargs="*", default=[256],
                        help="sizes of the hidden layers (default: 256)")
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam",
                        help="(default: adam; sgd has momentum 0.9)")
    parser.add_argument("--learning-rate", type=positive_float, default=1e-3,
                        help="base learning rate of the cosine schedule (default: 1e-3)")
    parser.add_argument("--num-epoch", type=positive_int, default=20,
                        help="passes over the training rows (default: 20)")
    parser.add_argument("--batch-size", type=positive_int, default=64,
                        help="rows per mini-batch (default: 64)")
    parser.add_argument("--validation", type=fraction, default=0.1,
                        help="fraction of the training rows held out for validation "
                             "(default: 0.1)")
    args = parser.parse_args(argv)
    if args.dataset not in DEFAULT_CLASSES:
        parser.refuse(f"argument --dataset: must be one of {', '.join(sorted(DEFAULT_CLASSES))} "
                      f"(the handout's task is on the MNIST family), got {args.dataset}")
    if args.split != "official":
        parser.refuse("argument --split: the MNIST family comes with its official test "
                      f"split; use --validation to hold out training rows, got {args.split}")
    args.classes = tuple(args.classes or DEFAULT_CLASSES[args.dataset])
    if args.classes[0] == args.classes[1] or min(args.classes) < 0:
        parser.refuse(f"argument --classes: must be two different class codes >= 0, got "
                      f"{args.classes[0]} {args.classes[1]}")
    return parser, args


def run(args, argv):
    """Load the dataset, then ``run_two_class`` with the flags' values."""
    start = time.perf_counter()
    try:
        dataset = load_dataset(args.dataset, args.data_dir, download=not args.no_download)
    except (OSError, ValueError) as error:
        raise DataError(error) from error
    for code in args.classes:
        refuse_above("--classes", code, len(dataset.label_names) - 1,
                     f"the last class code of {dataset.name}")
    with stop_if_diverging(args.learning_rate):
        accuracy, history = run_two_class(
            dataset, args.classes, args.results_dir,
            " ".join(["imagelab numpy-nn", *argv]), validation=args.validation,
            **{k: getattr(args, k) for k in ("hidden", "optimizer", "learning_rate",
                                             "num_epoch", "batch_size", "seed")})
    print(f"best epoch {history['best_epoch']}  test accuracy {accuracy:.4f}  "
          f"({time.perf_counter() - start:.1f} s)")


def main(argv=None):
    run_command(parse_arguments, run, argv)


if __name__ == "__main__":
    main()
