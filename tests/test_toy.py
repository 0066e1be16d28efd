"""Toy 2-D sets, the MLP trained on them, the confidence figure and imagelab toy."""
import json

import numpy as np
import pytest
from matplotlib.figure import Figure

from imagelab.cli.toy import main
from imagelab.data.toy import TOY_DATASETS
from imagelab.training.toy import train_toy
from imagelab.viz.figures import plot_confidence


@pytest.mark.parametrize("name", sorted(TOY_DATASETS))
@pytest.mark.parametrize("n", [2, 7, 100])
def test_each_set_gives_float32_points_and_balanced_int64_labels(name, n):
    points, labels = TOY_DATASETS[name](n, seed=0)
    assert points.shape == (n, 2) and points.dtype == np.float32
    assert labels.shape == (n,) and labels.dtype == np.int64
    assert set(labels.tolist()) == {0, 1}
    assert abs(np.count_nonzero(labels == 0) - np.count_nonzero(labels == 1)) <= 1
    assert np.isfinite(points).all()


@pytest.mark.parametrize("name", sorted(TOY_DATASETS))
def test_a_seed_gives_the_same_points_and_another_seed_other_points(name):
    first, labels = TOY_DATASETS[name](50, seed=3)
    again, labels_again = TOY_DATASETS[name](50, seed=3)
    other, _ = TOY_DATASETS[name](50, seed=4)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(labels, labels_again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("name", sorted(TOY_DATASETS))
def test_without_noise_the_points_lie_on_their_shape(name):
    points, labels = TOY_DATASETS[name](200, noise=0, seed=0)
    if name == "blobs":
        np.testing.assert_array_equal(points, np.where(labels[:, None] == 1, 1, -1) * [1, 1])
    elif name == "moons":
        centre = np.where(labels[:, None] == 1, [1, 0.5], [0, 0])
        np.testing.assert_allclose(np.linalg.norm(points - centre, axis=1), 1, rtol=1e-6)
    else:
        radius = np.linalg.norm(points, axis=1)
        angle = np.arctan2(points[:, 1], points[:, 0])
        # At radius t the arm of class c turns by 2 pi 1.5 t + pi c.
        expected = 3 * np.pi * radius + np.pi * labels
        np.testing.assert_allclose(np.cos(angle - expected), 1, atol=1e-4)


@pytest.mark.parametrize("argument, value, message", [
    ("n", 1, "n must be an integer >= 2, got 1"),
    ("noise", -0.1, "noise must be a finite number >= 0, got -0.1"),
    ("noise", float("nan"), "noise must be a finite number >= 0, got nan"),
])
def test_bad_arguments_are_refused_by_name(argument, value, message):
    arguments = {"n": 10, "noise": 0.1, argument: value}
    for generate in TOY_DATASETS.values():
        with pytest.raises(ValueError, match=f"^{message}$"):
            generate(**arguments)


def test_the_spiral_refuses_a_bad_number_of_turns():
    with pytest.raises(ValueError, match="^turns must be a finite number > 0, got 0$"):
        TOY_DATASETS["spiral"](10, turns=0)


def test_a_tiny_training_separates_the_blobs():
    points, labels = TOY_DATASETS["blobs"](200, seed=0)
    network, accuracy = train_toy(points, labels, hidden=[4], num_epoch=5, seed=0)
    assert accuracy >= 0.95
    predicted = np.argmax(network.predict_logits(points), axis=1)
    assert np.mean(predicted == labels) >= 0.95


def test_the_figure_has_one_panel_per_set_and_a_colour_bar():
    panels = []
    for name, generate in TOY_DATASETS.items():
        points, labels = generate(40, seed=1)
        network, _ = train_toy(points, labels, hidden=[3], num_epoch=1, seed=1)
        panels.append((name, network, points, labels))
    figure = plot_confidence(panels, "title")
    assert isinstance(figure, Figure)
    panel_axes = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    assert [ax.get_title() for ax in panel_axes] == list(TOY_DATASETS)
    assert len(figure.axes) == 4


def test_the_entry_point_writes_the_figure_and_the_record(tmp_path, capsys):
    main(["--results-dir", str(tmp_path), "--n", "60", "--hidden", "4", "--num-epoch", "2"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.json", "toy_confidence.png"]
    record = json.loads((tmp_path / "toy.json").read_text())
    assert sorted(record["val_accuracy"]) == sorted(TOY_DATASETS)
    assert record["sizes"] == [2, 4, 2] and record["activation"] == "relu"
    output = capsys.readouterr().out
    for name in TOY_DATASETS:
        assert f"{name} " in output and "validation accuracy" in output


def test_the_entry_point_refuses_a_bad_flag_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--results-dir", str(tmp_path), "--hidden", "0"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "imagelab toy: error: argument --hidden: must be an integer >= 1, got 0 "
        "(run with --help for usage)"]
    assert not list(tmp_path.iterdir())


def test_a_diverging_training_ends_in_one_line_and_writes_nothing(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--results-dir", str(tmp_path), "--n", "40", "--num-epoch", "2",
              "--learning-rate", "1e30"])
    assert stop.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "argument --learning-rate: the training diverged" in error[0]
    assert not list(tmp_path.iterdir())
