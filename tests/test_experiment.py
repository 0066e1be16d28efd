"""Tests of experiment.py: argument types, load_split and the atomic result files."""
import argparse
import json
import os
import re

import numpy as np
import pytest
from matplotlib.figure import Figure

import experiment
from conftest import make_cifar_folder
from read_cifar import BATCH_FOLDER

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- save_results

def small_figure():
    figure = Figure(figsize=(2, 2))
    figure.add_subplot().plot([1, 2, 3], [0.3, 0.2, 0.25])
    return figure


def test_save_results_writes_both_files(tmp_path):
    results = tmp_path / "results" / "run"  # created on the way
    record = {"k": [1, 2, 3], "accuracy": [0.3, 0.2, 0.25], "split": 0.9}

    experiment.save_results(str(results), "knn", small_figure(), record)

    assert sorted(os.listdir(results)) == ["knn.json", "knn.png"]  # no temporary file left
    assert json.loads((results / "knn.json").read_text()) == record
    png = (results / "knn.png").read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    assert b"IEND" in png[-12:]  # the PNG's last chunk: the file is whole


def test_save_results_replaces_old_files(tmp_path):
    experiment.save_results(str(tmp_path), "mlp", small_figure(), {"run": 1})
    experiment.save_results(str(tmp_path), "mlp", small_figure(), {"run": 2})
    assert json.loads((tmp_path / "mlp.json").read_text()) == {"run": 2}
    assert sorted(os.listdir(tmp_path)) == ["mlp.json", "mlp.png"]


class BrokenFigure:
    """A figure whose savefig writes part of a file, then fails (a full disk, say)."""

    def savefig(self, f, **kwargs):
        f.write(PNG_SIGNATURE + b"half an image")
        raise OSError("No space left on device")


def test_failed_write_keeps_the_old_files(tmp_path):
    experiment.save_results(str(tmp_path), "knn", small_figure(), {"run": 1})
    old = {name: (tmp_path / name).read_bytes() for name in ("knn.png", "knn.json")}

    with pytest.raises(OSError, match="No space left"):
        experiment.save_results(str(tmp_path), "knn", BrokenFigure(), {"run": 2})

    assert {name: (tmp_path / name).read_bytes() for name in old} == old
    assert sorted(os.listdir(tmp_path)) == ["knn.json", "knn.png"]  # no temporary file


def test_failed_write_leaves_no_file_when_there_was_none(tmp_path):
    with pytest.raises(OSError):
        experiment.save_results(str(tmp_path), "knn", BrokenFigure(), {"run": 1})
    assert os.listdir(tmp_path) == []


def test_unserializable_record_keeps_the_old_json(tmp_path):
    experiment.save_results(str(tmp_path), "knn", small_figure(), {"run": 1})
    old = (tmp_path / "knn.json").read_bytes()
    with pytest.raises(TypeError):
        experiment.save_results(str(tmp_path), "knn", small_figure(), {"run": {1, 2}})
    assert (tmp_path / "knn.json").read_bytes() == old
    assert sorted(os.listdir(tmp_path)) == ["knn.json", "knn.png"]


def test_write_atomic_cleans_up_after_an_interrupt(tmp_path):
    path = tmp_path / "out.json"
    path.write_bytes(b"old")

    def interrupted(f):
        f.write(b"new, but only ha")
        raise KeyboardInterrupt  # Ctrl-C in the middle of a write

    with pytest.raises(KeyboardInterrupt):
        experiment._write_atomic(str(path), interrupted)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.json"]


def test_write_atomic_writes_the_whole_content(tmp_path):
    path = tmp_path / "out.bin"
    experiment._write_atomic(str(path), lambda f: f.write(b"x" * 100_000))
    assert path.read_bytes() == b"x" * 100_000
    assert os.listdir(tmp_path) == ["out.bin"]


# ---------------------------------------------------------------- argument types

def common_parser():
    parser = experiment.ArgumentParser(prog="knn.py")
    experiment.add_common_arguments(parser)
    parser.add_argument("--k-max", type=experiment.positive_int, default=20)
    return parser


def test_defaults_are_the_labs():
    args = common_parser().parse_args([])
    assert args.split == 0.9 and args.seed == 0 and args.no_download is False
    assert args.data_dir == os.path.join(experiment.ROOT, "data")
    assert args.results_dir == os.path.join(experiment.ROOT, "results")


def test_good_values_are_parsed():
    args = common_parser().parse_args(["--split", "0.75", "--seed", "3", "--k-max", "7",
                                       "--data-dir", "d", "--no-download"])
    assert (args.split, args.seed, args.k_max, args.data_dir, args.no_download) == \
        (0.75, 3, 7, "d", True)


@pytest.mark.parametrize("value", ["0", "1", "1.5", "-0.1", "nan", "inf"])
def test_split_out_of_range_is_refused(capsys, value):
    with pytest.raises(SystemExit) as info:
        common_parser().parse_args(["--split", value])
    assert info.value.code == 2
    error = capsys.readouterr().err
    assert error == (f"knn.py: error: argument --split: must be a finite number in (0, 1), "
                     f"got {value} (run with --help for usage)\n")


@pytest.mark.parametrize("value", ["abc", "", "0,5"])
def test_split_not_a_number_is_refused(capsys, value):
    with pytest.raises(SystemExit):
        common_parser().parse_args(["--split", value])
    assert f"argument --split: invalid fraction value: '{value}'" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-3"])
def test_positive_int_out_of_range_is_refused(capsys, value):
    with pytest.raises(SystemExit):
        common_parser().parse_args(["--k-max", value])
    error = capsys.readouterr().err
    assert "--k-max" in error and f"must be an integer >= 1, got {value}" in error


@pytest.mark.parametrize("value", ["2.5", "ten", "1e3"])
def test_positive_int_not_an_integer_is_refused(capsys, value):
    with pytest.raises(SystemExit):
        common_parser().parse_args(["--k-max", value])
    assert f"argument --k-max: invalid positive_int value: '{value}'" in capsys.readouterr().err


def test_argument_types_directly():
    assert experiment.fraction("0.5") == 0.5 and experiment.fraction("1e-3") == 0.001
    assert experiment.positive_int("1") == 1 and experiment.positive_int("64") == 64
    with pytest.raises(argparse.ArgumentTypeError):
        experiment.fraction("1.0")
    with pytest.raises(argparse.ArgumentTypeError):
        experiment.positive_int("0")


# ---------------------------------------------------------------- load_split

def test_load_split_reads_and_splits_as_the_flags_say(tmp_path):
    data, labels = make_cifar_folder(tmp_path / BATCH_FOLDER, sizes=(4, 4, 4, 4, 4, 20))
    args = common_parser().parse_args(["--data-dir", str(tmp_path), "--no-download",
                                       "--split", "0.75", "--seed", "1"])

    data_train, labels_train, data_test, labels_test = experiment.load_split(args)

    assert data_train.shape == (30, 3072) and data_test.shape == (10, 3072)
    assert data_train.dtype == np.float32 and labels_train.dtype == np.int64
    # Every row once, with its own label (rows of random pixels are all distinct).
    rows = np.concatenate([data_train, data_test]).astype(np.uint8)
    order = np.lexsort(rows.T[::-1])
    expected = np.lexsort(data.T[::-1])
    np.testing.assert_array_equal(rows[order], data[expected])
    np.testing.assert_array_equal(np.concatenate([labels_train, labels_test])[order],
                                  labels[expected])
    # The seed makes it repeatable.
    again = experiment.load_split(args)
    np.testing.assert_array_equal(again[0], data_train)


@pytest.mark.parametrize("no_download", [True, False])
def test_load_split_reports_missing_data_as_a_message(tmp_path, no_download):
    # An incomplete folder is never downloaded over: no network needed either way.
    make_cifar_folder(tmp_path / BATCH_FOLDER)
    os.remove(tmp_path / BATCH_FOLDER / "data_batch_2")
    flags = ["--data-dir", str(tmp_path)] + (["--no-download"] if no_download else [])
    with pytest.raises(SystemExit) as info:
        experiment.load_split(common_parser().parse_args(flags))
    message = str(info.value.code)  # what the user sees, without a traceback
    assert message.startswith("error: ") and "lacks data_batch_2" in message
    assert str(tmp_path / BATCH_FOLDER) in message


def test_load_split_with_downloads_off_and_no_data(tmp_path):
    args = common_parser().parse_args(["--data-dir", str(tmp_path), "--no-download"])
    with pytest.raises(SystemExit, match="downloads are off"):
        experiment.load_split(args)


def test_load_split_reports_a_corrupt_batch_as_a_message(tmp_path):
    make_cifar_folder(tmp_path / BATCH_FOLDER)
    (tmp_path / BATCH_FOLDER / "test_batch").write_bytes(b"garbage")
    args = common_parser().parse_args(["--data-dir", str(tmp_path), "--no-download"])
    with pytest.raises(SystemExit, match="error: .*test_batch.*truncated or corrupt"):
        experiment.load_split(args)


# ---------------------------------------------------------------- data_note

def test_data_note_only_for_the_jpeg_copy(tmp_path):
    folder = tmp_path / BATCH_FOLDER
    assert experiment.data_note(str(tmp_path)) == ""  # no folder at all
    folder.mkdir()
    assert experiment.data_note(str(tmp_path)) == ""  # no readme.html
    (folder / "readme.html").write_text("<p>The official CIFAR-10.</p>")
    assert experiment.data_note(str(tmp_path)) == ""
    (folder / "readme.html").write_text("<p>CIFAR-10 rebuilt from a JPEG copy.</p>")
    assert "JPEG" in experiment.data_note(str(tmp_path))


def test_save_results_keeps_the_note(tmp_path):
    note = "Images rebuilt from a JPEG copy"
    experiment.save_results(str(tmp_path), "knn", small_figure(), {"k": [1]}, note=note)
    assert json.loads((tmp_path / "knn.json").read_text()) == {"k": [1], "note": note}
    assert (tmp_path / "knn.png").read_bytes().startswith(PNG_SIGNATURE)


def test_result_files_get_the_users_usual_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    path = tmp_path / "out.json"
    experiment._write_atomic(str(path), lambda f: f.write(b"{}"))
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


# ---------------------------------------------------------------- checks of every flag

@pytest.mark.parametrize("type_, good, bad, expected", [
    (experiment.positive_float, {"0.1": 0.1, "1e-3": 0.001}, ["0", "-1", "nan", "inf", "1e400"],
     "a finite number > 0"),
    (experiment.non_negative_float, {"0": 0.0, "1e-4": 1e-4}, ["-0.5", "nan", "-inf"],
     "a finite number >= 0"),
    (experiment.rate, {"0": 0.0, "0.99": 0.99}, ["1", "-0.1", "nan"], "a finite number in [0, 1)"),
    (experiment.fold_count, {"2": 2, "10": 10}, ["1", "0", "-2"], "an integer >= 2"),
    (experiment.seed, {"0": 0, "123456789012345678901234567890": 123456789012345678901234567890},
     ["-1"], "an integer >= 0"),
])
def test_flag_types_accept_and_refuse(type_, good, bad, expected):
    assert {text: type_(text) for text in good} == good
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError) as info:
            type_(text)
        assert str(info.value) == f"must be {expected}, got {text}"   # the text as typed


def test_a_seed_must_be_a_whole_number():
    with pytest.raises(ValueError):             # argparse: "invalid seed value: '2.5'"
        experiment.seed("2.5")


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "../mlp"])
def test_a_result_name_stays_in_the_results_folder(name):
    with pytest.raises(argparse.ArgumentTypeError, match="file name without a folder"):
        experiment.file_stem(name)
    assert experiment.file_stem("mlp_best") == "mlp_best"


def test_data_dir_may_be_the_batch_folder_itself(tmp_path):
    assert experiment.data_folder(str(tmp_path)) == str(tmp_path)
    for given in (tmp_path / BATCH_FOLDER, f"{tmp_path / BATCH_FOLDER}/"):
        assert experiment.data_folder(str(given)) == str(tmp_path)
    assert experiment.data_folder(BATCH_FOLDER) == os.curdir
    assert os.listdir(tmp_path) == []          # nothing created


def test_results_dir_that_does_not_exist_yet_is_accepted_not_created(tmp_path):
    path = str(tmp_path / "a" / "b")
    assert experiment.results_folder(path) == path
    assert os.listdir(tmp_path) == []


def test_results_dir_that_cannot_be_written_is_refused(tmp_path, monkeypatch):
    # os.access as root says yes to everything: ask it about this folder in the test.
    monkeypatch.setattr(os, "access", lambda path, mode: path != str(tmp_path))
    for given in (tmp_path, tmp_path / "new"):
        with pytest.raises(argparse.ArgumentTypeError) as info:
            experiment.results_folder(str(given))
        assert str(info.value) == (f"must be a folder you can write to, got {given} "
                                   f"({tmp_path} is not writable)")
    assert experiment.data_folder(str(tmp_path)) == str(tmp_path)   # read only: fine


def test_parser_errors_and_flag_errors_are_one_line(capsys):
    parser = experiment.ArgumentParser(prog="knn.py")
    with pytest.raises(SystemExit) as info:
        with parser.flag_errors():
            experiment.refuse_above("--k-max", 100, 54, "the number of training images")
    assert info.value.code == 2
    assert capsys.readouterr().err == ("knn.py: error: argument --k-max: must be at most 54, "
                                       "the number of training images, got 100\n")
    with parser.flag_errors():
        experiment.refuse_above("--k-max", 54, 54, "the number of training images")


def test_a_diverging_computation_is_a_flag_error():
    with pytest.raises(experiment.FlagError) as info:
        with experiment.stop_if_diverging(1e30):
            np.float32(3e38) * np.float32(10)
    assert re.fullmatch(r"argument --learning-rate: the training diverged \(overflow "
                        r"encountered in [\w ]+; the loss is no longer finite\): "
                        r"try a smaller learning rate than 1e\+30", str(info.value))
    with pytest.raises(experiment.FlagError, match="diverged"):
        with experiment.stop_if_diverging(0.1):
            np.zeros(2, np.float32) / np.zeros(2, np.float32)      # NaN


def test_load_split_refuses_a_split_that_leaves_a_side_empty(tmp_path):
    make_cifar_folder(tmp_path / BATCH_FOLDER)     # 15 images
    args = common_parser().parse_args(["--data-dir", str(tmp_path), "--no-download",
                                       "--split", "0.01"])
    with pytest.raises(experiment.FlagError) as info:
        experiment.load_split(args)
    assert str(info.value) == ("argument --split: must leave images on both sides of the 15 "
                               "images, got 0.01")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_save_results_writes_no_nan_or_infinity(tmp_path, value):
    experiment.save_results(str(tmp_path), "knn", small_figure(), {"run": 1})
    old = {name: (tmp_path / name).read_bytes() for name in ("knn.png", "knn.json")}
    with pytest.raises(ValueError, match="not JSON compliant"):
        experiment.save_results(str(tmp_path), "knn", small_figure(), {"accuracy": [0.5, value]})
    assert {name: (tmp_path / name).read_bytes() for name in old} == old   # png too
    assert sorted(os.listdir(tmp_path)) == ["knn.json", "knn.png"]
