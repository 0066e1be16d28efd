"""Test-time augmentation: a network's logits averaged over several views of each image.

The fast-training recipe's three levels (airbench, Jordan 2024), on images (N, H, W, C):

    level 0   the image alone;
    level 1   the mean of the image and its mirror image;
    level 2   half of level 1, plus half the mean of level 1 on the image moved by one
              pixel down-right and by one pixel up-left (the edge reflected in).

A network trained on mirror images and translations has learnt that these views show
the same thing, so averaging them cancels part of its errors. Each view costs one
forward pass over the test images: level 2 costs six.
"""
import numpy as np

from imagelab.utils.checks import check_int

LEVELS = (0, 1, 2)


def shift(images, dy, dx):
    """``images`` (N, H, W, C) moved by (dy, dx) pixels, |dy|, |dx| <= 1, edges reflected.

    out[n, i, j] = images[n, i - dy, j - dx], the pixels that would come from outside
    taken from the image's mirror at its edge (np.pad's "reflect").
    """
    n, h, w, c = images.shape
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    return padded[:, 1 - dy:1 - dy + h, 1 - dx:1 - dx + w]


def mirrored(images):
    """``images`` (N, H, W, C) flipped left to right."""
    return images[:, :, ::-1]


# Level 2's views and their weights: (dy, dx, mirror, weight); the level-1 views first.
VIEWS = [(0, 0, False, 1 / 4), (0, 0, True, 1 / 4),
         (1, 1, False, 1 / 8), (1, 1, True, 1 / 8), (-1, -1, False, 1 / 8), (-1, -1, True, 1 / 8)]


def _view(prepare, dy, dx, flip):
    """The function that turns a batch of images into one view of the network's input."""
    def view(batch):
        x = prepare(batch)
        x = shift(x, dy, dx) if dy or dx else x
        return mirrored(x) if flip else x
    return view


def tta_logits(network, images, prepare, batch_size=250):
    """Logits of ``images`` at each test-time augmentation level.

    Parameters
    ----------
    network : imagelab.nn.network.Network
        Evaluated (batch norm on its running statistics).
    images : np.ndarray, shape (N, H, W, C)
        Any dtype ``prepare`` takes (uint8 pixels for a saved model).
    prepare : callable
        Turns a batch of ``images`` into the network's input (the normalisation).
    batch_size : int >= 1

    Returns
    -------
    list of np.ndarray, float32, shape (N, classes)
        Levels 0, 1 and 2 (``LEVELS``), from six forward passes in all.
    """
    batch_size = check_int(batch_size, "batch_size", 1)
    logits = [network.predict_logits(images, batch_size, _view(prepare, dy, dx, flip))
              for dy, dx, flip, _ in VIEWS]
    level_0 = logits[0]
    level_1 = (logits[0] + logits[1]) / 2
    level_2 = sum(weight * z for (_, _, _, weight), z in zip(VIEWS, logits))
    return [level_0, level_1, level_2.astype(level_0.dtype)]
