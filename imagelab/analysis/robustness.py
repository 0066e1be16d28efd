"""How a classifier's accuracy holds when the test images get brighter, darker, flatter."""
import numpy as np

from imagelab.data.augment import adjust_light

BRIGHTNESS = (-0.4, -0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.4)
CONTRAST = (0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 1.75, 2.0)


def light_robustness(classify, images, labels, brightness=BRIGHTNESS, contrast=CONTRAST):
    """Accuracy under each brightness shift (contrast 1) and each contrast (no shift).

    Parameters
    ----------
    classify : callable, float32 images (N, H, W, C) in 0..255 -> labels (N,)
    images : np.ndarray, shape (N, H, W, C); labels : np.ndarray of int, shape (N,)

    Returns
    -------
    dict : {"brightness": [...], "brightness_accuracy": [...], "contrast": [...],
    "contrast_accuracy": [...]}, lists of floats.
    """
    def accuracy(b, c):
        return float(np.mean(classify(adjust_light(images, b, c)) == labels))
    return {"brightness": list(brightness),
            "brightness_accuracy": [accuracy(b, 1.0) for b in brightness],
            "contrast": list(contrast),
            "contrast_accuracy": [accuracy(0.0, c) for c in contrast]}
