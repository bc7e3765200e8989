"""Tests of eostutor.datasets: determinism, splits, scaling, shapes, dtypes and argument checks."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from eostutor import datasets
from eostutor.datasets import (
    DATASETS,
    Dataset,
    digits,
    gaussian_clusters,
    make_dataset,
    teacher_student,
    two_moons,
)

# Small versions of every generator, keyed by registry name.
SMALL = {
    "digits": dict(n_train=100, n_test=50),
    "gaussian_clusters": dict(num_classes=3, dim=2, n_train=30, n_test=12),
    "two_moons": dict(n_train=40, n_test=10),
    "teacher_student": dict(n_train=30, n_test=10, dim=4, outputs=2),
}
TENSORS = ("x_train", "y_train", "x_test", "y_test")


def test_registry_lists_every_generator():
    assert set(DATASETS) == set(SMALL)
    for _name, (fn, description) in DATASETS.items():
        assert callable(fn) and isinstance(description, str) and description


# --- determinism -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(SMALL))
def test_same_seed_gives_identical_tensors(name):
    a = make_dataset(name, seed=3, **SMALL[name])
    b = make_dataset(name, seed=3, **SMALL[name])
    for attr in TENSORS:
        assert torch.equal(getattr(a, attr), getattr(b, attr)), attr


@pytest.mark.parametrize("name", sorted(SMALL))
def test_different_seeds_give_different_data(name):
    a = make_dataset(name, seed=0, **SMALL[name])
    b = make_dataset(name, seed=1, **SMALL[name])
    assert not torch.equal(a.x_train, b.x_train)
    assert not torch.equal(a.x_test, b.x_test)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_make_dataset_matches_direct_call(name):
    direct = getattr(datasets, name)(seed=2, **SMALL[name])
    named = make_dataset(name, seed=2, **SMALL[name])
    assert named.name == name
    for attr in TENSORS:
        assert torch.equal(getattr(direct, attr), getattr(named, attr))


# --- shapes, dtypes, properties --------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", sorted(SMALL))
def test_dtype_and_shapes(name, dtype):
    ds = make_dataset(name, dtype=dtype, **SMALL[name])
    kw = SMALL[name]
    assert ds.x_train.dtype == dtype and ds.x_test.dtype == dtype
    assert ds.n_train == kw["n_train"] and ds.n_test == kw["n_test"]
    assert ds.x_train.shape == (ds.n_train, ds.input_dim)
    assert ds.x_test.shape == (ds.n_test, ds.input_dim)
    if ds.num_classes is None:
        assert ds.task == "regression"
        assert ds.y_train.dtype == dtype
        assert ds.y_train.shape == (ds.n_train, ds.output_dim)
        assert ds.y_test.shape == (ds.n_test, ds.output_dim)
    else:
        assert ds.task == "classification"
        assert ds.y_train.dtype == torch.int64 and ds.y_test.dtype == torch.int64
        assert ds.y_train.shape == (ds.n_train,) and ds.y_test.shape == (ds.n_test,)
        assert ds.output_dim == ds.num_classes
        assert int(ds.y_train.min()) >= 0 and int(ds.y_train.max()) < ds.num_classes
    assert torch.isfinite(ds.x_train).all() and torch.isfinite(ds.x_test).all()
    assert name in repr(ds) and ds.description


def test_dataset_uses_identity_equality():
    # The fields are tensors: value equality would raise; identity equality and hashing must work.
    a = gaussian_clusters(n_train=6, n_test=3)
    b = gaussian_clusters(n_train=6, n_test=3)
    assert a == a and a != b
    assert len({a, b}) == 2


def test_dataset_is_frozen():
    ds = two_moons(n_train=4, n_test=2)
    with pytest.raises(AttributeError):
        ds.num_classes = 3


# --- digits -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_train", [10, 100, 555, 1000, 1740])
def test_digits_split_is_balanced(n_train):
    ds = digits(n_train=n_train, seed=4)
    counts = np.bincount(ds.y_train.numpy(), minlength=10)
    assert counts.sum() == n_train
    assert np.all(np.abs(counts - n_train / 10) <= 1), counts


def test_digits_largest_split_takes_what_each_class_has():
    ds = digits(n_train=1787, n_test=10, scale="none")
    counts = np.bincount(ds.y_train.numpy(), minlength=10)
    assert counts.sum() == 1787
    assert counts.min() == 174  # the rarest digit gives all its images


def test_digits_split_partitions_the_data():
    ds = digits(n_train=700, scale="none", seed=5)
    assert ds.n_train + ds.n_test == 1797
    x_all, y_all = datasets._load_digits()
    both = np.concatenate(
        [
            np.column_stack([ds.x_train.numpy(), ds.y_train.numpy()]),
            np.column_stack([ds.x_test.numpy(), ds.y_test.numpy()]),
        ]
    )
    full = np.column_stack([x_all, y_all])
    # Same multiset of (image, label) rows: no image lost or duplicated by the split.
    assert np.array_equal(both[np.lexsort(both.T)], full[np.lexsort(full.T)])


def test_digits_n_test_limits_the_test_part():
    ds = digits(n_train=200, n_test=37)
    assert ds.n_test == 37
    assert digits(n_train=200).n_test == 1597


def test_digits_standardize_uses_training_statistics():
    raw = digits(n_train=400, scale="none", seed=1)
    std_ds = digits(n_train=400, scale="standardize", seed=1)
    x = std_ds.x_train.numpy()
    raw_x = raw.x_train.numpy()
    varying = raw_x.std(axis=0) > 0
    assert 0 < varying.sum() < 64  # the digits have constant border pixels
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(x[:, varying].std(axis=0), 1.0, rtol=1e-12)
    assert np.all(x[:, ~varying] == 0.0)
    # The test part is transformed with the training mean and std (no peeking at the test data).
    mean, sd = raw_x.mean(axis=0), raw_x.std(axis=0)
    sd[sd == 0] = 1.0
    np.testing.assert_allclose(std_ds.x_test.numpy(), (raw.x_test.numpy() - mean) / sd, atol=1e-12)


def test_digits_unit_and_none_scales():
    unit = digits(n_train=300, scale="unit", seed=2)
    raw = digits(n_train=300, scale="none", seed=2)
    for ds in (unit, raw):
        assert ds.input_dim == 64 and ds.num_classes == 10
    assert float(unit.x_train.min()) == 0.0 and float(unit.x_train.max()) == 1.0
    assert float(raw.x_train.min()) == 0.0 and float(raw.x_train.max()) == 16.0
    assert torch.equal(raw.x_train, torch.round(raw.x_train))  # raw pixel counts are integers
    torch.testing.assert_close(unit.x_train * 16.0, raw.x_train, rtol=0, atol=1e-12)
    assert torch.equal(unit.y_train, raw.y_train)


def test_digits_float32():
    ds = digits(n_train=50, dtype=torch.float32)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64


def test_digits_load_is_cached_and_not_mutated():
    datasets._load_digits()  # warm
    before = datasets._load_digits.cache_info()
    first = digits(n_train=50, scale="none")
    first.x_train.add_(100.0)  # callers own their tensors: this must not reach the cache
    again = digits(n_train=50, scale="none")
    after = datasets._load_digits.cache_info()
    assert after.hits >= before.hits + 2 and after.misses == before.misses
    assert float(again.x_train.max()) == 16.0
    x_cached, y_cached = datasets._load_digits()
    assert not x_cached.flags.writeable and not y_cached.flags.writeable


def test_importing_problems_does_not_import_sklearn():
    code = (
        "import sys\n"
        "import eostutor.problems, eostutor.datasets as d\n"
        "assert 'sklearn' not in sys.modules, 'import'\n"
        "d.gaussian_clusters(n_train=6, n_test=2); d.teacher_student(n_train=3, n_test=1)\n"
        "assert 'sklearn' not in sys.modules, 'numpy-only generators'\n"
        "d.digits(n_train=20)\n"
        "assert 'sklearn' not in sys.modules, 'digits: read from scikit-learn\\'s data file, no import'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


# --- gaussian_clusters, two_moons, teacher_student --------------------------------------------------
@pytest.mark.parametrize("num_classes", [2, 3, 10, 26])
def test_gaussian_clusters_has_k_balanced_classes(num_classes):
    ds = gaussian_clusters(num_classes=num_classes, dim=3, n_train=4 * num_classes, n_test=2 * num_classes)
    assert ds.num_classes == num_classes and ds.output_dim == num_classes and ds.input_dim == 3
    assert np.array_equal(np.bincount(ds.y_train.numpy(), minlength=num_classes), np.full(num_classes, 4))
    assert np.array_equal(np.bincount(ds.y_test.numpy(), minlength=num_classes), np.full(num_classes, 2))


def test_gaussian_clusters_spread_is_the_within_class_std():
    ds = gaussian_clusters(num_classes=3, dim=2, n_train=3000, n_test=3, spread=0.25, separation=5.0)
    x, y = ds.x_train.numpy(), ds.y_train.numpy()
    for k in range(3):
        np.testing.assert_allclose(x[y == k].std(axis=0), 0.25, rtol=0.1)
    # Train and test share the class centres.
    xt, yt = ds.x_test.numpy(), ds.y_test.numpy()
    centres = np.stack([x[y == k].mean(axis=0) for k in range(3)])
    assert np.all(np.linalg.norm(xt - centres[yt], axis=1) < 5 * 0.25)


def test_two_moons_without_noise_lies_on_the_two_half_circles():
    ds = two_moons(n_train=60, n_test=20, noise=0.0, seed=3)
    assert ds.num_classes == 2 and ds.input_dim == 2
    x = torch.cat([ds.x_train, ds.x_test]).numpy()
    y = torch.cat([ds.y_train, ds.y_test]).numpy()
    assert set(y.tolist()) == {0, 1}
    # sklearn's moons: class 0 on the upper unit half circle about (0, 0), class 1 on the lower one
    # about (1, 0.5).
    np.testing.assert_allclose(np.linalg.norm(x[y == 0], axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(x[y == 1] - [1.0, 0.5], axis=1), 1.0, atol=1e-12)
    assert np.all(x[y == 0, 1] >= -1e-12) and np.all(x[y == 1, 1] <= 0.5 + 1e-12)


def test_teacher_student_is_regression_with_output_dim():
    ds = teacher_student(n_train=25, n_test=7, dim=5, outputs=3, teacher_hidden=4)
    assert ds.num_classes is None and ds.task == "regression"
    assert ds.output_dim == 3 and ds.input_dim == 5
    assert ds.y_train.shape == (25, 3) and ds.y_test.shape == (7, 3)
    assert float(ds.y_train.std()) > 0


def test_teacher_student_noise_only_perturbs_targets():
    clean = teacher_student(n_train=4000, n_test=5, dim=3, noise=0.0, seed=7)
    noisy = teacher_student(n_train=4000, n_test=5, dim=3, noise=0.5, seed=7)
    assert torch.equal(clean.x_train, noisy.x_train)
    residual = (noisy.y_train - clean.y_train).numpy()
    assert abs(residual.std() - 0.5) < 0.03 and abs(residual.mean()) < 0.03


# --- argument checks ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: make_dataset("mnist"), "unknown dataset 'mnist'"),
        (lambda: digits(scale="minmax"), "unknown scale 'minmax'"),
        (lambda: digits(n_train=0), "n_train .* got 0"),
        (lambda: digits(n_train=1788), "n_train .* got 1788"),
        (lambda: digits(n_train=1000, n_test=800), "n_test .* got 800"),
        (lambda: digits(n_train=2.5), "n_train must be an integer, got 2.5"),
        (lambda: digits(dtype=torch.float16), "dtype .* got torch.float16"),
        (lambda: digits(seed=-1), "seed .* got -1"),
        (lambda: gaussian_clusters(num_classes=1), "num_classes .* got 1"),
        (lambda: gaussian_clusters(num_classes=5, n_train=4), "n_train .* got 4"),
        (lambda: gaussian_clusters(dim=0), "dim .* got 0"),
        (lambda: gaussian_clusters(spread=0.0), "spread .* got 0.0"),
        (lambda: gaussian_clusters(separation=-1.0), "separation .* got -1.0"),
        (lambda: gaussian_clusters(dtype=torch.int64), "dtype .* got torch.int64"),
        (lambda: gaussian_clusters(seed=-3), "seed .* got -3"),
        (lambda: two_moons(noise=-0.1), "noise .* got -0.1"),
        (lambda: two_moons(n_train=1), "n_train .* got 1"),
        (lambda: two_moons(seed=-2), "seed .* got -2"),
        (lambda: teacher_student(outputs=0), "outputs .* got 0"),
        (lambda: teacher_student(teacher_hidden=0), "teacher_hidden .* got 0"),
        (lambda: teacher_student(noise=math.nan), "noise .* got nan"),
        (lambda: teacher_student(dtype=torch.float16), "dtype .* got torch.float16"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_value(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_dataset_fields():
    ds = Dataset("toy", torch.zeros(3, 2), torch.zeros(3, dtype=torch.int64), torch.zeros(1, 2),
                 torch.zeros(1, dtype=torch.int64), 4, "zeros")
    assert (ds.input_dim, ds.output_dim, ds.n_train, ds.n_test, ds.task) == (2, 4, 3, 1, "classification")
    assert repr(ds) == "Dataset(toy)"


# --- hand-built datasets and unknown arguments are checked ----------------------------------------------
def _toy(**changes):
    fields = dict(name="toy", x_train=torch.zeros(3, 2), y_train=torch.tensor([0, 1, 2]), x_test=torch.zeros(2, 2),
                  y_test=torch.tensor([1, 0]), num_classes=3, description="")
    fields.update(changes)
    return Dataset(**fields)


def test_a_valid_hand_built_dataset_is_accepted_and_arrays_become_tensors():
    ds = _toy(x_train=np.zeros((3, 2)), y_train=np.array([2, 0, 1]))
    assert isinstance(ds.x_train, torch.Tensor) and ds.y_train.tolist() == [2, 0, 1]
    reg = _toy(y_train=torch.zeros(3, 2), y_test=torch.zeros(2, 2), num_classes=None)
    assert reg.task == "regression" and reg.output_dim == 2


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"y_train": torch.tensor([0, 1, 3])}, r"y_train holds the label 3, outside 0\.\.2 \(num_classes=3\)"),
        ({"y_test": torch.tensor([-1, 0])}, r"y_test holds the label -1, outside 0\.\.2"),
        ({"y_train": torch.tensor([0.0, 1.0, 2.0])},
         r"y_train must hold integer class labels 0\.\.2, got torch\.float32"),
        ({"y_train": torch.tensor([True, False, True])}, "integer class labels"),
        ({"y_train": torch.tensor([0, 1])}, r"one class label per example, shape \(3,\), got \(2,\)"),
        ({"x_train": torch.zeros(3)}, r"x_train must have shape \(n, input_dim\) .* got \(3,\)"),
        ({"x_train": torch.zeros(0, 2), "y_train": torch.zeros(0, dtype=torch.int64)}, r"n >= 1 .* got \(0, 2\)"),
        ({"x_test": torch.zeros(0, 2), "y_test": torch.zeros(0, dtype=torch.int64)}, r"x_test .* got \(0, 2\)"),
        ({"x_test": torch.zeros(2, 5)}, "x_train has 2 input columns but x_test has 5"),
        ({"x_train": torch.zeros(3, 2, dtype=torch.int64)}, "x_train must hold floating-point numbers"),
        ({"x_train": torch.tensor([[0.0, 1.0], [math.nan, 0.0], [0.0, 0.0]])}, "x_train holds NaN"),
        ({"num_classes": 1}, "num_classes must be an integer >= 2 .* got 1"),
        ({"num_classes": 2.5}, "num_classes must be an integer >= 2 .* got 2.5"),
        ({"num_classes": True}, "num_classes must be an integer"),
        ({"num_classes": None}, r"regression targets y_train must have shape \(3, output_dim\)"),
        ({"num_classes": None, "y_train": torch.zeros(3, 1, dtype=torch.int64), "y_test": torch.zeros(2, 1)},
         "regression targets y_train must be floating point"),
        ({"x_train": "pixels"}, "x_train must be a tensor or an array, got str"),
        ({"name": ""}, "name must be a non-empty string"),
        ({"settings": None}, "settings must be a dict"),
    ],
)
def test_a_malformed_hand_built_dataset_is_a_value_error_naming_the_field(changes, match):
    with pytest.raises(ValueError, match=match):
        _toy(**changes)


def test_make_dataset_names_unknown_arguments_and_the_allowed_ones():
    with pytest.raises(ValueError, match=r"unknown argument\(s\) 'bogus' for dataset 'digits'; allowed: n_train, "
                                         r"scale, n_test, seed, dtype"):
        make_dataset("digits", bogus=1)
    with pytest.raises(ValueError, match="'dim'"):
        make_dataset("two_moons", dim=3)


@pytest.mark.parametrize("name", list(SMALL))
def test_seeds_beyond_the_generators_range_name_seed(name):
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 4294967295\], got 4294967296"):
        make_dataset(name, **SMALL[name], seed=2**32)


def test_digits_are_scikit_learns_read_without_importing_scikit_learn():
    """~80 MB less per notebook kernel (Binder gives the server and all kernels 2 GB together)."""
    from sklearn.datasets import load_digits

    x, y = datasets._load_digits()
    bunch = load_digits()
    np.testing.assert_array_equal(x, bunch.data)
    np.testing.assert_array_equal(y, bunch.target)
    assert x.dtype == np.float64 and y.dtype == np.int64 and not x.flags.writeable
    # that no import happens: test_importing_problems_does_not_import_sklearn
