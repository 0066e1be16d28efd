"""Classify image files (PNG, JPEG, ...) with a model saved by ``imagelab.cli.train_cnn``.

    imagelab classify models/cnn_conv4.npz cat.png ship.jpg

Each image is converted to the model's channels (colour or grey) and resized to its
input size, then one line per image gives the predicted class and its probability.
Images are read by Pillow, which comes with matplotlib.

A model file or an image from elsewhere is checked before it is trusted: a model that
would need more than --max-memory, or an image of more than ``MAX_PIXELS`` pixels, is
refused in one line (exit status 2) before anything large is read or allocated.
"""
import sys
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from imagelab.cli.arguments import ArgumentParser, DataError, positive_int
from imagelab.nn.functional import softmax
from imagelab.nn.model_files import BATCH_SIZE, MAX_BYTES, TooLarge, load_model

MAX_PIXELS = 50_000_000
"""The most pixels an image file may hold (its header says how many, before it is
decoded): 150 MB as RGB, below Pillow's own decompression-bomb limit."""


def read_image(path, image_shape):
    """The image file at ``path`` as uint8 (H, W, C) for a model of ``image_shape``.

    Raises DataError naming the file if it cannot be read as an image or holds more
    than ``MAX_PIXELS`` pixels (known from its header, before it is decoded).
    """
    height, width, channels = image_shape
    try:
        with _opened(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise DataError(f"image {path} has {image.width} x {image.height} pixels, "
                                f"more than the limit of {MAX_PIXELS:,}")
            image = image.convert("RGB" if channels == 3 else "L")
            image = image.resize((width, height), Image.Resampling.BILINEAR)
            return np.asarray(image, np.uint8).reshape(height, width, channels)
    except (OSError, UnidentifiedImageError) as error:
        raise DataError(f"cannot read image {path}: {error}") from error


def _opened(path):
    """``Image.open(path)``: the header read, nothing decoded. Pillow's warning about a
    large image is left out (``read_image`` refuses it in its words); its refusal of a
    larger one becomes a DataError that states the limit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(path)
        except Image.DecompressionBombError as error:
            raise DataError(f"image {path} has more than the limit of {MAX_PIXELS:,} pixels "
                            f"({error})") from error


def add_max_memory_argument(parser):
    """Add --max-memory (MiB), the bound on what a model file may make us allocate."""
    parser.add_argument("--max-memory", type=positive_int, default=MAX_BYTES // 2**20,
                        metavar="MIB",
                        help="refuse a model whose network and a forward pass would need "
                             f"more memory, in MiB (default: {MAX_BYTES // 2**20})")


def load_checked(parser, path, max_memory, images=BATCH_SIZE):
    """The model at ``path`` (``load_model``), whose network and forward passes of
    ``images`` images at most may need at most ``max_memory`` MiB; otherwise ``parser``
    refuses it in one line naming the file."""
    try:
        return load_model(path, max_bytes=max_memory * 2**20,
                          batch_size=min(images, BATCH_SIZE))
    except TooLarge as error:
        parser.refuse(f"{error}; --max-memory raises the limit")
    except (OSError, ValueError) as error:
        parser.refuse(str(error))


def main(argv=None):
    parser = ArgumentParser(prog="imagelab classify",
                            description="Classify image files with a saved model.")
    parser.add_argument("model", help="a model file written by imagelab train-cnn")
    parser.add_argument("images", nargs="+", help="image files (PNG, JPEG, ...)")
    add_max_memory_argument(parser)
    args = parser.parse_args(argv)
    classifier = load_checked(parser, args.model, args.max_memory, len(args.images))
    if classifier.image_shape[-1] not in (1, 3):
        parser.refuse(f"model file {args.model}: 'image_shape' must end in 1 (grey) or 3 "
                      f"(colour) channels for image files, got {classifier.image_shape}")
    try:
        images = np.stack([read_image(path, classifier.image_shape) for path in args.images])
    except DataError as error:
        parser.refuse(str(error))
    p = softmax(classifier.logits(images))
    for path, row in zip(args.images, p):
        best = int(np.argmax(row))
        print(f"{path}: {classifier.label_names[best]} ({row[best]:.0%})")


if __name__ == "__main__":
    sys.exit(main())
