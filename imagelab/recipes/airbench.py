"""The fast-training recipe for CIFAR-10 (airbench94, Jordan 2024, arXiv 2404.00498).

A small network (``imagelab.nn.architectures.airbench``) and a handful of ingredients, each a switch
of ``Recipe`` so that the ablation (``imagelab ablation``) can remove it:

    whitening         the first convolution (2 x 2, 24 channels) set to whiten the
                      images' patches (``imagelab.nn.whitening``), its weights frozen and
                      its bias trained for the first ``whiten_bias_epochs`` epochs only;
    identity_init     the other convolutions start as identities on their first channels;
    bias_scaler       batch norm's biases learn 64 times faster (with 1/64 of the decay);
    label_smoothing   targets 0.8 on the label and 0.02 on each other class;
    lookahead         every 5 steps the weights are pulled towards their running average;
    flip              "alternating" (each image mirrored every other epoch), "random" or "none";
    translate         random moves by up to 2 pixels, the edge reflected in;
    and, at test time, the views of ``imagelab.training.tta`` (levels 0, 1 and 2).

The optimizer is SGD with Nesterov momentum, its learning rate rising from 0.2 to 1
times the base over the first 23% of the steps, then falling to 0.07 (``triangle``).

Memory: airbench steps on batches of 1,024 images. Their activations and window
matrices alone would take about 10 GB here, so each batch is cut into micro-batches
(256 images by default) whose gradients are added up before the step. The step is the
same; only batch norm's statistics come from each micro-batch ("ghost batch norm"),
and its running averages are updated once per micro-batch, with the momentum that
gives airbench's weight per step.
"""
import math
import time
from dataclasses import dataclass
from functools import partial

import numpy as np

from imagelab.data.augment import ImagePipeline, alternating_flips, channel_statistics
from imagelab.nn.averaging import Lookahead, lookahead_decay
from imagelab.nn.batchnorm import BatchNorm
from imagelab.utils.checks import check_dataset, check_float, check_int, check_seed
from imagelab.nn.architectures import airbench, build
from imagelab.nn.losses import softmax_cross_entropy
from imagelab.nn.optim import SGD, triangle
from imagelab.utils.progress import Progress
from imagelab.training.checkpoint import network_generators
from imagelab.training.loop import evaluate
from imagelab.training.tta import tta_logits
from imagelab.nn.whitening import patch_whitening

FLIPS = ("alternating", "random", "none")

# The kernel size of the whitening convolution (the first of ``airbench``'s network).
WHITENING_KERNEL = 2

# The ablation's rows: each removes one ingredient from the full recipe.
ABLATIONS = {"full recipe": {}, "no whitening": {"whitening": False},
             "no identity init": {"identity_init": False},
             "no bias rate (scaler 1)": {"bias_scaler": 1.0},
             "no label smoothing": {"label_smoothing": 0.0},
             "no lookahead": {"lookahead": False},
             "random flips": {"flip": "random"}}


@dataclass(frozen=True)
class Recipe:
    """The hyperparameters, airbench94's by default (``learning_rate`` and
    ``weight_decay`` in airbench's units: see ``sgd_settings``)."""

    epochs: float = 10.0
    batch_size: int = 1024
    micro_batch: int = 256
    learning_rate: float = 11.5
    momentum: float = 0.85
    weight_decay: float = 0.0153
    bias_scaler: float = 64.0
    label_smoothing: float = 0.2
    whiten_bias_epochs: float = 3.0
    translate: int = 2
    flip: str = "alternating"
    whitening: bool = True
    identity_init: bool = True
    lookahead: bool = True
    widths: tuple = (64, 256, 256)
    batchnorm_momentum: float = 0.6

    def __post_init__(self):
        check_float(self.epochs, "epochs", 0, include_min=False)
        check_int(self.batch_size, "batch_size", 1)
        check_int(self.micro_batch, "micro_batch", 1)
        check_float(self.learning_rate, "learning_rate", 0, include_min=False)
        check_float(self.momentum, "momentum", 0, 1, include_max=False)
        check_float(self.weight_decay, "weight_decay", 0)
        check_float(self.bias_scaler, "bias_scaler", 0, include_min=False)
        check_float(self.label_smoothing, "label_smoothing", 0, 1, include_max=False)
        check_float(self.whiten_bias_epochs, "whiten_bias_epochs", 0)
        check_int(self.translate, "translate", 0)
        if self.flip not in FLIPS:
            raise ValueError(f"flip must be one of {', '.join(FLIPS)}, got {self.flip!r}")
        for i, width in enumerate(self.widths):
            check_int(width, f"widths[{i}]", 1)
        check_float(self.batchnorm_momentum, "batchnorm_momentum", 0, 1, include_min=False)


def sgd_settings(recipe):
    """Learning rate and L2 factor of our SGD on mean-loss gradients, from airbench's units.

    airbench sums the loss over a batch of B images and sets PyTorch's rate to
    lr / s and its L2 factor to (wd B / s) / (lr / s) = wd B / lr, s = 1024 (1 + 1 / (1 - m))
    (the steps of Nesterov momentum m are about 1 / (1 - m) + 1 gradients long). On the
    mean loss, the gradient is B times smaller, so the same step takes the rate
    B lr / s and the L2 factor wd / lr.

    Returns
    -------
    rate, decay : float
    """
    scale = 1024 * (1 + 1 / (1 - recipe.momentum))
    rate = recipe.learning_rate * recipe.batch_size / scale
    return rate, recipe.weight_decay / recipe.learning_rate


def parameter_groups(network, recipe, whitened):
    """One optimizer per group of parameters, with its rate factor and its last epoch.

    Groups: batch norm's biases (``bias_scaler`` times the rate, the L2 factor divided
    by it, so that the decay per step is the same), the whitening layer's bias (while
    epoch < ``whiten_bias_epochs``; its weights are never trained) and the rest.

    Returns
    -------
    list of (SGD, float, float)
        The optimizer, the factor on the rate, the epoch from which it stops.
    """
    _, decay = sgd_settings(recipe)
    norm = [p for layer in network.layers if isinstance(layer, BatchNorm)
            for p in layer.parameters()]
    first = network.layers[0].parameters() if whitened else []
    rest = [p for p in network.parameters() if all(p is not q for q in norm + first)]
    sgd = partial(SGD, momentum=recipe.momentum, nesterov=True)
    groups = [(sgd(norm, weight_decay=decay / recipe.bias_scaler), recipe.bias_scaler, math.inf),
              (sgd(rest, weight_decay=decay), 1.0, math.inf)]
    if whitened:
        bias = [network.layers[0].b]
        groups.append((sgd(bias, weight_decay=decay), 1.0, recipe.whiten_bias_epochs))
    return groups


def recipe_architecture(recipe, image_shape, num_classes, batchnorm_momentum):
    """The specification of ``recipe``'s network for images of ``image_shape`` (H, W, C).

    The whitening convolution has a filter and its negative per value of a 2 x 2 patch:
    2 x 2 x 2 x C outputs (airbench's 24 for colour images, 8 for grey ones).
    """
    return airbench(num_classes, recipe.widths, batchnorm_momentum,
                    whiten_width=2 * WHITENING_KERNEL ** 2 * image_shape[2],
                    identity_init=recipe.identity_init)


def build_network(recipe, image_shape, num_classes, images, seed):
    """The recipe's network, its whitening layer set from ``images`` if the recipe says so.

    ``images``: normalised float32 training images (N, H, W, C), 5,000 are plenty.
    """
    steps = recipe.batch_size / recipe.micro_batch
    # airbench's batchnorm_momentum m is the weight the running averages keep (PyTorch's
    # momentum is 1 - m there). They move once per micro-batch here: k updates giving
    # the new batch the weight r keep (1 - r)^k = m of the old value, as one step does.
    momentum = 1 - recipe.batchnorm_momentum ** (1 / max(steps, 1))
    spec = recipe_architecture(recipe, image_shape, num_classes, momentum)
    network = build(spec, image_shape, seed=seed)
    if recipe.whitening:
        network.layers[0].w.value[...] = patch_whitening(images, network.layers[0].kernel[0])
    return spec, network


def first_trained_layer(network, parameters):
    """Index of the first layer that owns one of ``parameters``: the backward pass
    need not go below it (nothing under it is trained)."""
    return next(i for i, layer in enumerate(network.layers)
                if any(p is q for p in layer.parameters() for q in parameters))


class GradientSum:
    """The mean-loss gradient of a batch, added up from its micro-batches."""

    def __init__(self, parameters):
        self.parameters = parameters
        self.sums = [np.zeros_like(p.value) for p in parameters]

    def add(self, weight):
        """Add ``weight`` times each parameter's gradient (the micro-batch's share)."""
        for total, p in zip(self.sums, self.parameters):
            total += weight * p.grad

    def release(self):
        """Put the sums in the parameters' gradients and start again from zero."""
        for total, p in zip(self.sums, self.parameters):
            p.grad[...] = total
            total[...] = 0


def micro_batches(pipeline, rows, labels, batch, size, rng, flips=None):
    """The rows ``batch`` (indices) as augmented (inputs, labels) pairs of at most ``size``.

    ``flips``: which images to mirror (N,), or None for the pipeline's coin per image.
    """
    parts = np.array_split(batch, math.ceil(len(batch) / size))
    return [(pipeline.training(rows[m], rng, None if flips is None else flips[m]), labels[m])
            for m in parts]


class Trainer:
    """The recipe's training state: the network, its optimizers, the added gradients,
    the lookahead average, the count of optimizer steps and the last step's rate.

    Parameters
    ----------
    network : imagelab.nn.network.Network
    recipe : Recipe
    total : int
        Optimizer steps of the whole training (the schedules depend on it).
    """

    def __init__(self, network, recipe, total):
        self.network, self.recipe, self.total = network, recipe, total
        self.groups = parameter_groups(network, recipe, recipe.whitening)
        self.gradients = GradientSum(network.parameters())
        self.lookahead = Lookahead(network) if recipe.lookahead else None
        self.loss = partial(softmax_cross_entropy, smoothing=recipe.label_smoothing)
        self.rate, _ = sgd_settings(recipe)
        self.step, self.last_rate = 0, None

    def trained(self, epoch):
        """The (optimizer, rate factor) pairs that learn at ``epoch``, and the first layer
        the backward pass must reach for them (once the whitening layer is frozen, the
        backward pass stops above it)."""
        trained = [(sgd, factor) for sgd, factor, last in self.groups if epoch < last]
        parameters = [p for sgd, _ in trained for p in sgd.parameters]
        return trained, first_trained_layer(self.network, parameters)

    def batch_step(self, micro_batches, trained, trained_from):
        """One optimizer step on a batch given as (inputs, labels) micro-batches.

        Returns the summed loss and the count of right answers over the batch.
        """
        n = sum(len(y) for _, y in micro_batches)
        loss_sum = correct = 0
        for x, y in micro_batches:
            value, z = self.network.loss_and_gradients(x, y, self.loss,
                                                       trained_from=trained_from)
            self.gradients.add(len(y) / n)
            loss_sum += value * len(y)
            correct += np.count_nonzero(np.argmax(z, axis=1) == y)
        self.gradients.release()
        self.last_rate = self.rate * triangle(self.step, self.total)    # warm-up, then decay
        for sgd, factor in trained:
            sgd.step(self.last_rate * factor)
        self.step += 1
        if self.lookahead is not None and self.step % 5 == 0:
            self.lookahead.update(self.network, lookahead_decay(self.step, self.total))
        if self.lookahead is not None and self.step == self.total:
            self.lookahead.update(self.network, 1.0)        # the network takes the average
        return loss_sum, correct

    def checkpoint(self, make, generators):
        """``make(network, optimizers, generators, arrays)``: the checkpoint of this
        training's state (``imagelab.training.checkpoint.Checkpoint``), with the
        lookahead's average among its arrays."""
        average = [] if self.lookahead is None else self.lookahead.average
        return make(self.network, [sgd for sgd, _, _ in self.groups], generators, average)

    def progress(self, history):
        """What a checkpoint keeps besides the arrays: the history, the step count and
        the last step's rate (JSON values)."""
        return {"history": history, "step": self.step, "last_rate": self.last_rate}

    def resume(self, progress):
        """Take the step count and the last rate of ``progress``; return its history."""
        self.step, self.last_rate = progress["step"], progress["last_rate"]
        return progress["history"]


def train_recipe(rows, labels, image_shape, num_classes, recipe=Recipe(), seed=0,
                 test=None, verbose=False, checkpoint=None, resume=False):
    """Train the recipe's network on rows of uint8 pixels.

    Parameters
    ----------
    rows : np.ndarray of uint8, shape (N, H W C)
        Channels-last images, one a row; labels : np.ndarray of int, shape (N,).
    image_shape : (H, W, C)
    num_classes : int
    recipe : Recipe
    seed : int >= 0
        Seed of the initial weights, the batch order and the augmentation.
    test : (rows, labels), optional
        Evaluated after each epoch (no test-time augmentation), for the learning curves
        only: nothing is chosen on it.
    verbose : bool
    checkpoint : callable, optional
        ``checkpoint(network, optimizers, generators, arrays)``, e.g.
        ``functools.partial(imagelab.training.checkpoint.Checkpoint, path, settings)``:
        the checkpoint saved after each epoch.
    resume : bool
        Start from ``checkpoint``'s state (``Checkpoint.load``): the run then ends as an
        uninterrupted one would, bit for bit (timings apart).

    Returns
    -------
    network : imagelab.nn.network.Network
    spec : list, the architecture (``imagelab.nn.architectures``)
    pipeline : imagelab.data.augment.ImagePipeline, whose ``normalize`` feeds the network
    history : dict of lists, one value per epoch: "train_loss", "train_accuracy",
        "test_loss", "test_accuracy" (if ``test``), "learning_rate", "seconds" (of
        training, without the test evaluation)
    """
    rows, labels = check_dataset(rows, labels, name="rows")
    if rows.shape[1] != math.prod(image_shape) or len(rows) < recipe.batch_size:
        raise ValueError(f"rows must have shape (N >= {recipe.batch_size}, "
                         f"{math.prod(image_shape)}) for images of shape "
                         f"{tuple(image_shape)} and batches of {recipe.batch_size}, "
                         f"got {rows.shape}")
    rng = np.random.default_rng(check_seed(seed))
    images = rows.reshape(-1, *image_shape)
    mean, std = channel_statistics(images)
    pipeline = ImagePipeline(image_shape, mean, std, pad=recipe.translate,
                             flip=recipe.flip != "none", pad_mode="reflect")
    spec, network = build_network(recipe, image_shape, num_classes,
                                  pipeline.normalize(images[:5000]), seed)
    steps_per_epoch = len(rows) // recipe.batch_size     # the last partial batch is dropped
    trainer = Trainer(network, recipe, math.ceil(steps_per_epoch * recipe.epochs))
    first_flips = rng.random(len(rows)) < 0.5
    history = {key: [] for key in ("train_loss", "train_accuracy", "test_loss",
                                   "test_accuracy", "learning_rate", "seconds")}
    if checkpoint is not None:
        checkpoint = trainer.checkpoint(checkpoint, [rng, *network_generators(network)])
    if resume:
        history = trainer.resume(checkpoint.load()[0])
    for epoch in range(len(history["train_loss"]), math.ceil(recipe.epochs)):
        start = time.perf_counter()
        flips = alternating_flips(first_flips, epoch) if recipe.flip == "alternating" else None
        trained, trained_from = trainer.trained(epoch)
        order = rng.permutation(len(rows))[:steps_per_epoch * recipe.batch_size]
        batches = order.reshape(steps_per_epoch, -1)[:trainer.total - trainer.step]
        progress = Progress(len(batches)) if verbose else None
        seen = loss_sum = correct = 0
        for batch in batches:
            parts = micro_batches(pipeline, rows, labels, batch, recipe.micro_batch, rng, flips)
            batch_loss, batch_correct = trainer.batch_step(parts, trained, trained_from)
            seen, loss_sum, correct = (seen + len(batch), loss_sum + batch_loss,
                                       correct + batch_correct)
            if progress is not None:
                speed = seen / (time.perf_counter() - start)
                progress.update(seen // recipe.batch_size, f"  step {trainer.step}/"
                                f"{trainer.total}: loss {loss_sum / seen:.4f}, "
                                f"{speed:,.0f} images/s")
        if progress is not None:
            progress.close()
        seconds = time.perf_counter() - start
        record_epoch(history, network, pipeline, test, loss_sum / seen, correct / seen,
                     trainer.last_rate, seconds)
        if verbose:
            report_epoch(history, epoch, math.ceil(recipe.epochs), len(rows))
        if checkpoint is not None:
            checkpoint.save(trainer.progress(history), {})
    return network, spec, pipeline, history


def record_epoch(history, network, pipeline, test, train_loss, train_accuracy, rate, seconds):
    """Append one epoch's numbers to ``history``, evaluating ``test`` if given."""
    test_loss, test_accuracy = (evaluate(network, *test, pipeline=pipeline) if test is not None
                                else (None, None))
    values = (train_loss, train_accuracy, test_loss, test_accuracy, rate, seconds)
    for key, value in zip(history, values):
        if value is not None:
            history[key].append(float(value))


def report_epoch(history, epoch, num_epoch, n):
    """Print one line on the epoch just recorded."""
    seconds = history["seconds"][-1]
    left = (num_epoch - epoch - 1) * sum(history["seconds"]) / (epoch + 1)
    test = (f"  test loss {history['test_loss'][-1]:.4f}  test {history['test_accuracy'][-1]:.4f}"
            if history["test_accuracy"] else "")
    print(f"epoch {epoch + 1:3d}/{num_epoch}  lr {history['learning_rate'][-1]:.3f}  "
          f"loss {history['train_loss'][-1]:.4f}  train {history['train_accuracy'][-1]:.4f}"
          f"{test}  {seconds:.1f} s  {n / seconds:,.0f} images/s  {left / 60:.1f} min left",
          flush=True)


def tta_accuracies(network, pipeline, images, labels):
    """Accuracy at each test-time augmentation level (``imagelab.training.tta``), and the logits
    of the last level.

    images : np.ndarray of uint8, shape (N, H, W, C); labels : np.ndarray of int, (N,)
    """
    logits = tta_logits(network, images, pipeline.normalize)
    return [float(np.mean(np.argmax(z, axis=1) == labels)) for z in logits], logits[-1]
