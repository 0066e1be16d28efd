"""Tests of ``imagelab mlp-study``: the lab's MLP, trained as ``python mlp.py``
trains it, on image descriptors; and its refusals as a user sees them."""
import json

import numpy as np
import pytest

from imagelab.cli import mlp
from conftest import USAGE, make_cifar_folder, prog, run_script, snapshot
from imagelab.cli import mlp_study
from imagelab.data.descriptors import color_histogram
from imagelab.data.images import rows_to_images
from imagelab.data.cifar import BATCH_FOLDER

STUDY = "mlp-study"


@pytest.fixture
def small_cifar(tmp_path):
    folder = tmp_path / "data"
    make_cifar_folder(str(folder / BATCH_FOLDER), sizes=(20,) * 6)
    return folder


def test_the_lab_mlp_on_descriptors(small_cifar, tmp_path, monkeypatch):
    seen = []
    original = mlp.run_mlp_training

    def spy(data_train, *args, **kwargs):
        seen.append(data_train)
        return original(data_train, *args, **kwargs)

    monkeypatch.setattr(mlp, "run_mlp_training", spy)
    results = tmp_path / "results"
    mlp_study.main(["--data-dir", str(small_cifar), "--results-dir", str(results),
                    "--no-download", "--features", "color:bins=2", "--num-epoch", "3",
                    "--d-h", "8"])
    record = json.loads((results / "mlp_color_bins_2.json").read_text())
    assert record["features"] == "color:bins=2" and len(record["train_accuracy"]) == 3
    assert (record["d_h"], record["learning_rate"], record["num_epoch"]) == (8, 0.1, 3)
    assert (record["n_train"], record["n_test"]) == (108, 12)
    assert (results / "mlp_color_bins_2.png").read_bytes().startswith(b"\x89PNG")
    # The network saw the descriptors of the images (8 colour boxes), not the pixels.
    assert seen[0].shape == (108, 8)
    np.testing.assert_allclose(seen[0].sum(axis=1), 1, rtol=1e-6)
    # The features were cached beside the data.
    assert len(list((small_cifar / "features").iterdir())) == 1


def test_same_split_as_the_lab(small_cifar, tmp_path, monkeypatch):
    """A seed gives the same images in each set whatever the representation."""
    seen = []
    original = mlp.run_mlp_training

    def spy(data_train, labels_train, data_test, labels_test, *args, **kwargs):
        seen.append((data_train, labels_train, data_test, labels_test))
        return original(data_train, labels_train, data_test, labels_test, *args, **kwargs)

    monkeypatch.setattr(mlp, "run_mlp_training", spy)
    common = ["--data-dir", str(small_cifar), "--results-dir", str(tmp_path / "results"),
              "--no-download", "--num-epoch", "1", "--seed", "3"]
    mlp.main(common)
    mlp_study.main([*common, "--features", "color"])
    (pixels, labels, pixels_test, labels_test), described = seen
    np.testing.assert_array_equal(described[1], labels)
    np.testing.assert_array_equal(described[3], labels_test)
    np.testing.assert_allclose(described[0], color_histogram(rows_to_images(pixels)))
    np.testing.assert_allclose(described[2], color_histogram(rows_to_images(pixels_test)))


# ---------------------------------------------------------------- imagelab mlp-study

@pytest.mark.parametrize("flags, message", [
    ([], "the following arguments are required: --features"),
    (["--features", "sift"], "argument --features: unknown descriptor 'sift' in 'sift'; "
                             "choose among hog, lbp, color"),
    (["--features", "color", "--d-h", "0"], "argument --d-h: must be an integer >= 1, got 0"),
])
def test_a_bad_flag_is_one_line_before_any_data_is_read(folders, flags, message):
    before = snapshot(*folders)
    result = run_script(STUDY, *folders, *flags)
    assert result.returncode == 2
    assert result.stderr == f"{prog(STUDY)}: error: {message}{USAGE}\n"
    assert snapshot(*folders) == before
