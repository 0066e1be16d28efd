"""A multilayer perceptron (MLP) with one hidden layer, trained by gradient descent.

The network of the lab, in plain NumPy (shapes for a batch of N rows):

    A0 = X                      (N, d_in)    the data
    Z1 = A0 @ W1 + B1           (N, d_h)     W1: (d_in, d_h),  B1: (1, d_h)
    A1 = sigmoid(Z1)            (N, d_h)
    Z2 = A1 @ W2 + B2           (N, d_out)   W2: (d_h, d_out), B2: (1, d_out)
    A2 = sigmoid(Z2) or softmax(Z2)          the output

Gradients are written by hand (derived in docs/lab.md). ``learn_once_mse``,
``one_hot``, ``learn_once_cross_entropy``, ``train_mlp``, ``test_mlp`` and
``run_mlp_training`` are the lab's contract, re-exported by ``mlp.py`` at the
repository's root.
"""
import numpy as np

from imagelab.data.preprocessing import standardize
from imagelab.nn.functional import log_softmax, one_hot, sigmoid
from imagelab.utils.checks import check_dataset, check_finite, check_float, check_int, check_seed


def _as_float(data):
    """The data as floats: float32 and float64 stay as they are, integers become float32."""
    data = np.asarray(data)
    return data if np.issubdtype(data.dtype, np.floating) else data.astype(np.float32)


def _same_dtype(dtype, *weights):
    """The weights in the data's dtype, so that float32 data is never upcast."""
    return [np.asarray(w, dtype=dtype) for w in weights]


def forward(w1, b1, w2, b2, data):
    """Forward pass up to the output layer's input.

    Returns
    -------
    a1 : np.ndarray, shape (N, d_h)
        Hidden layer output, sigmoid(data @ w1 + b1).
    z2 : np.ndarray, shape (N, d_out)
        Output layer input (the logits), a1 @ w2 + b2.
    """
    a1 = sigmoid(data @ w1 + b1)
    return a1, a1 @ w2 + b2


def backward(data, a1, w2, dz2):
    """Gradients of the loss with respect to the weights, given dC/dZ2.

    Parameters
    ----------
    data : (N, d_in), a1 : (N, d_h), w2 : (d_h, d_out)
    dz2 : np.ndarray, shape (N, d_out)
        dC/dZ2, the gradient of the loss with respect to the output layer's input.

    Returns
    -------
    dw1 (d_in, d_h), db1 (1, d_h), dw2 (d_h, d_out), db2 (1, d_out)
    """
    dw2 = a1.T @ dz2                          # dC/dW2 = A1^T dC/dZ2
    db2 = dz2.sum(axis=0, keepdims=True)      # dC/dB2 = sum of dC/dZ2 over the rows
    da1 = dz2 @ w2.T                          # dC/dA1 = dC/dZ2 W2^T
    dz1 = da1 * a1 * (1 - a1)                 # dC/dZ1 = dC/dA1 * A1 * (1 - A1)
    dw1 = data.T @ dz1                        # dC/dW1 = A0^T dC/dZ1
    db1 = dz1.sum(axis=0, keepdims=True)      # dC/dB1 = sum of dC/dZ1 over the rows
    return dw1, db1, dw2, db2


def _check_learning_rate(learning_rate):
    """The learning rate as a float, or a ValueError unless it is finite and > 0."""
    return check_float(learning_rate, "learning_rate", 0, include_min=False)


def _descend(weights, gradients, learning_rate):
    """One gradient descent step: w - learning_rate * dC/dw for each weight array."""
    return [w - learning_rate * g for w, g in zip(weights, gradients)]


def learn_once_mse(w1, b1, w2, b2, data, targets, learning_rate):
    """One gradient descent step on the mean squared error, sigmoid output layer.

    Parameters
    ----------
    w1 : (d_in, d_h), b1 : (1, d_h), w2 : (d_h, d_out), b2 : (1, d_out)
        Weights and biases of the network.
    data : np.ndarray, shape (N, d_in)
    targets : np.ndarray, shape (N, d_out)
    learning_rate : float > 0

    Returns
    -------
    w1, b1, w2, b2 : np.ndarray
        The updated weights and biases (new arrays; the inputs are not modified), in
        the data's floating dtype.
    loss : float
        The loss before the step: the mean of (A2 - targets)^2 over all N * d_out entries.

    Raises
    ------
    ValueError
        If the data is not a finite 2-D array, the weights or ``targets`` do not have
        the shapes above, ``targets`` holds NaN or inf, or ``learning_rate`` is not a
        finite number > 0.
    """
    w1, b1, w2, b2, data, _ = _check_network(w1, b1, w2, b2, data)
    targets = _check_targets(targets, data.shape[0], w2.shape[1])
    learning_rate = _check_learning_rate(learning_rate)
    a1, z2 = forward(w1, b1, w2, b2, data)
    a2 = sigmoid(z2)
    loss = np.mean(np.square(a2 - targets))
    da2 = 2 * (a2 - targets) / a2.size        # dC/dA2 = 2 (A2 - Y) / (N d_out)
    dz2 = (da2 * a2 * (1 - a2)).astype(data.dtype, copy=False)   # dC/dZ2 = dC/dA2 * A2 (1 - A2)
    gradients = backward(data, a1, w2, dz2)
    return (*_descend((w1, b1, w2, b2), gradients, learning_rate), float(loss))


def _cross_entropy_step(w1, b1, w2, b2, data, labels, learning_rate, a1, z2):
    """One gradient descent step on the cross-entropy, from a forward pass already made."""
    y = one_hot(labels, num_classes=w2.shape[1])             # (N, d_out)
    log_a2 = log_softmax(z2)
    loss = -np.mean(np.sum(y * log_a2, axis=1))             # C = -mean_n sum_c Y log A2
    dz2 = ((np.exp(log_a2) - y) / len(data)).astype(data.dtype, copy=False)  # (A2 - Y) / N
    gradients = backward(data, a1, w2, dz2)
    return (*_descend((w1, b1, w2, b2), gradients, learning_rate), float(loss))


def _check_network(w1, b1, w2, b2, data, labels=None):
    """Validate a network applied to data (labelled or not); return the cleaned arrays.

    The data must be a finite 2-D array, the weights finite and of matching shapes,
    and the labels (if given) one integer in 0..d_out-1 per row.
    """
    data, labels = check_dataset(data, labels)
    data = _as_float(data)
    weights = dict(zip(("w1", "b1", "w2", "b2"), _same_dtype(data.dtype, w1, b1, w2, b2)))
    for name, w in weights.items():
        if w.ndim != 2:
            raise ValueError(f"{name} must be a 2-D array, got shape {w.shape}")
        check_finite(w, name)
    d_in, d_h, d_out = data.shape[1], weights["w1"].shape[1], weights["w2"].shape[1]
    expected = {"w1": (d_in, d_h), "b1": (1, d_h), "w2": (d_h, d_out), "b2": (1, d_out)}
    for name, w in weights.items():
        if w.shape != expected[name]:
            raise ValueError(f"{name} has shape {w.shape}, expected {expected[name]} for "
                             f"data with {d_in} features, {d_h} hidden and {d_out} output units")
    if labels is not None and (labels.min() < 0 or labels.max() >= d_out):
        raise ValueError(f"labels must lie in 0..{d_out - 1} (the network has {d_out} "
                         f"outputs), got values from {labels.min()} to {labels.max()}")
    return (*weights.values(), data, labels)


def _check_targets(targets, n, d_out):
    """The targets as a finite array of shape (n, d_out), one row of outputs per row of data."""
    targets, _ = check_dataset(targets, name="targets")
    if targets.shape != (n, d_out):
        raise ValueError(f"targets must have shape {(n, d_out)} (one row of {d_out} outputs "
                         f"per row of data), got shape {targets.shape}")
    return targets


def learn_once_cross_entropy(w1, b1, w2, b2, data, labels_train, learning_rate):
    """One gradient descent step on the cross-entropy, softmax output layer.

    With a softmax output A2 and the one-hot encoding Y of the labels, the loss is
    C = -(1/N) sum_n sum_c Y[n, c] log A2[n, c] (the lab's "binary cross-entropy"
    summed over the one-hot outputs), and dC/dZ2 = (A2 - Y) / N.

    Parameters
    ----------
    w1 : (d_in, d_h), b1 : (1, d_h), w2 : (d_h, d_out), b2 : (1, d_out)
        Weights and biases of the network; d_out is the number of classes.
    data : np.ndarray, shape (N, d_in)
    labels_train : np.ndarray of int, shape (N,)
        Class codes in 0..d_out-1.
    learning_rate : float > 0

    Returns
    -------
    w1, b1, w2, b2 : np.ndarray
        The updated weights and biases (new arrays), in the data's floating dtype.
    loss : float
        The cross-entropy before the step.

    Raises
    ------
    ValueError
        If the data is not a finite 2-D array, the weights do not have the shapes
        above, a label is not an integer in 0..d_out-1 or ``learning_rate`` is not a
        finite number > 0.
    """
    w1, b1, w2, b2, data, labels = _check_network(w1, b1, w2, b2, data, labels_train)
    learning_rate = _check_learning_rate(learning_rate)
    a1, z2 = forward(w1, b1, w2, b2, data)
    return _cross_entropy_step(w1, b1, w2, b2, data, labels, learning_rate, a1, z2)


def _accuracy(z2, labels):
    """Fraction of rows whose largest output is at the true label."""
    return float(np.mean(np.argmax(z2, axis=1) == labels))


def train_mlp(w1, b1, w2, b2, data_train, labels_train, learning_rate, num_epoch,
              verbose=False):
    """Train the network for ``num_epoch`` full-batch gradient descent steps.

    Parameters
    ----------
    w1 : (d_in, d_h), b1 : (1, d_h), w2 : (d_h, d_out), b2 : (1, d_out)
        Initial weights and biases.
    data_train : np.ndarray, shape (N, d_in)
    labels_train : np.ndarray of int, shape (N,)
    learning_rate : float > 0
    num_epoch : int >= 1
    verbose : bool, optional
        Print the loss and the accuracy after every epoch.

    Returns
    -------
    w1, b1, w2, b2 : np.ndarray
        The trained weights and biases, in the data's floating dtype.
    train_accuracies : list of float
        ``num_epoch`` values: the accuracy on ``data_train`` after each epoch's step.

    Raises
    ------
    ValueError
        As ``learn_once_cross_entropy``, or if ``num_epoch`` is not an integer >= 1.
    """
    w1, b1, w2, b2, data, labels = _check_network(w1, b1, w2, b2, data_train, labels_train)
    learning_rate = _check_learning_rate(learning_rate)
    num_epoch = check_int(num_epoch, "num_epoch", 1)
    train_accuracies = []
    # The forward pass that measures the accuracy after a step is also the one the
    # next step starts from, so an epoch costs one forward and one backward pass.
    a1, z2 = forward(w1, b1, w2, b2, data)
    for epoch in range(num_epoch):
        w1, b1, w2, b2, loss = _cross_entropy_step(w1, b1, w2, b2, data, labels,
                                                   learning_rate, a1, z2)
        a1, z2 = forward(w1, b1, w2, b2, data)
        train_accuracies.append(_accuracy(z2, labels))
        if verbose:
            print(f"epoch {epoch + 1:3d}/{num_epoch}  loss {loss:.4f}  "
                  f"train accuracy {train_accuracies[-1]:.4f}")
    return w1, b1, w2, b2, train_accuracies


def test_mlp(w1, b1, w2, b2, data_test, labels_test):
    """Accuracy of the network on a test set.

    Parameters
    ----------
    w1 : (d_in, d_h), b1 : (1, d_h), w2 : (d_h, d_out), b2 : (1, d_out)
    data_test : np.ndarray, shape (N, d_in)
    labels_test : np.ndarray of int, shape (N,)

    Returns
    -------
    test_accuracy : float
        Fraction of test rows whose largest output is at the true label, in [0, 1].
    """
    w1, b1, w2, b2, data, labels = _check_network(w1, b1, w2, b2, data_test, labels_test)
    return _accuracy(forward(w1, b1, w2, b2, data)[1], labels)


test_mlp.__test__ = False  # its name starts with "test": tell pytest it is not a test


def init_weights(d_in, d_h, d_out, seed=None, dtype=np.float32):
    """Random weights and zero biases for the network (Glorot/Xavier uniform).

    Each weight matrix is drawn from U(-r, r) with r = sqrt(6 / (fan_in + fan_out)),
    which keeps the variance of the signal about the same from layer to layer; the
    lab's U(-1, 1) saturates the sigmoids of the hidden layer on 3,072 inputs.

    Parameters
    ----------
    d_in, d_h, d_out : int >= 1
        Sizes of the input, hidden and output layers.
    seed : None, int >= 0 or np.random.Generator, optional
    dtype : floating dtype, optional

    Returns
    -------
    w1 (d_in, d_h), b1 (1, d_h), w2 (d_h, d_out), b2 (1, d_out), all of ``dtype``.
    """
    d_in, d_h, d_out = (check_int(size, name, 1) for size, name in
                        [(d_in, "d_in"), (d_h, "d_h"), (d_out, "d_out")])
    rng = np.random.default_rng(check_seed(seed))

    def glorot(fan_in, fan_out):
        r = np.sqrt(6 / (fan_in + fan_out))
        return rng.uniform(-r, r, size=(fan_in, fan_out)).astype(dtype)

    return (glorot(d_in, d_h), np.zeros((1, d_h), dtype),
            glorot(d_h, d_out), np.zeros((1, d_out), dtype))


def run_mlp_training(data_train, labels_train, data_test, labels_test, d_h,
                     learning_rate, num_epoch, seed=None, num_classes=None, verbose=False):
    """Train an MLP classifier on the training set and test it.

    The features are first standardised with the training set's statistics
    (``standardize``), and the weights drawn by ``init_weights``.

    Parameters
    ----------
    data_train : np.ndarray, shape (N_train, d_in)
    labels_train : np.ndarray of int, shape (N_train,)
    data_test : np.ndarray, shape (N_test, d_in)
    labels_test : np.ndarray of int, shape (N_test,)
    d_h : int >= 1
        Number of neurons of the hidden layer.
    learning_rate : float > 0
    num_epoch : int >= 1
    seed : None, int >= 0 or np.random.Generator, optional
        Seed of the weight initialisation.
    num_classes : int >= 1, optional
        Number of outputs; by default 1 + the largest label of either set.
    verbose : bool, optional
        Print the progress of every epoch.

    Returns
    -------
    train_accuracies : list of float
        The training accuracy after each epoch.
    test_accuracy : float
        The accuracy of the trained network on the test set.

    Raises
    ------
    ValueError
        On a bad dataset (see ``imagelab.utils.checks.check_dataset``), feature sizes that
        differ, or a bad ``d_h``, ``learning_rate``, ``num_epoch``, ``seed`` or
        ``num_classes``: all checked before any work is done.
    """
    data_train, labels_train = check_dataset(data_train, labels_train, name="data_train")
    data_test, labels_test = check_dataset(data_test, labels_test, name="data_test")
    if data_train.shape[1] != data_test.shape[1]:
        raise ValueError(f"data_train has {data_train.shape[1]} features per row "
                         f"but data_test has {data_test.shape[1]}")
    _check_learning_rate(learning_rate)
    check_int(num_epoch, "num_epoch", 1)
    if num_classes is None:
        num_classes = int(max(labels_train.max(), labels_test.max())) + 1
    else:
        num_classes = check_int(num_classes, "num_classes", 1)
    # init_weights checks d_h and seed: before the standardisation, a pass over the data.
    w1, b1, w2, b2 = init_weights(data_train.shape[1], d_h, num_classes, seed=seed)
    data_train, data_test = standardize(data_train, data_test)
    w1, b1, w2, b2, train_accuracies = train_mlp(w1, b1, w2, b2, data_train, labels_train,
                                                 learning_rate, num_epoch, verbose=verbose)
    return train_accuracies, test_mlp(w1, b1, w2, b2, data_test, labels_test)
