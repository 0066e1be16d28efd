"""Tests of imagelab/utils/checks.py: the argument checks every module shares."""
import tracemalloc

import numpy as np
import pytest

from imagelab.utils.checks import (CheckError, check_bool, check_dataset, check_finite, check_float,
                             check_int, check_labels, check_nonnegative, check_seed)


# ---------------------------------------------------------------- check_int

@pytest.mark.parametrize("value", [3, np.int64(3), np.uint8(3)])
def test_check_int_returns_a_python_int(value):
    assert check_int(value, "k", 1, 5) == 3 and type(check_int(value, "k")) is int


@pytest.mark.parametrize("value", [True, np.bool_(True), 2.0, 2.5, None, "2", float("nan")])
def test_check_int_refuses_what_is_not_an_integer(value):
    with pytest.raises(ValueError, match=r"^num_epoch must be an integer >= 1, got "):
        check_int(value, "num_epoch", 1)


@pytest.mark.parametrize("value, message", [
    (0, r"k must be an integer in \[1, 5\], got 0"),
    (6, r"k must be an integer in \[1, 5\], got 6"),
    (np.int64(-5), r"k must be an integer in \[1, 5\], got -5"),   # not np.int64(-5)
])
def test_check_int_bounds_are_inclusive_and_named(value, message):
    assert check_int(1, "k", 1, 5) == 1 and check_int(5, "k", 1, 5) == 5
    with pytest.raises(ValueError, match=f"^{message}$"):
        check_int(value, "k", 1, 5)


def test_check_int_with_a_maximum_only():
    assert check_int(-7, "shift", max_value=0) == -7
    with pytest.raises(ValueError, match="shift must be an integer <= 0, got 1"):
        check_int(1, "shift", max_value=0)


# ---------------------------------------------------------------- check_float

@pytest.mark.parametrize("value", [0.5, 1, np.float32(0.5), np.int64(2)])
def test_check_float_returns_a_python_float(value):
    assert type(check_float(value, "learning_rate", 0, include_min=False)) is float


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), np.float64("nan"),
                                   0, -1, True, "0.1", None])
def test_check_float_refuses_nan_inf_out_of_range_and_non_numbers(value):
    with pytest.raises(ValueError, match=r"^learning_rate must be a finite number > 0, got "):
        check_float(value, "learning_rate", 0, include_min=False)


def test_check_float_message_shows_numpy_scalars_as_numbers():
    with pytest.raises(ValueError, match=r"got nan$"):
        check_float(np.float64("nan"), "learning_rate")


@pytest.mark.parametrize("value, accepted", [(0, True), (0.999, True), (1, False), (-0.1, False)])
def test_check_float_half_open_interval(value, accepted):
    if accepted:
        assert check_float(value, "dropout", 0, 1, include_max=False) == value
    else:
        with pytest.raises(ValueError, match=r"dropout must be a finite number in \[0, 1\)"):
            check_float(value, "dropout", 0, 1, include_max=False)


# ---------------------------------------------------------------- check_bool

def test_check_bool_accepts_python_and_numpy_bools():
    assert check_bool(np.bool_(False), "bias") is False and check_bool(True, "bias") is True


@pytest.mark.parametrize("value, shown", [(0, "0"), (1, "1"), ("false", "'false'"),
                                          (None, "None")])
def test_check_bool_refuses_what_only_reads_as_true_or_false(value, shown):
    with pytest.raises(ValueError, match=f"^bias must be True or False, got {shown}$"):
        check_bool(value, "bias")


# ---------------------------------------------------------------- check_seed

def test_check_seed_accepts_none_integers_and_generators():
    rng = np.random.default_rng(0)
    assert check_seed(None) is None and check_seed(rng) is rng
    assert check_seed(np.int32(7)) == 7 and check_seed(0) == 0


@pytest.mark.parametrize("seed", [-1, 2.5, True, "0", [1, 2]])
def test_check_seed_refuses_by_name(seed):
    with pytest.raises(ValueError, match=r"^init_seed must be None, an integer >= 0 or a "
                                         r"numpy.random.Generator, got "):
        check_seed(seed, "init_seed")


def test_check_seed_can_refuse_generators():
    assert check_seed(3, allow_generator=False) == 3
    with pytest.raises(ValueError, match=r"^seed must be None or an integer >= 0, got Generator"):
        check_seed(np.random.default_rng(0), allow_generator=False)


# ---------------------------------------------------------------- check_finite

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_check_finite_names_the_first_bad_entry(bad):
    array = np.zeros((3, 4), np.float32)
    array[1, 2] = array[2, 0] = bad
    with pytest.raises(ValueError, match=rf"^scores must hold finite values, got {bad} at "
                                         r"index \(1, 2\)$"):
        check_finite(array, "scores")


def test_check_finite_accepts_finite_values_whose_sum_overflows():
    # The sum is inf, so the entries are looked at: none is bad.
    check_finite(np.full(4, np.finfo(np.float64).max), "x")
    check_finite(np.array([[1e308, -1e308, 1e308, 1e308]]), "x")


def test_check_finite_accepts_integers_and_lists_and_refuses_complex_nan():
    check_finite(np.array([2**62, 2**62]), "x")              # integers are always finite
    with pytest.raises(ValueError, match=r"x must hold finite values, got nan at index \(1,\)"):
        check_finite([1.0, np.nan], "x")
    with pytest.raises(ValueError, match="x must hold finite values"):
        check_finite(np.array([1, complex(0, np.inf)]), "x")


def test_check_finite_allocates_no_full_size_mask():
    data = np.ones((1000, 3072), np.float32)                   # 12 MB; a bool mask is 3 MB
    tracemalloc.start()
    try:
        check_finite(data, "data")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1e6


# ---------------------------------------------------------------- check_nonnegative

@pytest.mark.parametrize("bad, shown", [(np.nan, "nan"), (-1.0, "-1.0"), (-np.inf, "-inf")])
def test_check_nonnegative_names_the_first_bad_entry(bad, shown):
    dists = np.ones((2, 3))
    dists[1, 1] = bad
    with pytest.raises(ValueError, match=rf"^dists must hold values >= 0, got {shown} at "
                                         r"index \(1, 1\)$"):
        check_nonnegative(dists, "dists")


def test_check_nonnegative_accepts_zero_inf_and_empty_arrays():
    check_nonnegative(np.array([[0.0, np.inf]]), "dists")
    check_nonnegative(np.zeros((3, 0)), "dists")
    check_nonnegative([1, 2], "dists")
    with pytest.raises(ValueError, match="dists must hold real numbers, got dtype <U1"):
        check_nonnegative(np.array(["a"]), "dists")


# ---------------------------------------------------------------- check_labels

def test_check_labels_returns_int64():
    labels = check_labels(np.array([2, 0], np.uint8), num_classes=3)
    assert labels.dtype == np.int64 and labels.tolist() == [2, 0]


@pytest.mark.parametrize("labels, message", [
    ([[0], [1]], r"labels_train must be a 1-D array of class codes, got shape \(2, 1\)"),
    ([0.0, 1.0], "labels_train must hold integers, got dtype float64"),
    ([0, 3], r"labels_train must lie in 0\.\.2, got 3"),
    ([-1, 0], r"labels_train must lie in 0\.\.2, got -1"),
])
def test_check_labels_refuses(labels, message):
    with pytest.raises(ValueError, match=message):
        check_labels(labels, "labels_train", num_classes=3)


# ---------------------------------------------------------------- check_dataset

def test_check_dataset_returns_arrays():
    data, labels = check_dataset([[1.0, 2.0], [3.0, 4.0]], np.array([1, 0], np.int32))
    assert isinstance(data, np.ndarray) and data.shape == (2, 2)
    assert labels.dtype == np.int64 and labels.tolist() == [1, 0]
    array = np.zeros((3, 2), np.float32)
    assert check_dataset(array)[0] is array  # no copy
    assert check_dataset(array)[1] is None


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_check_dataset_refuses_nan_and_inf(bad):
    data = np.zeros((3, 4), np.float32)
    data[1, 2] = bad
    with pytest.raises(ValueError, match=r"data_test must hold finite values, got .* at index "
                                         r"\(1, 2\)"):
        check_dataset(data, name="data_test")


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4), (0, 3), (), (3, 0)])
def test_check_dataset_refuses_wrong_ndim_or_empty(shape):
    with pytest.raises(ValueError, match=r"data_train must be a non-empty 2-D array.*got shape"):
        check_dataset(np.zeros(shape), name="data_train")


def test_check_dataset_refuses_non_numbers():
    with pytest.raises(ValueError, match="data must hold real numbers, got dtype <U1"):
        check_dataset([["a", "b"]])


@pytest.mark.parametrize("labels", [[0, 1], [0, 1, 2, 3]])
def test_check_dataset_refuses_labels_that_do_not_match(labels):
    with pytest.raises(ValueError, match="has 3 rows but its labels have .*one label per row"):
        check_dataset(np.zeros((3, 2)), labels)


def test_check_dataset_refuses_labels_that_are_not_1d():
    with pytest.raises(ValueError, match="labels of data must be a 1-D array"):
        check_dataset(np.zeros((3, 2)), [[0], [1], [2]])


def test_check_dataset_refuses_float_labels():
    with pytest.raises(ValueError, match="labels of data must hold integers, got dtype float64"):
        check_dataset(np.zeros((2, 2)), [0.0, 1.0])


# ---------------------------------------------------------------- CheckError

@pytest.mark.parametrize("check, value, expected", [
    (lambda v: check_int(v, "k", 1), 0, "an integer >= 1"),
    (lambda v: check_float(v, "rate", 0, 1, include_max=False), 1.5,
     "a finite number in [0, 1)"),
])
def test_a_refusal_keeps_its_parts(check, value, expected):
    with pytest.raises(CheckError) as info:
        check(value)
    error = info.value
    assert isinstance(error, ValueError)
    assert (error.expected, error.value) == (expected, value)
    assert str(error) == f"{error.name} must be {expected}, got {value}"
