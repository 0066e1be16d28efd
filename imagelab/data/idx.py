"""Read IDX files, the format of MNIST and Fashion-MNIST, gzip-compressed or plain.

An IDX file is a header, then the values, big-endian:

- two zero bytes, one byte naming the type of the values (``IDX_DTYPES``) and one
  byte giving the number of dimensions d;
- the d sizes, each a 4-byte unsigned integer;
- the product of the sizes values, row by row (the last dimension varies fastest).

A file starting with the gzip magic bytes is decompressed first, whatever its name.
"""
import gzip
import os
import zlib

import numpy as np

GZIP_MAGIC = b"\x1f\x8b"
# The type byte of the header -> the big-endian dtype of the values.
IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _content(path):
    """The bytes of the file at ``path``, decompressed if they start with the gzip magic."""
    with open(path, "rb") as f:
        content = f.read()
    if content[:2] != GZIP_MAGIC:
        return content
    try:
        return gzip.decompress(content)
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"{path}: corrupt or truncated gzip data ({error})") from error


def _header(path, content):
    """The dtype and the sizes of the IDX file whose bytes are ``content``."""
    if len(content) < 4 or content[:2] != b"\0\0":
        raise ValueError(f"{path}: not an IDX file: its magic number is "
                         f"0x{content[:4].hex()}, expected 0x0000 then a type and a "
                         "number of dimensions")
    code, ndim = content[2], content[3]
    if code not in IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02x}, expected one of "
                         f"{', '.join(f'0x{c:02x}' for c in IDX_DTYPES)}")
    if ndim == 0:
        raise ValueError(f"{path}: the IDX header gives 0 dimensions, expected at least 1")
    if len(content) < 4 + 4 * ndim:
        raise ValueError(f"{path}: truncated: its header needs {4 + 4 * ndim:,} bytes for "
                         f"{ndim} dimensions, {len(content):,} found")
    sizes = np.frombuffer(content, dtype=">u4", count=ndim, offset=4)
    return IDX_DTYPES[code], tuple(int(size) for size in sizes)


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


def read_idx(path, dtype=None, shape=None):
    """Read an IDX file (gzip-compressed or plain) into an array.

    Parameters
    ----------
    path : str
    dtype : dtype, optional
        The type the values must be stored as, e.g. ``np.uint8``; None accepts any.
    shape : tuple of (int or None), optional
        The dimensions the file must have, None standing for any size, e.g.
        ``(None, 28, 28)`` for images; None accepts any.

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
        the values), corrupt gzip data, or not the expected ``dtype`` or ``shape``.
        The message starts with the path and says what is wrong.
    """
    path = os.fspath(path)
    content = _content(path)
    stored, sizes = _header(path, content)
    start = 4 + 4 * len(sizes)
    expected = start + int(np.prod(sizes, dtype=np.int64)) * stored.itemsize
    if len(content) < expected:
        raise ValueError(f"{path}: truncated: {expected:,} bytes expected, "
                         f"{len(content):,} found")
    if len(content) > expected:
        raise ValueError(f"{path}: {len(content) - expected:,} bytes beyond the "
                         f"{expected:,} its header announces")
    _check_expected(path, stored, sizes, dtype, shape)
    values = np.frombuffer(content, dtype=stored, offset=start).reshape(sizes)
    return values.astype(stored.newbyteorder("="))
