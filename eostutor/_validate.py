"""Argument checks shared by the whole package.

Every public entry point validates its arguments with these helpers so that bad input always gives a
``ValueError`` that names the offending value and the valid range or choices (never an ``assert``, never a
crash deep inside torch).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def _number(name: str, value: Any, requirement: str, ok) -> float:
    message = f"{name} must be {requirement}, got {value!r}"
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if not (math.isfinite(out) and ok(out)):
        raise ValueError(message)
    return out


def check_finite(name: str, value: Any) -> float:
    """Return ``value`` as a float, or raise ``ValueError`` if it is not a finite number.

    >>> check_finite("eta", 0.5)
    0.5
    """
    return _number(name, value, "a finite number", lambda x: True)


def check_positive(name: str, value: Any) -> float:
    """Return ``value`` as a float, or raise ``ValueError`` unless it is finite and > 0.

    >>> check_positive("eta", 2)
    2.0
    """
    return _number(name, value, "a finite number > 0", lambda x: x > 0)


def check_in_range(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Return ``value`` as a float, or raise ``ValueError`` unless it lies in the given interval.

    >>> check_in_range("momentum", 0.9, 0.0, 1.0, high_inclusive=False)
    0.9
    """
    left = "[" if low_inclusive else "("
    right = "]" if high_inclusive else ")"
    interval = f"{left}{low}, {high}{right}"
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}") from None
    ok_low = out >= low if low_inclusive else out > low
    ok_high = out <= high if high_inclusive else out < high
    if not (math.isfinite(out) and ok_low and ok_high):
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return out


def check_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` unless it is an integer within bounds.

    >>> check_int("num_steps", 10, minimum=1)
    10
    """
    if isinstance(value, bool) or not isinstance(value, (int,)) and not (
        isinstance(value, float) and value.is_integer()
    ):
        try:
            import numpy as np

            if isinstance(value, np.integer):
                value = int(value)
            else:
                raise TypeError
        except TypeError:
            raise ValueError(f"{name} must be an integer, got {value!r}") from None
    out = int(value)
    if minimum is not None and out < minimum:
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")
    if maximum is not None and out > maximum:
        bound = f"<= {maximum}" if minimum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")
    return out


def as_tensor(name: str, value: Any, dim: int, *, columns: bool = False):
    """``value`` (a tensor, array or list) as a torch tensor of shape ``(dim,)`` (or ``(dim, m)`` with
    ``columns=True``); NumPy input is copied (a run's read-only arrays stay untouched).

    Raises:
        ValueError: Naming ``name`` and the expected shape.

    >>> as_tensor("w", [1, 2], 2).tolist()
    [1.0, 2.0]
    """
    import numpy as np
    import torch

    expected = f"({dim},)" + (f" or ({dim}, m)" if columns else "")
    if not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(np.array(value, dtype=np.float64))
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a tensor of shape {expected}, got {type(value).__name__}") from None
    ok = value.ndim == 1 or (columns and value.ndim == 2)
    if not ok or value.shape[0] != dim:
        raise ValueError(f"{name} must have shape {expected}, got {tuple(value.shape)}")
    return value


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError`` listing them.

    >>> check_choice("activation", "relu", ["tanh", "relu"])
    'relu'
    """
    choices = list(choices)
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"unknown {name} {value!r}; choose one of: {listed}")
    return value
