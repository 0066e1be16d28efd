"""Tests of imagelab.data.splits: load_split reads, describes and splits CIFAR-10 from plain
arguments; missing or corrupt data is a message, a bad split a flag error; data_note and result_name."""
import os

import numpy as np
import pytest

from conftest import make_cifar_folder
from imagelab.cli.arguments import ArgumentParser, DataError, FlagError, add_common_arguments
from imagelab.data.splits import data_note, load_split, result_name
from imagelab.data.descriptors import color_histogram, describer
from imagelab.data.images import rows_to_images
from imagelab.data.cifar import BATCH_FOLDER


def common_parser():
    parser = ArgumentParser(prog="knn.py")
    add_common_arguments(parser)
    return parser


def load(flags):
    """What an entry point does: parse the common flags, pass them on as plain values,
    and end a DataError or a FlagError with one line (``flag_errors``)."""
    parser = common_parser()
    args = parser.parse_args(flags)
    with parser.flag_errors():
        return load_split(args.dataset, args.data_dir, args.split, args.seed,
                          download=not args.no_download).arrays()


def test_load_split_reads_and_splits_as_the_flags_say(tmp_path):
    data, labels = make_cifar_folder(tmp_path / BATCH_FOLDER, sizes=(4, 4, 4, 4, 4, 20))
    flags = ["--data-dir", str(tmp_path), "--no-download", "--split", "0.75", "--seed", "1"]

    data_train, labels_train, data_test, labels_test = load(flags)

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
    again = load(flags)
    np.testing.assert_array_equal(again[0], data_train)
    # Plain arguments, as from a notebook: the same split.
    plain = load_split("cifar10", str(tmp_path), 0.75, 1, download=False).arrays()
    np.testing.assert_array_equal(plain[0], data_train)
    np.testing.assert_array_equal(plain[3], labels_test)


@pytest.mark.parametrize("no_download", [True, False])
def test_load_split_reports_missing_data_as_a_message(tmp_path, no_download):
    # An incomplete folder is never downloaded over: no network needed either way.
    make_cifar_folder(tmp_path / BATCH_FOLDER)
    os.remove(tmp_path / BATCH_FOLDER / "data_batch_2")
    flags = ["--data-dir", str(tmp_path)] + (["--no-download"] if no_download else [])
    with pytest.raises(SystemExit) as info:
        load(flags)
    message = str(info.value.code)  # what the user sees, without a traceback
    assert message.startswith("error: ") and "lacks data_batch_2" in message
    assert str(tmp_path / BATCH_FOLDER) in message


def test_load_split_raises_a_data_error_for_missing_data(tmp_path):
    with pytest.raises(DataError, match="downloads are off"):
        load_split("cifar10", str(tmp_path), 0.9, 0, download=False)


def test_load_split_with_downloads_off_and_no_data(tmp_path):
    with pytest.raises(SystemExit, match="downloads are off"):
        load(["--data-dir", str(tmp_path), "--no-download"])


def test_load_split_reports_a_corrupt_batch_as_a_message(tmp_path):
    make_cifar_folder(tmp_path / BATCH_FOLDER)
    (tmp_path / BATCH_FOLDER / "test_batch").write_bytes(b"garbage")
    with pytest.raises(SystemExit, match="error: .*test_batch.*truncated or corrupt"):
        load(["--data-dir", str(tmp_path), "--no-download"])


def test_load_split_refuses_a_split_that_leaves_a_side_empty(tmp_path):
    make_cifar_folder(tmp_path / BATCH_FOLDER)     # 15 images

    def features(rows):
        raise AssertionError("the split should have been refused before any description")

    with pytest.raises(FlagError) as info:
        load_split("cifar10", str(tmp_path), 0.01, 0, download=False, features=features)
    assert str(info.value) == ("argument --split: must leave images on both sides of the 15 "
                               "images, got 0.01")


def test_load_split_describes_before_splitting(tmp_path):
    folder = os.path.join(tmp_path, "cifar-10-batches-py")
    make_cifar_folder(folder, sizes=(4, 4, 4, 4, 4, 4))
    raw_train, labels_train, raw_test, labels_test = load_split(
        "cifar10", str(tmp_path), 0.75, 3, download=False).arrays()
    train, described_labels, test, _ = load_split(
        "cifar10", str(tmp_path), 0.75, 3, download=False,
        features=describer("color", str(tmp_path))).arrays()
    np.testing.assert_array_equal(described_labels, labels_train)
    np.testing.assert_array_equal(train, color_histogram(rows_to_images(raw_train)))
    np.testing.assert_array_equal(test, color_histogram(rows_to_images(raw_test)))
    assert len(os.listdir(os.path.join(tmp_path, "features"))) == 1


def test_data_note_only_for_the_jpeg_copy(tmp_path):
    folder = tmp_path / BATCH_FOLDER
    assert data_note(str(tmp_path)) == ""  # no folder at all
    folder.mkdir()
    assert data_note(str(tmp_path)) == ""  # no readme.html
    (folder / "readme.html").write_text("<p>The official CIFAR-10.</p>")
    assert data_note(str(tmp_path)) == ""
    (folder / "readme.html").write_text("<p>CIFAR-10 rebuilt from a JPEG copy.</p>")
    assert "JPEG" in data_note(str(tmp_path))


def test_result_name_makes_a_file_name_of_a_spec():
    assert result_name("knn", None) == result_name("knn", "raw") == "knn"
    assert result_name("mlp", "hog:channels=rgb+color") == "mlp_hog_channels_rgb+color"


@pytest.mark.parametrize("prefix, features, dataset, name", [
    ("knn", None, "cifar10", "knn"),                        # the lab's files keep their names
    ("knn", None, "fashion-mnist", "knn_fashion-mnist"),    # another dataset never overwrites them
    ("mlp", "hog", "mnist", "mlp_mnist_hog"),
    ("knn_cv", "hog:channels=rgb", "cifar10", "knn_cv_hog_channels_rgb"),
])
def test_result_names_carry_the_dataset_and_the_representation(prefix, features, dataset, name):
    assert result_name(prefix, features, dataset) == name
