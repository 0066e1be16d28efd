"""Compare saved models under brightness and contrast changes of the test images.

    imagelab robustness --dataset fashion-mnist \
        models/cnn_conv4_fashion-mnist.npz models/cnn_conv4_fashion-mnist_light.npz

Writes ``robustness_<dataset>.png`` (accuracy against brightness shift and against
contrast factor, one line per model) and ``robustness_<dataset>.json``.
"""
import os
import sys

from imagelab.cli.arguments import ArgumentParser, add_common_arguments
from imagelab.cli.classify import add_max_memory_argument, load_checked
from imagelab.utils.checks import FlagError
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
                                                  "imagelab train-cnn")
    add_max_memory_argument(parser)
    return parser, parser.parse_args(argv)


def curve_names(paths):
    """The name of each model's curve: its file's stem, or its path without the extension
    when two files share a stem (``a/x.npz`` and ``b/x.npz``), so that no curve hides another.

    Raises ``FlagError`` on a file given twice.
    """
    if len(set(map(os.path.normpath, paths))) < len(paths):
        raise FlagError("models", f"each model file once, got {' '.join(paths)}")
    stems = [os.path.splitext(os.path.basename(path))[0] for path in paths]
    if len(set(stems)) < len(stems):
        return [os.path.splitext(os.path.normpath(path))[0] for path in paths]
    return stems


def check_image_shapes(classifiers, dataset):
    """Refuse (``FlagError``) a model that does not take the dataset's images."""
    shape = DATASETS[dataset].image_shape
    for name, classifier in classifiers.items():
        if classifier.image_shape != shape:
            raise FlagError("--dataset", f"model {name} takes images of shape "
                                         f"{classifier.image_shape}, {dataset}'s are {shape}: "
                                         f"give the dataset it was trained on")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser, args = parse_arguments(argv)
    with parser.flag_errors():
        classifiers = {name: load_checked(parser, path, args.max_memory)
                       for name, path in zip(curve_names(args.models), args.models)}
        check_image_shapes(classifiers, args.dataset)
        data = load_split(args.dataset, args.data_dir, args.split, args.seed,
                          download=not args.no_download)
        images = rows_to_images(data.data_test, data.image_shape)
        curves = {name: light_robustness(classifier.classify, images, data.labels_test)
                  for name, classifier in classifiers.items()}
        for name, curve in curves.items():
            print(name, " ".join(f"{a:.3f}" for a in curve["brightness_accuracy"]), "|",
                  " ".join(f"{a:.3f}" for a in curve["contrast_accuracy"]))
        record = {"command": " ".join(["imagelab robustness", *argv]),
                  "dataset": args.dataset, "curves": curves}
        title = f"Test accuracy on {DATASETS[args.dataset].title} under light changes"
        save_results(args.results_dir, result_name("robustness", None, args.dataset),
                     plot_robustness(curves, title), record,
                     note=data_note(args.data_dir, args.dataset))


if __name__ == "__main__":
    main()
