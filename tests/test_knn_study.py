"""Tests of ``imagelab knn-study``: descriptors compared on one figure, k chosen by
cross-validation, the explaining figures, and its refusals as a user sees them."""
import json
import os
import sys

import numpy as np
import pytest

from conftest import USAGE, is_png, make_cifar_folder, prog, run_script, snapshot
from imagelab.cli import knn_study

STUDY = "knn-study"


@pytest.fixture
def tiny_cifar(tmp_path):
    """A data folder with 120 random images in the CIFAR-10 layout; returns its path."""
    make_cifar_folder(os.path.join(tmp_path, "data", "cifar-10-batches-py"),
                      sizes=(20, 20, 20, 20, 20, 20))
    return str(tmp_path)


def run_knn(tiny_cifar, *flags):
    """Run knn_study.main on the tiny data; return the record of the json file it wrote."""
    results = os.path.join(tiny_cifar, "results")
    knn_study.main(["--data-dir", os.path.join(tiny_cifar, "data"), "--results-dir", results,
                    "--no-download", "--k-max", "5", *flags])
    names = sorted(n for n in os.listdir(results) if n.endswith(".json"))
    with open(os.path.join(results, names[-1])) as f:
        return names, json.load(f)


def test_knn_features_compares_representations_on_one_figure(tiny_cifar):
    names, record = run_knn(tiny_cifar, "--features", "raw", "color", "color:bins=2")
    assert names == ["knn_features.json"]
    assert list(record["accuracy"]) == ["raw", "color", "color:bins=2"]
    assert all(len(curve) == 5 for curve in record["accuracy"].values())
    assert os.path.isfile(os.path.join(tiny_cifar, "results", "knn_features.png"))


def test_knn_study_defaults_to_the_raw_pixels(tiny_cifar):
    names, record = run_knn(tiny_cifar)
    # knn.json stays the lab's (knn.py): the study writes knn_features.json.
    assert names == ["knn_features.json"] and list(record["accuracy"]) == ["raw"]
    assert record["n_train"] == 108 and record["n_test"] == 12


def test_knn_cv_chooses_k_on_the_training_split_only(tiny_cifar, monkeypatch):
    tested = []
    monkeypatch.setattr(knn_study, "evaluate_knn",
                        lambda *args, **kwargs: tested.append(args[-1]) or 0.25)
    names, record = run_knn(tiny_cifar, "--cv", "3", "--features", "color")
    assert names == ["knn_cv_color.json"]
    assert record["n_train"] == 108 and record["n_folds"] == 3
    assert np.array(record["fold_accuracy"]).shape == (3, 5)
    assert record["chosen_k"] == 1 + int(np.argmax(record["mean"]))
    assert tested == [record["chosen_k"]] and record["test_accuracy"] == 0.25


def test_knn_cv_refuses_several_representations(tiny_cifar):
    with pytest.raises(SystemExit):
        run_knn(tiny_cifar, "--cv", "3", "--features", "raw", "color")
    with pytest.raises(SystemExit):
        run_knn(tiny_cifar, "--cv", "1")


@pytest.mark.parametrize("flags", [["--figures", "--features", "color"],
                                   ["--figures", "--cv", "3"]])
def test_figures_draw_the_raw_pixel_sweep_only(tiny_cifar, flags):
    with pytest.raises(SystemExit):
        run_knn(tiny_cifar, *flags)
    assert not os.path.exists(os.path.join(tiny_cifar, "results"))


@pytest.mark.slow
def test_knn_main_writes_the_confusion_figures(tmp_path):
    from imagelab.data.cifar import BATCH_FOLDER
    make_cifar_folder(str(tmp_path / "data" / BATCH_FOLDER), sizes=(20,) * 6)
    results = tmp_path / "results"
    knn_study.main(["--data-dir", str(tmp_path / "data"), "--results-dir", str(results),
                    "--no-download", "--k-max", "3", "--figures"])
    for name in ("knn_confusion", "knn_predictions", "knn_mistakes", "knn_figures"):
        assert is_png(results / f"{name}.png")
    assert not os.path.exists(results / "knn_features.png")   # a comparison's figure


def test_each_sweep_has_a_file_of_its_own():
    assert knn_study.sweep_name(["raw"], "cifar10", figures=True) == "knn_figures"
    assert knn_study.sweep_name(["raw", "hog"], "cifar10", figures=False) == "knn_features"
    assert knn_study.sweep_name(["hog"], "fashion-mnist", figures=False) == "knn_fashion-mnist_hog"


# ---------------------------------------------------------------- imagelab knn-study

def test_a_bad_flag_is_one_line_before_any_data_is_read(folders):
    before = snapshot(*folders)
    result = run_script(STUDY, *folders, "--cv", "1")
    assert result.returncode == 2
    assert result.stderr == (f"{prog(STUDY)}: error: argument --cv: must be an integer >= 2, "
                             f"got 1{USAGE}\n")
    assert snapshot(*folders) == before


# Refused once the data is read (60 images: 54 train / 6 test; the rarest class has 3
# training images; 3 folds leave 36 images outside the largest fold).
DATA_REFUSALS = [
    (["--features", "raw", "--k-max", "55"],
     "--k-max: must be at most 54, the number of training images, got 55"),
    (["--cv", "4"],
     "--cv: must be at most 3, the number of training images of the rarest class, got 4"),
    (["--cv", "3", "--k-max", "37"],
     "--k-max: must be at most 36, the number of training images outside a fold, got 37"),
]


@pytest.mark.parametrize("flags, message", DATA_REFUSALS,
                         ids=[" ".join(case[0]) for case in DATA_REFUSALS])
def test_a_flag_the_data_refuses_is_one_line_too(folders, flags, message):
    before = snapshot(*folders)
    result = run_script(STUDY, *folders, *flags)
    assert result.returncode == 2
    assert result.stderr == f"{prog(STUDY)}: error: argument {message}\n"
    assert snapshot(*folders) == before


def test_a_missing_skimage_ends_the_study_with_a_message(tiny_cifar, monkeypatch):
    for name in [m for m in sys.modules if m == "skimage" or m.startswith("skimage.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "skimage", None)    # as if not installed
    with pytest.raises(SystemExit) as info:
        run_knn(tiny_cifar, "--features", "hog")
    message = str(info.value.code)                       # a message, not a traceback
    assert message.startswith("error: ") and "pip install -e '.[descriptors]'" in message
    assert not os.path.exists(os.path.join(tiny_cifar, "results"))


def test_knn_study_smallest_tie_rule_writes_its_own_file(tiny_cifar):
    names, record = run_knn(tiny_cifar, "--ties", "smallest")
    assert names == ["knn_features_ties_smallest.json"] and record["ties"] == "smallest"
