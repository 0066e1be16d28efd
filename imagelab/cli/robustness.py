"""Compare saved models under brightness and contrast changes of the test images.

    python -m imagelab.cli.robustness --dataset fashion-mnist \
        models/cnn_conv4_fashion-mnist.npz models/cnn_conv4_fashion-mnist_light.npz

Writes ``robustness_<dataset>.png`` (accuracy against brightness shift and against
contrast factor, one line per model) and ``robustness_<dataset>.json``.
"""
import os
import sys

from imagelab.cli.arguments import ArgumentParser, add_common_arguments
from imagelab.cli.classify import add_max_memory_argument, load_checked
from imagelab.data.splits import data_note, load_split, result_name
from imagelab.data.registry import DATASETS
from imagelab.utils.files import save_results
from imagelab.data.images import rows_to_images
from imagelab.analysis.robustness import light_robustness
from imagelab.viz.figures import plot_robustness


def parse_arguments(argv=None):
    parser = ArgumentParser(prog="imagelab robustness",
                            description="Test saved models on brighter, darker, flatter and "
                                        "sharper test images.")
    add_common_arguments(parser)
    parser.set_defaults(split="official")
    parser.add_argument("models", nargs="+", help="model files written by "
                                                  "python -m imagelab.cli.train_cnn")
    add_max_memory_argument(parser)
    return parser, parser.parse_args(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser, args = parse_arguments(argv)
    classifiers = {os.path.splitext(os.path.basename(path))[0]:
                   load_checked(parser, path, args.max_memory) for path in args.models}
    with parser.flag_errors():
        data = load_split(args.dataset, args.data_dir, args.split, args.seed,
                          download=not args.no_download)
        images = rows_to_images(data.data_test, data.image_shape)
        curves = {name: light_robustness(classifier.classify, images, data.labels_test)
                  for name, classifier in classifiers.items()}
        for name, curve in curves.items():
            print(name, " ".join(f"{a:.3f}" for a in curve["brightness_accuracy"]), "|",
                  " ".join(f"{a:.3f}" for a in curve["contrast_accuracy"]))
        record = {"command": " ".join(["python -m imagelab.cli.robustness", *argv]),
                  "dataset": args.dataset, "curves": curves}
        title = f"Test accuracy on {DATASETS[args.dataset].title} under light changes"
        save_results(args.results_dir, result_name("robustness", None, args.dataset),
                     plot_robustness(curves, title), record,
                     note=data_note(args.data_dir, args.dataset))


if __name__ == "__main__":
    main()
