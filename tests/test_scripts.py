"""End-to-end runs of ``python knn.py`` and ``python mlp.py``, the lab and nothing else, on a
tiny CIFAR-format folder: in this process (``run_script``), and once as a real program."""
import json
import os
import re
import subprocess
import sys

import pytest

from imagelab.cli import knn as knn_cli
from imagelab.cli import mlp as mlp_cli
from conftest import (PNG_SIGNATURE, ROOT, USAGE, make_cifar_folder, prog, run_command,
                      run_script, snapshot)
from imagelab.data.cifar import BATCH_FOLDER


@pytest.fixture
def tiny_data_dir(tmp_path):
    """A data folder whose cifar-10-batches-py holds 6 x 10 random images."""
    make_cifar_folder(str(tmp_path / "data" / BATCH_FOLDER), sizes=(10,) * 6)
    return str(tmp_path / "data")


def run(main, data_dir, results_dir, *flags):
    main(["--data-dir", data_dir, "--results-dir", results_dir, "--no-download", *flags])


def read_results(results_dir, name):
    with open(os.path.join(results_dir, name + ".png"), "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    with open(os.path.join(results_dir, name + ".json")) as f:
        return json.load(f)


def test_knn_script_writes_the_curve(tiny_data_dir, tmp_path, capsys):
    results = str(tmp_path / "results")
    run(knn_cli.main, tiny_data_dir, results, "--k-max", "5")
    record = read_results(results, "knn")
    assert record["k"] == [1, 2, 3, 4, 5] and len(record["accuracy"]) == 5
    assert all(0 <= a <= 1 for a in record["accuracy"])
    assert (record["n_train"], record["n_test"], record["seed"]) == (54, 6, 0)
    assert "done in" in capsys.readouterr().out


def test_mlp_script_writes_the_training_curve(tiny_data_dir, tmp_path):
    results = str(tmp_path / "results")
    run(mlp_cli.main, tiny_data_dir, results, "--num-epoch", "3", "--d-h", "8")
    record = read_results(results, "mlp")
    assert len(record["train_accuracy"]) == 3 and 0 <= record["test_accuracy"] <= 1
    assert (record["d_h"], record["learning_rate"], record["num_epoch"]) == (8, 0.1, 3)


def test_the_labs_records_keep_their_keys(tiny_data_dir, tmp_path):
    results = str(tmp_path / "results")
    run(knn_cli.main, tiny_data_dir, results, "--k-max", "2")
    run(mlp_cli.main, tiny_data_dir, results, "--num-epoch", "2", "--d-h", "4")
    # The lab's keys, and the dataset's name (issue 10: every record names it).
    assert sorted(read_results(results, "knn")) == ["accuracy", "dataset", "k", "n_test",
                                                    "n_train", "seconds", "seed", "split"]
    assert sorted(read_results(results, "mlp")) == [
        "d_h", "dataset", "features", "learning_rate", "n_test", "n_train", "num_epoch",
        "seconds", "seed", "split", "test_accuracy", "train_accuracy"]
    assert sorted(os.listdir(results)) == ["knn.json", "knn.png", "mlp.json", "mlp.png"]


def test_same_seed_same_results(tiny_data_dir, tmp_path):
    for name in ("a", "b"):
        run(knn_cli.main, tiny_data_dir, str(tmp_path / name), "--k-max", "3", "--seed", "7")
    first, second = (read_results(str(tmp_path / name), "knn") for name in ("a", "b"))
    assert first["accuracy"] == second["accuracy"]


def test_missing_data_is_a_message_not_a_traceback(tmp_path):
    with pytest.raises(SystemExit, match="downloads are off"):
        run(knn_cli.main, str(tmp_path / "empty"), str(tmp_path / "results"))
    assert not (tmp_path / "results").exists()


# ---------------------------------------------------------------- refusals, as a user sees them

# (script, flags, the line on stderr after "<script>: error: argument "): refused up front.
BAD_FLAGS = [
    ("mlp.py", ["--learning-rate", "nan"], "--learning-rate: must be a finite number > 0, got nan"),
    ("mlp.py", ["--learning-rate", "inf"], "--learning-rate: must be a finite number > 0, got inf"),
    ("mlp.py", ["--learning-rate", "-1"], "--learning-rate: must be a finite number > 0, got -1"),
    ("mlp.py", ["--num-epoch", "0"], "--num-epoch: must be an integer >= 1, got 0"),
    ("mlp.py", ["--d-h", "-3"], "--d-h: must be an integer >= 1, got -3"),
    ("mlp.py", ["--seed", "-1"], "--seed: must be an integer >= 0, got -1"),
    ("knn.py", ["--seed", "2.5"], "--seed: invalid seed value: '2.5'"),
    ("knn.py", ["--split", "1"], "--split: must be a finite number in (0, 1), got 1"),
    ("knn.py", ["--k-max", "0"], "--k-max: must be an integer >= 1, got 0"),
]


@pytest.mark.parametrize("script, flags, message", BAD_FLAGS,
                         ids=[" ".join(case[1]) for case in BAD_FLAGS])
def test_a_bad_flag_is_one_line_before_any_data_is_read(folders, script, flags, message):
    before = snapshot(*folders)
    result = run_script(script, *folders, *flags)
    assert result.returncode == 2
    assert result.stderr == f"{prog(script)}: error: argument {message}{USAGE}\n"
    assert snapshot(*folders) == before


@pytest.mark.parametrize("flag", ["--data-dir", "--results-dir"])
def test_a_file_or_a_path_under_a_file_is_not_a_folder(folders, tmp_path, flag):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    data_dir, results_dir = folders
    before = snapshot(*folders, tmp_path / "afile")
    for path, why in [(afile, "a file"), (afile / "sub", f"{afile} is a file")]:
        paths = {"--data-dir": data_dir, "--results-dir": results_dir, flag: str(path)}
        result = run_script("knn.py", paths["--data-dir"], paths["--results-dir"])
        assert result.returncode == 2
        assert result.stderr == (f"knn.py: error: argument {flag}: must be a folder, got "
                                 f"{path} ({why}){USAGE}\n")
    assert snapshot(*folders, tmp_path / "afile") == before


# Refused once the data is read (60 images: 54 train / 6 test).
DATA_REFUSALS = [
    ("knn.py", ["--k-max", "1000000"],
     "--k-max: must be at most 54, the number of training images, got 1000000"),
    ("knn.py", ["--split", "0.999"],
     "--split: must leave images on both sides of the 60 images, got 0.999"),
]


@pytest.mark.parametrize("script, flags, message", DATA_REFUSALS,
                         ids=[" ".join(case[1]) for case in DATA_REFUSALS])
def test_a_flag_the_data_refuses_is_one_line_too(folders, script, flags, message):
    before = snapshot(*folders)
    result = run_script(script, *folders, *flags)
    assert result.returncode == 2
    assert result.stderr == f"{prog(script)}: error: argument {message}\n"
    assert snapshot(*folders) == before


def test_a_diverging_training_stops_and_writes_nothing(folders):
    flags = ["--learning-rate", "1e300", "--d-h", "8"]
    before = snapshot(*folders)
    result = run_script("mlp.py", *folders, "--num-epoch", "3", *flags)
    assert result.returncode == 2
    assert re.fullmatch(r"mlp.py: error: argument --learning-rate: the training diverged "
                        r"\(overflow encountered in [\w ]+; the loss is no longer finite\): "
                        rf"try a smaller learning rate than {flags[1].replace('+', '')}\n",
                        result.stderr.replace("+", ""))
    assert snapshot(*folders) == before


def test_data_dir_may_name_the_batch_folder_itself(folders, tmp_path):
    data_dir, _ = folders
    before = snapshot(data_dir)
    results = str(tmp_path / "new" / "results")
    result = run_script("knn.py", os.path.join(data_dir, BATCH_FOLDER), results, "--k-max", "2")
    assert result.returncode == 0 and result.stderr == ""
    assert read_results(results, "knn")["n_train"] == 54
    assert snapshot(data_dir) == before            # no nested download


# ---------------------------------------------------------------- the lab's help, the lab alone

@pytest.mark.parametrize("script, flags", [
    ("knn.py", ["--data-dir", "--results-dir", "--split", "--seed", "--no-download",
                "--k-max"]),
    ("mlp.py", ["--data-dir", "--results-dir", "--split", "--seed", "--no-download", "--d-h",
                "--learning-rate", "--num-epoch"]),
])
def test_the_labs_help_shows_the_labs_flags_and_no_other(script, flags):
    result = run_command(script, "--help")
    assert result.returncode == 0 and result.stderr == ""
    for flag in flags:
        assert flag in result.stdout
    for extra in ("--optimizer", "--hidden", "--features", "--cv", "--figures"):
        assert extra not in result.stdout


def test_python_knn_py_is_a_program_that_refuses_a_bad_flag_with_status_2(folders):
    """A real subprocess: the script runs the command, a refusal is one line, status 2."""
    before = snapshot(*folders)
    done = subprocess.run([sys.executable, "knn.py", "--data-dir", folders[0], "--results-dir",
                           folders[1], "--no-download", "--k-max", "0"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == ("knn.py: error: argument --k-max: must be an integer >= 1, got 0"
                           f"{USAGE}\n")
    assert snapshot(*folders) == before
