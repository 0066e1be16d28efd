"""An MLP that draws Canny edge masks, one sigmoid output per pixel.

    imagelab study edges [--seeds 3] [--epochs 10] [--hidden 256 256] [--sigma 1.0]

Every training and test image gets its Canny edge mask (scikit-image); an MLP learns
to draw them, trained with the binary cross-entropy and with the squared error, each
with ``--seeds`` seeds. Its test masks (at probability 0.5, and at the threshold of
best training F1) are scored against an all-background mask and a thresholded Sobel
gradient magnitude. Writes ``study_edges_<dataset>.png`` (images, targets, predictions),
``study_edges_<dataset>_scores.png`` and ``study_edges_<dataset>.json``.
"""
import time

import numpy as np

from imagelab.analysis.edges import (EDGE_LOSSES, baseline_scores, canny_masks, compare_losses,
                                     example_rows, grey_images, import_canny, score_table)
from imagelab.cli.arguments import (ArgumentParser, FlagError, check_outputs, positive_float,
                                    positive_int, run_command, stop_if_diverging)
from imagelab.cli.studies import add_study_arguments, add_training_arguments
from imagelab.data.registry import DATASETS
from imagelab.data.splits import data_note, load_split, result_name
from imagelab.utils.files import save_figure, save_results
from imagelab.utils.progress import Progress
from imagelab.viz.edges import plot_edge_grid, plot_edge_scores

# The candidate thresholds of both the gradient magnitude (in [0, 1] for images in
# [0, 1]) and the MLP's probabilities: 0.005, 0.010, ..., 0.995.
THRESHOLDS = np.arange(1, 200) / 200


def parse_arguments(argv=None):
    parser = ArgumentParser(prog="imagelab study edges",
                            description="Train an MLP to draw Canny edge masks (binary "
                                        "cross-entropy against squared error) and score it "
                                        "against two baselines.")
    add_study_arguments(parser)
    add_training_arguments(parser, "loss", epochs=10)
    parser.add_argument("--hidden", type=positive_int, nargs="+", default=[256, 256],
                        help="sizes of the hidden ReLU layers (default: 256 256)")
    parser.add_argument("--learning-rate", type=positive_float, default=1e-3,
                        help="Adam's base rate, cosine schedule (default: 1e-3)")
    parser.add_argument("--batch-size", type=positive_int, default=128,
                        help="images per mini-batch (default: 128)")
    parser.add_argument("--sigma", type=positive_float, default=1.0,
                        help="Canny's Gaussian smoothing, in pixels (default: 1.0)")
    parser.add_argument("--examples", type=positive_int, default=8,
                        help="test images in the figure, one per class, at most the number "
                             "of classes (default: 8)")
    return parser, parser.parse_args(argv)


def edge_data(args):
    """Grey training and test images (N, H, W) and their Canny masks, with a progress line."""
    data = load_split(args.dataset, args.data_dir, args.split, args.seed,
                      download=not args.no_download)
    examples = example_rows(data.labels_test, args.examples)
    if len(examples) < args.examples:
        raise FlagError("--examples", f"must be at most {len(examples)}, the number of "
                                      f"classes in the test set, got {args.examples}")
    images = [grey_images(rows, data.image_shape) for rows in (data.data_train, data.data_test)]
    total, began = sum(map(len, images)), time.perf_counter()
    line = Progress(total)
    masks = []
    for offset, batch in zip((0, len(images[0])), images):
        # The callback runs within this iteration, so it sees this batch's offset.
        masks.append(canny_masks(batch, args.sigma, lambda done: line.update(
            offset + done, f"Canny masks: {offset + done}/{total} images, "
                           f"{time.perf_counter() - began:.0f} s")))
    line.close()
    return images, masks, examples


def train_and_score(args, images, masks, examples, seeds, began):
    """``compare_losses`` on the rows of the images and masks, with a progress line."""
    line = Progress(len(EDGE_LOSSES) * len(seeds))
    x_train, x_test, masks_train, masks_test = (a.reshape(len(a), -1)
                                                for a in (*images, *masks))
    with stop_if_diverging(args.learning_rate):
        results = compare_losses(
            x_train, masks_train, x_test, masks_test, THRESHOLDS, losses=list(EDGE_LOSSES),
            seeds=seeds, examples=examples,
            report=lambda done, text: line.update(done, f"trained {done}/{line.total}: {text}, "
                                                        f"{time.perf_counter() - began:.0f} s"),
            hidden=args.hidden, num_epoch=args.epochs, learning_rate=args.learning_rate,
            batch_size=args.batch_size)
    line.close()
    return results


def edge_grid(images_test, masks_test, sobel_test, threshold, probabilities, examples, title):
    """The figure of the example test images: image, target, baseline, each MLP's map."""
    panels = [("Canny target", masks_test[examples]),
              (f"gradient >= {threshold:.3f}", sobel_test[examples])]
    panels += [(f"MLP {loss} p(edge)", p.reshape(-1, *images_test.shape[1:]))
               for loss, p in probabilities.items()]
    return plot_edge_grid(images_test[examples], panels, title)


def run(args, argv):
    import_canny()                     # no scikit-image: one line, before the data is read
    name = result_name("study_edges", None, args.dataset)
    check_outputs("--results-dir", args.results_dir,
                  [f"{name}.png", f"{name}.json", f"{name}_scores.png"])
    began = time.perf_counter()
    images, masks, examples = edge_data(args)
    baselines, sobel_test = baseline_scores(images[0], masks[0], images[1], masks[1],
                                            THRESHOLDS)
    threshold = baselines["gradient_magnitude"]["threshold"]
    print(f"all background: test F1 {baselines['all_background']['f1']:.4f}; gradient "
          f"magnitude >= {threshold:.3f}: test F1 "
          f"{baselines['gradient_magnitude']['f1']:.4f}", flush=True)
    seeds = [args.seed + k for k in range(args.seeds)]
    results, probabilities = train_and_score(args, images, masks, examples, seeds, began)
    table = score_table(baselines, results)
    for method, scores in table.items():
        print(f"{method:<24}" + "  ".join(f"{key} {value['mean']:.4f}"
                                          for key, value in scores.items()))
    record = {"command": " ".join(["imagelab study edges", *argv]), "dataset": args.dataset,
              "sigma": args.sigma, "hidden": args.hidden, "epochs": args.epochs,
              "learning_rate": args.learning_rate, "batch_size": args.batch_size,
              "seeds": seeds, "train_images": len(images[0]), "test_images": len(images[1]),
              "averaging": "micro: one confusion matrix of all test pixels, edge = positive",
              "baselines": baselines, "losses": results, "summary": table,
              "examples": examples.tolist()}
    title = DATASETS[args.dataset].title
    save_figure(args.results_dir, f"{name}_scores", plot_edge_scores(
        table, f"Test scores of the edge masks, {title} (whiskers: min..max over "
               f"{len(seeds)} seeds)"))
    figure = edge_grid(images[1], masks[1], sobel_test, threshold, probabilities, examples,
                       f"Edges of {title} test images (MLP: seed {seeds[0]})")
    record["seconds"] = round(time.perf_counter() - began, 1)
    save_results(args.results_dir, name, figure, record,
                 note=data_note(args.data_dir, args.dataset))
    print(f"{record['seconds']:.0f} s")


def main(argv=None):
    run_command(parse_arguments, run, argv)


if __name__ == "__main__":
    main()
