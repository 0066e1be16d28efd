"""Data augmentation for the MLP: noise, shifts, small rotations and flips of the images.

Each training batch is transformed afresh as it is drawn (``RowAugmentation.training``),
so the network never sees the same image twice; validation, test and training-accuracy
rows are left as they are. ``compare`` trains one MLP per configuration and seed and
measures its test accuracy and its training-test gap: the accuracy on the (un-augmented)
rows it was trained on minus the test accuracy, the part of what it learnt that does not
carry over to new images.
"""
import numpy as np

from imagelab.data.augment import mirror, rotate, translate
from imagelab.training.loop import split_validation
from imagelab.utils.checks import check_float, check_int
from imagelab.analysis.models import accuracy_of, train_mlp
from imagelab.training.metrics import seed_spread

# name -> (noise sigma, shift in pixels, rotation in degrees, flip): each alone at a few
# strengths, then all together, mild and strong.
CONFIGURATIONS = {
    "none": (0.0, 0, 0.0, False),
    "noise 0.05": (0.05, 0, 0.0, False),
    "noise 0.1": (0.1, 0, 0.0, False),
    "noise 0.2": (0.2, 0, 0.0, False),
    "shift 1": (0.0, 1, 0.0, False),
    "shift 2": (0.0, 2, 0.0, False),
    "shift 3": (0.0, 3, 0.0, False),
    "rotate 5": (0.0, 0, 5.0, False),
    "rotate 10": (0.0, 0, 10.0, False),
    "rotate 20": (0.0, 0, 20.0, False),
    "flip": (0.0, 0, 0.0, True),
    "all, mild": (0.05, 1, 5.0, True),
    "all, strong": (0.1, 2, 10.0, True),
}


def add_noise(rows, sigma, rng):
    """clip(x + sigma e, 0, 1), e standard normal per pixel: rows (N, d) of pixels in
    [0, 1] -> float32 rows of the same shape."""
    noisy = rows + np.float32(sigma) * rng.standard_normal(rows.shape, np.float32)
    return np.clip(noisy, 0, 1, out=noisy)


class RowAugmentation:
    """The MLP's input pipeline: rows of pixels in [0, 1], randomly transformed images.

    For a training batch, in this order: a left-right mirror of a random half, a shift
    by up to ``shift`` pixels each way (``translate``, zeros coming in), a rotation by
    an angle drawn uniformly in [-rotation, rotation] degrees (``rotate``), Gaussian
    noise of ``noise`` (``add_noise``). ``imagelab.training.loop.train`` calls
    ``training`` on each batch and ``evaluation`` on the validation rows.

    Parameters
    ----------
    image_shape : (H, W, C)
    noise : float >= 0, sigma in pixel units of [0, 1]
    shift : int >= 0
    rotation : float in [0, 180]
    flip : bool
    """

    def __init__(self, image_shape, noise=0.0, shift=0, rotation=0.0, flip=False):
        self.image_shape = tuple(image_shape)
        self.noise = check_float(noise, "noise", 0)
        self.shift = check_int(shift, "shift", 0)
        self.rotation = check_float(rotation, "rotation", 0, 180)
        self.flip = bool(flip)

    def training(self, rows, rng):
        """Rows (N, H W C) of pixels in [0, 1] -> float32 rows of transformed images."""
        images = rows.reshape(len(rows), *self.image_shape)
        if self.flip:
            images = mirror(images, rng)
        if self.shift:
            images = translate(images, self.shift, rng)
        if self.rotation:
            images = rotate(images, rng.uniform(-self.rotation, self.rotation, len(rows)))
        rows = images.reshape(len(rows), -1).astype(np.float32)
        return add_noise(rows, self.noise, rng) if self.noise else rows

    def evaluation(self, rows):
        """Rows as they are, in float32."""
        return np.asarray(rows, np.float32)


def compare(x, labels, x_test, labels_test, image_shape, configurations=CONFIGURATIONS,
            seeds=(0, 1, 2), hidden=(256, 256), num_epoch=10, validation=0.1, report=None):
    """Train an MLP per configuration and seed; measure its accuracies.

    Parameters
    ----------
    x : np.ndarray of float32, shape (N, d), pixels in [0, 1]; labels : np.ndarray (N,)
        The rows it trains on (a validation fraction of them chooses the epoch kept).
    x_test, labels_test : the test set
    image_shape : (H, W, C)
    configurations : dict, name -> (noise, shift, rotation, flip)
    seeds : sequence of int >= 0
        Seeds of the weights, of the validation split, of the batches and of the
        augmentation.
    hidden : tuple of int, the MLP's hidden layers
    num_epoch : int >= 1
    validation : float in (0, 1)
    report : callable (done, text) -> None, optional, called after each training

    Returns
    -------
    dict : name -> {"noise", "shift", "rotation", "flip", "test_accuracy",
    "train_accuracy", "gap": each a ``seed_spread`` over the seeds, and "runs": the
    per-seed values}
    """
    record, done = {}, 0
    for name, (noise, shift, rotation, flip) in configurations.items():
        pipeline = RowAugmentation(image_shape, noise, shift, rotation, flip)
        runs = {"test_accuracy": [], "train_accuracy": [], "gap": []}
        for seed in seeds:
            network, _ = train_mlp(x, labels, hidden, num_epoch=num_epoch, seed=seed,
                                   validation=validation, pipeline=pipeline)
            # The rows it trained on: the split train_mlp made with the same seed.
            trained, _ = split_validation(x, labels, validation, seed=seed)
            train_accuracy = accuracy_of(network, x[trained], labels[trained])
            test_accuracy = accuracy_of(network, x_test, labels_test)
            runs["train_accuracy"].append(train_accuracy)
            runs["test_accuracy"].append(test_accuracy)
            runs["gap"].append(train_accuracy - test_accuracy)
            done += 1
            if report is not None:
                report(done, f"trained {done}/{len(configurations) * len(seeds)}: {name}, "
                             f"seed {seed}: test {test_accuracy:.4f}, gap "
                             f"{train_accuracy - test_accuracy:+.4f}")
        record[name] = {"noise": noise, "shift": shift, "rotation": rotation, "flip": flip,
                        **{key: seed_spread(value) for key, value in runs.items()}, "runs": runs}
    return record


def examples(rows, image_shape, configurations=CONFIGURATIONS, seed=0):
    """``rows`` (n, d) as each configuration's ``training`` transforms them once.

    Returns dict: name -> float32 rows (n, d), each drawn with a generator of ``seed``.
    """
    return {name: RowAugmentation(image_shape, *settings).training(
        rows, np.random.default_rng(seed)) for name, settings in configurations.items()}
