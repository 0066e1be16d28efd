"""The lab's CIFAR-10 reader: ``read_cifar_batch``, ``read_cifar`` and ``split_dataset``.

The functions live in ``imagelab.data.cifar`` (which also downloads the data when it
is missing); this file keeps the names the lab's handout asks for:

    data, labels = read_cifar_batch("data/cifar-10-batches-py/data_batch_1")
    data, labels = read_cifar("data/cifar-10-batches-py")     # (60000, 3072) float32, int64
    data_train, labels_train, data_test, labels_test = split_dataset(data, labels, 0.9)
"""
from imagelab.data.cifar import read_cifar, read_cifar_batch, split_dataset

__all__ = ["read_cifar_batch", "read_cifar", "split_dataset"]
