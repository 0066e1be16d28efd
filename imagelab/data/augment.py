"""Input pipeline of the convolutional networks: uint8 images in, normalised floats out.

The images stay uint8 in memory (a quarter of float32's size); each mini-batch is
augmented (random translations, mirror images, brightness and contrast) and
normalised per channel as it is drawn, so no augmented copy of the data is ever kept.
"""
import numpy as np

from imagelab.utils.checks import check_float, check_int


def channel_statistics(images, chunk=4096):
    """Mean and standard deviation of each channel of uint8 images (N, H, W, C).

    Returns two float32 arrays of shape (C,), summed in float64 a chunk at a time.
    """
    c = images.shape[-1]
    total, total_sq, count = np.zeros(c), np.zeros(c), 0
    for start in range(0, len(images), chunk):
        block = images[start:start + chunk].reshape(-1, c).astype(np.float64)
        total += block.sum(axis=0)
        total_sq += np.einsum("ij,ij->j", block, block)
        count += len(block)
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean ** 2, 0))
    return mean.astype(np.float32), np.maximum(std, 1e-3).astype(np.float32)


def translate(images, pad, rng, mode="constant"):
    """Each image moved by its own random offset in -pad..pad on each axis.

    Equivalently, a random crop of the image padded with ``pad`` pixels on each side
    (the CIFAR-10 recipe's "crop with padding 4"; small shifts for MNIST). The pixels
    coming in are zeros (``mode="constant"``) or the image's mirror at its edge
    (``mode="reflect"``, as the fast-training recipe does: no black border to learn).

    images : np.ndarray, shape (N, H, W, C); returns the same shape and dtype.
    """
    n, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode=mode)
    top, left = rng.integers(0, 2 * pad + 1, size=(2, n))
    rows = top[:, None] + np.arange(h)                     # (N, H)
    cols = left[:, None] + np.arange(w)                    # (N, W)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def mirror(images, rng=None, flip=None):
    """A copy of ``images`` (N, H, W, C) with some flipped left to right.

    Those of the boolean mask ``flip`` (N,), or, without it, a random half drawn by ``rng``.
    """
    out = images.copy()
    flip = rng.random(len(images)) < 0.5 if flip is None else flip
    out[flip] = images[flip, :, ::-1]
    return out


def alternating_flips(first, epoch):
    """Which images to mirror at ``epoch`` (0-based), from the random mask of epoch 0.

    The fast-training recipe's rule (airbench): a random half is mirrored at epoch 0,
    then every image flips at each epoch, so that each one is seen both ways in any
    two epochs in a row, where independent coin flips show a quarter of the images
    the same way twice.

    first : np.ndarray of bool, shape (N,); returns a mask of the same shape.
    """
    return first if epoch % 2 == 0 else ~first


def adjust_light(images, brightness, contrast):
    """Brightness and contrast changed: x' = clip(m + c (x - m) + 255 b, 0, 255).

    Parameters
    ----------
    images : np.ndarray, shape (N, H, W, C), values 0..255
    brightness : float or np.ndarray broadcasting to (N, 1, 1, 1)
        b, a fraction of the full scale added to every pixel.
    contrast : float or np.ndarray broadcasting to (N, 1, 1, 1)
        c, the factor on each pixel's distance to m, the image's mean.

    Returns
    -------
    np.ndarray of float32, shape of ``images``
    """
    images = images.astype(np.float32)
    mean = images.mean(axis=(1, 2, 3), keepdims=True)
    c, b = np.float32(1) * contrast, np.float32(255) * brightness
    return np.clip(mean + c * (images - mean) + b, 0, 255).astype(np.float32)


def jitter_light(images, brightness, contrast, rng):
    """``adjust_light`` with b ~ U(-brightness, brightness) and c ~ U(1 -+ contrast) per image."""
    n = len(images)
    b = rng.uniform(-brightness, brightness, size=(n, 1, 1, 1)).astype(np.float32)
    c = rng.uniform(1 - contrast, 1 + contrast, size=(n, 1, 1, 1)).astype(np.float32)
    return adjust_light(images, b, c)


class ImagePipeline:
    """Turns rows of uint8 pixels into the float32 images a network takes.

    Parameters
    ----------
    image_shape : (H, W, C)
        Each row is one image in channels-last order, ``image.reshape(-1)``.
    mean, std : np.ndarray of float32, shape (C,)
        Per-channel statistics of the training images (``channel_statistics``).
    pad : int >= 0
        Random translations by up to ``pad`` pixels (0: none).
    flip : bool
        Random left-right mirror images.
    brightness, contrast : float in [0, 1)
        Strength of the random light changes (``jitter_light``; 0: none).
    pad_mode : {"constant", "reflect"}
        What comes in at the edge of a translated image (``translate``).
    """

    def __init__(self, image_shape, mean, std, pad=0, flip=False, brightness=0.0,
                 contrast=0.0, pad_mode="constant"):
        self.image_shape = tuple(image_shape)
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.pad = check_int(pad, "pad", 0)
        self.flip = bool(flip)
        self.brightness = check_float(brightness, "brightness", 0, 1, include_max=False)
        self.contrast = check_float(contrast, "contrast", 0, 1, include_max=False)
        if pad_mode not in ("constant", "reflect"):
            raise ValueError(f"pad_mode must be 'constant' or 'reflect', got {pad_mode!r}")
        self.pad_mode = pad_mode

    def images(self, rows):
        """Rows (N, H W C) -> a view of shape (N, H, W, C), same dtype."""
        return rows.reshape(len(rows), *self.image_shape)

    def normalize(self, images):
        """float32 (images - mean) / std, per channel, for images (N, H, W, C) of 0..255."""
        return (images.astype(np.float32) - self.mean) / self.std

    def evaluation(self, rows):
        """The network's input for rows of pixels, without augmentation."""
        return self.normalize(self.images(rows))

    def training(self, rows, rng, flip=None):
        """The network's input for rows of pixels, randomly augmented.

        ``flip``, a boolean mask (N,), chooses the mirrored images (``alternating_flips``)
        instead of a coin per image; it needs the pipeline's ``flip``.
        """
        images = self.images(rows)
        if self.pad:
            images = translate(images, self.pad, rng, self.pad_mode)
        if self.flip:
            images = mirror(images, rng, flip)
        if self.brightness or self.contrast:
            images = jitter_light(images, self.brightness, self.contrast, rng)
        return self.normalize(images)


def rotate(images, angles):
    """Each image turned by its own angle about its centre, by bilinear interpolation.

    Output pixel (r, c), at (y, x) = (r - c_y, c - c_x) from the centre
    (c_y, c_x) = ((H - 1) / 2, (W - 1) / 2), takes the value at the point it comes from,

        y_s = x sin(a) + y cos(a),   x_s = x cos(a) - y sin(a),

    which turns the picture counter-clockwise by ``a`` as it is displayed (rows going
    down), as ``skimage.transform.rotate`` does. The value at (y_s, x_s) blends the four
    pixels around it, each weighted by the area of the opposite rectangle; pixels outside
    the image count as 0 (the black background of the MNIST family).

    Parameters
    ----------
    images : np.ndarray, shape (N, H, W, C), floating
    angles : np.ndarray of float, shape (N,)
        Angles in degrees.

    Returns
    -------
    np.ndarray, shape and dtype of ``images``
    """
    n, h, w, _ = images.shape
    a = np.deg2rad(np.asarray(angles, np.float64))[:, None, None]
    y, x = np.mgrid[:h, :w] - np.array([(h - 1) / 2, (w - 1) / 2])[:, None, None]
    rows = x * np.sin(a) + y * np.cos(a) + (h - 1) / 2              # (N, H, W)
    cols = x * np.cos(a) - y * np.sin(a) + (w - 1) / 2
    top, left = np.floor(rows), np.floor(cols)
    dy, dx = (rows - top)[..., None], (cols - left)[..., None]
    # A ring of zeros around each image; indices clipped onto it read 0 outside.
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)))
    # Each neighbour is clipped on its own: a point far outside reads 0 at all four.
    top, left = top.astype(np.intp) + 1, left.astype(np.intp) + 1
    bottom, right = np.clip(top + 1, 0, h + 1), np.clip(left + 1, 0, w + 1)
    top, left = np.clip(top, 0, h + 1), np.clip(left, 0, w + 1)
    index = np.arange(n)[:, None, None]
    out = ((1 - dy) * ((1 - dx) * padded[index, top, left] + dx * padded[index, top, right])
           + dy * ((1 - dx) * padded[index, bottom, left] + dx * padded[index, bottom, right]))
    return out.astype(images.dtype)
