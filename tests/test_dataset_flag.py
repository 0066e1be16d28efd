"""``--dataset`` end to end: every command on tiny MNIST-family files and on tiny CIFAR-10.

The commands run in this process (``main(argv)``), so that the ``tiny_mnist`` fixture
lets the MNIST family hold 12 training and 8 test images.
"""
import json
import os

import pytest

from imagelab.cli import knn as knn_cli
from imagelab.cli import mlp as mlp_cli
from conftest import make_cifar_folder, make_mnist_folder, run_command, set_mnist_sizes
from imagelab.cli import knn_study
from imagelab.cli import ablation, mlp_study, train_recipe
from imagelab.cli import train_mlp as train
from imagelab.data.cifar import BATCH_FOLDER


@pytest.fixture
def data_dir(tmp_path, tiny_mnist):
    """A data folder with tiny mnist/, fashion-mnist/ and cifar-10-batches-py/ (6 x 10 images)."""
    for name in ("mnist", "fashion-mnist"):
        make_mnist_folder(tmp_path / "data" / name, seed=len(name))
    make_cifar_folder(tmp_path / "data" / BATCH_FOLDER, sizes=(10,) * 6)
    return str(tmp_path / "data")


def run(main, data_dir, results_dir, *flags):
    main(["--data-dir", data_dir, "--results-dir", str(results_dir), "--no-download", *flags])


def record(results_dir, name, figures=()):
    """The json record ``name``, after checking that its figure (and ``figures``) exist."""
    for stem in (name, *figures):
        assert os.path.getsize(os.path.join(results_dir, stem + ".png")) > 0
    with open(os.path.join(results_dir, name + ".json")) as f:
        return json.load(f)


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_knn_takes_the_official_split_by_default(data_dir, tmp_path, dataset):
    run(knn_cli.main, data_dir, tmp_path, "--dataset", dataset, "--k-max", "3")
    assert not os.path.exists(tmp_path / "knn.json")   # the lab's CIFAR-10 result is kept
    result = record(tmp_path, f"knn_{dataset}")
    assert (result["dataset"], result["split"]) == (dataset, "official")
    assert (result["n_train"], result["n_test"]) == (12, 8) and len(result["accuracy"]) == 3
    assert "note" not in result                      # no JPEG footnote off CIFAR-10


def test_a_fraction_pools_the_official_sets(data_dir, tmp_path):
    run(knn_cli.main, data_dir, tmp_path, "--dataset", "mnist", "--split", "0.75", "--k-max", "2")
    result = record(tmp_path, "knn_mnist")
    assert (result["split"], result["n_train"], result["n_test"]) == (0.75, 15, 5)


@pytest.mark.parametrize("flags, split, sizes", [
    ([], 0.9, (54, 6)),                                    # the lab's split, unchanged
    (["--dataset", "cifar10", "--split", "official"], "official", (50, 10)),
])
def test_cifar10_splits(data_dir, tmp_path, flags, split, sizes):
    run(knn_cli.main, data_dir, tmp_path, "--k-max", "2", *flags)
    result = record(tmp_path, "knn")
    assert result["dataset"] == "cifar10" and result["split"] == split
    assert (result["n_train"], result["n_test"]) == sizes


def test_mlp_on_fashion_mnist(data_dir, tmp_path):
    run(mlp_cli.main, data_dir, tmp_path, "--dataset", "fashion-mnist", "--num-epoch", "2",
        "--d-h", "4")
    result = record(tmp_path, "mlp_fashion-mnist")
    assert result["dataset"] == "fashion-mnist" and len(result["train_accuracy"]) == 2
    assert (result["n_train"], result["n_test"]) == (12, 8)


def test_mlp_study_on_hog_of_grey_images(data_dir, tmp_path):
    pytest.importorskip("skimage")
    run(mlp_study.main, data_dir, tmp_path, "--dataset", "mnist", "--features", "hog",
        "--num-epoch", "2", "--d-h", "4")
    result = record(tmp_path, "mlp_mnist_hog")
    assert (result["dataset"], result["features"]) == ("mnist", "hog")


@pytest.mark.slow
def test_knn_study_descriptors_and_figures_on_grey_images(data_dir, tmp_path):
    pytest.importorskip("skimage")
    run(knn_study.main, data_dir, tmp_path, "--dataset", "fashion-mnist", "--k-max", "3",
        "--features", "raw", "hog", "lbp", "color")
    result = record(tmp_path, "knn_features_fashion-mnist")
    assert sorted(result["accuracy"]) == ["color", "hog", "lbp", "raw"]
    assert result["dataset"] == "fashion-mnist"
    run(knn_study.main, data_dir, tmp_path, "--dataset", "fashion-mnist", "--k-max", "3",
        "--figures")
    record(tmp_path, "knn_features_fashion-mnist", figures=[
        "knn_fashion-mnist_confusion", "knn_fashion-mnist_predictions",
        "knn_fashion-mnist_mistakes"])


def test_knn_study_cross_validation_on_mnist(tmp_path, monkeypatch):
    set_mnist_sizes(monkeypatch, (100, 20))                             # every class twice
    make_mnist_folder(tmp_path / "mnist", counts=(100, 20))
    run(knn_study.main, str(tmp_path), tmp_path, "--dataset", "mnist", "--cv", "2",
        "--k-max", "2")
    result = record(tmp_path, "knn_cv_mnist")
    assert (result["dataset"], result["n_train"], result["n_test"]) == ("mnist", 100, 20)


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["fashion-mnist", "cifar10"])
def test_trainer_with_flips_and_figures(data_dir, tmp_path, dataset):
    run(train.main, data_dir, tmp_path, "--dataset", dataset, "--hidden", "4", "--num-epoch",
        "2", "--flip", "--figures", "--validation", "0.25")
    name = "mlp_network" if dataset == "cifar10" else f"mlp_network_{dataset}"
    result = record(tmp_path, name, figures=[
        f"{name}_confusion", f"{name}_predictions", f"{name}_mistakes"])
    assert result["dataset"] == dataset and "--dataset" in result["command"]


@pytest.mark.slow
def test_trainer_on_hog_with_flips(data_dir, tmp_path):
    pytest.importorskip("skimage")
    run(train.main, data_dir, tmp_path, "--dataset", "mnist", "--features", "hog+color",
        "--hidden", "4", "--num-epoch", "2", "--flip", "--figures", "--validation", "0.25")
    assert record(tmp_path, "mlp_network_mnist_hog+color")["features"] == "hog+color"


def test_missing_dataset_without_download_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        run(knn_cli.main, str(tmp_path), tmp_path / "results", "--dataset", "fashion-mnist")
    message = str(info.value.code)
    assert message.startswith("error: Fashion-MNIST not found: ")
    assert "downloads are off" in message and "\n" not in message
    assert not os.path.exists(tmp_path / "results")


@pytest.mark.parametrize("flags, message", [
    (["--dataset", "svhn"], "argument --dataset: invalid choice: 'svhn' (choose from "),
    (["--split", "officially"], "argument --split: invalid split value: 'officially'"),
])
def test_a_bad_dataset_or_split_is_one_line(tmp_path, flags, message):
    done = run_command("knn.py", "--data-dir", str(tmp_path), *flags)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"knn.py: error: {message}")
    assert done.stderr.count("\n") == 1
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_the_fast_recipe_and_its_ablation_on_grey_images(data_dir, tmp_path):
    small = ["--dataset", "fashion-mnist", "--widths", "4", "8", "8", "--batch-size", "8",
             "--micro-batch", "4", "--epochs", "1"]
    run(train_recipe.main, data_dir, tmp_path, *small, "--model-dir", str(tmp_path / "models"))
    result = record(tmp_path, "recipe_fashion-mnist")
    assert (result["n_train"], result["n_test"]) == (12, 8)
    assert result["architecture"][0][:2] == ["conv", 8]          # 2 x 2 x 2 x 1 whitening
    assert os.listdir(tmp_path / "models") == ["recipe_fashion-mnist.npz"]
    run(ablation.main, data_dir, tmp_path, *small, "--seeds", "0", "--only", "no lookahead")
    with open(tmp_path / "ablation_fashion-mnist.json") as f:
        assert [r["row"] for r in json.load(f)] == ["no lookahead"]
    assert not os.path.exists(tmp_path / "ablation.json")       # CIFAR-10's runs are kept
