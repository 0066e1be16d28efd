"""End-to-end runs of ``python knn.py`` and ``python mlp.py`` on a tiny CIFAR-format folder."""
import json
import os

import pytest

import knn
import mlp
from conftest import make_cifar_folder
from read_cifar import BATCH_FOLDER

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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
    run(knn.main, tiny_data_dir, results, "--k-max", "5")
    record = read_results(results, "knn")
    assert record["k"] == [1, 2, 3, 4, 5] and len(record["accuracy"]) == 5
    assert all(0 <= a <= 1 for a in record["accuracy"])
    assert (record["n_train"], record["n_test"], record["seed"]) == (54, 6, 0)
    assert "done in" in capsys.readouterr().out


def test_mlp_script_writes_the_training_curve(tiny_data_dir, tmp_path):
    results = str(tmp_path / "results")
    run(mlp.main, tiny_data_dir, results, "--num-epoch", "3", "--d-h", "8")
    record = read_results(results, "mlp")
    assert len(record["train_accuracy"]) == 3 and 0 <= record["test_accuracy"] <= 1
    assert (record["d_h"], record["learning_rate"], record["num_epoch"]) == (8, 0.1, 3)


def test_same_seed_same_results(tiny_data_dir, tmp_path):
    for name in ("a", "b"):
        run(knn.main, tiny_data_dir, str(tmp_path / name), "--k-max", "3", "--seed", "7")
    first, second = (read_results(str(tmp_path / name), "knn") for name in ("a", "b"))
    assert first["accuracy"] == second["accuracy"]


def test_missing_data_is_a_message_not_a_traceback(tmp_path):
    with pytest.raises(SystemExit, match="downloads are off"):
        run(knn.main, str(tmp_path / "empty"), str(tmp_path / "results"))
    assert not (tmp_path / "results").exists()
