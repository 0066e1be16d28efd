"""Tests of read_cifar.py: reading and checking the batches, splitting a dataset."""
import os
import pickle
import re

import numpy as np
import pytest

from conftest import Py2Pickler, make_cifar_folder, write_batch
from imagelab.data.cifar import BATCH_FILES, DATA_SIZE, read_cifar, read_cifar_batch, split_dataset


# ---------------------------------------------------------------- the tiny test files

def test_tiny_batches_have_the_official_layout(tmp_path):
    # The keys are Python 2 str, as in the official files: bytes with encoding="bytes",
    # str with encoding="latin1"; "labels" is a list of ints, "data" a uint8 array.
    path = tmp_path / "data_batch_1"
    write_batch(path, np.zeros((2, DATA_SIZE), np.uint8), [3, 4])
    raw = path.read_bytes()
    assert b"_codecs" not in raw  # Python 3's pickler would store bytes this way
    as_bytes = pickle.loads(raw, encoding="bytes")
    assert set(as_bytes) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert as_bytes[b"labels"] == [3, 4]
    assert as_bytes[b"data"].dtype == np.uint8 and as_bytes[b"data"].shape == (2, DATA_SIZE)
    assert set(pickle.loads(raw, encoding="latin1")) == {"batch_label", "labels", "data",
                                                         "filenames"}


# ---------------------------------------------------------------- read_cifar_batch

def test_read_cifar_batch_dtypes_shapes_and_values(tmp_path):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(5, DATA_SIZE), dtype=np.uint8)
    pixels[0, :3] = [0, 255, 128]  # the extremes must survive the float32 conversion
    labels = [9, 0, 3, 3, 7]
    path = tmp_path / "data_batch_1"
    write_batch(path, pixels, labels)

    data, read_labels = read_cifar_batch(str(path))

    assert data.dtype == np.float32 and data.shape == (5, DATA_SIZE)
    assert read_labels.dtype == np.int64 and read_labels.shape == (5,)
    np.testing.assert_array_equal(data, pixels.astype(np.float32))  # same pixels, same order
    np.testing.assert_array_equal(read_labels, labels)


def test_read_cifar_batch_accepts_a_path_object(tmp_path):
    write_batch(tmp_path / "test_batch", np.ones((1, DATA_SIZE), np.uint8), [2])
    data, labels = read_cifar_batch(tmp_path / "test_batch")
    assert data.shape == (1, DATA_SIZE) and labels.tolist() == [2]


# ---------------------------------------------------------------- read_cifar

def test_read_cifar_concatenates_the_six_batches_in_order(cifar_folder):
    folder, pixels, labels = cifar_folder  # batches of 3, 2, 4, 1, 2, 3 rows

    data, read_labels = read_cifar(folder)

    assert data.dtype == np.float32 and data.shape == (15, DATA_SIZE)
    assert read_labels.dtype == np.int64 and read_labels.shape == (15,)
    np.testing.assert_array_equal(data, pixels.astype(np.float32))
    np.testing.assert_array_equal(read_labels, labels)


def test_read_cifar_order_is_data_batch_1_to_5_then_test_batch(tmp_path):
    # One row a batch, every pixel of batch i equal to i: the order shows in column 0.
    for i, name in enumerate(BATCH_FILES):
        write_batch(tmp_path / name, np.full((1, DATA_SIZE), i, np.uint8), [i])
    # A stray file that sorts between the batches must not be read.
    write_batch(tmp_path / "data_batch_10", np.full((1, DATA_SIZE), 99, np.uint8), [9])

    data, labels = read_cifar(str(tmp_path))

    assert data[:, 0].tolist() == [0, 1, 2, 3, 4, 5]
    assert labels.tolist() == [0, 1, 2, 3, 4, 5]


# ---------------------------------------------------------------- errors

def test_missing_batch_file_is_named(tmp_path):
    missing = tmp_path / "data_batch_3"
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        read_cifar_batch(str(missing))


def test_read_cifar_names_the_missing_batch(cifar_folder):
    folder = cifar_folder[0]
    os.remove(os.path.join(folder, "data_batch_4"))
    with pytest.raises(FileNotFoundError, match="data_batch_4"):
        read_cifar(folder)


def test_read_cifar_names_a_missing_test_batch(cifar_folder):
    folder = cifar_folder[0]
    os.remove(os.path.join(folder, "test_batch"))
    with pytest.raises(FileNotFoundError, match="test_batch"):
        read_cifar(folder)


def test_read_cifar_names_a_missing_folder(tmp_path):
    folder = str(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError) as info:
        read_cifar(folder)
    assert "folder" in str(info.value) and str(info.value).endswith(folder)  # not a batch


def test_truncated_batch_names_the_file(cifar_folder):
    folder = cifar_folder[0]
    path = os.path.join(folder, "data_batch_2")
    with open(path, "rb") as f:
        content = f.read()
    with open(path, "wb") as f:
        f.write(content[:len(content) // 2])
    with pytest.raises(ValueError, match="data_batch_2.*truncated or corrupt"):
        read_cifar_batch(path)
    with pytest.raises(ValueError, match="data_batch_2"):
        read_cifar(folder)


@pytest.mark.parametrize("content", [b"", b"not a pickle at all", b"\x80\x02}q\x00."],
                         ids=["empty", "text", "empty-dict"])
def test_corrupt_batch_names_the_file(tmp_path, content):
    path = tmp_path / "data_batch_1"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="data_batch_1"):
        read_cifar_batch(str(path))


@pytest.mark.parametrize("data, labels, shape", [
    (np.zeros((4, 100), np.uint8), [0, 1, 2, 3], r"\(4, 100\)"),          # rows too short
    (np.zeros(DATA_SIZE, np.uint8), [0], r"\(3072,\)"),                   # one flat image
    (np.zeros((3, DATA_SIZE), np.uint8), [0, 1], r"labels \(2,\)"),       # a label short
])
def test_wrong_shape_names_the_problem(tmp_path, data, labels, shape):
    path = tmp_path / "data_batch_1"
    write_batch(path, data, labels)
    with pytest.raises(ValueError, match=f"data_batch_1.*{shape}") as info:
        read_cifar_batch(str(path))
    assert f"(n, {DATA_SIZE})" in str(info.value)


def write_stored(path, data, labels):
    """A batch file holding ``data`` and ``labels`` exactly as given: no cast to uint8 or int."""
    with open(path, "wb") as f:
        Py2Pickler(f, protocol=2).dump({b"data": data, b"labels": labels})


def pixels(dtype=np.uint8, n=2):
    """n rows of valid pixels 0..255, in ``dtype``."""
    return (np.arange(n * DATA_SIZE) % 256).reshape(n, DATA_SIZE).astype(dtype)


@pytest.mark.parametrize("labels, shown, index", [
    ([0, 10], "10", 1), ([-1, 3], "-1", 0), ([2.5, 3], "2.5", 0), ([3, np.nan], "nan", 1),
    (np.array([1, 200], np.uint8), "200", 1),
])
def test_labels_outside_0_9_are_refused_by_file_key_and_value(tmp_path, labels, shown, index):
    path = tmp_path / "data_batch_1"
    write_stored(path, pixels(), labels)
    message = f"{path} is not a CIFAR-10 batch: b'labels' must hold integers in 0..9, got " \
              f"{shown} at index ({index},)"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        read_cifar_batch(str(path))


@pytest.mark.parametrize("dtype, bad, shown", [
    (np.int64, 1000, "1000"),      # a cast to uint8 would make it 232
    (np.int16, -1, "-1"),          # ... and this one 255
    (np.float64, np.nan, "nan"),   # ... and this one 0
    (np.float32, 2.5, "2.5"),      # ... and this one 2
    (np.float64, np.inf, "inf"),
])
def test_pixels_outside_0_255_are_refused_by_file_key_and_value(tmp_path, dtype, bad, shown):
    data = pixels(dtype)
    data[1, 7] = bad
    path = tmp_path / "data_batch_1"
    write_stored(path, data, [0, 1])
    message = f"{path} is not a CIFAR-10 batch: b'data' must hold integers in 0..255, got " \
              f"{shown} at index (1, 7)"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        read_cifar_batch(str(path))


def test_pixels_and_labels_that_are_not_numbers_are_refused(tmp_path):
    path = tmp_path / "data_batch_1"
    write_stored(path, pixels().astype(bool), [0, 1])
    with pytest.raises(ValueError, match=r"data_batch_1 .*b'data' must hold integers in "
                                         r"0\.\.255, got dtype bool"):
        read_cifar_batch(str(path))
    write_stored(path, pixels(), [b"cat", b"dog"])
    with pytest.raises(ValueError, match=r"data_batch_1 .*b'labels' must hold integers in "
                                         r"0\.\.9, got dtype \|S3"):
        read_cifar_batch(str(path))


def test_integer_values_stored_in_other_dtypes_are_read_exactly(tmp_path):
    path = tmp_path / "data_batch_1"
    for dtype in (np.int64, np.float64):
        write_stored(path, pixels(dtype), np.array([9, 0], dtype))
        data, labels = read_cifar_batch(str(path))
        np.testing.assert_array_equal(data, pixels(np.float32))
        assert labels.dtype == np.int64 and labels.tolist() == [9, 0]


def test_a_batch_of_zero_rows_is_refused(tmp_path):
    path = tmp_path / "data_batch_1"
    write_batch(path, np.zeros((0, DATA_SIZE), np.uint8), [])
    message = f"{path} is not a CIFAR-10 batch: b'data' has shape (0, {DATA_SIZE}), " \
              f"expected at least one row of {DATA_SIZE}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        read_cifar_batch(str(path))


def test_read_cifar_names_the_batch_with_a_bad_value(cifar_folder):
    folder = cifar_folder[0]
    write_stored(os.path.join(folder, "data_batch_5"), pixels(), [0, 10])
    with pytest.raises(ValueError, match=r"data_batch_5 .*b'labels'.*got 10"):
        read_cifar(folder)


# ---------------------------------------------------------------- split_dataset

def ids_dataset(n, d=3):
    """Rows whose column 0 is their id (0..n-1) and labels id % 10 * 7 (tied to the row)."""
    data = np.tile(np.arange(n, dtype=np.float32)[:, None], (1, d))
    data[:, 1:] += np.arange(1, d, dtype=np.float32) * 1000  # distinct columns
    labels = (np.arange(n) % 10 * 7).astype(np.int64)
    return data, labels


@pytest.mark.parametrize("n, split, n_train", [
    (10, 0.9, 9), (100, 0.9, 90), (10, 0.26, 3), (10, 0.24, 2), (7, 0.5, None), (3, 0.4, 1),
])
def test_split_sizes(n, split, n_train):
    data, labels = ids_dataset(n)
    data_train, labels_train, data_test, labels_test = split_dataset(data, labels, split, seed=0)
    if n_train is None:  # a tie (3.5 rows): either rounding is fine, it must be a whole row
        assert len(data_train) in (3, 4)
    else:
        assert len(data_train) == n_train  # rounded to the nearest row, not truncated
    n_train = len(data_train)
    assert data_train.shape == (n_train, 3) and labels_train.shape == (n_train,)
    assert data_test.shape == (n - n_train, 3) and labels_test.shape == (n - n_train,)


def test_split_keeps_every_row_once_with_its_label():
    data, labels = ids_dataset(50)
    data_train, labels_train, data_test, labels_test = split_dataset(data, labels, 0.7, seed=4)

    ids = np.concatenate([data_train[:, 0], data_test[:, 0]]).astype(int)
    assert sorted(ids) == list(range(50))  # nothing lost, nothing duplicated
    for part, part_labels in [(data_train, labels_train), (data_test, labels_test)]:
        row_ids = part[:, 0].astype(int)
        np.testing.assert_array_equal(part, data[row_ids])  # whole rows move together
        np.testing.assert_array_equal(part_labels, labels[row_ids])
    assert labels_train.dtype == labels.dtype and data_train.dtype == data.dtype


def test_split_shuffles():
    data, labels = ids_dataset(100)
    data_train = split_dataset(data, labels, 0.5, seed=0)[0]
    # Not simply the first half, in order.
    assert data_train[:, 0].tolist() != list(range(50))


def test_split_without_seed_differs_between_calls():
    data, labels = ids_dataset(100)
    first = split_dataset(data, labels, 0.5)[0][:, 0]
    second = split_dataset(data, labels, 0.5)[0][:, 0]
    assert first.tolist() != second.tolist()  # same order by chance: about 1 in 100!


def test_split_same_seed_same_split_other_seed_other_split():
    data, labels = ids_dataset(100)
    a = split_dataset(data, labels, 0.8, seed=123)
    b = split_dataset(data, labels, 0.8, seed=123)
    c = split_dataset(data, labels, 0.8, seed=124)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert a[0][:, 0].tolist() != c[0][:, 0].tolist()


def test_split_accepts_a_generator():
    data, labels = ids_dataset(100)
    with_int = split_dataset(data, labels, 0.8, seed=7)
    with_generator = split_dataset(data, labels, 0.8, seed=np.random.default_rng(7))
    for x, y in zip(with_int, with_generator):
        np.testing.assert_array_equal(x, y)
    # A shared generator moves on: two calls give two different splits.
    rng = np.random.default_rng(7)
    first, second = (split_dataset(data, labels, 0.8, seed=rng)[0] for _ in range(2))
    assert first[:, 0].tolist() != second[:, 0].tolist()


def test_split_accepts_lists():
    data_train, labels_train, data_test, labels_test = split_dataset(
        [[0.0], [1.0], [2.0], [3.0]], [0, 1, 2, 3], 0.5, seed=0)
    assert data_train.shape == (2, 1) and labels_test.shape == (2,)
    np.testing.assert_array_equal(data_train[:, 0], labels_train)


@pytest.mark.parametrize("split", [0, 1, -0.1, 1.5, 0.0, 1.0, float("nan")])
def test_split_outside_open_interval_is_refused(split):
    data, labels = ids_dataset(10)
    with pytest.raises(ValueError, match=r"split must be a finite number in \(0, 1\), got"):
        split_dataset(data, labels, split)


@pytest.mark.parametrize("split", ["0.5", None, [0.5]])
def test_split_that_is_not_a_number_is_refused(split):
    data, labels = ids_dataset(10)
    with pytest.raises(ValueError, match=r"split must be a finite number in \(0, 1\), got"):
        split_dataset(data, labels, split)


@pytest.mark.parametrize("seed", [-1, 2.5, True, "0"])
def test_split_refuses_a_bad_seed_by_name(seed):
    data, labels = ids_dataset(10)
    with pytest.raises(ValueError, match=r"^seed must be None, an integer >= 0 or a "
                                         r"numpy.random.Generator, got "):
        split_dataset(data, labels, 0.5, seed=seed)


def test_split_refuses_different_lengths():
    data, labels = ids_dataset(10)
    with pytest.raises(ValueError, match="10 rows but labels has 9"):
        split_dataset(data, labels[:9], 0.5)


@pytest.mark.parametrize("n, split", [(10, 0.01), (10, 0.99), (1, 0.5), (3, 0.1)])
def test_split_refuses_an_empty_set(n, split):
    data, labels = ids_dataset(n)
    with pytest.raises(ValueError, match="empty training or test set"):
        split_dataset(data, labels, split)


# ---------------------------------------------------------------- the real CIFAR-10

@pytest.fixture(scope="module")
def real_data(real_cifar):
    return read_cifar(real_cifar)


@pytest.mark.slow
def test_real_cifar_shapes_and_dtypes(real_data):
    data, labels = real_data
    assert data.shape == (60000, DATA_SIZE) and data.dtype == np.float32
    assert labels.shape == (60000,) and labels.dtype == np.int64


@pytest.mark.slow
def test_real_cifar_labels_and_pixel_range(real_data):
    data, labels = real_data
    assert labels.min() == 0 and labels.max() == 9
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), [6000] * 10)
    # 1,000 a class in the test batch (the last 10,000 rows).
    np.testing.assert_array_equal(np.bincount(labels[50000:], minlength=10), [1000] * 10)
    assert data.min() >= 0 and data.max() <= 255
    assert data.max() > 200 and data.min() < 50  # real images, not a constant fill


@pytest.mark.slow
def test_real_cifar_batch_matches_read_cifar(real_cifar, real_data):
    data, labels = read_cifar_batch(os.path.join(real_cifar, "data_batch_2"))
    assert np.array_equal(data, real_data[0][10000:20000])  # faster than assert_array_equal
    assert np.array_equal(labels, real_data[1][10000:20000])


def test_make_cifar_folder_sizes(tmp_path):
    # The helper the other tests rely on writes what it returns.
    data, labels = make_cifar_folder(tmp_path, sizes=(1, 1, 1, 1, 1, 2), seed=3)
    assert data.shape == (7, DATA_SIZE) and labels.shape == (7,)
    assert sorted(os.listdir(tmp_path)) == sorted(BATCH_FILES)
