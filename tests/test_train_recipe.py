"""End-to-end runs of ``imagelab train-recipe`` and ``imagelab ablation``, in this process, on a
tiny CIFAR-format folder (50 training and 10 test images), with narrow blocks."""
import json
import os
import re

import pytest

from conftest import USAGE, is_png, prog, run_script, snapshot
from imagelab.cli.ablation import markdown_table, planned_runs
from imagelab.recipes.airbench import ABLATIONS, Recipe

SMALL = ["--widths", "4", "8", "8", "--batch-size", "16", "--micro-batch", "8"]


@pytest.mark.slow
def test_training_writes_results_and_a_model(folders, tmp_path):
    models = tmp_path / "models"
    result = run_script("train-recipe", *folders, *SMALL, "--epochs", "2",
                        "--model-dir", str(models))
    assert result.returncode == 0, result.stderr
    assert re.search(r"epoch   2/2 .* images/s  0\.0 min left", result.stdout)
    assert "test accuracy by test-time augmentation level: 0: " in result.stdout
    results = folders[1]
    for suffix in ("", "_confusion", "_predictions", "_mistakes"):
        assert is_png(os.path.join(results, f"recipe{suffix}.png"))
    with open(os.path.join(results, "recipe.json")) as f:
        record = json.load(f)
    assert record["n_train"] == 50 and record["n_test"] == 10
    assert len(record["test_accuracy_by_tta_level"]) == 3
    assert record["test_accuracy"] == record["test_accuracy_by_tta_level"][2]
    assert record["recipe"]["widths"] == [4, 8, 8] and record["cpu"]
    assert len(record["history"]["test_accuracy"]) == 2
    assert os.path.exists(models / "recipe.npz")


@pytest.mark.parametrize("flags, message", [
    (["--epochs", "0"], "--epochs: must be a finite number > 0, got 0"),
    (["--learning-rate", "inf"], "--learning-rate: must be a finite number > 0, got inf"),
    (["--label-smoothing", "1"], r"--label-smoothing: must be a finite number in \[0, 1\), got 1"),
    (["--flip", "always"],
     r"--flip: invalid choice: 'always' \(choose from '?alternating'?, '?random'?, '?none'?\)"),
    (["--widths", "4", "0", "8"], "--widths: must be an integer >= 1, got 0"),
    (["--translate", "5"], r"--translate: invalid choice: 5 \(choose from 0, 1, 2, 3, 4\)"),
])
def test_a_bad_flag_is_one_line_before_any_data_is_read(folders, flags, message):
    before = snapshot(*folders)
    result = run_script("train-recipe", *folders, *flags)
    assert result.returncode == 2
    assert re.fullmatch(rf"{prog('train-recipe')}: error: argument {message}"
                        rf"{re.escape(USAGE)}\n", result.stderr), result.stderr
    assert snapshot(*folders) == before


def test_the_full_recipe_runs_under_every_seed_and_the_others_once():
    runs = planned_runs(Recipe(), list(ABLATIONS), [0, 1, 2])
    assert len(runs) == 3 + len(ABLATIONS) - 1
    assert [s for row, s, _ in runs if row == "full recipe"] == [0, 1, 2]
    lookahead = [recipe for row, _, recipe in runs if row == "no lookahead"]
    assert lookahead == [Recipe(lookahead=False)]


def test_the_table_gives_the_spread_of_repeated_runs():
    records = [{"row": "full recipe", "test_accuracy_by_tta_level": [0.90, 0.91, 0.92],
                "training_minutes": 10.0},
               {"row": "full recipe", "test_accuracy_by_tta_level": [0.92, 0.93, 0.94],
                "training_minutes": 12.0},
               {"row": "full recipe", "test_accuracy_by_tta_level": [0.97, 0.96, 0.95],
                "training_minutes": 14.0},
               {"row": "no lookahead", "test_accuracy_by_tta_level": [0.8, 0.81, 0.82],
                "training_minutes": 11.0}]
    lines = markdown_table(records).splitlines()
    # the mean, then the lowest and highest run: three seeds, the spread to exceed
    assert lines[2] == ("| full recipe | 3 | 93.00 (90.00–97.00) | 93.33 (91.00–96.00) "
                        "| 93.67 (92.00–95.00) | 12.0 |")
    assert lines[3] == "| no lookahead | 1 | 80.00 | 81.00 | 82.00 | 11.0 |"


@pytest.mark.slow
def test_the_ablation_resumes_without_running_a_finished_run_again(folders):
    flags = [*SMALL, "--epochs", "1", "--seeds", "0", "--only", "no lookahead"]
    first = run_script("ablation", *folders, *flags)
    assert first.returncode == 0, first.stderr
    assert "[1/1] no lookahead, seed 0" in first.stdout
    assert re.search(r"\| no lookahead \| 1 \| [\d.]+ \| [\d.]+ \| [\d.]+ \|", first.stdout)
    with open(os.path.join(folders[1], "ablation.json")) as f:
        assert [r["row"] for r in json.load(f)] == ["no lookahead"]
    again = run_script("ablation", *folders, *flags)
    assert again.returncode == 0, again.stderr
    assert "[1/" not in again.stdout and "| no lookahead | 1 |" in again.stdout
    # a run added to the plan is numbered by its place in the whole plan
    more = run_script("ablation", *folders, *flags, "--only", "random flips")
    assert more.returncode == 0, more.stderr
    assert "[1/" not in more.stdout and "[2/2] random flips, seed 0" in more.stdout


# The longest name whose checkpoint's temporary file, .<name>.checkpoint.npz.<pid>.tmp,
# fits in 255 characters: .<name>_predictions.png.<pid>.tmp, one longer, does not.
LONGEST = 255 - len(".checkpoint.npz") - len("...tmp") - len(str(os.getpid()))


@pytest.mark.parametrize("length, refused, folder", [
    (300, r"n{300}\.checkpoint\.npz", "models"),
    (LONGEST, rf"n{{{LONGEST}}}_predictions\.png", "results"),
])
def test_a_name_too_long_for_the_file_system_is_refused_before_the_data(folders, tmp_path,
                                                                        length, refused,
                                                                        folder):
    before = snapshot(*folders)
    result = run_script("train-recipe", *folders, "--name", "n" * length, "--model-dir",
                        str(tmp_path / "models"))
    assert result.returncode == 2
    assert re.fullmatch(rf"{prog('train-recipe')}: error: argument --name: cannot write "
                        rf"{refused} in {tmp_path / folder} \(File name too long\)\n",
                        result.stderr), result.stderr
    assert snapshot(*folders) == before


def fake_training(monkeypatch):
    """Replace the ablation's training and test by instant ones (the files are the subject)."""
    from imagelab.cli import ablation
    monkeypatch.setattr(ablation, "train_recipe", lambda *args, **kwargs: (
        None, None, None, {"seconds": [6.0]}))
    monkeypatch.setattr(ablation, "tta_accuracies", lambda *args: ([0.1, 0.2, 0.3], None))


def test_the_ablation_makes_its_results_folder(folders, tmp_path, monkeypatch):
    fake_training(monkeypatch)
    results = tmp_path / "new" / "results"
    result = run_script("ablation", folders[0], str(results), *SMALL, "--seeds", "0",
                        "--only", "no lookahead")
    assert result.returncode == 0, result.stderr
    with open(results / "ablation.json") as f:
        assert [r["row"] for r in json.load(f)] == ["no lookahead"]
    assert os.listdir(results) == ["ablation.json"]


@pytest.mark.parametrize("content, problem", [
    (b'[{"row": "full recipe", "seed": 0', r"not JSON: .*"),
    (b"\xff\xfe", r"not JSON: .*"),
    (b'{"row": "full recipe"}', "not a list of runs"),
    (b'[{"row": "full recipe", "seed": 0}]', "a record is not a run"),
    (b"[1]", "a record is not a run"),
])
def test_a_damaged_ablation_file_is_named_and_kept(folders, monkeypatch, content, problem):
    fake_training(monkeypatch)
    path = os.path.join(folders[1], "ablation.json")
    with open(path, "wb") as f:
        f.write(content)
    before = snapshot(*folders)
    result = run_script("ablation", *folders, *SMALL, "--seeds", "0", "--only", "no lookahead")
    assert result.returncode == 2
    assert re.fullmatch(rf"{prog('ablation')}: error: argument --results-dir: "
                        rf"{re.escape(path)} is damaged \({problem}\); repair it, or move it "
                        rf"away to start a new ablation\n", result.stderr), result.stderr
    assert snapshot(*folders) == before


@pytest.mark.parametrize("command", ["train-recipe", "ablation"])
def test_a_batch_larger_than_the_training_set_is_refused_in_one_line(folders, tmp_path,
                                                                     command):
    before = snapshot(*folders)
    models = ["--model-dir", str(tmp_path / "models")] if command == "train-recipe" else []
    result = run_script(command, *folders, *models)
    assert result.returncode == 2
    assert result.stderr == (f"{prog(command)}: error: argument --batch-size: must be at most "
                             "50, the number of training images, got 1024\n")
    assert snapshot(*folders) == before


@pytest.mark.slow
def test_a_resumed_training_ends_as_an_uninterrupted_one(folders, tmp_path, monkeypatch):
    from test_train_cnn import assert_same_run, saved_run, stop_after_first_checkpoint
    data, results = folders
    flags = [*SMALL, "--epochs", "2.5", "--name", "run"]
    whole = run_script("train-recipe", data, results, *flags, "--model-dir", str(tmp_path / "a"))
    assert whole.returncode == 0, whole.stderr
    assert os.listdir(tmp_path / "a") == ["run.npz"]
    uninterrupted = saved_run(results, tmp_path / "a", "run")
    models = str(tmp_path / "b")
    with monkeypatch.context() as patch:
        stop_after_first_checkpoint(patch)
        stopped = run_script("train-recipe", data, results, *flags, "--model-dir", models)
    assert stopped.returncode == 130, stopped.stderr
    assert os.listdir(models) == ["run.checkpoint.npz"]
    resumed = run_script("train-recipe", data, results, *flags, "--model-dir", models,
                         "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "epoch   1/3" not in resumed.stdout and "epoch   3/3" in resumed.stdout
    assert os.listdir(models) == ["run.npz"]
    assert_same_run(uninterrupted, saved_run(results, models, "run"))


def test_the_checkpoint_keeps_every_flag_that_changes_the_result():
    """The recipe's flags included, the folders and --resume left out."""
    from imagelab.cli.train_recipe import parse_arguments
    from imagelab.cli.arguments import training_settings
    settings = training_settings(parse_arguments(["--no-lookahead", "--resume"])[1])
    assert settings["--no-lookahead"] is True and settings["--seed"] == 0
    assert "--resume" not in settings and "--model-dir" not in settings
