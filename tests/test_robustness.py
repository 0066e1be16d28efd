"""Tests of imagelab.analysis.robustness: what light_robustness measures, on classifiers whose
accuracy under each change is known."""
import numpy as np

from conftest import is_png
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
