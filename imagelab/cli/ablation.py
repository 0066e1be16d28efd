"""What each ingredient of the fast recipe buys: one short training per ingredient removed.

    imagelab ablation --epochs 4               # every row, then the table
    imagelab ablation --epochs 4 --only "no lookahead"

Each row of ``imagelab.recipes.airbench.ABLATIONS`` trains the recipe with one ingredient
removed; the full recipe runs under ``--seeds`` so that its spread shows which
differences mean something. Each test-time augmentation level is read off every run.
A finished run is added to ``<results-dir>/ablation.json`` (``ablation_<dataset>.json``
off CIFAR-10) at once, so an interrupted ablation resumes where it stopped: runs
already there (same recipe, same seed) are not run again. Prints the table in
Markdown for the README.
"""
import dataclasses
import json
import numbers
import os
import time

import numpy as np

from imagelab.utils.allocator import keep_freed_memory
from imagelab.cli.arguments import (ArgumentParser, check_outputs, run_command, seed,
                                    stop_if_diverging)
from imagelab.utils.checks import FlagError
from imagelab.data.registry import DATASETS
from imagelab.data.splits import result_name
from imagelab.utils.files import write_atomic
from imagelab.recipes.airbench import ABLATIONS, tta_accuracies, train_recipe
from imagelab.cli.train_recipe import (add_recipe_arguments, load_images,
                                       recipe_from_arguments, refuse_a_recipe_too_large)


def parse_arguments(argv=None):
    parser = ArgumentParser(
        prog="imagelab ablation",
        description="Train the fast recipe with each ingredient removed in turn, at a short "
                    "budget, and table the test accuracies.")
    add_recipe_arguments(parser)
    parser.set_defaults(epochs=4.0)
    parser.add_argument("--seeds", type=seed, nargs="+", default=[0, 1, 2],
                        help="seeds of the full recipe's runs (default: 0 1 2); the other "
                             "rows run under the first")
    parser.add_argument("--only", choices=sorted(ABLATIONS), action="append",
                        help="run only this row (repeatable; default: every row)")
    return parser, parser.parse_args(argv)


def planned_runs(base, rows, seeds):
    """(row, seed, recipe) of each run: every row under the first seed, then the full
    recipe under the others (so that an ablation stopped early has read every
    ingredient once before it measures the spread)."""
    runs = [(row, seeds[0], dataclasses.replace(base, **ABLATIONS[row])) for row in rows]
    if "full recipe" in rows:
        runs += [("full recipe", s, base) for s in seeds[1:]]
    return runs


def as_record(recipe):
    """``recipe`` as the plain dict a JSON file gives back (lists, not tuples)."""
    return json.loads(json.dumps(dataclasses.asdict(recipe)))


def is_run(record):
    """Whether ``record`` is a run as ``run`` writes it (the keys resuming and the table read)."""
    return (isinstance(record, dict) and isinstance(record.get("row"), str)
            and isinstance(record.get("seed"), int) and isinstance(record.get("recipe"), dict)
            and isinstance(record["recipe"].get("epochs"), numbers.Real)
            and isinstance(record.get("training_minutes"), numbers.Real)
            and isinstance(record.get("test_accuracy_by_tta_level"), list)
            and all(isinstance(a, numbers.Real) for a in record["test_accuracy_by_tta_level"]))


def load_done(path):
    """The runs already in ``path`` (a list of records), or [] if there is no such file.

    Raises
    ------
    FlagError
        On --results-dir, if the file is not JSON or not a list of runs: it is left as
        it is (its runs may have taken hours), and the line says what to do.
    """
    if not os.path.exists(path):
        return []
    try:
        with open(path, "rb") as f:
            records = json.load(f)
        problem = None if isinstance(records, list) else "not a list of runs"
    except ValueError as error:                   # JSONDecodeError, UnicodeDecodeError
        problem = f"not JSON: {error}"
    if problem is None and not all(map(is_run, records)):
        problem = "a record is not a run"
    if problem is not None:
        raise FlagError("--results-dir", f"{path} is damaged ({problem}); repair it, or move "
                                         f"it away to start a new ablation")
    return records


def markdown_table(records):
    """The ablation table: one line per row; a row run under several seeds shows the mean
    of its runs and, in brackets, their lowest and highest: the spread a difference must
    exceed to mean something."""
    lines = ["| recipe | runs | test, no TTA | TTA 1 (mirror) | TTA 2 (+ shifts) | minutes |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in ABLATIONS:
        runs = [r for r in records if r["row"] == row]
        if not runs:
            continue
        levels = np.array([r["test_accuracy_by_tta_level"] for r in runs]) * 100
        cells = [f"{m:.2f}" + (f" ({low:.2f}–{high:.2f})" if len(runs) > 1 else "")
                 for m, low, high in zip(levels.mean(axis=0), levels.min(axis=0),
                                         levels.max(axis=0))]
        minutes = np.mean([r["training_minutes"] for r in runs])
        lines.append(f"| {row} | {len(runs)} | " + " | ".join(cells) + f" | {minutes:.1f} |")
    return "\n".join(lines)


def run(args, argv):
    """Train every planned run that is not in ablation.json yet, then print the table."""
    base = recipe_from_arguments(args)
    refuse_a_recipe_too_large(base, args.dataset)
    name = result_name("ablation", None, args.dataset) + ".json"
    check_outputs("--results-dir", args.results_dir, [name])
    path = os.path.join(args.results_dir, name)
    records = load_done(path)
    shape = DATASETS[args.dataset].image_shape
    planned = planned_runs(base, args.only or list(ABLATIONS), args.seeds)
    todo = [(i, row, s, recipe) for i, (row, s, recipe) in enumerate(planned, start=1)
            if not any(r["seed"] == s and r["recipe"] == as_record(recipe)
                       for r in records)]
    if todo:
        rows_train, labels_train, rows_test, labels_test, label_names = load_images(args)
        keep_freed_memory()
    for i, row, s, recipe in todo:
        print(f"[{i}/{len(planned)}] {row}, seed {s}", flush=True)
        with stop_if_diverging(recipe.learning_rate):
            network, _, pipeline, history = train_recipe(
                rows_train, labels_train, shape, len(label_names), recipe, seed=s, verbose=True)
        accuracies, _ = tta_accuracies(network, pipeline, rows_test.reshape(-1, *shape),
                                        labels_test)
        print(f"{row}, seed {s}: " + "  ".join(f"TTA {level}: {a:.4f}"
                                             for level, a in enumerate(accuracies)), flush=True)
        records.append({"row": row, "seed": s, "recipe": as_record(recipe),
                        "test_accuracy_by_tta_level": accuracies,
                        "training_minutes": round(sum(history["seconds"]) / 60, 1),
                        "finished": time.strftime("%Y-%m-%d %H:%M"), "history": history})
        text = json.dumps(records, indent=2, allow_nan=False).encode() + b"\n"
        write_atomic(path, lambda f: f.write(text))
    print(markdown_table([r for r in records if r["recipe"]["epochs"] == base.epochs]))


def main(argv=None):
    run_command(parse_arguments, run, argv)


if __name__ == "__main__":
    main()
