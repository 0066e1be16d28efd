"""Tests of imagelab.data.registry: every record consistent, reading each dataset, a new
record picked up, and the MNIST-family download against a local HTTP server on 127.0.0.1
serving tiny IDX files (no internet)."""
import dataclasses
import hashlib
import math
import os
import re

import numpy as np
import pytest

from conftest import make_cifar_folder, make_mnist_folder, mnist_files
from imagelab.cli.arguments import ArgumentParser, add_common_arguments
from imagelab.data.registry import (DATASETS, MNIST_FILES, OFFICIAL, fetch_files, load_dataset,
                                    read_mnist)
from imagelab.data.download import DownloadError
from imagelab.data.cifar import BATCH_FOLDER
from test_download import no_proxy, server  # noqa: F401 (fixtures)


def check_dataset(dataset, name, arrays):
    """``dataset`` holds the tiny files' ``arrays`` as rows of pixels, with its metadata."""
    images_train, labels_train, images_test, labels_test = arrays
    assert dataset.name == name
    assert dataset.image_shape == (28, 28, 1) == DATASETS[name].image_shape
    assert dataset.label_names == DATASETS[name].label_names and len(dataset.label_names) == 10
    for data, images in ((dataset.data_train, images_train), (dataset.data_test, images_test)):
        assert data.dtype == np.float32 and data.shape == (len(images), 784)
        np.testing.assert_array_equal(data, images.reshape(len(images), -1))
    for labels, stored in ((dataset.labels_train, labels_train),
                           (dataset.labels_test, labels_test)):
        assert labels.dtype == np.int64
        np.testing.assert_array_equal(labels, stored)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_mnist_family_reads_its_four_files(tmp_path, tiny_mnist, name):
    arrays = make_mnist_folder(tmp_path / name)
    check_dataset(load_dataset(name, str(tmp_path), download=False), name, arrays)


def test_label_names():
    assert DATASETS["mnist"].label_names == tuple("0123456789")
    assert DATASETS["fashion-mnist"].label_names == (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
        "Bag", "Ankle boot")
    assert DATASETS["cifar10"].label_names[:2] == ("airplane", "automobile")
    assert list(DATASETS) == ["cifar10", "mnist", "fashion-mnist"]


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_record_is_consistent(name):
    record = DATASETS[name]
    assert record.name == name and record.title
    h, w, c = record.image_shape
    assert all(isinstance(n, int) and n >= 1 for n in (h, w, c)) and c in (1, 3)
    assert len(record.label_names) >= 2 and len(set(record.label_names)) == len(record.label_names)
    assert len(record.md5) == len(record.downloads) >= 1
    assert all(re.fullmatch("[0-9a-f]{32}", md5) for md5 in record.md5)
    assert len(set(record.files)) == len(record.files) >= 1 and record.folder
    assert record.mirrors and all(base.endswith("/") for base in record.mirrors)
    assert len(record.sizes) == 2 and all(n >= 1 for n in record.sizes)
    assert record.default_split == OFFICIAL or 0 < record.default_split < 1
    if record.read is read_mnist:           # grey images, one IDX file per array
        assert c == 1 and record.files == record.downloads and len(record.files) == 4


def test_the_records_hold_the_official_sizes():
    assert [(name, record.sizes, math.prod(record.image_shape), len(record.label_names))
            for name, record in DATASETS.items()] == [
        ("cifar10", (50000, 10000), 3072, 10), ("mnist", (60000, 10000), 784, 10),
        ("fashion-mnist", (60000, 10000), 784, 10)]


def test_a_new_record_is_a_dataset_everywhere(tmp_path, monkeypatch):
    """One record, and --dataset offers it, its split default applies, load_dataset reads it."""
    arrays = make_mnist_folder(tmp_path / "kmnist", counts=(6, 4))
    record = dataclasses.replace(DATASETS["mnist"], name="kmnist", title="Kuzushiji-MNIST",
                                 folder="kmnist", sizes=(6, 4), default_split=0.5)
    monkeypatch.setitem(DATASETS, "kmnist", record)
    parser = ArgumentParser()
    add_common_arguments(parser)
    assert "kmnist" in parser.format_help()
    args = parser.parse_args(["--dataset", "kmnist", "--data-dir", str(tmp_path)])
    assert (args.dataset, args.split) == ("kmnist", 0.5)
    dataset = load_dataset("kmnist", args.data_dir, download=False)
    assert dataset.name == "kmnist" and dataset.label_names == DATASETS["mnist"].label_names
    np.testing.assert_array_equal(dataset.labels_test, arrays[3])


def test_cifar10_is_its_five_training_batches_then_the_test_batch(tmp_path):
    data, labels = make_cifar_folder(tmp_path / BATCH_FOLDER, sizes=(3, 2, 4, 1, 2, 5))
    dataset = load_dataset("cifar10", str(tmp_path), download=False)
    assert dataset.image_shape == (32, 32, 3)
    assert dataset.label_names == DATASETS["cifar10"].label_names
    np.testing.assert_array_equal(dataset.data_train, data[:12])
    np.testing.assert_array_equal(dataset.data_test, data[12:])
    np.testing.assert_array_equal(dataset.labels_train, labels[:12])
    np.testing.assert_array_equal(dataset.labels_test, labels[12:])
    assert dataset.data_train.dtype == np.float32 and dataset.labels_test.dtype == np.int64
    assert [len(a) for a in dataset.arrays()] == [12, 12, 5, 5]


def test_dataset_is_frozen(tmp_path, tiny_mnist):
    make_mnist_folder(tmp_path / "mnist")
    dataset = load_dataset("mnist", str(tmp_path), download=False)
    with pytest.raises(AttributeError):
        dataset.name = "cifar10"


def test_unknown_name_is_refused(tmp_path):
    with pytest.raises(ValueError, match="name must be one of cifar10, mnist, fashion-mnist, "
                                         "got 'svhn'"):
        load_dataset("svhn", str(tmp_path))


def test_label_out_of_range_names_the_file(tmp_path, tiny_mnist):
    make_mnist_folder(tmp_path / "mnist", labels_max=200, seed=3)
    path = tmp_path / "mnist" / "train-labels-idx1-ubyte.gz"
    with pytest.raises(ValueError, match=f"^{path}: label [0-9]+ at index [0-9]+ is out of "
                                         "range 0..9$"):
        load_dataset("mnist", str(tmp_path), download=False)


def test_counts_are_checked(tmp_path):
    """Without the tiny_mnist fixture, 60,000 training images are expected."""
    make_mnist_folder(tmp_path / "mnist")
    path = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    with pytest.raises(ValueError) as info:
        load_dataset("mnist", str(tmp_path), download=False)
    assert str(info.value) == f"{path}: has dimensions (12, 28, 28), expected (60000, 28, 28)"


def test_images_and_labels_must_agree(tmp_path, tiny_mnist):
    make_mnist_folder(tmp_path / "mnist", counts=(12, 7))
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz: has dimensions "
                                         r"\(7, 28, 28\), expected \(8, 28, 28\)"):
        load_dataset("mnist", str(tmp_path), download=False)


def test_download_off_and_files_missing(tmp_path, tiny_mnist):
    make_mnist_folder(tmp_path / "fashion-mnist")
    os.remove(tmp_path / "fashion-mnist" / MNIST_FILES[3])
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("fashion-mnist", str(tmp_path), download=False)
    message = str(info.value)
    assert "downloads are off" in message and str(tmp_path / "fashion-mnist") in message
    assert MNIST_FILES[3] in message and MNIST_FILES[0] not in message


# ---------------------------------------------------------------- download from mirrors

def publish(server, base, files):
    """Serve ``files`` (name -> bytes) under ``base``; return the base URL."""
    for name, content in files.items():
        url = server.serve(base + name, content)
    return url[:-len(name)]


def served(name, mirrors, files, md5=None):
    """The record of dataset ``name`` with other ``mirrors`` and the MD5s of ``files``
    (name -> bytes), or ``md5`` (one a file)."""
    md5 = md5 or tuple(hashlib.md5(files[file]).hexdigest() for file in MNIST_FILES)
    return dataclasses.replace(DATASETS[name], mirrors=tuple(mirrors), md5=md5)


def test_download_from_the_first_mirror(tmp_path, server, tiny_mnist, capsys):
    files, arrays = mnist_files()
    mirror = publish(server, "/first/", files)
    record = served("mnist", [mirror, "http://unused/"], files)
    folder = fetch_files(record, str(tmp_path / "data"))
    assert folder == str(tmp_path / "data" / "mnist")
    assert sorted(os.listdir(folder)) == sorted(MNIST_FILES)       # no work folder left
    assert server.requests == [f"/first/{name}" for name in MNIST_FILES]
    for name, content in files.items():
        assert (tmp_path / "data" / "mnist" / name).read_bytes() == content
    check_dataset(load_dataset("mnist", str(tmp_path / "data"), download=False), "mnist", arrays)
    assert "Downloading MNIST train-images-idx3-ubyte.gz" in capsys.readouterr().err
    # Present files are not asked for again.
    fetch_files(served("mnist", [mirror], files), str(tmp_path / "data"))
    assert len(server.requests) == 4


def test_wrong_checksum_goes_to_the_next_mirror(tmp_path, server, tiny_mnist):
    files, arrays = mnist_files()
    other, _ = mnist_files(seed=9)                                 # same names, other bytes
    bad = publish(server, "/bad/", other)
    good = publish(server, "/good/", files)
    fetch_files(served("fashion-mnist", [bad, good], files), str(tmp_path))
    assert server.requests == [f"/{where}/{name}" for name in MNIST_FILES
                               for where in ("bad", "good")]
    check_dataset(load_dataset("fashion-mnist", str(tmp_path), download=False),
                  "fashion-mnist", arrays)


def test_missing_file_on_a_mirror_goes_to_the_next(tmp_path, server, tiny_mnist):
    files, _ = mnist_files()
    partial = publish(server, "/partial/", dict(list(files.items())[:2]))   # 404 for the rest
    good = publish(server, "/good/", files)
    fetch_files(served("mnist", [partial, good], files), str(tmp_path))
    assert server.requests[-2:] == [f"/partial/{MNIST_FILES[3]}", f"/good/{MNIST_FILES[3]}"]
    assert sorted(os.listdir(tmp_path / "mnist")) == sorted(MNIST_FILES)


def test_no_mirror_with_the_right_checksum_is_a_clear_error(tmp_path, server):
    files, _ = mnist_files()
    first, second = publish(server, "/a/", files), publish(server, "/b/", files)
    with pytest.raises(DownloadError) as info:
        fetch_files(served("mnist", [first, second], files, md5=("0" * 32,) * 4), str(tmp_path))
    message = str(info.value)
    name = MNIST_FILES[0]
    assert f"{first}{name} has MD5" in message and f"{second}{name} has MD5" in message
    assert "0" * 32 in message and f"into {tmp_path / 'mnist'}" in message
    assert os.listdir(tmp_path / "mnist") == []                    # nothing half-done kept


def test_truncated_transfer_keeps_nothing(tmp_path, server):
    files, _ = mnist_files()
    name = MNIST_FILES[0]
    body = files[name]
    server.serve(f"/cut/{name}", body[:len(body) // 2], length=len(body))
    mirror = server.serve("/cut/", b"")
    with pytest.raises(DownloadError) as info:
        fetch_files(served("mnist", [mirror], files), str(tmp_path))
    assert f"stopped after {len(body) // 2} of {len(body)} bytes" in str(info.value)
    assert os.listdir(tmp_path / "mnist") == []


def test_only_missing_files_are_downloaded(tmp_path, server, tiny_mnist):
    files, arrays = mnist_files()
    make_mnist_folder(tmp_path / "mnist")
    os.remove(tmp_path / "mnist" / MNIST_FILES[1])
    mirror = publish(server, "/m/", files)
    fetch_files(served("mnist", [mirror], files), str(tmp_path))
    assert server.requests == [f"/m/{MNIST_FILES[1]}"]
    check_dataset(load_dataset("mnist", str(tmp_path), download=False), "mnist", arrays)


def test_official_mirrors_and_checksums_are_the_published_ones():
    fashion, mnist, cifar = DATASETS["fashion-mnist"], DATASETS["mnist"], DATASETS["cifar10"]
    assert fashion.mirrors[0] == "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    assert fashion.downloads[0] == "train-images-idx3-ubyte.gz"
    assert fashion.md5[0] == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"
    assert mnist.mirrors[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert mnist.downloads[3] == "t10k-labels-idx1-ubyte.gz"
    assert mnist.md5[3] == "ec29112dd5afa0611ce80d1b7f02629c"
    assert cifar.mirrors[0] + cifar.downloads[0] == ("https://www.cs.toronto.edu/~kriz/"
                                                     "cifar-10-python.tar.gz")
    assert cifar.md5 == ("c58f30108f718f92721af3b95e74349a",)
