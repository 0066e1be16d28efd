"""``imagelab framework``: both tasks end to end on small data, and its errors.

The commands run in this process (``main(argv)``), on toy sets of a few points and on
the tiny MNIST-family files of ``conftest`` (12 training and 8 test images).
"""
import json

import pytest

from conftest import is_png, make_mnist_folder
from imagelab.cli.framework import main

USAGE = " (run with --help for usage)"


def test_toy_writes_the_accuracies_and_the_figure(tmp_path, capsys):
    main(["toy", "--results-dir", str(tmp_path), "--n", "40", "--num-epoch", "2",
          "--hidden", "4"])
    record = json.loads((tmp_path / "autograd_toy.json").read_text())
    assert is_png(tmp_path / "autograd_toy_confidence.png")
    assert sorted(record["val_accuracy"]) == ["blobs", "moons", "spiral"]
    assert record["sizes"] == [2, 4, 1] and record["n"] == 40
    assert "blobs   validation accuracy" in capsys.readouterr().out


def test_fashion_trains_both_sides(tmp_path, tiny_mnist):
    make_mnist_folder(tmp_path / "data" / "fashion-mnist")
    main(["fashion", "--data-dir", str(tmp_path / "data"), "--results-dir", str(tmp_path),
          "--no-download", "--num-epoch", "2", "--hidden", "5", "--batch-size", "4",
          "--validation", "0.25"])
    record = json.loads((tmp_path / "autograd_mlp_fashion-mnist.json").read_text())
    assert is_png(tmp_path / "autograd_mlp_fashion-mnist.png")
    assert (record["dataset"], record["sizes"], record["n_train"], record["n_val"],
            record["n_test"]) == ("fashion-mnist", [784, 5, 10], 9, 3, 8)
    assert len(record["tensor_val_accuracy"]) == len(record["network_seconds"]) == 2
    assert record["difference_points"] == pytest.approx(
        100 * (record["tensor_test_accuracy"] - record["network_test_accuracy"]), abs=1e-4)


PROG = "imagelab framework"


@pytest.mark.parametrize("argv, message", [
    ([], f"{PROG}: error: the following arguments are required: {{toy,fashion}}"),
    (["toy", "--hidden", "0"],
     f"{PROG} toy: error: argument --hidden: must be an integer >= 1, got 0"),
    (["fashion", "--learning-rate", "nan"],
     f"{PROG} fashion: error: argument --learning-rate: must be a finite number > 0, got nan"),
])
def test_a_bad_command_line_is_one_line(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--results-dir", str(tmp_path)] if argv else argv)
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [message + USAGE]
    assert not list(tmp_path.iterdir())


def test_missing_data_is_one_line_and_writes_nothing(tmp_path):
    with pytest.raises(SystemExit) as stop:
        main(["fashion", "--data-dir", str(tmp_path), "--results-dir", str(tmp_path / "out"),
              "--no-download"])
    assert str(stop.value.code).startswith("error: Fashion-MNIST not found: ")
    assert not (tmp_path / "out").exists()


def test_a_diverging_training_ends_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["toy", "--results-dir", str(tmp_path), "--n", "40", "--num-epoch", "3",
              "--learning-rate", "1e30"])
    assert stop.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "argument --learning-rate: the training diverged" in error[0]
