"""Dataset and DataLoader: batches that cover the rows once, shuffled from a seed."""
import numpy as np
import pytest

from imagelab.autograd.data import DataLoader, Dataset
from imagelab.training.loop import iterate_minibatches


def rows(n):
    return Dataset(np.arange(n * 2).reshape(n, 2), np.arange(n))


def test_a_dataset_indexes_its_arrays_together():
    dataset = rows(5)
    x, y = dataset[np.array([4, 1])]
    np.testing.assert_array_equal(x, [[8, 9], [2, 3]])
    np.testing.assert_array_equal(y, [4, 1])
    assert len(dataset) == 5


@pytest.mark.parametrize("arrays, message", [
    ((), "at least one array"),
    ((np.zeros(3), np.zeros(2)), r"same length >= 1, got lengths \[3, 2\]"),
    ((np.zeros(0),), r"got lengths \[0\]"),
])
def test_a_dataset_refuses_arrays_of_other_lengths(arrays, message):
    with pytest.raises(ValueError, match=message):
        Dataset(*arrays)


@pytest.mark.parametrize("drop_last, sizes", [(False, [4, 4, 2]), (True, [4, 4])])
def test_batches_in_order_with_the_last_kept_or_dropped(drop_last, sizes):
    loader = DataLoader(rows(10), batch_size=4, drop_last=drop_last)
    batches = [y for _, y in loader]
    assert [len(y) for y in batches] == sizes and len(loader) == len(sizes)
    np.testing.assert_array_equal(np.concatenate(batches), np.arange(sum(sizes)))


def test_shuffled_passes_cover_every_row_once_in_new_orders():
    loader = DataLoader(rows(10), batch_size=3, shuffle=True, rng=0)
    first, second = ([y for _, y in loader] for _ in range(2))
    assert sorted(np.concatenate(first)) == list(range(10))
    assert sorted(np.concatenate(second)) == list(range(10))
    assert not np.array_equal(np.concatenate(first), np.concatenate(second))


def test_the_same_seed_gives_the_batches_of_the_network_trainer():
    loader = DataLoader(rows(10), batch_size=3, shuffle=True, rng=5)
    rng = np.random.default_rng(5)
    for _ in range(2):                                    # two passes, two epochs
        batches, indices = [y for _, y in loader], list(iterate_minibatches(10, 3, rng))
        assert len(batches) == len(indices) == 4
        for y, index in zip(batches, indices):
            np.testing.assert_array_equal(y, index)


def test_the_batch_size_is_checked():
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        DataLoader(rows(3), batch_size=0)
