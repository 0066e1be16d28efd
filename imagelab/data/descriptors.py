"""Image descriptors of image rows: HOG, LBP histograms, colour histograms.

The descriptors work on square channel-last images (``imagelab.data.images.rows_to_images``
turns CIFAR-10 rows into (32, 32, 3) images, MNIST-family rows into (28, 28, 1) ones).
A descriptor turns n images into an (n, d) float32 feature matrix:

- ``hog``: histograms of oriented gradients (scikit-image), on the grey image or on the
  colour image (at each pixel, the gradient of the channel where it is strongest);
- ``lbp``: histograms of uniform local binary patterns over a grid of cells;
- ``color``: a joint histogram of the R, G, B values; on grey images, the histogram of
  the grey levels.

A *spec* names one descriptor or joins several with ``+``, each with optional
parameters after a colon: ``"hog"``, ``"hog+color"``, ``"hog:channels=rgb+lbp:grid=2"``.
``describe`` computes a spec in parallel with a progress line, and with a
``cache_dir`` keeps each descriptor's features on disk, keyed by its name, its
parameters and a fingerprint of the input rows.

scikit-image is needed for ``hog`` and ``lbp`` only, and imported only when they run;
install it with the ``descriptors`` extra (``pip install -e '.[descriptors]'`` in the clone).
"""
import concurrent.futures
import functools
import hashlib
import inspect
import json
import os
import sys
import time

import numpy as np

from imagelab.utils.checks import check_float, check_int
from imagelab.utils.files import write_atomic
from imagelab.data.images import IMAGE_SHAPE, rows_to_images
from imagelab.utils.progress import Progress

# Rec. 709 luma weights, the ones skimage.color.rgb2gray uses.
GREY_WEIGHTS = np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)
# Bump when a descriptor's output changes for the same parameters: old caches then miss.
CACHE_VERSION = 1


def to_grey(images):
    """Grey levels of (n, h, w, c) images: float32 (n, h, w).

    0.2125 R + 0.7154 G + 0.0721 B for colour images (c = 3); grey images (c = 1)
    are their own grey levels.
    """
    images = np.asarray(images, dtype=np.float32)
    return images[..., 0] if images.shape[-1] == 1 else images @ GREY_WEIGHTS


def _skimage_feature():
    """Import skimage.feature, or fail with a message saying how to install it."""
    try:
        import skimage.feature
    except ImportError as error:
        raise ImportError("the hog and lbp descriptors need scikit-image, which is not "
                          "installed: run `pip install -e '.[descriptors]'` in the clone (or "
                          "`pip install scikit-image`)") from error
    return skimage.feature


def _check_images(images):
    """The images as an array of shape (n, s, s, c), c = 1 or 3, and s; or a ValueError."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] != images.shape[2] or images.shape[3] not in (1, 3):
        raise ValueError(f"images must have shape (n, s, s, 1) or (n, s, s, 3), got "
                         f"{images.shape}; use rows_to_images to convert rows")
    return images, images.shape[1]


def _check_divides(name, value, size):
    """``value`` as an int, or a ValueError unless it is an integer in 1..size dividing ``size``."""
    value = check_int(value, name, 1, size)
    if size % value:
        raise ValueError(f"{name} must be a positive integer dividing {size}, got {value}")
    return value


def hog_features(images, orientations=9, pixels_per_cell=None, cells_per_block=2,
                 channels="grey"):
    """Histograms of oriented gradients (Dalal & Triggs), with scikit-image.

    Each cell of ``pixels_per_cell`` x ``pixels_per_cell`` pixels gets a histogram of
    its gradient orientations (``orientations`` bins over 0..180 degrees) weighted by
    the gradient magnitude; each block of ``cells_per_block`` x ``cells_per_block``
    cells is normalised (L2-Hys), and the blocks, which overlap, are concatenated.

    Parameters
    ----------
    images : np.ndarray, shape (n, s, s, c), c = 3 (colour) or 1 (grey)
        Pixel values 0..255 (any real dtype).
    orientations, cells_per_block : int
    pixels_per_cell : int dividing s, optional
        Default: s // 4, four cells a side (8 pixels on CIFAR-10, 7 on MNIST).
    channels : {"grey", "rgb"}
        "grey": gradients of the grey image. "rgb": at each pixel, the gradient of the
        colour channel where its magnitude is largest (colour images only).

    Returns
    -------
    np.ndarray of np.float32, shape (n, orientations * c**2 * b**2)
        With c = s // pixels_per_cell cells a side and b = c - cells_per_block + 1
        blocks a side: 324 values with the defaults.
    """
    images, side = _check_images(images)
    orientations = check_int(orientations, "orientations", 1)
    pixels_per_cell = side // 4 if pixels_per_cell is None else pixels_per_cell
    cells = side // _check_divides("pixels_per_cell", pixels_per_cell, side)
    cells_per_block = check_int(cells_per_block, "cells_per_block", 1, cells)   # cells a side
    if channels not in ("grey", "rgb"):
        raise ValueError(f"channels must be 'grey' or 'rgb', got {channels!r}")
    if channels == "rgb" and images.shape[3] == 1:
        raise ValueError("channels='rgb' needs colour images, got grey images "
                         f"{images.shape[1:]}: use channels='grey'")
    feature = _skimage_feature()
    pixels = to_grey(images) if channels == "grey" else images.astype(np.float32)
    pixels = pixels / 255
    options = dict(orientations=orientations, pixels_per_cell=(pixels_per_cell,) * 2,
                   cells_per_block=(cells_per_block,) * 2, block_norm="L2-Hys",
                   channel_axis=None if channels == "grey" else -1)
    return np.array([feature.hog(image, **options) for image in pixels], dtype=np.float32)


def _cell_histograms(codes, n_codes, grid):
    """Histograms of integer codes over a grid of cells, each summing to 1.

    ``codes`` is (n, s, s) with values in 0..n_codes-1, ``grid`` divides s; returns
    float32 (n, grid * grid * n_codes), cell by cell (row-major), code by code.
    """
    n, size = len(codes), codes.shape[1] // grid
    # (n, gy, y, gx, x) -> (n, gy, gx, y, x): the pixels of each cell together.
    cells = codes.reshape(n, grid, size, grid, size).transpose(0, 1, 3, 2, 4)
    cell_index = np.arange(n * grid * grid).reshape(n, grid, grid, 1, 1)
    counts = np.bincount((cell_index * n_codes + cells).ravel(),
                         minlength=n * grid * grid * n_codes)
    return (counts.reshape(n, -1) / size**2).astype(np.float32)


def lbp_features(images, points=8, radius=1, grid=4):
    """Histograms of uniform local binary patterns (LBP) over a grid of cells.

    Each pixel of the grey image gets a code from the signs of the differences with
    ``points`` neighbours on a circle of ``radius`` pixels; the "uniform" patterns
    (at most two 0/1 transitions around the circle) get one code per number of ones
    (0..points), rotation-invariant, and all other patterns share one code, so there
    are points + 2 codes. The image is cut into grid x grid cells and each cell's
    code histogram, divided by its pixel count, is kept: the layout of textures
    counts, not only their amounts.

    Parameters
    ----------
    images : np.ndarray, shape (n, s, s, c), c = 3 (colour) or 1 (grey)
        Pixel values 0..255.
    points, radius : int
    grid : int
        Cells a side; must divide s.

    Returns
    -------
    np.ndarray of np.float32, shape (n, grid * grid * (points + 2))
        160 values with the defaults; each cell's ``points + 2`` values sum to 1.
    """
    images, side = _check_images(images)
    _check_divides("grid", grid, side)
    points = check_int(points, "points", 1)
    radius = check_float(radius, "radius", 0, include_min=False)
    feature = _skimage_feature()
    # LBP compares neighbours: on uint8 grey levels, tiny float differences (noise)
    # do not flip codes, as scikit-image recommends.
    grey = np.clip(np.rint(to_grey(images)), 0, 255).astype(np.uint8)
    codes = np.array([feature.local_binary_pattern(image, points, radius, method="uniform")
                      for image in grey]).astype(np.int64).reshape(grey.shape)
    return _cell_histograms(codes, points + 2, grid)


def color_histogram(images, bins=4):
    """Joint histogram of the channels' values, divided by the pixel count.

    Each channel's 0..255 range is cut into ``bins`` equal intervals, so a pixel
    falls in one of bins**c boxes: bins**3 colour boxes, or on grey images (c = 1)
    ``bins`` intervals of grey levels (the intensity histogram).

    Parameters
    ----------
    images : np.ndarray, shape (n, s, s, c), c = 3 (colour) or 1 (grey)
        Pixel values 0..255.
    bins : int
        Intervals per channel, 1..256.

    Returns
    -------
    np.ndarray of np.float32, shape (n, bins**c)
        Value ``(r * bins + g) * bins + b`` is the fraction of pixels whose red,
        green and blue fall in intervals r, g, b (on grey images, value g the
        fraction in grey interval g); each row sums to 1.
    """
    images, _ = _check_images(images)
    bins = check_int(bins, "bins", 1, 256)
    box = np.clip(np.floor(np.asarray(images, dtype=np.float64) * bins / 256), 0, bins - 1)
    box = np.moveaxis(box.astype(np.int64), -1, 0)                       # (c, n, s, s)
    codes = np.ravel_multi_index(tuple(box), (bins,) * len(box))           # (n, s, s)
    return _cell_histograms(codes, bins**len(box), grid=1)


DESCRIPTORS = {"hog": hog_features, "lbp": lbp_features, "color": color_histogram}


def _parse_value(text):
    """A parameter value of a spec: an int, a float, or else the text itself."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_spec(spec):
    """Split a descriptor spec into (name, parameters) pairs.

    Parameters
    ----------
    spec : str
        Descriptors joined by ``+``, each ``name`` or ``name:key=value,key=value``;
        e.g. ``"hog:pixels_per_cell=4,channels=rgb+color"``.

    Returns
    -------
    list of (str, dict)
        Each descriptor's name and its full parameters (defaults filled in), in the
        order of the spec.

    Raises
    ------
    ValueError
        On an unknown descriptor or parameter, or a malformed spec.
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"a descriptor spec must be a non-empty string, got {spec!r}")
    parts = []
    for part in spec.split("+"):
        name, _, options = part.partition(":")
        if name not in DESCRIPTORS:
            raise ValueError(f"unknown descriptor {name!r} in {spec!r}; choose among "
                             f"{', '.join(DESCRIPTORS)}")
        signature = inspect.signature(DESCRIPTORS[name])
        params = {key: p.default for key, p in signature.parameters.items() if key != "images"}
        for option in filter(None, options.split(",")):
            key, equal, value = option.partition("=")
            if not equal or key not in params:
                raise ValueError(f"bad parameter {option!r} for {name} in {spec!r}; "
                                 f"write key=value with key among {', '.join(params)}")
            params[key] = _parse_value(value)
        parts.append((name, params))
    return parts


def parse_feature_spec(text):
    """Check a representation as the command lines take it: "raw" (the pixels) or a spec.

    Returns ``text``; raises ValueError as ``parse_spec`` does.
    """
    if text != "raw":
        parse_spec(text)
    return text


def describer(spec, data_dir, image_shape=IMAGE_SHAPE):
    """The function rows -> descriptors of ``spec``, cached under ``<data_dir>/features``.

    For ``imagelab.data.splits.load_split(..., features=describer(spec, data_dir, shape))``,
    rows of images of ``image_shape``; None for "raw" (the pixels themselves).
    """
    if spec == "raw":
        return None
    return functools.partial(describe, spec=spec, image_shape=image_shape, progress=True,
                             cache_dir=os.path.join(data_dir, "features"))


def _describe_chunk(name, params, rows, image_shape):
    """One descriptor of a chunk of rows (run in a worker process)."""
    return DESCRIPTORS[name](rows_to_images(rows, image_shape), **params)


def _describe_one(data, name, params, image_shape, n_jobs, chunk_size, progress):
    """One descriptor of every row, in chunks over ``n_jobs`` processes."""
    starts = range(0, len(data), chunk_size)
    chunks = (data[start:start + chunk_size] for start in starts)
    began = time.perf_counter()
    line = Progress(len(data)) if progress else None

    def report(done):
        if line is not None:
            line.update(done, f"  {name}: {done}/{len(data)} images, "
                              f"{time.perf_counter() - began:.0f} s")

    results = []
    if n_jobs == 1 or len(starts) == 1:
        for chunk in chunks:
            results.append(_describe_chunk(name, params, chunk, image_shape))
            report(sum(map(len, results)))
    else:
        with concurrent.futures.ProcessPoolExecutor(max_workers=n_jobs) as pool:
            # Results are taken in submission order, so rows keep their order.
            futures = [pool.submit(_describe_chunk, name, params, chunk, image_shape)
                       for chunk in chunks]
            for future in futures:
                results.append(future.result())
                report(sum(map(len, results)))
    if line is not None:
        line.close()
    return np.concatenate(results)


def describe(data, spec, image_shape=IMAGE_SHAPE, n_jobs=None, chunk_size=2000,
             progress=False, cache_dir=None):
    """Describe image rows by the descriptors of ``spec``, concatenated.

    Parameters
    ----------
    data : np.ndarray, shape (n, h * w * c)
        Image rows (c planes, e.g. CIFAR-10's R, G, B), values 0..255.
    spec : str
        See ``parse_spec``: e.g. ``"hog"``, ``"lbp:grid=2"``, ``"hog+color"``.
    image_shape : (h, w, c), optional
        The shape of an image: (32, 32, 3) for CIFAR-10 (the default), (28, 28, 1)
        for the MNIST family.
    n_jobs : int, optional
        Worker processes (default: the number of CPUs); 1 computes in this process.
    chunk_size : int
        Rows per task sent to a worker.
    progress : bool
        Print a progress line on stderr.
    cache_dir : str, optional
        If given, each descriptor's features are read from, or else saved to,
        ``<cache_dir>/<name>-<key>.npy``, where the key hashes the name, the
        parameters, ``CACHE_VERSION``, the scikit-image version and the data (its
        shape, dtype and bytes): any change of these computes anew.

    Returns
    -------
    np.ndarray of np.float32, shape (n, d)
        Each descriptor's features side by side, in the order of the spec, as the
        descriptor functions return them (not scaled: knn.py and mlp.py standardise
        each feature with training statistics).
    """
    parts = parse_spec(spec)
    data = np.ascontiguousarray(data)
    if len(rows_to_images(data, image_shape)) == 0:   # also checks the shape before any work
        raise ValueError("data has no rows to describe")
    n_jobs = (os.cpu_count() or 1) if n_jobs is None else n_jobs
    if n_jobs < 1 or chunk_size < 1:
        raise ValueError(f"n_jobs and chunk_size must be >= 1, got {n_jobs} and {chunk_size}")
    fingerprint = _fingerprint(data) if cache_dir is not None else None
    blocks = []
    for name, params in parts:
        path = None if cache_dir is None else cache_path(cache_dir, name, params, fingerprint)
        if path is not None and os.path.isfile(path):
            features = np.load(path)
            if progress:
                print(f"  {name}: read from {path}", file=sys.stderr)
        else:
            features = _describe_one(data, name, params, image_shape, n_jobs, chunk_size,
                                     progress)
            if path is not None:
                os.makedirs(cache_dir, exist_ok=True)
                write_atomic(path, lambda f: np.save(f, features))
        blocks.append(features)
    return np.concatenate(blocks, axis=1)


def _fingerprint(data):
    """A hex digest of an array's shape, dtype and bytes (SHA-1: fast, not for security)."""
    digest = hashlib.sha1(f"{data.shape} {data.dtype.str}".encode())
    digest.update(memoryview(np.ascontiguousarray(data)).cast("B"))
    return digest.hexdigest()


def _skimage_version():
    """The installed scikit-image version, or "none"."""
    try:
        import skimage
    except ImportError:
        return "none"
    return skimage.__version__


def cache_path(cache_dir, name, params, fingerprint):
    """Path of the cached features of one descriptor with ``params`` on data ``fingerprint``."""
    key = json.dumps({"name": name, "params": params, "version": CACHE_VERSION,
                      "skimage": _skimage_version(), "data": fingerprint}, sort_keys=True)
    return os.path.join(cache_dir, f"{name}-{hashlib.sha1(key.encode()).hexdigest()[:16]}.npy")

