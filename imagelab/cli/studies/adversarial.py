"""Adversarial images against the study MLP and CNN, their transfer, adversarial training.

    imagelab study adversarial [--seeds 3] [--cnn-images 300] [--epsilon 0.1] ...

Trains the MLP (784-256-256-10, ReLU, Adam, 8 epochs) and the study CNN (1 epoch) on
pixels in [0, 1]; attacks them with FGSM and the iterated attack (untargeted, and
targeted at a random other class) at each epsilon of ``EPSILONS``: the MLP on every test
image, the CNN on ``--cnn-images`` of them (an iterated attack costs ``--steps``
forward and backward passes). At ``--epsilon`` it tries each model's adversarial images
on the other, and compares ``--seeds`` MLPs trained normally with as many trained
adversarially (clean accuracy and accuracy under the iterated attack).

Writes ``study_adversarial_<dataset>.png`` (curves), ``..._images.png`` (originals,
perturbations, adversarial images), ``..._defence.png`` and
``study_adversarial_<dataset>.json``.
"""
import functools
import time

import numpy as np

from imagelab.cli.arguments import (ArgumentParser, check_outputs, fraction, positive_int,
                                    run_command)
from imagelab.cli.studies import add_seeds_argument, add_study_arguments
from imagelab.data.registry import DATASETS
from imagelab.data.splits import data_note, load_split, result_name
from imagelab.analysis.adversarial import (BATCH_SIZE, attack_curves, fgsm, iterated_attack,
                                           random_targets, train_adversarial, transfer_rates)
from imagelab.analysis.models import accuracy_of, train_cnn, train_mlp, unit_pixels
from imagelab.nn.network import mlp
from imagelab.training.loop import split_validation
from imagelab.utils.checks import FlagError
from imagelab.utils.files import save_figure, save_results
from imagelab.utils.progress import Progress
from imagelab.viz.adversarial import plot_adversarial_grid, plot_attack_curves, plot_defence

EPSILONS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2)
HIDDEN = (256, 256)
# The floors the study must meet on the MLP: name -> (bound, whether the measure must
# stay at least or at most at it).
FLOORS = {"fgsm_fools_at_least_80%_at_0.1": (0.8, "at least"),
          "iterated_targeted_reaches_target_on_at_least_90%_at_0.2": (0.9, "at least"),
          "adversarial_training_gains_at_least_40_points": (0.4, "at least"),
          "adversarial_training_costs_at_most_6_points_clean": (0.06, "at most")}


def parse_arguments(argv=None):
    parser = ArgumentParser(prog="imagelab study adversarial",
                            description="FGSM and iterated attacks on the study MLP and CNN, "
                                        "their transfer, and adversarial training.")
    add_study_arguments(parser)
    add_seeds_argument(parser, "MLP training (normal, adversarial)")
    parser.add_argument("--steps", type=positive_int, default=20,
                        help="steps of the iterated attack, each of 2.5 epsilon / steps "
                             "(default: 20)")
    parser.add_argument("--epsilon", type=fraction, default=0.1,
                        help="the bound of the transfer and adversarial-training "
                             "measures, in pixels of [0, 1] (default: 0.1)")
    parser.add_argument("--share", type=fraction, default=0.65,
                        help="fraction of each training batch replaced by FGSM images in "
                             "adversarial training (default: 0.65)")
    parser.add_argument("--mlp-epochs", type=positive_int, default=8,
                        help="epochs of every MLP (default: 8)")
    parser.add_argument("--cnn-epochs", type=positive_int, default=1,
                        help="epochs of the CNN (default: 1, to keep the run within 6 "
                             "minutes on 2 cores; 2 take a minute more)")
    parser.add_argument("--cnn-images", type=positive_int, default=300,
                        help="test images the CNN is attacked on, drawn at random "
                             "(default: 300, for time; the MLP is attacked on all)")
    return parser, parser.parse_args(argv)


def attacks(steps):
    """The four attacks of the curves: name -> (attack function, targeted)."""
    iterated = functools.partial(iterated_attack, steps=steps)
    return {"fgsm": (fgsm, False), "iterated": (iterated, False),
            "fgsm_targeted": (fgsm, True), "iterated_targeted": (iterated, True)}


def all_curves(network, x, labels, targets, steps, say):
    """``attack_curves`` of each of the four attacks on ``network``, over ``EPSILONS``."""
    return {name: attack_curves(attack, network, x, labels, EPSILONS,
                                targets if targeted else None,
                                lambda text, name=name: say(f"{name}, {text}"))
            for name, (attack, targeted) in attacks(steps).items()}


def defence(x, labels, x_test, labels_test, args, say):
    """Clean and iterated-attack accuracy of ``--seeds`` MLPs trained each way.

    Both trainings see the same 90% of the training rows for a seed (the standard one
    keeps its best epoch on the other 10%, the adversarial one its last epoch).
    Returns {training: {measure: [one value per seed]}} and the first standard MLP.
    """
    attack = functools.partial(iterated_attack, steps=args.steps)
    results = {"standard": {"clean": [], "iterated attack": []},
               "adversarial": {"clean": [], "iterated attack": []}}
    first = None
    for k in range(args.seeds):
        seed = args.seed + k
        say(f"seed {seed}: standard MLP")
        standard, _ = train_mlp(x, labels, HIDDEN, num_epoch=args.mlp_epochs, seed=seed)
        say(f"seed {seed}: adversarial MLP")
        train_rows, _ = split_validation(x, labels, 0.1, seed=seed)
        robust = mlp([x.shape[1], *HIDDEN, int(labels.max()) + 1], "relu", seed=seed)
        train_adversarial(robust, x[train_rows], labels[train_rows], args.epsilon,
                          num_epoch=args.mlp_epochs, share=args.share, seed=seed)
        for name, network in (("standard", standard), ("adversarial", robust)):
            say(f"seed {seed}: iterated attack on the {name} MLP")
            attacked = attack(network, x_test, labels_test, args.epsilon)
            results[name]["clean"].append(accuracy_of(network, x_test, labels_test))
            results[name]["iterated attack"].append(accuracy_of(network, attacked, labels_test))
        first = standard if first is None else first
    return results, first


def summary(values):
    """Mean, smallest and largest of the seeds' values."""
    return {"mean": float(np.mean(values)), "min": float(np.min(values)),
            "max": float(np.max(values)), "values": [float(v) for v in values]}


def transfer(mlp_network, cnn, rows, labels, image_shape, epsilon, steps):
    """``transfer_rates`` between the MLP and the CNN, for FGSM and the iterated attack."""
    def images(x):
        return x.reshape(-1, *image_shape)
    classifiers = {"mlp": lambda x: mlp_network.predict_logits(x).argmax(axis=1),
                   "cnn": lambda x: cnn.predict_logits(images(x), BATCH_SIZE).argmax(axis=1)}
    result = {}
    for name, attack in (("fgsm", fgsm), ("iterated", functools.partial(iterated_attack,
                                                                         steps=steps))):
        crafted = {"mlp": attack(mlp_network, rows, labels, epsilon),
                   "cnn": attack(cnn, images(rows), labels, epsilon).reshape(rows.shape)}
        result[name] = transfer_rates(classifiers, rows, crafted, labels)
    return result


def example_images(network, rows, labels, epsilon, steps, count=8):
    """The first image of each of ``count`` classes and its iterated-attack image on
    ``network`` (MLP rows): (originals, adversarial, labels, predicted)."""
    picks = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)[:count]]
    originals, chosen = rows[picks], labels[picks]
    adversarial = iterated_attack(network, originals, chosen, epsilon, steps=steps)
    return originals, adversarial, chosen, network.predict_logits(adversarial).argmax(axis=1)


def floors(curves, results, epsilon):
    """The four floors of ``FLOORS``, measured: value, bound and whether it holds (None
    where not measured)."""
    def at(curve, eps):          # None where not measured (another grid, no image right)
        if eps not in curve["epsilon"] or "success_rate" not in curve:
            return None
        return curve["success_rate"][curve["epsilon"].index(eps)]
    gain = (np.mean(results["adversarial"]["iterated attack"])
            - np.mean(results["standard"]["iterated attack"]))
    cost = np.mean(results["standard"]["clean"]) - np.mean(results["adversarial"]["clean"])
    values = {"fgsm_fools_at_least_80%_at_0.1": at(curves["fgsm"], 0.1),
              "iterated_targeted_reaches_target_on_at_least_90%_at_0.2":
                  at(curves["iterated_targeted"], 0.2),
              "adversarial_training_gains_at_least_40_points": float(gain) if epsilon == 0.1
              else None,
              "adversarial_training_costs_at_most_6_points_clean": float(cost)}
    record = {}
    for floor, value in values.items():
        bound, side = FLOORS[floor]
        holds = None if value is None else (value >= bound if side == "at least"
                                            else value <= bound)
        record[floor] = {"measured": value, "bound": bound, "holds": holds}
    return record


def run(args, argv):
    began = time.perf_counter()
    name = result_name("study_adversarial", None, args.dataset)
    check_outputs("--results-dir", args.results_dir,
                  [f"{name}.json", f"{name}.png", f"{name}_images.png", f"{name}_defence.png"])
    data = load_split(args.dataset, args.data_dir, args.split, args.seed,
                      download=not args.no_download)
    if args.cnn_images > len(data.labels_test):
        raise FlagError("--cnn-images", f"must be at most the {len(data.labels_test)} test "
                                        f"images, got {args.cnn_images}")
    x, x_test = unit_pixels(data.data_train), unit_pixels(data.data_test)
    labels, labels_test = data.labels_train, data.labels_test
    num_classes = len(data.label_names)
    # One line per training and attack of the defence, per epsilon of each curve, and
    # for the CNN's training and the transfer.
    stages = 4 * args.seeds + 8 * len(EPSILONS) + 2
    progress = Progress(stages)
    done = [0]                   # stages begun, counted by say

    def say(text):
        done[0] += 1
        progress.update(done[0], f"[{time.perf_counter() - began:4.0f} s] "
                                 f"{done[0]}/{stages} {text}")

    results, mlp_network = defence(x, labels, x_test, labels_test, args, say)
    targets = random_targets(labels_test, num_classes, seed=args.seed)
    curves = {"MLP": all_curves(mlp_network, x_test, labels_test, targets, args.steps, say)}
    say("training the CNN")
    cnn, _ = train_cnn(x, labels, data.image_shape, num_epoch=args.cnn_epochs,
                             seed=args.seed)
    subset = np.sort(np.random.default_rng(args.seed).permutation(len(labels_test))
                     [:args.cnn_images])
    images = x_test[subset].reshape(-1, *data.image_shape)
    curves["CNN"] = all_curves(cnn, images, labels_test[subset], targets[subset], args.steps,
                               say)
    say("transfer between the MLP and the CNN")
    transfers = transfer(mlp_network, cnn, x_test[subset], labels_test[subset],
                         data.image_shape, args.epsilon, args.steps)
    progress.close()
    accuracies = {"mlp": accuracy_of(mlp_network, x_test, labels_test),
                  "cnn": accuracy_of(cnn, x_test.reshape(-1, *data.image_shape), labels_test,
                                     BATCH_SIZE),
                  "cnn_on_its_subset": accuracy_of(cnn, images, labels_test[subset],
                                                   BATCH_SIZE)}
    record = {"command": " ".join(["imagelab study adversarial", *argv]),
              "dataset": args.dataset, "epsilons": list(EPSILONS), "steps": args.steps,
              "step_size": "2.5 epsilon / steps", "random_start": False,
              "targets": "a random other class per image, uniform", "epsilon": args.epsilon,
              "cnn_images": args.cnn_images, "mlp_images": len(labels_test),
              "test_accuracy": accuracies, "curves": curves, "transfer": transfers,
              "defence": {training: {measure: summary(values)
                                     for measure, values in measures.items()}
                          for training, measures in results.items()},
              "defence_share": args.share, "floors": floors(curves["MLP"], results,
                                                            args.epsilon)}
    print_summary(record)
    title = f"Attacks on {DATASETS[args.dataset].title} (success among images classified right)"
    note = data_note(args.data_dir, args.dataset)
    originals, adversarial, chosen, predicted = example_images(
        mlp_network, x_test, labels_test, args.epsilon, args.steps)
    shape = data.image_shape
    save_figure(args.results_dir, f"{name}_images", plot_adversarial_grid(
        originals.reshape(-1, *shape), adversarial.reshape(-1, *shape), chosen, predicted,
        data.label_names, args.epsilon, f"MLP, iterated attack at epsilon {args.epsilon:g}: "
                                        "original, perturbation, adversarial image"))
    save_figure(args.results_dir, f"{name}_defence", plot_defence(
        results, f"MLP, {args.seeds} seeds: clean accuracy and under the iterated attack "
                 f"at {args.epsilon:g}"))
    record["seconds"] = round(time.perf_counter() - began, 1)
    save_results(args.results_dir, name, plot_attack_curves(curves, title), record, note=note)


def print_summary(record):
    """One line per headline number."""
    for model, attacks_ in record["curves"].items():
        for attack, curve in attacks_.items():
            rates = " ".join(f"{r:.3f}" for r in curve.get("success_rate", []))
            print(f"{model} {attack}: success {rates} (epsilon {record['epsilons']})")
    for attack, result in record["transfer"].items():
        print(f"transfer {attack}: {result['rates']} on {result['images']} images")
    for training, measures in record["defence"].items():
        print(f"{training} MLP: " + ", ".join(f"{m} {s['mean']:.4f} ({s['min']:.4f}.."
                                             f"{s['max']:.4f})" for m, s in measures.items()))
    for floor, value in record["floors"].items():
        print(f"floor {floor}: {value}")


def main(argv=None):
    run_command(parse_arguments, run, argv)


if __name__ == "__main__":
    main()
