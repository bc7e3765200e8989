"""Small, seeded datasets that run full-batch on a laptop CPU.

Every generator takes a ``seed`` and a ``dtype`` and returns a :class:`Dataset`; the same seed gives
identical tensors. Classification sets hold integer labels in ``y_train`` / ``y_test``; regression sets
hold float targets of shape ``(n, output_dim)``.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import inspect
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from eostutor._validate import check_choice, check_in_range, check_int

__all__ = [
    "Dataset",
    "DATASETS",
    "digits",
    "gaussian_clusters",
    "two_moons",
    "teacher_student",
    "make_dataset",
]


# eq=False: the fields are tensors, so the generated __eq__ / __hash__ would raise; identity is what we want.
@dataclass(frozen=True, repr=False, eq=False)
class Dataset:
    """A train/test split held as tensors.

    Attributes:
        name: Short identifier, e.g. ``"digits"``.
        x_train, y_train, x_test, y_test: Inputs ``(n, input_dim)`` and labels ``(n,)`` (int64, classes)
            or targets ``(n, output_dim)`` (regression).
        num_classes: K for classification, ``None`` for regression.
        description: One line saying what the data is and how it was scaled.
        settings: The generator's arguments (for run records).

    >>> ds = gaussian_clusters(num_classes=3, dim=2, n_train=30, n_test=30)
    >>> ds.num_classes, tuple(ds.x_train.shape), ds.output_dim
    (3, (30, 2), 3)
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int | None
    description: str
    settings: dict = field(default_factory=dict)

    def __post_init__(self):
        """Check a hand-built dataset as thoroughly as the generators build theirs (NumPy arrays and lists
        are turned into tensors).

        Raises:
            ValueError: Naming the field and what it must be: inputs (n, d) floating point and finite, at
                least one example in each split, the same d in both; for classification (``num_classes`` an
                integer >= 2) integer labels (n,) in [0, K); for regression (``num_classes=None``) finite
                floating-point targets (n, m).
        """
        _validate_dataset(self)

    @property
    def task(self) -> str:
        """``"classification"`` or ``"regression"``."""
        return "regression" if self.num_classes is None else "classification"

    @property
    def input_dim(self) -> int:
        """Number of input features."""
        return int(self.x_train.shape[1])

    @property
    def output_dim(self) -> int:
        """Number of network outputs: K for classification, the target width for regression."""
        if self.num_classes is not None:
            return int(self.num_classes)
        return int(self.y_train.shape[1])

    @property
    def n_train(self) -> int:
        """Number of training examples."""
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of held-out examples."""
        return int(self.x_test.shape[0])

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings.items())
        return f"Dataset({self.name}: {args})" if args else f"Dataset({self.name})"


def _validate_dataset(ds: Dataset) -> None:
    name = ds.name
    if not isinstance(name, str) or not name:
        raise ValueError(f"Dataset name must be a non-empty string, got {name!r}")
    where = f"Dataset {name!r}"
    if not isinstance(ds.description, str):
        raise ValueError(f"{where}: description must be a string, got {type(ds.description).__name__}")
    if not isinstance(ds.settings, dict):
        raise ValueError(f"{where}: settings must be a dict, got {type(ds.settings).__name__}")
    k = ds.num_classes
    if k is not None and (isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 2):
        raise ValueError(f"{where}: num_classes must be an integer >= 2 (classification) or None (regression), "
                         f"got {k!r}")
    if k is not None:
        object.__setattr__(ds, "num_classes", int(k))
    tensors = {}
    for field_name in ("x_train", "y_train", "x_test", "y_test"):
        value = getattr(ds, field_name)
        if not isinstance(value, torch.Tensor):
            try:
                value = torch.as_tensor(np.asarray(value))
            except (TypeError, ValueError, RuntimeError):
                raise ValueError(f"{where}: {field_name} must be a tensor or an array, got "
                                 f"{type(value).__name__}") from None
            object.__setattr__(ds, field_name, value)
        tensors[field_name] = value
    width = None
    for split in ("train", "test"):
        x, y = tensors[f"x_{split}"], tensors[f"y_{split}"]
        if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"{where}: x_{split} must have shape (n, input_dim) with n >= 1 and input_dim >= 1, "
                             f"got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"{where}: x_{split} must hold floating-point numbers, got {x.dtype} "
                             "(convert with .double() or .float())")
        if width is not None and x.shape[1] != width:
            raise ValueError(f"{where}: x_train has {width} input columns but x_test has {x.shape[1]}")
        width = x.shape[1]
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{where}: x_{split} holds NaN or infinite values")
        n = x.shape[0]
        if k is not None:
            if y.ndim != 1 or y.shape[0] != n:
                raise ValueError(f"{where}: y_{split} must hold one class label per example, shape ({n},), got "
                                 f"{tuple(y.shape)}")
            if y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
                raise ValueError(f"{where}: y_{split} must hold integer class labels 0..{k - 1}, got {y.dtype} "
                                 "(convert with .long())")
            low, high = int(y.min()), int(y.max())
            if low < 0 or high >= k:
                bad = low if low < 0 else high
                raise ValueError(f"{where}: y_{split} holds the label {bad}, outside 0..{k - 1} "
                                 f"(num_classes={k})")
        else:
            if y.ndim != 2 or y.shape[0] != n or y.shape[1] < 1:
                raise ValueError(f"{where}: regression targets y_{split} must have shape ({n}, output_dim), "
                                 f"got {tuple(y.shape)} (num_classes=None means regression)")
            if not y.is_floating_point():
                raise ValueError(f"{where}: regression targets y_{split} must be floating point, got {y.dtype} "
                                 "(for class labels, set num_classes)")
            if not bool(torch.isfinite(y).all()):
                raise ValueError(f"{where}: y_{split} holds NaN or infinite values")
    if k is None and tensors["y_train"].shape[1] != tensors["y_test"].shape[1]:
        raise ValueError(f"{where}: y_train has {tensors['y_train'].shape[1]} target columns but y_test has "
                         f"{tensors['y_test'].shape[1]}")


def _check_dtype(dtype) -> torch.dtype:
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    return dtype


def _check_seed(seed) -> int:
    return check_int("seed", seed, minimum=0, maximum=2**32 - 1)  # scikit-learn's and NumPy's legacy limit


def _balanced_quotas(counts: np.ndarray, n_train: int, rng: np.random.Generator) -> np.ndarray:
    """Per-class training counts summing to ``n_train``, as equal as the class sizes allow.

    Water-filling: every class gets the same count (classes that run out give all they have), and the
    few leftover examples go to randomly chosen classes, so counts differ by at most one whenever
    ``n_train <= K * min(counts)``. Balanced classes make the MSE prior loss exactly (K-1)/K^2.
    """
    k = len(counts)
    quota = np.zeros(k, dtype=int)
    remaining = n_train
    while remaining > 0:
        open_ = np.flatnonzero(quota < counts)
        share = remaining // len(open_)
        if share == 0:  # fewer leftovers than open classes: one each to a random subset
            quota[rng.choice(open_, size=remaining, replace=False)] += 1
            break
        add = np.minimum(share, counts[open_] - quota[open_])
        quota[open_] += add
        remaining -= int(add.sum())
    return quota


def _stratified_split(labels: np.ndarray, n_train: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a seeded split whose train part has (as nearly as possible) equally many examples of
    every class; the rest is the test part.
    """
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    n = len(labels)
    counts = np.array([(labels == c).sum() for c in classes])
    quota = _balanced_quotas(counts, n_train, rng)
    train = []
    for c, q in zip(classes, quota):
        idx = np.flatnonzero(labels == c)
        train.extend(rng.permutation(idx)[:q].tolist())
    train = np.array(sorted(train), dtype=np.int64)
    test = np.setdiff1d(np.arange(n), train)
    return rng.permutation(train), rng.permutation(test)


@functools.lru_cache(maxsize=1)
def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as read-only float64 pixels and int64 labels, loaded once per process
    (parsing the CSV takes ~30 ms per call, which adds up in widgets and tests).

    The file is read straight from scikit-learn's package data without importing scikit-learn: its import
    costs each notebook kernel about 80 MB, which counts on Binder (2 GB for the server and every kernel).
    If the file is not where scikit-learn 1.x keeps it, ``sklearn.datasets.load_digits`` reads it.
    """
    x = y = None
    spec = importlib.util.find_spec("sklearn")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            with gzip.open(path, "rt") as fh:
                data = np.loadtxt(fh, delimiter=",", dtype=np.float64)
            if data.ndim == 2 and data.shape == (1797, 65):
                x, y = np.ascontiguousarray(data[:, :-1]), data[:, -1].astype(np.int64)
            break
    if x is None:  # pragma: no cover (another layout of scikit-learn's files)
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x, y = bunch.data.astype(np.float64), bunch.target.astype(np.int64)
    x.setflags(write=False)  # shared by every call: callers index copies, never write in place
    y.setflags(write=False)
    return x, y


def digits(
    n_train: int = 1000,
    *,
    scale: str = "standardize",
    n_test: int | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> Dataset:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, K = 10), seeded stratified split.

    The training part holds (as nearly as possible) the same number of images of every digit, so with
    one-hot MSE the predict-the-prior loss is exactly (K-1)/K^2 = 0.09 (classes differ by at most one
    image up to ``n_train = 1740``, ten times the rarest digit's 174 images).

    Args:
        n_train: Training images (1 to 1,787); the rest (or ``n_test`` of them) are held out.
        scale: ``"standardize"`` (per-pixel zero mean, unit variance, statistics from the training part),
            ``"unit"`` (pixels / 16, in [0, 1]) or ``"none"`` (raw pixel values 0..16). The input scale
            changes the curvature, and matters for the Flatland experiments.
        n_test: Held-out images (default: all that remain).
        seed: Seed of the split.
        dtype: ``torch.float64`` (default) or ``torch.float32``.

    Returns:
        A :class:`Dataset` with 64 inputs and 10 classes.

    >>> ds = digits(n_train=100, scale="unit")
    >>> ds.num_classes, ds.input_dim, ds.n_train, float(ds.x_train.max()) <= 1.0
    (10, 64, 100, True)
    """
    check_choice("scale", scale, ["standardize", "unit", "none"])
    _check_dtype(dtype)
    seed = _check_seed(seed)
    x, y = _load_digits()
    n_train = check_int("n_train", n_train, minimum=1, maximum=len(y) - 10)
    train_idx, test_idx = _stratified_split(y, n_train, seed)
    if n_test is not None:
        n_test = check_int("n_test", n_test, minimum=1, maximum=len(test_idx))
        test_idx = test_idx[:n_test]
    x_train, x_test = x[train_idx], x[test_idx]
    if scale == "standardize":
        mean = x_train.mean(axis=0)
        std = x_train.std(axis=0)
        std[std == 0] = 1.0  # constant border pixels: leave them at zero instead of dividing by 0
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    elif scale == "unit":
        x_train, x_test = x_train / 16.0, x_test / 16.0
    return Dataset(
        name="digits",
        x_train=torch.tensor(x_train, dtype=dtype),
        y_train=torch.tensor(y[train_idx]),
        x_test=torch.tensor(x_test, dtype=dtype),
        y_test=torch.tensor(y[test_idx]),
        num_classes=10,
        description=f"8x8 digits, {n_train} train / {len(test_idx)} test, inputs scale={scale!r}",
        settings={"n_train": n_train, "scale": scale, "n_test": n_test, "seed": seed},
    )


def gaussian_clusters(
    num_classes: int = 3,
    dim: int = 2,
    *,
    n_train: int = 300,
    n_test: int = 300,
    spread: float = 1.0,
    separation: float = 3.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> Dataset:
    """Isotropic Gaussian blobs, one per class, with seeded random centres.

    Args:
        num_classes: K >= 2 (use e.g. 26 to study a lower sharpness floor 2/K).
        dim: Input dimension >= 1.
        n_train: Training examples (balanced over classes as far as possible).
        n_test: Test examples (likewise).
        spread: Standard deviation of each blob.
        separation: Standard deviation of the class centres.
        seed: Seed for centres and samples.
        dtype: ``torch.float64`` or ``torch.float32``.

    Returns:
        A :class:`Dataset` with ``dim`` inputs and K classes.

    >>> ds = gaussian_clusters(num_classes=4, dim=3, n_train=40, n_test=8, seed=1)
    >>> sorted(ds.y_train.unique().tolist())
    [0, 1, 2, 3]
    """
    num_classes = check_int("num_classes", num_classes, minimum=2)
    dim = check_int("dim", dim, minimum=1)
    n_train = check_int("n_train", n_train, minimum=num_classes)
    n_test = check_int("n_test", n_test, minimum=1)
    check_in_range("spread", spread, 0.0, np.inf, low_inclusive=False, high_inclusive=False)
    check_in_range("separation", separation, 0.0, np.inf, high_inclusive=False)
    _check_dtype(dtype)
    seed = _check_seed(seed)
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=separation, size=(num_classes, dim))

    def sample(n):
        labels = np.arange(n) % num_classes
        labels = rng.permutation(labels)
        return centres[labels] + rng.normal(scale=spread, size=(n, dim)), labels

    x_tr, y_tr = sample(n_train)
    x_te, y_te = sample(n_test)
    return Dataset(
        name="gaussian_clusters",
        x_train=torch.tensor(x_tr, dtype=dtype),
        y_train=torch.tensor(y_tr, dtype=torch.int64),
        x_test=torch.tensor(x_te, dtype=dtype),
        y_test=torch.tensor(y_te, dtype=torch.int64),
        num_classes=num_classes,
        description=f"{num_classes} Gaussian clusters in {dim}D (spread {spread}, separation {separation})",
        settings={"num_classes": num_classes, "dim": dim, "n_train": n_train, "n_test": n_test,
                  "spread": spread, "separation": separation, "seed": seed},
    )


def two_moons(
    n_train: int = 200,
    n_test: int = 200,
    *,
    noise: float = 0.1,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> Dataset:
    """scikit-learn's two interleaving half circles (K = 2, 2 inputs).

    Args:
        n_train: Training examples (drawn together with the test ones, then shuffled and split).
        n_test: Test examples.
        noise: Standard deviation of the Gaussian noise added to the points (>= 0).
        seed: Seed of the sample.
        dtype: ``torch.float64`` or ``torch.float32``.

    Returns:
        A :class:`Dataset` with 2 inputs and 2 classes.

    >>> ds = two_moons(n_train=50, n_test=10)
    >>> ds.num_classes, ds.input_dim
    (2, 2)
    """
    from sklearn.datasets import make_moons

    n_train = check_int("n_train", n_train, minimum=2)
    n_test = check_int("n_test", n_test, minimum=1)
    check_in_range("noise", noise, 0.0, np.inf, high_inclusive=False)
    _check_dtype(dtype)
    seed = _check_seed(seed)
    x, y = make_moons(n_samples=n_train + n_test, noise=noise, random_state=seed)
    return Dataset(
        name="two_moons",
        x_train=torch.tensor(x[:n_train], dtype=dtype),
        y_train=torch.tensor(y[:n_train], dtype=torch.int64),
        x_test=torch.tensor(x[n_train:], dtype=dtype),
        y_test=torch.tensor(y[n_train:], dtype=torch.int64),
        num_classes=2,
        description=f"two moons, {n_train} train / {n_test} test, noise {noise}",
        settings={"n_train": n_train, "n_test": n_test, "noise": noise, "seed": seed},
    )


def teacher_student(
    n_train: int = 500,
    n_test: int = 500,
    *,
    dim: int = 10,
    teacher_hidden: int = 8,
    outputs: int = 1,
    noise: float = 0.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> Dataset:
    """Regression targets from a random one-hidden-layer tanh teacher network.

    Inputs are standard normal; targets are ``tanh(x W1 / sqrt(dim)) W2 / sqrt(teacher_hidden)`` plus
    Gaussian noise of standard deviation ``noise``.

    Args:
        n_train: Training examples.
        n_test: Test examples.
        dim: Input dimension.
        teacher_hidden: Hidden width of the teacher.
        outputs: Target width (the dataset's ``output_dim``).
        noise: Standard deviation of the label noise (>= 0).
        seed: Seed of the teacher and the samples.
        dtype: ``torch.float64`` or ``torch.float32``.

    Returns:
        A regression :class:`Dataset` (``num_classes is None``).

    >>> ds = teacher_student(n_train=20, n_test=5, dim=3, outputs=2)
    >>> ds.task, tuple(ds.y_train.shape)
    ('regression', (20, 2))
    """
    n_train = check_int("n_train", n_train, minimum=1)
    n_test = check_int("n_test", n_test, minimum=1)
    dim = check_int("dim", dim, minimum=1)
    teacher_hidden = check_int("teacher_hidden", teacher_hidden, minimum=1)
    outputs = check_int("outputs", outputs, minimum=1)
    check_in_range("noise", noise, 0.0, np.inf, high_inclusive=False)
    _check_dtype(dtype)
    seed = _check_seed(seed)
    rng = np.random.default_rng(seed)
    w1 = rng.normal(size=(dim, teacher_hidden))
    w2 = rng.normal(size=(teacher_hidden, outputs))

    def sample(n):
        x = rng.normal(size=(n, dim))
        y = np.tanh(x @ w1 / np.sqrt(dim)) @ w2 / np.sqrt(teacher_hidden)
        return x, y + noise * rng.normal(size=y.shape)

    x_tr, y_tr = sample(n_train)
    x_te, y_te = sample(n_test)
    return Dataset(
        name="teacher_student",
        x_train=torch.tensor(x_tr, dtype=dtype),
        y_train=torch.tensor(y_tr, dtype=dtype),
        x_test=torch.tensor(x_te, dtype=dtype),
        y_test=torch.tensor(y_te, dtype=dtype),
        num_classes=None,
        description=f"teacher-student regression, {dim} inputs, {outputs} outputs, noise {noise}",
        settings={"n_train": n_train, "n_test": n_test, "dim": dim, "teacher_hidden": teacher_hidden,
                  "outputs": outputs, "noise": noise, "seed": seed},
    )


DATASETS = {
    "digits": (digits, "scikit-learn's 8x8 handwritten digits, K = 10"),
    "gaussian_clusters": (gaussian_clusters, "Gaussian blobs, any K and dimension"),
    "two_moons": (two_moons, "two interleaving half circles, K = 2"),
    "teacher_student": (teacher_student, "regression on a random tanh teacher network"),
}


def make_dataset(name: str, **kwargs) -> Dataset:
    """Build a dataset by name (see ``DATASETS``) with that generator's keyword arguments.

    Raises:
        ValueError: For an unknown name or argument (naming the allowed ones), or a bad value.

    >>> make_dataset("two_moons", n_train=10, n_test=4).n_train
    10
    """
    check_choice("dataset", name, DATASETS)
    make = DATASETS[name][0]
    allowed = list(inspect.signature(make).parameters)
    unknown = [key for key in kwargs if key not in allowed]
    if unknown:
        raise ValueError(f"unknown argument(s) {', '.join(map(repr, unknown))} for dataset {name!r}; "
                         f"allowed: {', '.join(allowed)}")
    return make(**kwargs)
