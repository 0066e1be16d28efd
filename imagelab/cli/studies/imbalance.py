"""Class imbalance: rare classes made by hand, and what oversampling, class weights and the
focal loss do about them.

    imagelab study imbalance [--seeds 3] [--epochs 5] [--scenarios ...] [--remedies ...]

Each scenario of ``imagelab.analysis.imbalance.SCENARIOS`` subsamples the official
training set; an MLP is trained on it under each remedy, once per seed, and tested on
the official test set, whose classes are equal (1,000 images each on Fashion-MNIST).
The whole training set, without remedy, is the reference. Writes
``study_imbalance_<dataset>.png`` (balanced accuracy and the smaller classes' recall
and F1 per seed), ``..._recall.png`` (each class's recall), ``..._confusion.png`` (the
confusion matrices of the last scenario, summed over the seeds) and
``study_imbalance_<dataset>.json``.
"""
import time

import numpy as np

from imagelab.analysis.imbalance import REMEDIES, SCENARIOS, run_study
from imagelab.analysis.models import unit_pixels
from imagelab.cli.arguments import (ArgumentParser, check_outputs, non_negative_float,
                                    run_command)
from imagelab.cli.studies import add_study_arguments, add_training_arguments
from imagelab.data.registry import DATASETS, OFFICIAL
from imagelab.data.splits import data_note, load_split, result_name
from imagelab.utils.files import add_note, save_figure, save_results
from imagelab.utils.progress import Progress
from imagelab.viz.imbalance import plot_class_recall, plot_confusions, plot_remedies

REFERENCE = "balanced"
HIDDEN, LEARNING_RATE, BATCH_SIZE = (256, 256), 1e-3, 128
# The scores of the summary figure: their key in the JSON -> their axis label.
SUMMARY = {"balanced_accuracy": "balanced accuracy (mean recall)",
           "minority_recall": "mean recall of the smaller classes",
           "minority_f1": "mean F1 of the smaller classes"}


def parse_arguments(argv=None):
    parser = ArgumentParser(prog="imagelab study imbalance",
                            description="Train an MLP on training sets with rare classes, "
                                        "with and without remedies, and test it on the "
                                        "balanced test set.")
    add_study_arguments(parser)
    scenarios = [name for name in SCENARIOS if name != REFERENCE]
    parser.add_argument("--scenarios", nargs="+", choices=scenarios, default=scenarios,
                        help="which imbalances to make; the confusion matrices are those of "
                             "the last (default: all)")
    parser.add_argument("--remedies", nargs="+", choices=REMEDIES, default=list(REMEDIES),
                        help="what to do about them (default: all)")
    add_training_arguments(parser, "scenario and remedy", epochs=5,
                           epochs_note=", the last one kept")
    parser.add_argument("--gamma", type=non_negative_float, default=2.0,
                        help="exponent of the focal loss (default: 2, Lin et al.'s)")
    return parser, parser.parse_args(argv)


def summary_arrays(results, scenarios, remedies, key):
    """Per-seed values of the runs' ``key`` (e.g. "balanced_accuracy"), shape (S, R, K)."""
    return np.array([[[run[key] for run in results[s]["remedies"][r]["runs"]]
                      for r in remedies] for s in scenarios])


def class_arrays(results, scenarios, remedies):
    """Mean, least and largest recall of each class over the seeds, each (S, R, C)."""
    return [np.array([[results[s]["remedies"][r][key] for r in remedies] for s in scenarios])
            for key in ("recall", "recall_min", "recall_max")]


def print_table(results, plan):
    """One line per scenario and remedy: balanced accuracy and smaller-class recall, mean
    and range over the seeds."""
    for scenario, remedies in plan.items():
        for remedy in remedies:
            record = results[scenario]["remedies"][remedy]
            cells = [f"{key} {record[key]['mean']:.4f} ({record[key]['min']:.4f}.."
                     f"{record[key]['max']:.4f})" for key in ("balanced_accuracy",
                                                              "minority_recall")]
            print(f"{scenario:>9} {remedy:>13}  " + "  ".join(cells))


def make_figures(results, scenarios, remedies, class_names, title):
    """The study's three figures: the summary of each remedy (``plot_remedies``, the
    balanced reference as a band), each class's recall, and the confusion matrices of the
    last scenario (with the reference's), summed over the seeds."""
    reference = {SUMMARY[key]: summary_arrays(results, [REFERENCE], ["none"], key)[0, 0]
                 for key in SUMMARY}
    summary = plot_remedies({SUMMARY[key]: summary_arrays(results, scenarios, remedies, key)
                             for key in SUMMARY}, scenarios, remedies, reference,
                            f"Remedies for class imbalance, {title}")
    recall = plot_class_recall(*class_arrays(results, scenarios, remedies), class_names,
                               scenarios, remedies, [results[s]["minority"] for s in scenarios],
                               f"Test recall of each class, {title}")
    last = scenarios[-1]
    pairs = [(REFERENCE, "none")] + [(last, remedy) for remedy in remedies]
    matrices = [np.sum([run["confusion"] for run in results[s]["remedies"][r]["runs"]], axis=0)
                for s, r in pairs]
    seeds = len(results[REFERENCE]["remedies"]["none"]["runs"])
    confusion = plot_confusions(matrices, class_names,
                                ["balanced set, no remedy"] + [f"{last}, {r}" for r in remedies],
                                f"Confusion matrices summed over {seeds} seeds, {title}")
    return summary, recall, confusion


def run(args, argv):
    began = time.perf_counter()
    name = result_name("study_imbalance", None, args.dataset)
    check_outputs("--results-dir", args.results_dir,
                  [f"{name}.json", f"{name}.png", f"{name}_recall.png", f"{name}_confusion.png"])
    scenarios, remedies = list(dict.fromkeys(args.scenarios)), list(dict.fromkeys(args.remedies))
    plan = {REFERENCE: ["none"], **{scenario: remedies for scenario in scenarios}}
    seeds = list(range(args.seed, args.seed + args.seeds))
    data = load_split(args.dataset, args.data_dir, args.split, args.seed,
                      download=not args.no_download)
    class_names = list(DATASETS[args.dataset].label_names)
    progress = Progress(sum(map(len, plan.values())) * len(seeds))
    results = run_study(unit_pixels(data.data_train), data.labels_train,
                        unit_pixels(data.data_test), data.labels_test, plan, seeds,
                        hidden=HIDDEN, num_epoch=args.epochs, gamma=args.gamma,
                        learning_rate=LEARNING_RATE, batch_size=BATCH_SIZE,
                        on_run=lambda done, total, text: progress.update(
                            done, f"training {done}/{total}: {text}, "
                                  f"{time.perf_counter() - began:.0f} s"))
    progress.close()
    print_table(results, plan)
    title = f"{DATASETS[args.dataset].title}: MLP {HIDDEN}, {args.epochs} epochs, seeds {seeds}"
    summary, recall, confusion = make_figures(results, scenarios, remedies, class_names, title)
    note = data_note(args.data_dir, args.dataset)
    for suffix, figure in (("recall", recall), ("confusion", confusion)):
        add_note(figure, note)
        save_figure(args.results_dir, f"{name}_{suffix}", figure)
    record = {"command": " ".join(["imagelab study imbalance", *argv]),
              "dataset": args.dataset, "class_names": class_names,
              "test_set": ("the official test set, as it is" if args.split == OFFICIAL else
                           f"a random {1 - args.split:g} of the training and test images"),
              "test_counts": np.bincount(data.labels_test, minlength=len(class_names)).tolist(),
              "settings": {"hidden": list(HIDDEN), "epochs": args.epochs, "gamma": args.gamma,
                           "seeds": seeds, "learning_rate": LEARNING_RATE,
                           "batch_size": BATCH_SIZE},
              "scenario_fractions": {s: SCENARIOS[s].tolist() for s in plan},
              "results": results, "seconds": time.perf_counter() - began}
    save_results(args.results_dir, name, summary, record, note=note)


def main(argv=None):
    run_command(parse_arguments, run, argv)


if __name__ == "__main__":
    main()
