"""End-to-end runs of ``imagelab train-cnn`` and ``imagelab classify``, in this process, on a
tiny CIFAR-format folder (50 training and 10 test images); and ``python -m
imagelab.cli.classify`` once as a real program."""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, USAGE, is_png, prog, run_command, run_script, snapshot

SCRIPT = "train-cnn"
PROG = prog(SCRIPT)


@pytest.mark.slow
def test_training_writes_results_and_a_model_that_classifies_files(folders, tmp_path):
    models = tmp_path / "models"
    result = run_script(SCRIPT, *folders, "--arch", "lenet", "--num-epoch", "2",
                        "--batch-size", "8", "--pad", "2", "--flip", "--brightness", "0.2",
                        "--contrast", "0.2", "--robustness", "--model-dir", str(models),
                        "--validation", "0.1")
    assert result.returncode == 0, result.stderr
    assert "44,426 parameters" not in result.stdout           # CIFAR's LeNet is larger
    assert "62,006 parameters" in result.stdout
    assert re.search(r"epoch   2/2 .* images/s  0\.0 min left", result.stdout)
    results = folders[1]
    for suffix in ("", "_confusion", "_predictions", "_mistakes", "_filters", "_robustness"):
        assert is_png(os.path.join(results, f"cnn_lenet{suffix}.png"))
    with open(os.path.join(results, "cnn_lenet.json")) as f:
        record = json.load(f)
    assert record["n_train"] + record["n_val"] == 50 and record["n_test"] == 10
    assert len(record["history"]["val_accuracy"]) == 2 and record["architecture"][0][0] == "conv"
    assert len(record["robustness"]["brightness_accuracy"]) == 9
    assert record["peak_memory_mb"] > 0
    # Three image files, one a JPEG of another size: each gets one line with a class.
    pixels = np.random.default_rng(0).integers(0, 256, size=(3, 40, 36, 3), dtype=np.uint8)
    paths = [str(tmp_path / name) for name in ("a.png", "b.jpg", "c.png")]
    for path, image in zip(paths, pixels):
        Image.fromarray(image).save(path)
    Image.fromarray(pixels[2, :, :, 0]).save(paths[2])           # a grey PNG
    out = run_command("classify", str(models / "cnn_lenet.npz"), *paths)
    assert out.returncode == 0, out.stderr
    names = ("airplane|automobile|bird|cat|deer|dog|frog|horse|ship|truck")
    lines = out.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == paths
    assert all(re.fullmatch(rf".*: ({names}) \(\d+%\)", line) for line in lines)
    # The saved model, compared with itself under light changes.
    study = run_script("robustness", *folders, str(models / "cnn_lenet.npz"))
    assert study.returncode == 0, study.stderr
    with open(os.path.join(results, "robustness.json")) as f:
        curves = json.load(f)["curves"]
    # b = 0, c = 1: the test images again, up to float32 rounding of m + (x - m),
    # which could move one image of ten at most.
    assert abs(curves["cnn_lenet"]["brightness_accuracy"][4] - record["test_accuracy"]) <= 0.1


@pytest.mark.parametrize("flags, message", [
    (["--pad", "9"], r"--pad: invalid choice: 9 \(choose from 0, 1, .*8\)"),
    (["--learning-rate", "nan"], "--learning-rate: must be a finite number > 0, got nan"),
    (["--weight-decay", "-1"], "--weight-decay: must be a finite number >= 0, got -1"),
    (["--brightness", "1"], r"--brightness: must be a finite number in \[0, 1\), got 1"),
    (["--num-epoch", "0"], "--num-epoch: must be an integer >= 1, got 0"),
    (["--arch", "resnet"],
     r"--arch: invalid choice: 'resnet' \(choose from '?conv4'?, '?lenet'?\)"),
])
def test_a_bad_flag_is_one_line_before_any_data_is_read(folders, flags, message):
    before = snapshot(*folders)
    result = run_script(SCRIPT, *folders, *flags)
    assert result.returncode == 2
    assert re.fullmatch(rf"{PROG}: error: argument {message}{re.escape(USAGE)}\n",
                        result.stderr), result.stderr
    assert snapshot(*folders) == before


def test_a_model_dir_that_is_a_file_is_refused_before_the_data(folders, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    result = run_script(SCRIPT, *folders, "--model-dir", str(afile))
    assert result.returncode == 2
    assert result.stderr == (f"{PROG}: error: argument --model-dir: must be a folder, got "
                             f"{afile} (a file){USAGE}\n")


def test_classify_refuses_a_bad_model_or_image_in_one_line(tmp_path):
    """A real subprocess: a refusal is one line on stderr, status 2."""
    (tmp_path / "model.npz").write_bytes(b"not a model")
    (tmp_path / "image.png").write_bytes(b"not an image")
    out = subprocess.run([sys.executable, "-m", "imagelab.cli.classify",
                          str(tmp_path / "model.npz"), str(tmp_path / "image.png")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr == (f"imagelab classify: error: model file {tmp_path / 'model.npz'} "
                          "is not an .npz file "
                          "(not a zip archive)\n")


def test_a_name_too_long_for_the_file_system_is_refused_before_the_data(folders, tmp_path):
    before = snapshot(*folders)
    result = run_script(SCRIPT, *folders, "--name", "n" * 300, "--model-dir",
                        str(tmp_path / "models"))
    assert result.returncode == 2
    assert re.fullmatch(rf"{PROG}: error: argument --name: cannot write "
                        rf"n{{300}}\.checkpoint\.npz in {tmp_path / 'models'} "
                        rf"\(File name too long\)\n", result.stderr)
    assert snapshot(*folders) == before
    assert os.listdir(tmp_path / "models") == []                # no probe left behind


def train_then_lose(folder, monkeypatch):
    """Make train-cnn's training turn ``folder`` into a file once it has trained."""
    from imagelab.cli import train_cnn
    train = train_cnn.train

    def train_then_lose_the_folder(*args, **kwargs):
        history = train(*args, **kwargs)
        shutil.rmtree(folder)
        with open(folder, "w") as f:
            f.write("not a folder")
        return history

    monkeypatch.setattr(train_cnn, "train", train_then_lose_the_folder)


TINY_RUN = ["--arch", "lenet", "--num-epoch", "1", "--batch-size", "25", "--validation", "0.1"]


def test_a_results_folder_lost_during_the_training_names_the_saved_model(folders, tmp_path,
                                                                         monkeypatch):
    """The results folder becomes a file while the network trains: one line, the model
    saved all the same."""
    results, models = str(tmp_path / "results-lost"), tmp_path / "models"
    train_then_lose(results, monkeypatch)
    result = run_script(SCRIPT, folders[0], results, *TINY_RUN, "--model-dir", str(models))
    assert result.returncode == 2
    assert re.fullmatch(rf"{PROG}: error: argument --results-dir: cannot write in {results} "
                        rf"\(.+\); the model is saved in {models / 'cnn_lenet.npz'}\n",
                        result.stderr), result.stderr
    assert os.listdir(models) == ["cnn_lenet.npz"]


@pytest.mark.slow
def test_a_model_folder_lost_during_the_training_saves_it_elsewhere(folders, tmp_path,
                                                                    monkeypatch):
    """The model folder becomes a file: the model goes to a temporary folder, which the
    one line names, and the results are written."""
    models = str(tmp_path / "models-lost")
    train_then_lose(models, monkeypatch)
    result = run_script(SCRIPT, *folders, *TINY_RUN, "--model-dir", models)
    assert result.returncode == 2
    match = re.fullmatch(rf"{PROG}: error: argument --model-dir: cannot write in {models} "
                         rf"\(.+\); the model is saved in (.+)\n", result.stderr)
    assert match, result.stderr
    saved = match.group(1)
    try:
        assert saved.endswith("cnn_lenet.npz") and os.path.getsize(saved) > 0
    finally:
        shutil.rmtree(os.path.dirname(saved))
    assert is_png(os.path.join(folders[1], "cnn_lenet.png"))


@pytest.mark.parametrize("fraction, held_out", [("0.999", 50), ("0.001", 0)])
def test_a_validation_split_that_leaves_a_side_empty_is_one_line(folders, tmp_path, fraction,
                                                                 held_out):
    before = snapshot(*folders)
    result = run_script(SCRIPT, *folders, "--validation", fraction, "--model-dir",
                        str(tmp_path / "models"))
    assert result.returncode == 2
    assert result.stderr == (f"{PROG}: error: argument --validation: must leave at least one "
                             f"of the 50 training images on each side, got {fraction} "
                             f"({held_out} held out)\n")
    assert snapshot(*folders) == before


@pytest.mark.parametrize("flags, rate", [(["--arch", "lenet"], 0.05), ([], 0.1),
                                         (["--arch", "lenet", "--learning-rate", "0.2"], 0.2)])
def test_each_architecture_has_a_learning_rate_at_which_it_trains(flags, rate):
    from imagelab.cli.train_cnn import parse_arguments
    assert parse_arguments(flags)[1].learning_rate == rate


def stop_after_first_checkpoint(monkeypatch):
    """Make the next training stop (Ctrl-C) right after its first checkpoint is written."""
    from imagelab.training.checkpoint import Checkpoint
    save = Checkpoint.save

    def save_then_stop(self, progress, arrays):
        save(self, progress, arrays)
        raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoint, "save", save_then_stop)


def saved_run(results, models, name):
    """(the model's arrays, the record's history without its timings) of a finished run."""
    with np.load(os.path.join(models, name + ".npz")) as f:
        arrays = {key: f[key] for key in f.files}
    with open(os.path.join(results, name + ".json")) as f:
        history = json.load(f)["history"]
    del history["seconds"]
    return arrays, history


def assert_same_run(first, second):
    """Two ``saved_run`` results equal bit for bit."""
    assert first[1] == second[1]
    assert first[0].keys() == second[0].keys()
    for key, value in first[0].items():
        assert value.dtype == second[0][key].dtype
        np.testing.assert_array_equal(value, second[0][key], err_msg=key)


# conv4, tiny, with everything that draws random numbers: augmentation, dropout.
RESUMABLE = ["--width", "2", "--hidden", "8", "--dropout", "0.5", "--num-epoch", "3",
             "--batch-size", "16", "--validation", "0.2", "--pad", "2", "--flip",
             "--brightness", "0.1", "--contrast", "0.1", "--name", "run"]


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_resumed_training_ends_as_an_uninterrupted_one(folders, tmp_path, monkeypatch,
                                                         optimizer):
    data, results = folders
    flags = [*RESUMABLE, "--optimizer", optimizer]
    whole = run_script(SCRIPT, data, results, *flags, "--model-dir", str(tmp_path / "a"))
    assert whole.returncode == 0, whole.stderr
    assert os.listdir(tmp_path / "a") == ["run.npz"]          # the checkpoint removed
    uninterrupted = saved_run(results, tmp_path / "a", "run")
    models = str(tmp_path / "b")
    with monkeypatch.context() as patch:
        stop_after_first_checkpoint(patch)
        stopped = run_script(SCRIPT, data, results, *flags, "--model-dir", models)
    checkpoint = os.path.join(models, "run.checkpoint.npz")
    assert stopped.returncode == 130
    assert stopped.stderr.endswith(f"stopped by SIGINT; saved {checkpoint}, no partial file "
                                   f"left\n"), stopped.stderr
    assert os.listdir(models) == ["run.checkpoint.npz"]
    resumed = run_script(SCRIPT, data, results, *flags, "--model-dir", models, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "epoch   1/3" not in resumed.stdout and "epoch   3/3" in resumed.stdout
    assert os.listdir(models) == ["run.npz"]
    assert_same_run(uninterrupted, saved_run(results, models, "run"))


def test_a_resume_with_other_flags_names_the_first_that_differs(folders, tmp_path,
                                                                  monkeypatch):
    models = str(tmp_path / "models")
    flags = [*TINY_RUN, "--num-epoch", "2", "--name", "run", "--model-dir", models]
    with monkeypatch.context() as patch:
        stop_after_first_checkpoint(patch)
        assert run_script(SCRIPT, *folders, *flags).returncode == 130
    checkpoint = os.path.join(models, "run.checkpoint.npz")
    with open(checkpoint, "rb") as f:
        saved = f.read()
    result = run_script(SCRIPT, *folders, *flags, "--resume", "--learning-rate", "0.01")
    assert result.returncode == 2
    assert result.stderr == (f"{PROG}: error: argument --learning-rate: the checkpoint "
                             f"{checkpoint} was saved with 0.05, not 0.01: resume with the "
                             f"same flags\n")
    with open(checkpoint, "rb") as f:
        assert f.read() == saved


def test_a_damaged_checkpoint_is_one_line_and_left_as_it_is(folders, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    checkpoint = models / "run.checkpoint.npz"
    checkpoint.write_bytes(b"not a zip file")
    result = run_script(SCRIPT, *folders, *TINY_RUN, "--name", "run", "--model-dir",
                        str(models), "--resume")
    assert result.returncode == 2
    assert re.fullmatch(rf"{PROG}: error: argument --resume: the checkpoint {checkpoint} is "
                        rf"damaged \(.+\); remove it to start over\n", result.stderr), \
        result.stderr
    assert checkpoint.read_bytes() == b"not a zip file"
