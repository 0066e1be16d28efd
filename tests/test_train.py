"""Tests of ``imagelab train-mlp``, the network trainer: its preparation of the inputs,
runs on a tiny CIFAR-10 with figures and descriptors, and its refusals as a user sees them."""
import json
import os
import re

import numpy as np
import pytest

from conftest import USAGE, make_cifar_folder, prog, run_script, snapshot
from imagelab.cli import train_mlp as train
from imagelab.cli.arguments import FlagError
from imagelab.data.cifar import BATCH_FOLDER

TRAINER = "train-mlp"


@pytest.fixture
def small_cifar(tmp_path):
    folder = tmp_path / "data"
    make_cifar_folder(str(folder / BATCH_FOLDER), sizes=(40, 40, 40, 40, 40, 40))
    return folder


@pytest.mark.slow
def test_mlp_main_trains_a_network_and_writes_figures(small_cifar, tmp_path):
    results = tmp_path / "results"
    argv = ["--data-dir", str(small_cifar), "--results-dir", str(results), "--no-download",
            "--optimizer", "adam", "--activation", "relu", "--hidden", "16", "8",
            "--num-epoch", "3", "--learning-rate", "1e-3", "--flip", "--pca", "20",
            "--dropout", "0.2", "--weight-decay", "1e-4",
            "--patience", "2", "--figures", "--name", "net"]
    train.main(argv)
    record = json.loads((results / "net.json").read_text())
    assert record["sizes"] == [20, 16, 8, 10]
    assert record["command"] == "imagelab train-mlp " + " ".join(argv)
    assert 0 <= record["test_accuracy"] <= 1 and record["n_test"] == 24
    for suffix in ("", "_confusion", "_predictions", "_mistakes"):
        assert os.path.getsize(results / f"net{suffix}.png") > 1000


@pytest.mark.slow
def test_mlp_main_on_descriptors_mirrors_and_draws_the_images(small_cifar, tmp_path):
    results = tmp_path / "results"
    train.main(["--data-dir", str(small_cifar), "--results-dir", str(results), "--no-download",
                "--features", "color", "--optimizer", "sgd", "--hidden", "8", "--num-epoch", "2",
                "--flip", "--figures", "--name", "net"])
    record = json.loads((results / "net_color.json").read_text())
    assert record["features"] == "color" and record["sizes"] == [64, 8, 10]
    for suffix in ("", "_confusion", "_predictions", "_mistakes"):
        assert os.path.getsize(results / f"net_color{suffix}.png") > 1000


def test_the_trainers_defaults():
    _, args = train.parse_arguments([])
    assert (args.optimizer, args.learning_rate, args.num_epoch, args.hidden) == \
        ("adam", 1e-3, 20, [64])
    assert args.features == "raw" and not hasattr(args, "d_h")
    with pytest.raises(SystemExit):
        train.parse_arguments(["--d-h", "8"])


def test_prepare_inputs_standardises_with_the_training_rows_only():
    rng = np.random.default_rng(0)
    data = rng.normal(3, 2, size=(50, 4)).astype(np.float32)
    labels = rng.integers(0, 3, size=50)
    test = rng.normal(size=(7, 4)).astype(np.float32)
    x_train, y_train, x_val, y_val, x_test, x_flip = train.prepare_inputs(
        data, labels, test, 0.2, seed=1, flipped=-data)
    assert (len(x_train), len(x_val), len(x_test), len(x_flip)) == (40, 10, 7, 40)
    rows = np.concatenate([x_train, x_val])
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    np.testing.assert_allclose(mean, 0, atol=1e-5)
    np.testing.assert_allclose(std, 1, rtol=1e-4)
    assert sorted(np.concatenate([y_train, y_val]).tolist()) == sorted(labels.tolist())
    assert rows.dtype == x_test.dtype == x_flip.dtype == np.float32
    # The flipped view of each training row (-row here), scaled with the same statistics:
    # (row - m) / s + (-row - m) / s = -2 m / s is the same for every row.
    np.testing.assert_allclose(np.std(x_train + x_flip, axis=0), 0, atol=1e-5)
    assert train.prepare_inputs(data, labels, test, 0.2, seed=1)[5] is None
    with pytest.raises(FlagError, match="--validation"):
        train.prepare_inputs(data, labels, test, 0.001, seed=1)
    with pytest.raises(FlagError, match="--pca"):
        train.prepare_inputs(data, labels, test, 0.2, seed=1, pca=5)


# ---------------------------------------------------------------- imagelab train-mlp

# (flags, the line on stderr after "imagelab train-mlp: error: argument "): refused before any
# data is read.
BAD_FLAGS = [
    (["--optimizer", "adam", "--weight-decay", "-0.5"],
     "--weight-decay: must be a finite number >= 0, got -0.5"),
    (["--optimizer", "adam", "--weight-decay", "nan"],
     "--weight-decay: must be a finite number >= 0, got nan"),
    (["--optimizer", "adam", "--dropout", "1"],
     "--dropout: must be a finite number in [0, 1), got 1"),
    (["--optimizer", "sgd", "--momentum", "-0.5"],
     "--momentum: must be a finite number in [0, 1), got -0.5"),
    (["--optimizer", "adam", "--hidden", "16", "0"],
     "--hidden: must be an integer >= 1, got 0"),
    (["--optimizer", "adam", "--batch-size", "0"],
     "--batch-size: must be an integer >= 1, got 0"),
    (["--optimizer", "adam", "--patience", "0"],
     "--patience: must be an integer >= 1, got 0"),
    (["--optimizer", "adam", "--pca", "0"], "--pca: must be an integer >= 1, got 0"),
    (["--optimizer", "adam", "--validation", "1"],
     "--validation: must be a finite number in (0, 1), got 1"),
    (["--optimizer", "adam", "--name", "../mlp"],
     "--name: must be a file name without a folder, not starting with '.', got '../mlp'"),
]


@pytest.mark.parametrize("flags, message", BAD_FLAGS, ids=[" ".join(case[0]) for case in BAD_FLAGS])
def test_a_bad_flag_is_one_line_before_any_data_is_read(folders, flags, message):
    before = snapshot(*folders)
    result = run_script(TRAINER, *folders, *flags)
    assert result.returncode == 2
    assert result.stderr == f"{prog(TRAINER)}: error: argument {message}{USAGE}\n"
    assert snapshot(*folders) == before


# Refused once the data is read (60 images: 54 train / 6 test).
DATA_REFUSALS = [
    (["--optimizer", "adam", "--validation", "0.001"],
     "--validation: must leave rows on both sides of the 54 training rows, got 0.001"),
    (["--optimizer", "adam", "--pca", "3073"],
     "--pca: must be at most 3072, the width of the inputs, got 3073"),
]


@pytest.mark.parametrize("flags, message", DATA_REFUSALS,
                         ids=[" ".join(case[0]) for case in DATA_REFUSALS])
def test_a_flag_the_data_refuses_is_one_line_too(folders, flags, message):
    before = snapshot(*folders)
    result = run_script(TRAINER, *folders, *flags)
    assert result.returncode == 2
    assert result.stderr == f"{prog(TRAINER)}: error: argument {message}\n"
    assert snapshot(*folders) == before


def test_a_diverging_training_stops_and_writes_nothing(folders):
    flags = ["--learning-rate", "1e30", "--optimizer", "sgd", "--activation", "relu",
             "--hidden", "8"]
    before = snapshot(*folders)
    result = run_script(TRAINER, *folders, "--num-epoch", "3", *flags)
    assert result.returncode == 2
    assert re.fullmatch(rf"{re.escape(prog(TRAINER))}: error: argument --learning-rate: the "
                        r"training diverged \(overflow encountered in [\w ]+; the loss is no "
                        rf"longer finite\): try a smaller learning rate than "
                        rf"{flags[1].replace('+', '')}\n",
                        result.stderr.replace("+", ""))
    assert snapshot(*folders) == before
