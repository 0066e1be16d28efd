"""Images stored as rows: the layout of a CIFAR-10 row, and the turns between the two.

A CIFAR-10 row (3,072 values) holds the 1,024 red pixels, then the 1,024 green, then
the 1,024 blue, each plane row by row. Code that looks at pixels works on channel-last
images of ``IMAGE_SHAPE`` (height, width, channels) instead.
"""
import numpy as np

IMAGE_SHAPE = (32, 32, 3)   # height, width, channels (red, green, blue) of one image


def rows_to_images(data, image_shape=IMAGE_SHAPE):
    """Turn rows of planes into channel-last images.

    Parameters
    ----------
    data : np.ndarray, shape (n, h * w * c)
        One image a row: the first channel's plane, then the next (h * w values each,
        row by row), as ``read_cifar`` returns them.
    image_shape : (h, w, c), optional

    Returns
    -------
    np.ndarray, shape (n, h, w, c), same dtype as ``data``
        ``images[i, y, x, c]`` is channel c (for CIFAR-10: 0 red, 1 green, 2 blue) of
        pixel (y, x) of image i. A view of ``data`` when it is C-contiguous (no copy).

    Raises
    ------
    ValueError
        If ``data`` is not 2-D with h * w * c columns.
    """
    data = np.asarray(data)
    height, width, channels = image_shape
    size = height * width * channels
    if data.ndim != 2 or data.shape[1] != size:
        raise ValueError(f"data must have shape (n, {size}), one image a row, got {data.shape}")
    # A row is c planes of h x w: (n, c, y, x); move the channel axis last.
    return data.reshape(-1, channels, height, width).transpose(0, 2, 3, 1)


def images_to_rows(images):
    """Turn channel-last images (n, h, w, c) back into rows (n, h * w * c): a new array."""
    images = np.asarray(images)
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2)).reshape(len(images), -1)


def uint8_channels_last(data, image_shape=IMAGE_SHAPE):
    """Rows of planes (pixel values 0..255 of any dtype) -> uint8 rows of channel-last
    images (n, h * w * c), a new C-contiguous array: a quarter of float32's memory."""
    return np.ascontiguousarray(rows_to_images(data, image_shape), np.uint8).reshape(len(data), -1)


def hflip_rows(data, image_shape=IMAGE_SHAPE):
    """Mirror the images of rows left-right: (n, h * w * c) -> a new array, same shape."""
    return images_to_rows(rows_to_images(data, image_shape)[:, :, ::-1])
