"""Read IDX files, the format of MNIST and Fashion-MNIST, gzip-compressed or plain.

An IDX file is a header, then the values, big-endian:

- two zero bytes, one byte naming the type of the values (``IDX_DTYPES``) and one
  byte giving the number of dimensions d;
- the d sizes, each a 4-byte unsigned integer;
- the product of the sizes values, row by row (the last dimension varies fastest).

A file starting with the gzip magic bytes is decompressed as it is read, whatever its
name.
"""
import contextlib
import gzip
import io
import math
import os
import zlib

import numpy as np

GZIP_MAGIC = b"\x1f\x8b"
# The type byte of the header -> the big-endian dtype of the values.
IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


# Values read at a time: a stream is decompressed piece by piece into the array.
READ_BYTES = 1 << 20
# Largest array read_idx builds unless told otherwise: 1 GiB, 20 times MNIST's training
# images; a header that announces more is refused before anything is allocated.
MAX_BYTES = 1 << 30


@contextlib.contextmanager
def _opened(path):
    """The file at ``path`` as a stream of its bytes, decompressed if gzip (read lazily)."""
    with open(path, "rb") as raw:
        compressed = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        if not compressed:
            yield raw
            return
        with gzip.GzipFile(fileobj=raw) as stream:
            try:
                yield stream
            except (OSError, EOFError, zlib.error) as error:
                raise ValueError(f"{path}: corrupt or truncated gzip data ({error})") from error


def _read_exactly(stream, size):
    """Up to ``size`` bytes of ``stream``: fewer only where the stream ends."""
    parts, left = [], size
    while left:
        part = stream.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _header(path, stream):
    """The dtype and the sizes announced by the header at the start of ``stream``."""
    magic = _read_exactly(stream, 4)
    if len(magic) < 4 or magic[:2] != b"\0\0":
        raise ValueError(f"{path}: not an IDX file: its magic number is "
                         f"0x{magic.hex()}, expected 0x0000 then a type and a "
                         "number of dimensions")
    code, ndim = magic[2], magic[3]
    if code not in IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02x}, expected one of "
                         f"{', '.join(f'0x{c:02x}' for c in IDX_DTYPES)}")
    if ndim == 0:
        raise ValueError(f"{path}: the IDX header gives 0 dimensions, expected at least 1")
    sizes = _read_exactly(stream, 4 * ndim)
    if len(sizes) < 4 * ndim:
        raise ValueError(f"{path}: truncated: its header needs {4 + 4 * ndim:,} bytes for "
                         f"{ndim} dimensions, {4 + len(sizes):,} found")
    return IDX_DTYPES[code], tuple(int(size) for size in np.frombuffer(sizes, dtype=">u4"))


def _read_values(path, stream, array, start):
    """Fill ``array`` (C-contiguous) from ``stream``; ``start``: the header's length in bytes."""
    view = memoryview(array.reshape(-1).view(np.uint8))
    done = 0
    while done < len(view):
        count = stream.readinto(view[done:done + READ_BYTES])
        if not count:
            raise ValueError(f"{path}: truncated: {start + len(view):,} bytes expected, "
                             f"{start + done:,} found")
        done += count


def _refuse_extra_bytes(path, stream, expected):
    """Refuse a stream that goes on after the ``expected`` bytes, reading one more at most."""
    if stream.read(1):
        size = os.path.getsize(path)
        extra = f"{size - expected:,} bytes" if isinstance(stream, io.BufferedReader) else "bytes"
        raise ValueError(f"{path}: {extra} beyond the {expected:,} its header announces")


def _check_expected(path, dtype, shape, expected_dtype, expected_shape):
    """Refuse a file whose dtype or shape is not the expected one (None: any size)."""
    if expected_dtype is not None and dtype != np.dtype(expected_dtype).newbyteorder(">"):
        raise ValueError(f"{path}: holds {dtype.name} values, expected "
                         f"{np.dtype(expected_dtype).name}")
    if expected_shape is None:
        return
    fits = len(shape) == len(expected_shape) and all(
        want is None or size == want for size, want in zip(shape, expected_shape))
    if not fits:
        shown = ", ".join("n" if want is None else str(want) for want in expected_shape)
        raise ValueError(f"{path}: has dimensions {shape}, expected ({shown})")


def read_idx(path, dtype=None, shape=None, max_bytes=MAX_BYTES):
    """Read an IDX file (gzip-compressed or plain) into an array.

    The header is read and checked first: nothing is allocated for the values until
    their type and dimensions are the expected ones and their size is at most
    ``max_bytes``; a compressed file is then decompressed piece by piece straight into
    the array, and reading stops one byte past the announced length.

    Parameters
    ----------
    path : str
    dtype : dtype, optional
        The type the values must be stored as, e.g. ``np.uint8``; None accepts any.
    shape : tuple of (int or None), optional
        The dimensions the file must have, None standing for any size, e.g.
        ``(None, 28, 28)`` for images; None accepts any.
    max_bytes : int, optional
        The largest array accepted, in bytes (default 1 GiB).

    Returns
    -------
    np.ndarray, shape and dtype as stored (in native byte order)
        A new, writable array.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is not IDX (magic number), has an unknown type code, no
        dimension, a length other than its header says (truncated, or bytes beyond
        the values), corrupt gzip data, not the expected ``dtype`` or ``shape``, or
        values larger than ``max_bytes``. The message starts with the path and says
        what is wrong.
    """
    path = os.fspath(path)
    with _opened(path) as stream:
        stored, sizes = _header(path, stream)
        _check_expected(path, stored, sizes, dtype, shape)
        start = 4 + 4 * len(sizes)
        nbytes = math.prod(sizes) * stored.itemsize       # a Python int: never overflows
        if nbytes > max_bytes:
            raise ValueError(f"{path}: its header announces {nbytes:,} bytes of values "
                             f"(dimensions {sizes}), more than the {max_bytes:,} allowed "
                             "(max_bytes)")
        values = np.empty(sizes, dtype=stored)
        _read_values(path, stream, values, start)
        _refuse_extra_bytes(path, stream, start + nbytes)
    return values.astype(stored.newbyteorder("="), copy=False)
