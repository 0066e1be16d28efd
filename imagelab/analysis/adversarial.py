"""Adversarial images: the fast gradient sign method, its iterated form, and a defence.

Every image is float32 pixels in [0, 1] (``imagelab.analysis.models.unit_pixels``) and
every perturbation is bounded in the L-infinity norm: an attack at epsilon may move each
pixel by at most epsilon, and the image stays in [0, 1]. With L(x, y) the cross-entropy
of the network's logits of x against class y:

* FGSM (Goodfellow et al., 2015), untargeted: x' = clip(x + eps sign(dL(x, y)/dx), 0, 1),
  one step up the loss of the true class; targeted at class t:
  x' = clip(x - eps sign(dL(x, t)/dx), 0, 1), one step down the loss of the target.
* The iterated attack (projected gradient descent, Madry et al., 2018): ``steps`` such
  steps of size alpha, each followed by the projection onto the eps-ball around x and
  [0, 1] (``project``).
* Adversarial training: each mini-batch trains on a share of its images replaced by
  their FGSM images, made on the network as it is at that step (``train_adversarial``).

The functions take a network (``imagelab.nn.network.Network``) and its inputs as it takes
them: rows (N, d) for an MLP, images (N, H, W, C) for a CNN.
"""
import numpy as np

from imagelab.utils.checks import check_float, check_int, check_seed
from imagelab.nn.functional import softmax
from imagelab.nn.optim import Adam, learning_rate_at
from imagelab.training.loop import iterate_minibatches, train_on_batches

# Images per forward and backward pass: a CNN's window matrices on 250 images of 28 x 28
# stay near 100 MB, where 10,000 at once would take gigabytes.
BATCH_SIZE = 250


def loss_gradient(network, x, labels, batch_size=BATCH_SIZE):
    """dL_n/dx_n: the gradient of each input's own cross-entropy with respect to it.

    ``Network.input_gradient`` differentiates the mean loss of a batch of B rows, whose
    row n is dL_n/dx_n / B: times B, each row gets its own gradient, whatever the batch.

    Parameters
    ----------
    network : imagelab.nn.network.Network
    x : np.ndarray of float32, shape (N, ...) of the network's input
    labels : np.ndarray of int, shape (N,)
        The class whose loss is differentiated.
    batch_size : int >= 1
        Inputs per backward pass (the memory it takes).

    Returns
    -------
    np.ndarray, shape ``x.shape``, dtype of the network's weights
    """
    batch_size = check_int(batch_size, "batch_size", 1)
    batches = [slice(i, i + batch_size) for i in range(0, len(x), batch_size)]
    return np.concatenate([len(x[rows]) * network.input_gradient(x[rows], labels[rows])
                           for rows in batches])


def attack_direction(network, x, labels, target=None, batch_size=BATCH_SIZE):
    """The sign step of FGSM: sign(dL(x, labels)/dx), or -sign(dL(x, target)/dx) if targeted.

    Untargeted, the step raises the loss of the true class; targeted, it lowers the loss
    of the target class. Entries of +1, -1 (and 0 where the gradient is exactly 0), the
    dtype of the gradient.
    """
    if target is None:
        return np.sign(loss_gradient(network, x, labels, batch_size))
    return -np.sign(loss_gradient(network, x, target, batch_size))


def project(x_adv, x, epsilon):
    """The nearest image to ``x_adv`` within ``epsilon`` of ``x`` (L-inf) and inside [0, 1].

    Both sets are boxes, so their intersection is the box
    [max(x - eps, 0), min(x + eps, 1)] (not empty for x in [0, 1]), onto which the
    Euclidean projection clips each entry on its own.
    """
    return np.clip(x_adv, np.maximum(x - epsilon, 0), np.minimum(x + epsilon, 1))


def fgsm(network, x, labels, epsilon, target=None, batch_size=BATCH_SIZE):
    """The fast gradient sign method: one step of size ``epsilon``, then clip to [0, 1].

    Parameters
    ----------
    network : imagelab.nn.network.Network
    x : np.ndarray of float32 (or float64), shape (N, ...), pixels in [0, 1]
    labels : np.ndarray of int, shape (N,)
        The true classes.
    epsilon : float >= 0
        The largest change of a pixel.
    target : np.ndarray of int, shape (N,), optional
        Classes to reach (a targeted attack); None: any class but the true one.
    batch_size : int >= 1

    Returns
    -------
    np.ndarray, shape and dtype of ``x``
        x + eps sign(dL(x, y)/dx), or x - eps sign(dL(x, t)/dx), clipped to [0, 1].
    """
    epsilon = check_float(epsilon, "epsilon", 0)
    step = attack_direction(network, x, labels, target, batch_size)
    return np.clip(x + epsilon * step, 0, 1).astype(x.dtype, copy=False)


def iterated_attack(network, x, labels, epsilon, steps=20, step_size=None, target=None,
                    random_start=False, seed=None, batch_size=BATCH_SIZE):
    """Projected gradient descent in the L-inf ball: ``steps`` sign steps, each projected.

    x_0 = x (or, with ``random_start``, x plus uniform noise in [-eps, eps], projected);
    x_{k+1} = project(x_k + alpha direction(x_k)), ``direction`` as in
    ``attack_direction``. With one step of alpha = eps and no random start it is FGSM.

    Parameters
    ----------
    network, x, labels, epsilon, target, batch_size
        As for ``fgsm``.
    steps : int >= 1
    step_size : float > 0, optional
        alpha; default 2.5 eps / steps (Madry et al.), so that the steps could cross the
        ball (2 eps) and then some, whatever their number.
    random_start : bool
        Start from a random point of the ball rather than from x.
    seed : None, int >= 0 or np.random.Generator
        Seed of the random start.

    Returns
    -------
    np.ndarray, shape and dtype of ``x``, within ``epsilon`` of x and in [0, 1]
    """
    epsilon = check_float(epsilon, "epsilon", 0)
    steps = check_int(steps, "steps", 1)
    alpha = 2.5 * epsilon / steps if step_size is None else check_float(
        step_size, "step_size", 0, include_min=False)
    x_adv = x
    if random_start:
        rng = np.random.default_rng(check_seed(seed))
        x_adv = project(x + rng.uniform(-epsilon, epsilon, x.shape).astype(x.dtype), x, epsilon)
    for _ in range(steps):
        step = attack_direction(network, x_adv, labels, target, batch_size)
        x_adv = project(x_adv + alpha * step, x, epsilon).astype(x.dtype, copy=False)
    return x_adv


def random_targets(labels, num_classes, seed=None):
    """A target class for each image, drawn uniformly among the classes other than its own.

    labels + k mod C with k uniform in 1..C-1: each other class with probability 1/(C-1).

    Returns
    -------
    np.ndarray of np.int64, shape ``labels.shape``
    """
    num_classes = check_int(num_classes, "num_classes", 2)
    rng = np.random.default_rng(check_seed(seed))
    return (np.asarray(labels) + rng.integers(1, num_classes, len(labels))) % num_classes


def attack_outcome(network, x_adv, labels, target=None, batch_size=BATCH_SIZE):
    """How an attack fared on each image: success, and the model's confidences.

    Parameters
    ----------
    network : imagelab.nn.network.Network
    x_adv : np.ndarray, shape (N, ...), the attacked inputs
    labels : np.ndarray of int, shape (N,), the true classes
    target : np.ndarray of int, shape (N,), optional
        The targets of a targeted attack.

    Returns
    -------
    dict of np.ndarray, shape (N,)
        "success" (bool): the predicted class is not the true one (untargeted) or is the
        target (targeted); "original_confidence": the softmax probability of the true
        class; with ``target``, "target_confidence": that of the target class.
    """
    probabilities = softmax(network.predict_logits(x_adv, batch_size))
    rows = np.arange(len(labels))
    predicted = probabilities.argmax(axis=1)
    outcome = {"success": predicted != labels if target is None else predicted == target,
               "original_confidence": probabilities[rows, labels]}
    if target is not None:
        outcome["target_confidence"] = probabilities[rows, target]
    return outcome


def attack_curves(attack, network, x, labels, epsilons, target=None, progress=None):
    """Success rate and mean confidences of an attack at each epsilon.

    Only the images the network classifies right (unattacked) count: an attack cannot
    "fool" the model on an image it already gets wrong.

    Parameters
    ----------
    attack : callable (network, x, labels, epsilon, target) -> x_adv
        E.g. ``fgsm``, or ``functools.partial(iterated_attack, steps=20)``.
    network, x, labels, target
        As for ``fgsm``.
    epsilons : sequence of float >= 0
    progress : callable (str) -> None, optional
        Told "epsilon <value>" as each epsilon begins.

    Returns
    -------
    dict
        "epsilon" (list), "images" (how many count), and one list per entry of
        ``attack_outcome``: "success_rate" and the mean "original_confidence" (and
        "target_confidence") over the images that count.
    """
    right = network.predict_logits(x, BATCH_SIZE).argmax(axis=1) == labels
    x, labels = x[right], labels[right]
    target = None if target is None else target[right]
    curves = {"epsilon": [float(e) for e in epsilons], "images": int(right.sum())}
    if not right.any():          # no rate to measure (a tiny test set): the lists stay out
        return curves
    for epsilon in epsilons:
        if progress is not None:
            progress(f"epsilon {epsilon:g}")
        # At epsilon 0 no image can move: the attack (20 null steps) is not run.
        x_adv = x if epsilon == 0 else attack(network, x, labels, epsilon, target=target)
        outcome = attack_outcome(network, x_adv, labels, target)
        for key, values in outcome.items():
            name = "success_rate" if key == "success" else key
            curves.setdefault(name, []).append(float(np.mean(values)))
    return curves


def transfer_rates(classifiers, originals, adversarial, labels):
    """How often the images crafted on one model fool another (transfer, a black box).

    Parameters
    ----------
    classifiers : dict name -> callable (rows (N, d)) -> predicted classes (N,)
        The models, each behind a function that takes the same row layout.
    originals : np.ndarray, shape (N, d)
        The images attacked.
    adversarial : dict name -> np.ndarray (N, d)
        The images crafted on each model (the names of ``classifiers``) from ``originals``.
    labels : np.ndarray of int, shape (N,)

    Returns
    -------
    dict
        "images": how many originals every model classifies right, the only ones that
        count; "rates": {source: {target: the fraction of those images whose version
        crafted on source the target misclassifies}}. The diagonal is each attack's own
        (white-box) success rate.
    """
    right = np.logical_and.reduce([classify(originals) == labels
                                   for classify in classifiers.values()])
    if not right.any():          # no rate to measure (a tiny test set)
        return {"images": 0, "rates": {}}
    rates = {source: {target: float(np.mean(classify(crafted[right]) != labels[right]))
                      for target, classify in classifiers.items()}
             for source, crafted in adversarial.items()}
    return {"images": int(right.sum()), "rates": rates}


def train_adversarial(network, x, labels, epsilon, *, num_epoch, share=0.5, random_start=True,
                      batch_size=128, learning_rate=1e-3, seed=None):
    """Train ``network`` on mini-batches of which a share of the images are FGSM images.

    Each batch, a random ``share`` of its images is replaced by their FGSM images at
    ``epsilon``, made on the network as it is at that step; the loss is the mean
    cross-entropy over the batch, so that it weighs the clean and the adversarial images
    by their shares (Goodfellow et al. weigh them 1/2 and 1/2). With ``random_start``
    the FGSM step starts at a uniform random point of the ball and steps 1.25 eps before
    the projection ("fast is better than free", Wong et al., 2020), which keeps the
    training from fitting FGSM's one image per original only (catastrophic overfitting).
    Adam, a cosine schedule, the last epoch's weights.

    Parameters
    ----------
    network : imagelab.nn.network.Network
        Trained in place; it takes the rows of ``x``.
    x : np.ndarray of float32, shape (N, ...), pixels in [0, 1]
    labels : np.ndarray of int, shape (N,)
    epsilon : float > 0
    num_epoch : int >= 1
    share : float in [0, 1]
        Fraction of each batch replaced (1: every image adversarial).
    random_start : bool
    batch_size : int >= 1
    learning_rate : float > 0
    seed : None, int >= 0 or np.random.Generator
        Seed of the batch order, of the images replaced and of the random starts.

    Returns
    -------
    list of float
        Each epoch's mean training loss over the batches as they were trained on.
    """
    epsilon = check_float(epsilon, "epsilon", 0, include_min=False)
    share = check_float(share, "share", 0, 1)
    num_epoch = check_int(num_epoch, "num_epoch", 1)
    rng = np.random.default_rng(check_seed(seed))
    optimizer = Adam(network.parameters())
    return [train_on_batches(network, optimizer,
                             _adversarial_batches(network, x, labels, epsilon, share,
                                                  random_start, batch_size, rng),
                             learning_rate_at(epoch, learning_rate, num_epoch, "cosine"))
            for epoch in range(num_epoch)]


def _adversarial_batches(network, x, labels, epsilon, share, random_start, batch_size, rng):
    """One epoch's batches (x, labels), a random ``share`` of each batch's images replaced
    by their FGSM images. A generator: each batch is attacked when the training asks for
    it, so on the weights of that step."""
    for index in iterate_minibatches(len(x), batch_size, rng):
        batch, batch_labels = x[index], labels[index]       # a copy (fancy indexing)
        chosen = rng.random(len(index)) < share
        if chosen.any():
            batch[chosen] = _training_attack(network, batch[chosen], batch_labels[chosen],
                                             epsilon, random_start, rng)
        yield batch, batch_labels


def _training_attack(network, x, labels, epsilon, random_start, rng):
    """The FGSM images of adversarial training: plain, or from a random start with a step
    of 1.25 eps (Wong et al.'s alpha), projected back into the ball."""
    if not random_start:
        return fgsm(network, x, labels, epsilon)
    return iterated_attack(network, x, labels, epsilon, steps=1, step_size=1.25 * epsilon,
                           random_start=True, seed=rng)
