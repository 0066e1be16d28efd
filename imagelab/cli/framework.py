"""The framework lab's tasks on the autograd Tensor, end to end.

    imagelab framework toy        # a binary MLP on blobs, moons, spiral
    imagelab framework fashion    # an MLP on Fashion-MNIST, Tensor vs layers

``toy``: the handout's binary MLP (``imagelab.handouts.framework_tasks.train_binary_toy``) on
each toy set of ``imagelab.data.toy``; writes ``autograd_toy_confidence.png`` (its
probability of class 1 over the plane) and ``autograd_toy.json``. ``fashion``: the
same ReLU MLP trained through the Tensor and by the layer-by-layer network from the same
weights on the same batches (``compare_with_network``); writes
``autograd_mlp_fashion-mnist.png`` and ``.json``.
"""
import sys
import time

from imagelab.cli.arguments import (ArgumentParser, add_common_arguments, add_results_arguments,
                                    fraction, positive_float, positive_int, stop_if_diverging)
from imagelab.data.registry import DATASETS
from imagelab.data.splits import data_note, load_split, result_name
from imagelab.data.toy import TOY_DATASETS
from imagelab.handouts.framework_tasks import AsTwoLogits, compare_with_network, train_binary_toy
from imagelab.utils.files import save_results
from imagelab.viz.figures import plot_comparison, plot_confidence

PROG = "imagelab framework"


def _add_training_arguments(parser, hidden, num_epoch, learning_rate, batch_size):
    """--hidden, --num-epoch, --learning-rate (Adam's, constant), --batch-size."""
    parser.add_argument("--hidden", type=positive_int, nargs="+", default=hidden,
                        help=f"sizes of the hidden ReLU layers (default: "
                             f"{' '.join(map(str, hidden))})")
    parser.add_argument("--num-epoch", type=positive_int, default=num_epoch,
                        help=f"passes over the training rows (default: {num_epoch})")
    parser.add_argument("--learning-rate", type=positive_float, default=learning_rate,
                        help=f"Adam's learning rate, constant (default: {learning_rate:g})")
    parser.add_argument("--batch-size", type=positive_int, default=batch_size,
                        help=f"rows per mini-batch (default: {batch_size})")


def parse_arguments(argv=None):
    parser = ArgumentParser(prog=PROG, description="The framework lab's tasks on the "
                            "autograd Tensor: a binary MLP on toy 2-D sets, and an MLP on "
                            "Fashion-MNIST next to the layer-by-layer network.")
    tasks = parser.add_subparsers(dest="task", required=True, metavar="{toy,fashion}")
    toy = tasks.add_parser("toy", help="a binary MLP on blobs, moons and spiral",
                           description="Train the handout's binary MLP on the Tensor on each "
                                       "toy set; validation accuracy after the last epoch.")
    add_results_arguments(toy, "seed of the points, the split, the weights and the batches")
    toy.add_argument("--n", type=positive_int, default=1000,
                     help="points per set, a quarter held out for validation (default: 1000)")
    _add_training_arguments(toy, [32, 32], 100, 0.01, 32)
    fashion = tasks.add_parser("fashion", help="an MLP through the Tensor and layer by layer",
                               description="Train one ReLU MLP through the Tensor and by the "
                                           "layer-by-layer network, from the same weights "
                                           "on the same batches, and compare them.")
    add_common_arguments(fashion)
    fashion.set_defaults(dataset="fashion-mnist")
    fashion.add_argument("--validation", type=fraction, default=0.1,
                         help="fraction of the training rows held out to follow the epochs "
                              "(default: 0.1)")
    _add_training_arguments(fashion, [256], 10, 1e-3, 128)
    return parser, parser.parse_args(argv)


def run_toy(args, command):
    """Train on each toy set; print and save the validation accuracies and the figure."""
    start = time.perf_counter()
    panels, record = [], {"command": command, "sizes": [2, *args.hidden, 1],
                          "num_epoch": args.num_epoch, "learning_rate": args.learning_rate,
                          "batch_size": args.batch_size, "n": args.n, "seed": args.seed,
                          "val_accuracy": {}, "final_train_loss": {}}
    for name, generate in TOY_DATASETS.items():
        points, labels = generate(args.n, seed=args.seed)
        model, history = train_binary_toy(points, labels, args.hidden, args.num_epoch,
                                          args.learning_rate, args.batch_size, seed=args.seed)
        accuracy = record["val_accuracy"][name] = history["val_accuracy"][-1]
        record["final_train_loss"][name] = history["train_loss"][-1]
        print(f"{name:7s} validation accuracy {accuracy:.4f}")
        panels.append((f"{name}: validation {accuracy:.1%}", AsTwoLogits(model), points, labels))
    record["seconds"] = round(time.perf_counter() - start, 1)
    title = (f"Autograd Tensor: binary MLP {'-'.join(map(str, record['sizes']))} ReLU, "
             f"probability of class 1")
    save_results(args.results_dir, "autograd_toy", plot_confidence(panels, title), record,
                 figure_name="autograd_toy_confidence")


def run_fashion(args, command):
    """Load the split, train both sides, print and save the comparison."""
    start = time.perf_counter()
    dataset = load_split(args.dataset, args.data_dir, args.split, args.seed,
                         download=not args.no_download)
    # Pixels 0..255 scaled to [0, 1], the same for both sides.
    result = compare_with_network(
        dataset.data_train / 255, dataset.labels_train, dataset.data_test / 255,
        dataset.labels_test, len(dataset.label_names), args.hidden, args.num_epoch,
        args.batch_size, args.learning_rate, args.validation, args.seed)
    for side in ("network", "tensor"):
        print(f"{side:7s} test accuracy {result[f'{side}_test_accuracy']:.4f}, "
              f"{sum(result[f'{side}_seconds']):.1f} s of training")
    difference = 100 * (result["tensor_test_accuracy"] - result["network_test_accuracy"])
    record = {"command": command, "dataset": args.dataset, "split": args.split,
              "num_epoch": args.num_epoch, "batch_size": args.batch_size,
              "learning_rate": args.learning_rate, "seed": args.seed, **result,
              "difference_points": round(difference, 4),
              "seconds": round(time.perf_counter() - start, 1)}
    title = (f"{DATASETS[args.dataset].title}, MLP {'-'.join(map(str, result['sizes']))} "
             f"ReLU, Adam: test {result['network_test_accuracy']:.2%} layer by layer, "
             f"{result['tensor_test_accuracy']:.2%} through the Tensor")
    save_results(args.results_dir, result_name("autograd_mlp", dataset=args.dataset),
                 plot_comparison(result, title), record, note=data_note(args.data_dir,
                                                                        args.dataset))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser, args = parse_arguments(argv)
    run = run_toy if args.task == "toy" else run_fashion
    with parser.flag_errors(), stop_if_diverging(args.learning_rate):
        run(args, " ".join([PROG, *argv]))


if __name__ == "__main__":
    main()
