"""Tests of imagelab.analysis.robustness: what light_robustness measures, on classifiers whose
accuracy under each change is known; and the command's refusals."""
import json
import os

import numpy as np

from conftest import is_png, prog, run_script, snapshot
from imagelab.nn.architectures import build
from imagelab.nn.model_files import Classifier, save_model
from imagelab.utils.files import save_figure
from imagelab.analysis.robustness import light_robustness
from imagelab.viz.figures import plot_robustness


def test_a_classifier_by_brightness_fails_exactly_where_the_light_changes():
    # Labels are 1 for bright images; the classifier thresholds the mean at 128.
    images = np.concatenate([np.full((5, 4, 4, 1), 60.0), np.full((5, 4, 4, 1), 200.0)])
    labels = np.repeat([0, 1], 5)

    def classify(x):
        return (x.mean(axis=(1, 2, 3)) > 128).astype(int)

    result = light_robustness(classify, images, labels, brightness=(-0.4, 0.0, 0.4),
                              contrast=(0.5, 1.0))
    # -0.4 * 255 = -102 makes every image dark, +102 every image bright; contrast
    # keeps each (uniform) image's mean.
    assert result["brightness_accuracy"] == [0.5, 1.0, 0.5]
    assert result["contrast_accuracy"] == [1.0, 1.0]
    assert result["brightness"] == [-0.4, 0.0, 0.4] and result["contrast"] == [0.5, 1.0]


def test_the_figure_draws_one_line_per_model(tmp_path):
    curve = {"brightness": [0.0, 0.1], "brightness_accuracy": [0.9, 0.8],
             "contrast": [1.0, 2.0], "contrast_accuracy": [0.9, 0.7]}
    figure = plot_robustness({"a": curve, "b": curve}, "title")
    assert [len(ax.get_lines()) for ax in figure.axes] == [2, 2]
    assert is_png(save_figure(str(tmp_path), "r", figure))


# ---------------------------------------------------------------- imagelab robustness

SPEC = [["flatten"], ["dense", 10]]


def save_model_file(path, shape):
    """A one-layer model of images of ``shape`` (H, W, C), saved at ``path``."""
    network = build(SPEC, shape, seed=0)
    channels = shape[2]
    save_model(str(path), Classifier(network, SPEC, shape, np.full(channels, 100, np.float32),
                                     np.full(channels, 50, np.float32),
                                     [str(c) for c in range(10)]))


def test_a_model_of_other_images_is_refused_in_one_line(folders, tmp_path):
    save_model_file(tmp_path / "grey.npz", (28, 28, 1))
    before = snapshot(*folders)
    result = run_script("robustness", *folders, str(tmp_path / "grey.npz"))
    assert result.returncode == 2
    assert result.stderr == (f"{prog('robustness')}: error: argument --dataset: model grey "
                             "takes images of shape (28, 28, 1), cifar10's are (32, 32, 3): "
                             "give the dataset it was trained on\n")
    assert snapshot(*folders) == before


def test_two_models_of_one_name_get_a_curve_each(folders, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        save_model_file(tmp_path / folder / "x.npz", (32, 32, 3))
    paths = [str(tmp_path / "a" / "x.npz"), str(tmp_path / "b" / "x.npz")]
    result = run_script("robustness", *folders, *paths)
    assert result.returncode == 0, result.stderr
    with open(os.path.join(folders[1], "robustness.json")) as f:
        curves = json.load(f)["curves"]
    assert sorted(curves) == [str(tmp_path / "a" / "x"), str(tmp_path / "b" / "x")]


def test_a_model_given_twice_is_refused(folders, tmp_path):
    save_model_file(tmp_path / "x.npz", (32, 32, 3))
    result = run_script("robustness", *folders, str(tmp_path / "x.npz"),
                        str(tmp_path / "." / "x.npz"))
    assert result.returncode == 2
    assert result.stderr.startswith(f"{prog('robustness')}: error: argument models: each "
                                    "model file once, got ")
