"""Training a Tensor model: one epoch over a DataLoader, and predictions by batches.

The Tensor's counterpart of ``imagelab.training.loop`` for the layer stack.
"""
import numpy as np

from imagelab.autograd.tensor import Tensor, no_grad


def predict(model, data, batch_size=4096):
    """The outputs of ``model`` for the rows of ``data``, in evaluation mode, without graph.

    Parameters
    ----------
    model : imagelab.autograd.nn.Module
    data : np.ndarray, shape (N, d_in)
        In the dtype of the model's parameters.

    Returns
    -------
    np.ndarray, shape (N, d_out)
        By batches of ``batch_size`` rows, to bound the memory; the model's mode is
        restored.
    """
    training = model.training
    model.eval()
    with no_grad():
        outputs = [model(Tensor(data[i:i + batch_size])).data
                   for i in range(0, len(data), batch_size)]
    model.train(training)
    return np.concatenate(outputs)


def train_epoch(model, loader, loss, optimizer):
    """One pass over ``loader``: for each batch, forward, loss, backward, optimizer step.

    Parameters
    ----------
    model : imagelab.autograd.nn.Module
    loader : imagelab.autograd.data.DataLoader
        Yields (rows, targets) batches.
    loss : callable
        (outputs Tensor, targets) -> scalar Tensor, e.g. ``cross_entropy``.
    optimizer : imagelab.autograd.optim.SGD or Adam
        Built on ``model.parameters()``.

    Returns
    -------
    float
        The mean of the batches' losses over the rows, as the weights moved.
    """
    model.train()
    total = count = 0
    for x, y in loader:
        value = loss(model(Tensor(x)), y)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        total += value.item() * len(x)
        count += len(x)
    return total / count
