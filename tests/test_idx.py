"""Tests of imagelab.data.idx.read_idx on tiny IDX files written here, gzipped and plain."""
import gzip

import numpy as np
import pytest

from conftest import IDX_CODES, idx_bytes
from imagelab.data import idx
from imagelab.data.idx import read_idx


def write(tmp_path, name, content, compress):
    path = tmp_path / (name + (".gz" if compress else ""))
    path.write_bytes(gzip.compress(content) if compress else content)
    return str(path)


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("dtype", sorted(IDX_CODES, key=str))
def test_every_type_round_trips(tmp_path, compress, dtype):
    array = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    if dtype == np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    read = read_idx(write(tmp_path, "a-idx3", idx_bytes(array), compress))
    assert read.dtype == dtype and read.dtype.isnative
    np.testing.assert_array_equal(read, array)
    read[0, 0, 0] = 1                               # writable


def test_gzip_is_detected_by_its_magic_not_its_name(tmp_path):
    images = np.arange(12, dtype=np.uint8).reshape(3, 2, 2)
    plain_named_gz = tmp_path / "images.gz"
    plain_named_gz.write_bytes(idx_bytes(images))
    gzip_named_plain = tmp_path / "images-idx3-ubyte"
    gzip_named_plain.write_bytes(gzip.compress(idx_bytes(images)))
    for path in (plain_named_gz, gzip_named_plain):
        np.testing.assert_array_equal(read_idx(path), images)


def test_expected_dtype_and_shape_are_accepted(tmp_path):
    labels = np.array([3, 1, 4], dtype=np.uint8)
    path = write(tmp_path, "labels-idx1", idx_bytes(labels), True)
    np.testing.assert_array_equal(read_idx(path, dtype=np.uint8, shape=(None,)), labels)
    np.testing.assert_array_equal(read_idx(path, shape=(3,)), labels)


def test_an_empty_dimension_is_read(tmp_path):
    path = write(tmp_path, "empty", idx_bytes(np.zeros((0, 28, 28), np.uint8)), True)
    assert read_idx(path, shape=(None, 28, 28)).shape == (0, 28, 28)


@pytest.mark.parametrize("compress", [True, False])
def test_bad_magic_is_refused(tmp_path, compress):
    content = b"\x12\x34" + idx_bytes(np.zeros(4, np.uint8))[2:]
    path = write(tmp_path, "weird", content, compress)
    with pytest.raises(ValueError, match="not an IDX file: its magic number is 0x12340801"):
        read_idx(path)


def test_a_text_file_is_not_idx(tmp_path):
    path = write(tmp_path, "page.html", b"<html>a login page</html>", False)
    with pytest.raises(ValueError, match=f"^{path}: not an IDX file"):
        read_idx(path)


def test_unknown_type_code_is_refused(tmp_path):
    content = bytearray(idx_bytes(np.zeros(4, np.uint8)))
    content[2] = 0x0A
    path = write(tmp_path, "odd", bytes(content), True)
    with pytest.raises(ValueError, match="unknown IDX type code 0x0a"):
        read_idx(path)


def test_zero_dimensions_are_refused(tmp_path):
    path = write(tmp_path, "scalar", bytes([0, 0, 0x08, 0]) + b"\x07", False)
    with pytest.raises(ValueError, match="0 dimensions"):
        read_idx(path)


@pytest.mark.parametrize("compress", [True, False])
def test_truncated_values_are_refused_with_both_lengths(tmp_path, compress):
    content = idx_bytes(np.zeros((10, 28, 28), np.uint8))     # 16 + 7,840 bytes
    path = write(tmp_path, "train-images-idx3-ubyte", content[:1000], compress)
    with pytest.raises(ValueError) as info:
        read_idx(path)
    assert str(info.value) == f"{path}: truncated: 7,856 bytes expected, 1,000 found"


def test_truncated_header_is_refused(tmp_path):
    path = write(tmp_path, "short", idx_bytes(np.zeros((2, 3, 4), np.uint8))[:9], False)
    with pytest.raises(ValueError, match="truncated: its header needs 16 bytes"):
        read_idx(path)


@pytest.mark.parametrize("compress, counted", [(False, "2 bytes"), (True, "bytes")])
def test_bytes_beyond_the_values_are_refused(tmp_path, compress, counted):
    """A plain file's extra bytes are counted from its size; a stream's are not read."""
    path = write(tmp_path, "long", idx_bytes(np.zeros(5, np.int16)) + b"\0\0", compress)
    with pytest.raises(ValueError) as info:
        read_idx(path)
    assert str(info.value) == f"{path}: {counted} beyond the 18 its header announces"


class CountingGzipFile(gzip.GzipFile):
    """A GzipFile that counts the decompressed bytes it hands out (its readinto calls read)."""
    handed_out = 0

    def read(self, size=-1):
        data = super().read(size)
        CountingGzipFile.handed_out += len(data)
        return data


def test_a_stream_longer_than_announced_is_not_decompressed_to_its_end(tmp_path, monkeypatch):
    """50 MB of zeros after 10 images (about 50 KB compressed): refused after one more byte."""
    values = idx_bytes(np.zeros((10, 28, 28), np.uint8))
    path = tmp_path / "bomb.gz"
    with gzip.open(path, "wb") as f:
        f.write(values)
        for _ in range(50):
            f.write(bytes(1 << 20))
    monkeypatch.setattr(idx.gzip, "GzipFile", CountingGzipFile)
    with pytest.raises(ValueError, match="bytes beyond the 7,856 its header announces"):
        read_idx(path, shape=(None, 28, 28))
    assert CountingGzipFile.handed_out == len(values) + 1


@pytest.mark.parametrize("compress", [True, False])
def test_dimensions_beyond_max_bytes_are_refused_before_any_allocation(tmp_path, compress,
                                                                       monkeypatch):
    """Sizes whose product overflows 64 bits, or just too large, end in one line."""
    def no_allocation(*args, **kwargs):
        raise AssertionError("allocated before the size was checked")

    monkeypatch.setattr(idx.np, "empty", no_allocation)
    overflow = bytes([0, 0, 0x08, 4]) + b"\xff\xff\xff\xff" * 4
    path = write(tmp_path, "overflow", overflow, compress)
    with pytest.raises(ValueError) as info:
        read_idx(path)
    assert str(info.value) == (
        f"{path}: its header announces {(2**32 - 1) ** 4:,} bytes of values (dimensions "
        f"{(2**32 - 1,) * 4}), more than the 1,073,741,824 allowed (max_bytes)")
    small = write(tmp_path, "images", idx_bytes(np.zeros((10, 28, 28), np.uint8)), compress)
    with pytest.raises(ValueError, match="announces 7,840 bytes of values .* more than the "
                                         "7,839 allowed"):
        read_idx(small, max_bytes=7839)


def test_truncated_gzip_stream_is_refused(tmp_path):
    compressed = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))
    path = tmp_path / "cut.gz"
    path.write_bytes(compressed[:len(compressed) // 2])
    with pytest.raises(ValueError, match=f"^{path}: corrupt or truncated gzip data"):
        read_idx(path)


@pytest.mark.parametrize("shape, expected, shown", [
    ((3, 28, 27), (None, 28, 28), "(n, 28, 28)"),
    ((3, 784), (None, 28, 28), "(n, 28, 28)"),
    ((3, 1), (None,), "(n)"),
    ((4,), (3,), "(3)"),
])
def test_wrong_dimensions_are_refused(tmp_path, shape, expected, shown):
    path = write(tmp_path, "images", idx_bytes(np.zeros(shape, np.uint8)), True)
    with pytest.raises(ValueError) as info:
        read_idx(path, shape=expected)
    assert str(info.value) == f"{path}: has dimensions {shape}, expected {shown}"


def test_wrong_dtype_is_refused(tmp_path):
    path = write(tmp_path, "floats", idx_bytes(np.zeros(3, np.float32)), True)
    with pytest.raises(ValueError, match="holds float32 values, expected uint8"):
        read_idx(path, dtype=np.uint8)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "absent.gz")
