"""The one setup call of every course notebook.

``setup()`` fixes the seed, picks one CPU thread (fastest for these small problems, and Binder has one
core), reads the notebook *fast mode* (the environment variable ``EOSTUTOR_FAST=1``, set by the test
suite, shrinks step counts) and prints what it did, so a screenshot of any notebook says which version
and mode produced it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["CourseSettings", "setup", "expect", "FAST_ENV"]

#: The environment variable that switches notebooks to fast mode.
FAST_ENV = "EOSTUTOR_FAST"


@dataclass(frozen=True)
class CourseSettings:
    """What a notebook needs to know about how it is being run.

    Attributes:
        fast: Fast mode (tests, quick previews): fewer steps, same lessons.
        seed: The notebook's seed.
        threads: Torch CPU threads in use.
    """

    fast: bool
    seed: int
    threads: int

    def steps(self, full: int, fast: int) -> int:
        """``full`` normally, ``fast`` in fast mode.

        >>> CourseSettings(fast=True, seed=0, threads=1).steps(2000, fast=300)
        300
        """
        return int(fast if self.fast else full)

    def __repr__(self) -> str:
        mode = "fast mode" if self.fast else "full mode"
        return f"CourseSettings({mode}, seed={self.seed}, threads={self.threads})"


def setup(seed: int = 0, threads: int = 1, verbose: bool = True) -> CourseSettings:
    """Prepare a notebook: seed, threads, fast mode; prints one line.

    Args:
        seed: Seed for torch and NumPy's global generators (the library itself always takes explicit
            seeds; this only covers ad-hoc random calls in a notebook).
        threads: Torch CPU threads (1 is fastest for networks of a few thousand parameters).
        verbose: Print the versions and the mode.

    Returns:
        A :class:`CourseSettings`.
    """
    from eostutor._validate import check_int

    seed = check_int("seed", seed, minimum=0)
    threads = check_int("threads", threads, minimum=1)
    import numpy as np
    import scipy.sparse.linalg  # noqa: F401  (load SciPy's BLAS before limiting threads)
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed)
    fast = os.environ.get(FAST_ENV, "").strip().lower() in ("1", "true", "yes", "on")
    settings = CourseSettings(fast=fast, seed=seed, threads=threads)
    if verbose:
        from eostutor._version import __version__

        mode = "FAST mode (shortened runs)" if fast else "full mode"
        print(f"eostutor {__version__} · torch {torch.__version__} · {mode} · seed {seed} · {threads} thread(s)")
    return settings


def expect(value: float, low: float, high: float, what: str, digits: int = 3) -> float:
    """Print a teaching fact with its expected range, and fail loudly if it is outside.

    The notebooks state what the learner should see (e.g. "sharpness / (2/η) ≈ 1") through this call, so
    running the course under the test suite catches a regression in the science, and a learner sees the
    number rounded next to the range the theory predicts.

    Args:
        value: The measured number.
        low: Lower end of the range the lesson predicts (inclusive).
        high: Upper end of that range (inclusive).
        what: What the number is, e.g. ``"median η·λ_max / 2 over the last third"``.
        digits: Significant digits printed.

    Returns:
        ``value`` (so the call can sit in an expression).

    Raises:
        AssertionError: If ``value`` is outside ``[low, high]`` or not finite (the notebook cell then shows
            the mismatch: a sign that something in the library changed).

    >>> expect(1.01, 0.9, 1.15, "sharpness / (2/η)")
    ✔ sharpness / (2/η) = 1.01   (expected between 0.9 and 1.15)
    1.01
    """
    import math

    try:
        value = float(value)
    except (TypeError, ValueError):
        raise AssertionError(f"✘ {what} is {value!r}, not a number: this contradicts the lesson") from None
    ok = math.isfinite(value) and low <= value <= high
    text = f"{what} = {value:.{digits}g}   (expected between {low:g} and {high:g})"
    if not ok:
        raise AssertionError("✘ " + text + ": this contradicts the lesson; please report it")
    print("✔ " + text)
    return value
