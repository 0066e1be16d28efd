"""Classify image files (PNG, JPEG, ...) with a model saved by ``imagelab.cli.train_cnn``.

    python -m imagelab.cli.classify models/cnn_conv4.npz cat.png ship.jpg

Each image is converted to the model's channels (colour or grey) and resized to its
input size, then one line per image gives the predicted class and its probability.
Images are read by Pillow, which comes with matplotlib.
"""
import sys

import numpy as np
from PIL import Image, UnidentifiedImageError

from imagelab.cli.arguments import ArgumentParser, DataError
from imagelab.nn.functional import softmax
from imagelab.nn.model_files import load_model


def read_image(path, image_shape):
    """The image file at ``path`` as uint8 (H, W, C) for a model of ``image_shape``.

    Raises DataError naming the file if it cannot be read as an image.
    """
    height, width, channels = image_shape
    try:
        with Image.open(path) as image:
            image = image.convert("RGB" if channels == 3 else "L")
            image = image.resize((width, height), Image.Resampling.BILINEAR)
            return np.asarray(image, np.uint8).reshape(height, width, channels)
    except (OSError, UnidentifiedImageError) as error:
        raise DataError(f"cannot read image {path}: {error}") from error


def main(argv=None):
    parser = ArgumentParser(prog="imagelab classify",
                            description="Classify image files with a saved model.")
    parser.add_argument("model", help="a model file written by python -m imagelab.cli.train_cnn")
    parser.add_argument("images", nargs="+", help="image files (PNG, JPEG, ...)")
    args = parser.parse_args(argv)
    with parser.flag_errors():
        try:
            classifier = load_model(args.model)
        except (OSError, ValueError) as error:
            raise DataError(error) from error
        images = np.stack([read_image(path, classifier.image_shape) for path in args.images])
        p = softmax(classifier.logits(images))
        for path, row in zip(args.images, p):
            best = int(np.argmax(row))
            print(f"{path}: {classifier.label_names[best]} ({row[best]:.0%})")


if __name__ == "__main__":
    sys.exit(main())
