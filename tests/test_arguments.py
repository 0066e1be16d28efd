"""Tests of imagelab.cli.arguments: the one-line parser, the argparse types of every flag, the
flags all scripts share, and the errors found once the data is read."""
import argparse
import os
import runpy
import re

import numpy as np
import pytest

from conftest import ROOT
from imagelab.cli import arguments
from imagelab.cli import knn as knn_cli
from imagelab.cli import mlp as mlp_cli
from imagelab.data.descriptors import parse_feature_spec
from imagelab.data.cifar import BATCH_FOLDER


def common_parser():
    parser = arguments.ArgumentParser(prog="knn.py")
    arguments.add_common_arguments(parser)
    parser.add_argument("--k-max", type=arguments.positive_int, default=20)
    return parser


def test_defaults_are_the_labs():
    args = common_parser().parse_args([])
    assert args.split == 0.9 and args.seed == 0 and args.no_download is False
    assert args.data_dir == os.path.join(os.curdir, "data")
    assert args.results_dir == os.path.join(os.curdir, "results")


@pytest.mark.parametrize("script, command", [("knn.py", knn_cli), ("mlp.py", mlp_cli)])
def test_the_lab_scripts_default_to_the_clones_folders(script, command, monkeypatch):
    """``python knn.py`` from any folder reads data/ and writes results/ beside knn.py."""
    seen = []
    monkeypatch.setattr(command, "main", lambda argv=None, base=os.curdir, prog=None: seen.append(base))
    runpy.run_path(os.path.join(ROOT, script), run_name="__main__")
    assert seen == [ROOT]


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
    assert f"argument --split: invalid split value: '{value}'" in capsys.readouterr().err


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
    assert arguments.fraction("0.5") == 0.5 and arguments.fraction("1e-3") == 0.001
    assert arguments.positive_int("1") == 1 and arguments.positive_int("64") == 64
    with pytest.raises(argparse.ArgumentTypeError):
        arguments.fraction("1.0")
    with pytest.raises(argparse.ArgumentTypeError):
        arguments.positive_int("0")


@pytest.mark.parametrize("type_, good, bad, expected", [
    (arguments.positive_float, {"0.1": 0.1, "1e-3": 0.001}, ["0", "-1", "nan", "inf", "1e400"],
     "a finite number > 0"),
    (arguments.non_negative_float, {"0": 0.0, "1e-4": 1e-4}, ["-0.5", "nan", "-inf"],
     "a finite number >= 0"),
    (arguments.rate, {"0": 0.0, "0.99": 0.99}, ["1", "-0.1", "nan"], "a finite number in [0, 1)"),
    (arguments.fold_count, {"2": 2, "10": 10}, ["1", "0", "-2"], "an integer >= 2"),
    (arguments.seed, {"0": 0, "123456789012345678901234567890": 123456789012345678901234567890},
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
        arguments.seed("2.5")


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "../mlp"])
def test_a_result_name_stays_in_the_results_folder(name):
    with pytest.raises(argparse.ArgumentTypeError, match="file name without a folder"):
        arguments.file_stem(name)
    assert arguments.file_stem("mlp_best") == "mlp_best"


def test_data_dir_may_be_the_batch_folder_itself(tmp_path):
    assert arguments.data_folder(str(tmp_path)) == str(tmp_path)
    for given in (tmp_path / BATCH_FOLDER, f"{tmp_path / BATCH_FOLDER}/"):
        assert arguments.data_folder(str(given)) == str(tmp_path)
    assert arguments.data_folder(BATCH_FOLDER) == os.curdir
    assert os.listdir(tmp_path) == []          # nothing created


def test_results_dir_that_does_not_exist_yet_is_accepted_not_created(tmp_path):
    path = str(tmp_path / "a" / "b")
    assert arguments.results_folder(path) == path
    assert os.listdir(tmp_path) == []


def test_results_dir_that_cannot_be_written_is_refused(tmp_path, monkeypatch):
    # os.access as root says yes to everything: ask it about this folder in the test.
    monkeypatch.setattr(os, "access", lambda path, mode: path != str(tmp_path))
    for given in (tmp_path, tmp_path / "new"):
        with pytest.raises(argparse.ArgumentTypeError) as info:
            arguments.results_folder(str(given))
        assert str(info.value) == (f"must be a folder you can write to, got {given} "
                                   f"({tmp_path} is not writable)")
    assert arguments.data_folder(str(tmp_path)) == str(tmp_path)   # read only: fine


def test_parser_errors_and_flag_errors_are_one_line(capsys):
    parser = arguments.ArgumentParser(prog="knn.py")
    with pytest.raises(SystemExit) as info:
        with parser.flag_errors():
            arguments.refuse_above("--k-max", 100, 54, "the number of training images")
    assert info.value.code == 2
    assert capsys.readouterr().err == ("knn.py: error: argument --k-max: must be at most 54, "
                                       "the number of training images, got 100\n")
    with parser.flag_errors():
        arguments.refuse_above("--k-max", 54, 54, "the number of training images")


def test_a_diverging_computation_is_a_flag_error():
    with pytest.raises(arguments.FlagError) as info:
        with arguments.stop_if_diverging(1e30):
            np.float32(3e38) * np.float32(10)
    assert re.fullmatch(r"argument --learning-rate: the training diverged \(overflow "
                        r"encountered in [\w ]+; the loss is no longer finite\): "
                        r"try a smaller learning rate than 1e\+30", str(info.value))
    with pytest.raises(arguments.FlagError, match="diverged"):
        with arguments.stop_if_diverging(0.1):
            np.zeros(2, np.float32) / np.zeros(2, np.float32)      # NaN



def test_validated_keeps_the_text_and_refuses_with_the_parsers_message():
    feature = arguments.validated(parse_feature_spec)
    assert feature("raw") == "raw" and feature("hog+color:bins=2") == "hog+color:bins=2"
    with pytest.raises(argparse.ArgumentTypeError, match="^unknown descriptor 'sift'"):
        feature("sift")
    assert feature.__name__ == "parse_feature_spec"


def test_flag_errors_end_a_data_error_with_one_line_and_status_1():
    parser = arguments.ArgumentParser(prog="knn.py")
    with pytest.raises(SystemExit) as info:
        with parser.flag_errors():
            raise arguments.DataError("the batches are missing")
    assert info.value.code == "error: the batches are missing"
    with pytest.raises(SystemExit) as info:
        with parser.flag_errors():
            raise ImportError("install scikit-image")
    assert info.value.code == "error: install scikit-image"
